use off_runtime::prelude::*;

#[recipe]
mod demo {
    use super::*;

    #[step]
    fn configure(name: String) -> Result<()> {
        let path = format!("templates/{name}.j2");
        upload_template(path, "/etc/demo.conf", context! {})?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    demo::main()
}
