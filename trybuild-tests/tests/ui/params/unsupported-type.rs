use off_runtime::prelude::*;

#[recipe]
mod demo {
    use super::*;

    #[step]
    fn install(name: &str) -> Result<()> {
        run(sh!("echo {name}"))?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    demo::main()
}
