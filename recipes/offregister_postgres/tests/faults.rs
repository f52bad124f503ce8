//! Faults on the recipe binary (test host 19): a login user whose sudo
//! needs a password (`deploy`), given by `OFF_SUDO_PASSWORD` or by
//! `--sudo-password-stdin`, and a wrong one (exit 3, at once, nothing done);
//! a full disk while it writes a configuration file through sudo.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

const HOST: usize = 19;
const PASSWORD: &str = off_testbed::DEPLOY_SUDO_PASSWORD;

/// Runs `--steps install` as `deploy`, with `stdin` on standard input.
fn install_as_deploy(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let inv = inventory();
    let dir = scratch("sudo-password");
    let ssh_config = inv.write_ssh_config(&dir.join("ssh_config"), "").unwrap();
    off_testbed::deadline::output_within(
        Command::new(env!("CARGO_BIN_EXE_offregister_postgres"))
            .env("OFF_STATE_DIR", dir.join("state"))
            .env_remove("OFF_SUDO_PASSWORD")
            .args(["-H", &format!("deploy@{}", address(HOST)), "-i"])
            .arg(&inv.key)
            .arg("--ssh-config")
            .arg(&ssh_config)
            .args(["--steps", "install", "--progress", "none"])
            .args(args)
            .envs(env.iter().copied()),
        Some(stdin.as_bytes()),
        off_testbed::deadline::DEFAULT_DEADLINE,
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn installed() -> bool {
    on_host(
        HOST,
        "dpkg-query -W -f='${Status}' postgresql-15 2>/dev/null",
    )
    .1 == "install ok installed"
}

#[test]
fn sudo_password_from_the_environment_or_stdin_and_a_wrong_one() {
    let _lock = lock_hosts(&[HOST]);
    fresh(HOST);
    let wrong = "not-the-password";
    for (args, env, stdin) in [
        (vec![], vec![("OFF_SUDO_PASSWORD", wrong)], ""),
        (vec!["--sudo-password-stdin"], vec![], "not-the-password\n"),
    ] {
        let started = Instant::now();
        let out = install_as_deploy(&args, &env, stdin);
        let report = text(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {report}");
        assert!(
            report.contains(&format!("[deploy@{}", address(HOST)))
                && report.contains("sudo refused the password for deploy"),
            "{args:?}: {report}"
        );
        assert!(!report.contains(wrong), "the password was shown: {report}");
        assert!(started.elapsed() < Duration::from_secs(60), "{args:?}");
        assert!(!installed(), "{args:?}: something ran as root");
    }

    let out = install_as_deploy(&["--sudo-password-stdin"], &[], &format!("{PASSWORD}\n"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(installed());
    let out = install_as_deploy(&[], &[("OFF_SUDO_PASSWORD", PASSWORD)], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD));
}

#[test]
fn a_full_disk_during_a_sudo_write_keeps_the_old_config() {
    let _lock = lock_hosts(&[HOST]);
    fresh(HOST);
    assert_ok(&recipe(HOST, &["--steps", "install,configure"]));
    let conf = "/etc/postgresql/15/main/postgresql.conf";
    let before = on_host(HOST, &format!("sha256sum {conf}")).1;
    on_host(HOST, "dd if=/dev/zero of=/filler bs=1M 2>/dev/null; true");
    // Another max_connections changes postgresql.conf.
    let out = recipe(
        HOST,
        &["--steps", "install,configure", "--max-connections", "50"],
    );
    let after = on_host(HOST, &format!("sha256sum {conf}")).1;
    let leftovers = on_host(HOST, "ls -A /etc/postgresql/15/main").1;
    on_host(HOST, "rm -f /filler");
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("[root@{}]", address(HOST)))
            && report.contains(conf)
            && report.contains("No space left on device")
            && report.contains("the file on the host is unchanged"),
        "the report names host, file and cause: {report}"
    );
    assert_eq!(after, before, "the old configuration is intact");
    assert!(
        // Temporary files are `.<name>.off-<random>` (backups of earlier
        // changes, `<name>.off-backup-…`, are meant to stay).
        !leftovers
            .lines()
            .any(|l| l.starts_with('.') && l.contains(".off-")),
        "temporary file left: {leftovers}"
    );
}
