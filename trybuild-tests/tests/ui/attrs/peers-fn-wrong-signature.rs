use off_runtime::prelude::*;

#[recipe(peers = cluster_kwargs)]
mod demo {
    use super::*;

    // A mapping takes the membership and returns the kwargs to set.
    fn cluster_kwargs(master: bool) -> PeerKwargs {
        let _ = master;
        PeerKwargs::new()
    }

    #[step]
    fn install() -> Result<()> {
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    demo::main()
}
