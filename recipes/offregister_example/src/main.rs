//! An example recipe: every kind of code the progress plan counts (steps, a
//! helper called twice, a loop, a branch) in a few lines, each operation
//! reporting a change only when it made one, so a second deploy reports
//! `0 changed`.
//!
//! ```text
//! cargo run -p offregister_example -- --help
//! cargo run -p offregister_example -- --root /tmp/example --greeting hi --with-index
//! ```

use off_runtime::prelude::*;

/// Write a message of the day and a small web root.
#[recipe]
mod offregister_example {
    use super::*;

    /// Create the directory tree.
    #[step]
    fn prepare(
        /// Directory the files go into
        #[arg(default = "/srv/example")]
        root: String,
    ) -> Result<()> {
        mkdir(remote_path(&root).mode(0o755))?;
        for dir in ["conf", "www"] {
            mkdir(format!("{root}/{dir}"))?;
        }
        Ok(())
    }

    /// Write the message of the day, the markers and the index page.
    #[step]
    fn configure(
        root: String,
        /// First word of the message of the day
        #[arg(default = "hello")]
        greeting: String,
        /// Also publish an index page
        with_index: bool,
        /// Extra lines for the message of the day (repeatable)
        lines: Vec<String>,
    ) -> Result<()> {
        let host = current_host();
        upload_template(
            "templates/motd.j2",
            format!("{root}/conf/motd"),
            context! { greeting, host, lines },
        )?;
        mark(&root, "configured")?;
        if with_index {
            put(b"<h1>off</h1>\n", format!("{root}/www/index.html"))?;
        } else {
            run(sh!("rm -f {root}/www/index.html").removes(format!("{root}/www/index.html")))?;
        }
        mark(&root, "done")?;
        Ok(())
    }

    /// Records that a stage was reached (once per stage, however often it runs).
    fn mark(root: &str, stage: &str) -> Result<()> {
        append(format!("{root}/conf/stages"), stage)?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    offregister_example::main()
}
