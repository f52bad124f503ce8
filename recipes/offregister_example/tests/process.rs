//! The example recipe's binary and the processes around it: what its
//! commands inherit, a hung command (`--timeout`), a failed step under `-q
//! --progress none`, the state directory, locally; host keys on test host
//! 18.
//!
//! Local runs put a `mkdir` of the test's own first in `PATH`: the recipe's
//! first command (`mkdir -p ROOT/conf`) then runs whatever the test needs
//! (print its environment, hang) with no change to the recipe.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The test host of this suite.
const HOST: usize = 18;

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("off-example-process-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("state")).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn root(&self) -> String {
        self.path("root").display().to_string()
    }

    /// Makes the recipe's `mkdir` run `script` (sh) first.
    fn fake_mkdir(&self, script: &str) {
        let path = self.path("bin/mkdir");
        std::fs::write(
            &path,
            format!("#!/bin/sh\n{script}\nexec /bin/mkdir \"$@\"\n"),
        )
        .unwrap();
        let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&path, executable).unwrap();
    }

    /// The binary with `args`, the fake `mkdir` first in `PATH` and the
    /// state directory in the scratch directory.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_offregister_example"));
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", self.path("bin").display()))
            .env("OFF_STATE_DIR", self.path("state"))
            .env_remove("OFF_SUDO_PASSWORD")
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// [`Scratch::command`] on this machine, with the recipe's root in the
    /// scratch directory.
    fn local(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(&["--root", &self.root()]);
        cmd.args(args);
        cmd
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn local_commands_do_not_inherit_the_sudo_password() {
    let scratch = Scratch::new("env");
    let env_file = scratch.path("env");
    scratch.fake_mkdir(&format!("env > '{}'", env_file.display()));
    let out = scratch
        .local(&["-q"])
        .env("OFF_SUDO_PASSWORD", "pw-must-not-leak")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(env.contains("PATH="), "{env}");
    assert!(!env.contains("OFF_SUDO_PASSWORD"), "{env}");
    assert!(!env.contains("pw-must-not-leak"), "{env}");
}

#[test]
fn a_hung_command_ends_with_exit_4_after_the_timeout() {
    let scratch = Scratch::new("timeout");
    scratch.fake_mkdir("sleep 60");
    let started = Instant::now();
    let out = scratch.local(&["--timeout", "2s"]).output().unwrap();
    let took = started.elapsed();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(
        all.contains(&format!(
            "[local] run `mkdir -p {}/conf` timed out after 2s",
            scratch.root()
        )),
        "{all}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");

    let out = scratch.local(&["--timeout", "abc"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("'--timeout <DURATION>'"), "{stderr}");
}

#[test]
fn quiet_without_progress_still_says_why_a_step_failed() {
    let scratch = Scratch::new("quiet");
    // A directory where the message of the day goes makes `configure` fail.
    std::fs::create_dir_all(scratch.path("root/conf/motd/blocker")).unwrap();
    let out = scratch
        .local(&["-q", "--progress", "none"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let line = stdout
        .lines()
        .find(|l| l.contains("step `configure` failed"))
        .unwrap_or_else(|| panic!("no failure line in {stdout:?}"));
    let reason = line
        .split_once("step `configure` failed: ")
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no reason in {line:?}"));
    assert!(
        reason.contains("upload_template") && reason.contains("/conf/motd"),
        "{line}"
    );
}

#[test]
fn no_state_directory_is_an_input_error_not_a_tmp_fallback() {
    let scratch = Scratch::new("state");
    let out = scratch
        .local(&[])
        .env_remove("OFF_STATE_DIR")
        .env_remove("XDG_STATE_HOME")
        .env_remove("HOME")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr.contains("set OFF_STATE_DIR, XDG_STATE_HOME or HOME"),
        "{stderr}"
    );
    assert!(
        !Path::new(&scratch.root()).exists(),
        "the recipe ran before its input was validated"
    );
    // A dry run records nothing, so it needs no state directory.
    let out = scratch
        .local(&["--dry-run"])
        .env_remove("OFF_STATE_DIR")
        .env_remove("XDG_STATE_HOME")
        .env_remove("HOME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_known_hosts_file_in_a_missing_directory_is_an_input_error() {
    let scratch = Scratch::new("known-hosts-dir");
    let out = scratch
        .local(&[
            "-H",
            "root@192.0.2.1",
            "--known-hosts",
            "/nonexistent/dir/known_hosts",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "--known-hosts /nonexistent/dir/known_hosts: directory /nonexistent/dir does not exist"
        ),
        "{stderr}"
    );
    let out = scratch
        .local(&["--host-key-policy", "sometimes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--host-key-policy"), "{stderr}");
}

#[test]
fn host_keys_strict_refuses_an_unknown_host_and_accept_new_records_it() {
    let scratch = Scratch::new("host-keys");
    let inv = off_testbed::Inventory::load().expect("test hosts are not up");
    let address = common::address(HOST);
    let root = format!("/tmp/example-process-keys-{}", std::process::id());
    let run = |known_hosts: &Path, policy: &str| {
        scratch
            .command(&["-H", &format!("root@{address}"), "--root", &root, "-q"])
            .arg("-i")
            .arg(&inv.key)
            .arg("--known-hosts")
            .arg(known_hosts)
            .args(["--host-key-policy", policy])
            .output()
            .unwrap()
    };

    let empty = scratch.path("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let out = run(&empty, "strict");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("host key unknown"), "{all}");
    assert_eq!(std::fs::read_to_string(&empty).unwrap(), "");

    let fresh = scratch.path("fresh_known_hosts");
    let out = run(&fresh, "accept-new");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let recorded = std::fs::read_to_string(&fresh).unwrap();
    let testbed = std::fs::read_to_string(&inv.known_hosts).unwrap();
    let (_, key) = testbed
        .lines()
        .find_map(|l| l.split_once(' ').filter(|(host, _)| *host == address))
        .unwrap();
    assert!(recorded.contains(key), "{recorded}");
    // Recorded for this address (ssh may hash the name).
    let found = Command::new("ssh-keygen")
        .args(["-F", &address, "-f"])
        .arg(&fresh)
        .output()
        .unwrap();
    assert!(found.status.success(), "{recorded}");
    // Once recorded, strict accepts the host.
    let out = run(&fresh, "strict");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Another host's key under this address: a changed key, refused.
    let other = testbed
        .lines()
        .find(|l| !l.starts_with(&format!("{address} ")))
        .unwrap();
    let (_, other_key) = other.split_once(' ').unwrap();
    assert_ne!(other_key, key);
    let changed = scratch.path("changed_known_hosts");
    std::fs::write(&changed, format!("{address} {other_key}\n")).unwrap();
    let out = run(&changed, "accept-new");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("host key verification failed"), "{all}");
}
