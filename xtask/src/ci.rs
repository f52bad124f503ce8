//! `cargo xtask ci`: the whole check, as CI runs it.

use std::process::Command;

use anyhow::{Context, Result};

/// Test hosts the end-to-end suites use (see each suite's host table).
const TEST_HOSTS: usize = 35;

/// Debian packages the tests need on the machine besides the testbed's own.
const TEST_PACKAGES: &[&str] = &[
    "openssh-client",
    "sudo",
    "procps",
    "coreutils",
    // A real terminal for the tests of the live progress display.
    "tmux",
    // The real servers of peer mode and metrics (`off_testbed::servers`), run by the tests
    // themselves in the foreground; the packages' own daemons are never started.
    "zookeeperd",
    "etcd-server",
    "etcd-client",
    "prometheus-pushgateway",
    "influxdb",
    "influxdb-client",
    "rsyslog",
    // The shells whose completion scripts the binaries print (`--completions`).
    "bash",
    "zsh",
    "fish",
];

/// Makes `invoke-rc.d` refuse to start services while packages install, so that installing the
/// servers above starts no daemon on the machine (Debian's `policy-rc.d` interface).
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

#[derive(clap::Args)]
pub struct CiArgs {
    /// Skip installing missing Debian packages.
    #[arg(long)]
    no_install: bool,
    /// Leave the test hosts running afterwards (for debugging a failure).
    #[arg(long)]
    keep_testbed: bool,
}

pub fn exec(args: CiArgs) -> Result<()> {
    let root = crate::workspace_root();
    if !args.no_install {
        let mut packages: Vec<&str> = off_testbed::required_debian_packages().to_vec();
        packages.extend_from_slice(TEST_PACKAGES);
        install_missing(&packages)?;
    }
    crate::step(
        "format",
        crate::cargo(&root).args(["fmt", "--all", "--", "--check"]),
    )?;
    crate::step(
        "clippy",
        crate::cargo(&root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // Build before the testbed is up, so compile time is not spent with
    // the hosts running.
    let nextest = has_nextest();
    if nextest {
        crate::step(
            "build tests",
            crate::cargo(&root).args(["nextest", "run", "--workspace", "--no-run"]),
        )?;
    } else {
        crate::step(
            "build tests",
            crate::cargo(&root).args(["test", "--workspace", "--no-run"]),
        )?;
    }

    crate::install::check(&root)?;

    println!("==> testbed up ({TEST_HOSTS} hosts)");
    let config = off_testbed::TestbedConfig::default();
    off_testbed::up(&config, TEST_HOSTS).context("bringing up the test hosts")?;
    let tests = if nextest {
        crate::step(
            "tests",
            crate::cargo(&root).args(["nextest", "run", "--workspace", "--no-fail-fast"]),
        )
    } else {
        crate::step(
            "tests",
            crate::cargo(&root).args(["test", "--workspace", "--no-fail-fast"]),
        )
    };
    if !args.keep_testbed {
        println!("==> testbed down");
        off_testbed::down(&config).context("tearing down the test hosts")?;
    }
    tests
}

fn has_nextest() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs the packages `dpkg` does not list as installed.
fn install_missing(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("==> installing {}", missing.join(" "));
    crate::step(
        "apt-get update",
        Command::new("apt-get").args(["update", "-qq"]),
    )?;
    let own_policy = !std::path::Path::new(POLICY_RC_D).exists();
    if own_policy {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(POLICY_RC_D, "#!/bin/sh\nexit 101\n")
            .with_context(|| format!("cannot write {POLICY_RC_D}"))?;
        std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755))?;
    }
    let installed = crate::step(
        "apt-get install",
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq"])
            .args(&missing),
    );
    if own_policy {
        let _ = std::fs::remove_file(POLICY_RC_D);
    }
    installed
}
