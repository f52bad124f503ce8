//! The example recipe written as plain functions calling the runtime, no
//! `#[recipe]`: the floor of `cargo xtask bench compile`.

use off_runtime::prelude::*;
use off_runtime::template;

fn prepare(root: &str) -> Result<()> {
    mkdir(remote_path(root).mode(0o755))?;
    for dir in ["conf", "www"] {
        mkdir(format!("{root}/{dir}"))?;
    }
    Ok(())
}

fn configure(root: String, greeting: String, with_index: bool, lines: Vec<String>) -> Result<()> {
    let host = current_host();
    upload_template(
        template!("templates/motd.j2"),
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

fn mark(root: &str, stage: &str) -> Result<()> {
    append(format!("{root}/conf/stages"), stage)?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/srv/example".into());
    let report = Executor::new(Vec::new()).run(|| {
        prepare(&root)?;
        configure(root.clone(), "hello".into(), false, Vec::new())
    });
    std::process::ExitCode::from(report.exit_code())
}
