//! `cargo xtask man`: the man pages of the binaries users install, written by
//! each binary itself (`--man`, from the same clap definition as `--help`).

use std::path::Path;

use anyhow::{Context, Result, bail};

/// (package, binary) whose page is written.
const PAGES: &[(&str, &str)] = &[
    ("offregister_postgres", "offregister_postgres"),
    ("off-check", "offcheck"),
];

pub fn exec(root: &Path) -> Result<()> {
    let mut build = crate::cargo(root);
    build.args(["build", "--quiet"]);
    for (package, _) in PAGES {
        build.args(["-p", package]);
    }
    crate::ci::step("build", &mut build)?;
    let target = crate::target_dir();
    let dir = root.join("man");
    std::fs::create_dir_all(&dir)?;
    for (_, binary) in PAGES {
        let out = std::process::Command::new(target.join("debug").join(binary))
            .arg("--man")
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
