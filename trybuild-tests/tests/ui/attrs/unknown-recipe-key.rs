use off_runtime::prelude::*;

#[recipe(nmae = "x")]
mod demo {
    use super::*;

    #[step]
    fn install() -> Result<()> {
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    demo::main()
}
