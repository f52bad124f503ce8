use off_runtime::prelude::*;

#[recipe(validate = inputs)]
mod demo {
    use super::*;

    #[step]
    fn install(role: String) -> Result<()> {
        let _ = role;
        Ok(())
    }

    fn inputs(role: &str, primary: &Option<String>) -> std::result::Result<(), String> {
        let _ = (role, primary);
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    demo::main()
}
