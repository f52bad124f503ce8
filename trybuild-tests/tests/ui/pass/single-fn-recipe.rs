use off_runtime::prelude::*;

/// A one-step recipe.
#[recipe]
fn hello(#[arg(default = "world")] name: String) -> Result<()> {
    run(sh!("echo hello {name}"))?;
    Ok(())
}

// Compiled, not run: the recipe would deploy to this machine.
fn main() {
    let _entry_point: fn() -> std::process::ExitCode = hello::main;
}
