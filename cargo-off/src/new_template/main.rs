//! {{name}}: an off recipe. `cargo run -- --help` lists its flags;
//! `cargo run -- --dry-run` prints what it would run.

use off_runtime::prelude::*;

/// Write a greeting into a directory of its own.
#[recipe]
mod {{name}} {
    use super::*;

    /// Create the directory the files go into.
    #[step]
    fn prepare(
        /// Directory the files go into
        #[arg(default = "/srv/{{name}}")]
        root: String,
    ) -> Result<()> {
        run(sh!("mkdir -p {root}"))?;
        Ok(())
    }

    /// Write the greeting from its template.
    #[step]
    fn configure(
        root: String,
        /// Who is greeted
        #[arg(default = "world")]
        who: String,
    ) -> Result<()> {
        let host = current_host();
        upload_template(
            "templates/greeting.j2",
            format!("{root}/greeting"),
            context! { who, host },
        )?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    {{name}}::main()
}
