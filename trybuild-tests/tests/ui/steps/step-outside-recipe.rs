use off_runtime::prelude::*;

#[step]
fn install() -> Result<()> {
    run("true")?;
    Ok(())
}

fn main() {
    let _ = install();
}
