use off_runtime::prelude::*;

/// A recipe with every parameter kind.
#[recipe]
mod demo {
    use super::*;

    /// Install.
    #[step]
    fn install(
        /// Major version
        #[arg(default = 15)]
        version: u32,
        /// Extra packages
        extra: Vec<String>,
        /// Data directory
        data_dir: Option<String>,
        /// Reinstall
        force: bool,
    ) -> Result<()> {
        package([format!("postgresql-{version}")])?;
        for name in &extra {
            package([name])?;
        }
        if force || data_dir.is_some() {
            sudo("true")?;
        }
        Ok(())
    }

    /// Reuses `version` with the same type.
    #[step]
    fn serve(version: u32) -> Result<()> {
        service(format!("postgresql@{version}-main"), Restart)?;
        Ok(())
    }
}

// Compiled, not run: the recipe would deploy to this machine.
fn main() {
    let _entry_point: fn() -> std::process::ExitCode = demo::main;
}
