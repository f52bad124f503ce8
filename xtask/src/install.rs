//! What `cargo install` gives a user, checked in CI: every crate packages
//! (`cargo package --workspace`), a recipe's package carries the templates it
//! embeds, and the binaries installed into a fresh root work from any
//! directory, with nothing of the checkout around them.
//!
//! Packages are not verified by building them from the `.crate` files: that
//! rebuilds every crate once per package, longer than the rest of CI. What the
//! verification would catch that this does not is a source file left out of
//! a package; the recipe check below covers the files a build reads besides
//! `src/` (its templates), and `src/**` is always packaged.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// (package, binaries it installs) a user installs with `cargo install`;
/// `cargo xtask man` writes a page for each of these binaries.
pub const INSTALLED: &[(&str, &[&str])] = &[
    ("recipes/offregister_postgres", &["offregister_postgres"]),
    ("off-check", &["offcheck"]),
    ("off-metrics", &["offmetric"]),
    ("cargo-off", &["cargo-off"]),
    ("offconsensus", &["offconsensus"]),
];

/// Recipe crates whose `.crate` must carry their `templates/`.
const RECIPES: &[(&str, &str)] = &[("recipes/offregister_postgres", "offregister_postgres")];

pub fn check(root: &Path) -> Result<()> {
    crate::step(
        "cargo package --workspace",
        crate::cargo(root).args([
            "package",
            "--workspace",
            // Project automation, never published: it depends on the
            // unpublishable test bed.
            "--exclude",
            "xtask",
            "--no-verify",
            "--allow-dirty",
            "--quiet",
        ]),
    )?;
    let target = crate::target_dir();
    for (dir, name) in RECIPES {
        let version = env!("CARGO_PKG_VERSION");
        let archive = target.join(format!("package/{name}-{version}.crate"));
        let listing = String::from_utf8(
            Command::new("tar")
                .arg("tzf")
                .arg(&archive)
                .output()
                .with_context(|| format!("cannot list {}", archive.display()))?
                .stdout,
        )?;
        for entry in std::fs::read_dir(root.join(dir).join("templates"))? {
            let file = entry?.file_name();
            let wanted = format!("{name}-{version}/templates/{}", file.to_string_lossy());
            if !listing.lines().any(|l| l == wanted) {
                bail!(
                    "{} lacks {wanted}, which the recipe embeds",
                    archive.display()
                );
            }
        }
    }

    let install_root = tempfile::Builder::new().prefix("off-install").tempdir()?;
    for (package, _) in INSTALLED {
        crate::step(
            &format!("cargo install --path {package}"),
            crate::cargo(root)
                .args(["install", "--quiet", "--debug", "--locked", "--path"])
                .arg(root.join(package))
                .arg("--root")
                .arg(install_root.path()),
        )?;
    }
    // From `/`, with only the installed binaries and the system on PATH.
    let bin = install_root.path().join("bin");
    let home = tempfile::Builder::new()
        .prefix("off-install-home")
        .tempdir()?;
    let run = |args: &[&str]| -> Result<String> {
        let out = Command::new(bin.join(args[0]))
            .args(&args[1..])
            .current_dir("/")
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("HOME", home.path())
            .output()
            .with_context(|| format!("cannot run the installed {}", args[0]))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!(
                "installed `{}` failed ({}):\n{text}",
                args.join(" "),
                out.status
            );
        }
        if text.contains(&root.display().to_string()) {
            bail!("installed `{}` names the checkout:\n{text}", args.join(" "));
        }
        Ok(text)
    };
    println!("==> installed binaries, run from /");
    for (_, binaries) in INSTALLED {
        for binary in *binaries {
            run(&[binary, "--help"])?;
        }
    }
    let plan = run(&["offregister_postgres", "--version", "15", "--dry-run"])?;
    if !plan.contains("operations planned per host") {
        bail!("the installed recipe's dry run printed no plan:\n{plan}");
    }
    run(&["cargo-off", "off", "new", "--help"])?;
    Ok(())
}
