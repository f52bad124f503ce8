use off_runtime::prelude::*;

#[recipe]
mod demo {
    use super::*;

    #[step]
    fn install(version: u32) -> Result<()> {
        run(sh!("echo {version}"))?;
        Ok(())
    }

    #[step]
    fn configure(version: String) -> Result<()> {
        run(sh!("echo {version}"))?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    demo::main()
}
