use off_runtime::prelude::*;

#[recipe]
mod demo {
    use super::*;

    #[step]
    fn configure() -> Result<()> {
        upload_template("templates/missing.conf.j2", "/etc/demo.conf", context! {})?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    demo::main()
}
