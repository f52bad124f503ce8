//! Faults of DESIGN §11 on the binary as users run it, over several test
//! hosts (6 and 7, and an address where no host answers): the exit code,
//! the report naming the host, and what ran where.

mod common;

use common::{stages, text, wait};

use std::path::PathBuf;
use std::process::{Command, Output};

use off_testbed::Inventory;

const HOSTS: [usize; 2] = [6, 7];

/// Runs the binary against `targets` (`user@address` each) with `args`.
fn example(targets: &[String], args: &[&str]) -> Output {
    let inv = Inventory::load().expect("test hosts are not up");
    let state = tempfile::tempdir().unwrap();
    let ssh_config = inv
        .write_ssh_config(&state.path().join("ssh_config"), "  ConnectTimeout 3\n")
        .unwrap();
    common::run(
        Command::new(env!("CARGO_BIN_EXE_offregister_example"))
            .env("OFF_STATE_DIR", state.path())
            .args(["-H", &targets.join(","), "-i"])
            .arg(&inv.key)
            .arg("--ssh-config")
            .arg(&ssh_config)
            .args(args),
    )
}

fn root_at(host: usize) -> String {
    format!("root@{}", common::address(host))
}

fn unreachable() -> String {
    format!("root@{}", Inventory::load().unwrap().unreachable_address)
}

fn scratch_root(name: &str) -> String {
    let root = PathBuf::from(format!(
        "/tmp/{}",
        off_testbed::unique(&format!("example-fault-{name}"))
    ));
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

/// The host of the dropped-host test, which takes its network away.
const DROPPED_HOST: usize = 20;

#[test]
fn a_host_that_drops_mid_deploy_exits_3_and_resume_continues_there() {
    let config = off_testbed::TestbedConfig::default();
    let ns = config.host_name(DROPPED_HOST);
    let link = |state: &str| {
        let status = Command::new("ip")
            .args(["-n", &ns, "link", "set", "eth0", state])
            .status()
            .unwrap();
        assert!(status.success(), "ip link set {state}");
    };
    // Once the write hangs, take the host off the network: no reset, no
    // FIN, only silence, as when a host loses power.
    let (deploy, child) = common::HangingDeploy::start(DROPPED_HOST, "dropped", &[]);
    link("down");
    let dropped = std::time::Instant::now();
    let out = wait(child);
    let took = dropped.elapsed();
    link("up");
    common::on_host(DROPPED_HOST, &format!("rm -f {}", deploy.marker));
    let report = text(&out);
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert!(
        took < std::time::Duration::from_secs(60),
        "keepalives took {took:?} to notice the host had gone"
    );
    assert!(
        report.contains(&format!("[{}] upload_template", root_at(DROPPED_HOST))),
        "the report names the host and the operation: {report}"
    );
    // Back on the network: --resume skips `prepare`, which completed, and
    // finishes `configure`.
    let out = wait(deploy.run(&["--resume"]));
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains("prepare"), "{report}");
    assert_eq!(
        stages(DROPPED_HOST, &deploy.root),
        "configured\ndone\n",
        "{report}"
    );
}

/// The host of the dying-sshd test, which kills the host's sshd outright.
const SSHD_DIES_HOST: usize = 29;

#[test]
fn a_host_whose_sshd_dies_mid_deploy_exits_3_and_resume_continues_there() {
    let testbed = off_testbed::TestbedConfig::default();
    let (deploy, child) = common::HangingDeploy::start(SSHD_DIES_HOST, "sshd-dies", &[]);
    // Kill the daemon itself, not only the session processes: the host's
    // sshd is its PID 1, so every process of the host dies with it and the
    // kernel closes every connection it had.
    let pid1 = off_testbed::host_pid1(&testbed, SSHD_DIES_HOST).unwrap();
    let killed = std::time::Instant::now();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid1.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = wait(child);
    let took = killed.elapsed();
    let report = text(&out);
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert!(
        took < std::time::Duration::from_secs(30),
        "took {took:?} to notice sshd had died"
    );
    assert!(
        report.contains(&format!("[{}] upload_template", root_at(SSHD_DIES_HOST))),
        "the report names the host and the operation: {report}"
    );
    // sshd comes back. The host's root is a tmpfs the test bed rebuilds, so
    // the directories `prepare` made are recreated as a real disk would have
    // kept them; --resume then skips `prepare` and finishes `configure`.
    off_testbed::reset_host(&testbed, SSHD_DIES_HOST).unwrap();
    let root = &deploy.root;
    common::on_host(SSHD_DIES_HOST, &format!("mkdir -p {root}/conf {root}/www"));
    let out = wait(deploy.run(&["--resume"]));
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains("--resume: skipping prepare"), "{report}");
    assert_eq!(
        stages(SSHD_DIES_HOST, root),
        "configured\ndone\n",
        "{report}"
    );
}
