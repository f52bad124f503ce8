use off_runtime::prelude::*;

#[recipe]
mod demo {
    use super::*;

    #[step]
    fn install(#[arg(default = "15")] version: u32) -> Result<()> {
        run(sh!("echo {version}"))?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    demo::main()
}
