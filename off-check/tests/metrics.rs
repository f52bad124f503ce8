//! `offcheck --metrics`: a drifted host's failing item lands in a real InfluxDB (test host 24).

#[path = "../../off-runtime/tests/common/mod.rs"]
mod common;

use std::process::Command;

use common::*;
use off_testbed::servers::{InfluxDb, Pushgateway, loopback};

const HOST: usize = 24;

#[test]
fn offcheck_pushes_each_item_and_the_hosts_verdict() {
    let influx = InfluxDb::start(loopback()).unwrap();
    influx.create_database("checks").unwrap();
    let gateway = Pushgateway::start(loopback()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = format!("/tmp/offcheck-metrics-{}.conf", std::process::id());
    // The host drifted: the file is there, with other content than the spec says.
    in_host(HOST, &format!("printf 'drifted\\n' > {path}"));
    let spec = dir.path().join("spec.yaml");
    std::fs::write(
        &spec,
        format!(
            "config:\n- {{path: {path}, size: 3}}\ncommand:\n- {{cmd: 'true', exit_code: 0}}\n"
        ),
    )
    .unwrap();
    let inv = inventory();
    let host = inv.host(HOST).unwrap();
    let ssh_config = inv
        .write_ssh_config(&dir.path().join("ssh_config"), "")
        .unwrap();
    let out = off_testbed::deadline::output(
        Command::new(env!("CARGO_BIN_EXE_offcheck"))
            .arg("-c")
            .arg(&spec)
            .args(["-H", &format!("root@{}", host.address), "-i"])
            .arg(&inv.key)
            .arg("--ssh-config")
            .arg(&ssh_config)
            .args(["--metrics", &influx.sink_url("checks")])
            .args(["--metrics", &gateway.sink_url()]),
    );
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(!report.contains("warning"), "{report}");

    let failing = influx
        .select(
            "checks",
            "SELECT * FROM off_check_item WHERE status = 'fail'",
        )
        .unwrap();
    assert_eq!(failing.len(), 1, "{failing:#?}");
    assert_eq!(failing[0]["item"], path.as_str());
    assert_eq!(failing[0]["resource"], "config");
    assert_eq!(failing[0]["recipe"], "offcheck");
    let passing = influx
        .select(
            "checks",
            "SELECT * FROM off_check_item WHERE status = 'pass'",
        )
        .unwrap();
    assert_eq!(passing.len(), 1, "{passing:#?}");
    let hosts = influx
        .select("checks", "SELECT * FROM off_check_host")
        .unwrap();
    assert_eq!(hosts.len(), 1, "{hosts:#?}");
    assert_eq!(hosts[0]["bootstrapped"], true);
    assert_eq!(hosts[0]["status"], "fail");
    assert_eq!(hosts[0]["failed"], 1);

    let metrics = gateway.metrics().unwrap();
    let group = format!("instance=\"root@{}\",job=\"offcheck\"", host.address);
    for line in [
        format!("off_check_items{{{group},result=\"fail\"}} 1"),
        format!("off_check_bootstrapped{{{group}}} 1"),
        format!("off_host_state{{{group},state=\"failed\"}} 1"),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }

    // A bad URL: exit 2 naming the flag, nothing checked.
    let bad = off_testbed::deadline::output(
        Command::new(env!("CARGO_BIN_EXE_offcheck"))
            .arg("-c")
            .arg(&spec)
            .args(["--metrics", "prometheus://h:9091"]),
    );
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("--metrics <URL>") && stderr.contains("unknown scheme `prometheus`"),
        "{stderr}"
    );
}
