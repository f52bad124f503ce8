use off_runtime::prelude::*;

#[recipe]
mod demo {
    use super::*;

    #[step]
    fn configure(listen_addresses: String, port: u16) -> Result<()> {
        upload_template(
            "tests/ui/templates/bad-syntax.conf.j2",
            "/etc/demo.conf",
            context! { listen_addresses, port },
        )?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    demo::main()
}
