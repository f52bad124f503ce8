use off_runtime::prelude::*;

fn greet(name: &str) -> Result<()> {
    run(sh!("echo \"hello, {name}\""))?;
    Ok(())
}

fn main() {
    let _ = greet("$(touch /tmp/pwned)");
}
