use off_runtime::prelude::*;

#[recipe]
mod demo {
    use super::*;

    #[step]
    fn install(parallel: u32) -> Result<()> {
        run(sh!("echo {parallel}"))?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    demo::main()
}
