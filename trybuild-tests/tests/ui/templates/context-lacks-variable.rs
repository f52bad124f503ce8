use off_runtime::prelude::*;

#[recipe]
mod demo {
    use super::*;

    #[step]
    fn configure(greeting: String, port: u16) -> Result<()> {
        upload_template(
            "tests/ui/templates/greeting.conf.j2",
            "/etc/demo.conf",
            context! { greeting, port },
        )?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    demo::main()
}
