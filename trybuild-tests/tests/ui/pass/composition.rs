use off_runtime::prelude::*;

#[recipe]
mod base {
    use super::*;

    #[step]
    pub fn install(#[arg(default = 15)] version: u32) -> Result<()> {
        package([format!("postgresql-{version}")])?;
        Ok(())
    }
}

/// Reuses the install step of another recipe: steps stay ordinary functions.
#[recipe]
mod extended {
    use super::*;

    #[step]
    fn install(#[arg(default = 16)] version: u32) -> Result<()> {
        base::install(version)
    }

    #[step]
    fn check(version: u32) -> Result<()> {
        run(sh!("psql --version | grep -q {version}"))?;
        Ok(())
    }
}

// Compiled, not run: the recipe would deploy to this machine.
fn main() {
    let _entry_point: fn() -> std::process::ExitCode = extended::main;
}
