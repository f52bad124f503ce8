//! `cargo xtask man`: the man pages of the binaries users install (every one
//! `cargo xtask install` installs), written by each binary itself (`--man`,
//! from the same clap definition as `--help`).

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::install::INSTALLED;

/// How `binary` is asked for its page: cargo runs a subcommand `cargo off …`
/// as `cargo-off off …`.
fn man_args(binary: &str) -> &'static [&'static str] {
    match binary {
        "cargo-off" => &["off", "--man"],
        _ => &["--man"],
    }
}

pub fn exec(root: &Path) -> Result<()> {
    let mut build = crate::cargo(root);
    build.args(["build", "--quiet"]);
    for (dir, _) in INSTALLED {
        // Each package is named after its directory.
        let package = Path::new(dir).file_name().context("a package directory")?;
        build.arg("-p").arg(package);
    }
    crate::step("build", &mut build)?;
    let target = crate::target_dir();
    let dir = root.join("man");
    std::fs::create_dir_all(&dir)?;
    for binary in INSTALLED.iter().flat_map(|(_, binaries)| binaries.iter()) {
        let out = std::process::Command::new(target.join("debug").join(binary))
            .args(man_args(binary))
            .output()
            .with_context(|| format!("cannot run {binary}"))?;
        if !out.status.success() || !out.stdout.starts_with(b".ie") {
            bail!(
                "{binary} --man failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let page = dir.join(format!("{binary}.1"));
        std::fs::write(&page, &out.stdout)?;
        println!("wrote {}", page.display());
    }
    Ok(())
}
