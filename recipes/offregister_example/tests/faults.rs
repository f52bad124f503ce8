//! Faults of DESIGN §11 on the binary as users run it, over several test
//! hosts (6 and 7, and an address where no host answers): the exit code,
//! the report naming the host, and what ran where.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use off_testbed::Inventory;

const HOSTS: [usize; 2] = [6, 7];

/// Runs the binary against `targets` (`user@address` each) with `args`.
fn example(targets: &[String], args: &[&str]) -> Output {
    let inv = Inventory::load().expect("test hosts are not up");
    let state = tempfile::tempdir().unwrap();
    let ssh_config = state.path().join("ssh_config");
    std::fs::write(
        &ssh_config,
        format!(
            "Host *\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  ConnectTimeout 3\n",
            inv.known_hosts.display()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_offregister_example"))
        .env("OFF_STATE_DIR", state.path())
        .args(["-H", &targets.join(","), "-i"])
        .arg(&inv.key)
        .arg("--ssh-config")
        .arg(&ssh_config)
        .args(args)
        .output()
        .unwrap()
}

fn root_at(host: usize) -> String {
    format!("root@{}", common::address(host))
}

fn unreachable() -> String {
    format!("root@{}", Inventory::load().unwrap().unreachable_address)
}

/// What the recipe left on `host` under `root`: its stages file, or `absent`.
fn stages(host: usize, root: &str) -> String {
    common::on_host(
        host,
        &format!("cat {root}/conf/stages 2>/dev/null || echo absent"),
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn scratch_root(name: &str) -> String {
    let root = PathBuf::from(format!("/tmp/example-fault-{name}-{}", std::process::id()));
    root.display().to_string()
}

#[test]
fn one_unreachable_host_among_three_exits_3_and_the_others_finish() {
    let root = scratch_root("unreachable");
    let targets = [root_at(HOSTS[0]), unreachable(), root_at(HOSTS[1])];
    let out = example(&targets, &["--root", &root, "--progress", "none"]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert!(
        report.contains(&format!("[{}] unreachable", targets[1])),
        "the report names the host: {report}"
    );
    for host in HOSTS {
        assert_eq!(
            stages(host, &root),
            "configured\ndone\n",
            "host {host}: {report}"
        );
    }
}

#[test]
fn parallel_one_runs_hosts_in_turn_and_fail_fast_stops_the_rest() {
    // --parallel 1: every operation of the first host comes before any of
    // the second's, in the events.
    let root = scratch_root("parallel");
    let targets = [root_at(HOSTS[0]), root_at(HOSTS[1])];
    let out = example(
        &targets,
        &[
            "--root",
            &root,
            "--parallel",
            "1",
            "--events",
            "-",
            "-q",
            "--progress",
            "none",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let hosts: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|e| e["host"].as_str().map(str::to_string))
        .collect();
    let first_of_second = hosts.iter().position(|h| *h == targets[1]);
    let last_of_first = hosts.iter().rposition(|h| *h == targets[0]);
    assert!(
        matches!((last_of_first, first_of_second), (Some(a), Some(b)) if a < b),
        "hosts interleaved under --parallel 1: {hosts:?}"
    );

    // --fail-fast with one host at a time: the unreachable first host stops
    // the run before the second starts; without it, the second still runs.
    let targets = [unreachable(), root_at(HOSTS[0])];
    let stopped = scratch_root("fail-fast");
    let out = example(
        &targets,
        &[
            "--root",
            &stopped,
            "--parallel",
            "1",
            "--fail-fast",
            "--progress",
            "none",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(stages(HOSTS[0], &stopped), "absent\n", "{}", text(&out));
    let went_on = scratch_root("no-fail-fast");
    let out = example(
        &targets,
        &["--root", &went_on, "--parallel", "1", "--progress", "none"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(
        stages(HOSTS[0], &went_on),
        "configured\ndone\n",
        "{}",
        text(&out)
    );
}
