//! `offcheck`'s host-key flags, shared with the recipe binaries
//! (`--host-key-policy`, `--known-hosts`), against test host 18.

#[path = "../../off-runtime/tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use common::*;

const HOST: usize = 18;

fn offcheck(args: &[&str]) -> Output {
    off_testbed::deadline::output(
        Command::new(env!("CARGO_BIN_EXE_offcheck"))
            .args(args)
            .env_remove("OFF_SUDO_PASSWORD"),
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn offcheck_takes_the_host_key_flags() {
    let inv = inventory();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, "os: [Debian 12]\n").unwrap();
    let spec = spec.to_str().unwrap();
    let host = format!("root@{}", inv.host(HOST).unwrap().address);
    let key = inv.key.to_str().unwrap();
    let check = |known_hosts: &str, policy: &str| {
        offcheck(&[
            "-c",
            spec,
            "-H",
            &host,
            "-i",
            key,
            "--known-hosts",
            known_hosts,
            "--host-key-policy",
            policy,
        ])
    };

    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let out = check(empty.to_str().unwrap(), "strict");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("host key unknown"), "{}", text(&out));

    let fresh = dir.path().join("fresh");
    let out = check(fresh.to_str().unwrap(), "accept-new");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!std::fs::read_to_string(&fresh).unwrap().is_empty());

    let out = check("/nonexistent/dir/known_hosts", "accept-new");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("directory /nonexistent/dir does not exist"),
        "{}",
        text(&out)
    );
    let out = check(fresh.to_str().unwrap(), "maybe");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--host-key-policy"), "{}", text(&out));
}
