//! `--push` on test hosts 32 and 33: the binary copied to the host and run
//! there leaves what a run without it leaves and reports it the same way;
//! the copy is made once; nothing of the inputs reaches the host's process
//! list; and a connection that dies mid-run leaves nothing running there.

mod common;

use std::process::Output;

use common::{HangingDeploy, on_host, recipe_on, stages, text, wait};

/// The host of the comparison with a run without `--push`.
const SAME_HOST: usize = 32;
/// The host of the faults: a killed connection, a host that cannot run the binary.
const FAULT_HOST: usize = 33;

/// The deploy's output with what differs between two runs taken out: the
/// root it deploys into (`ROOT`), the summary's duration and the line
/// telling that the binary was copied.
fn normalized(out: &Output, root: &str) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("--push: copied"))
        .map(|l| {
            let l = l.replace(root, "ROOT");
            match l.rfind("failed  ") {
                Some(at) => l[..at + "failed".len()].to_string(),
                None => l,
            }
        })
        .collect()
}

/// The files under `root` on `host`, each with its mode and sha256.
fn files(host: usize, root: &str) -> String {
    on_host(
        host,
        &format!(
            "cd {root} && find . -type f -o -type d | sort | while read -r f; do \
             printf '%s %s %s\\n' \"$f\" \"$(stat -c %a \"$f\")\" \"$( [ -f \"$f\" ] && sha256sum < \"$f\" | cut -c1-64)\"; done"
        ),
    )
}

/// The kinds, operations and statuses of an `--events` file, in order.
fn event_kinds(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {} {} {}",
                v["type"].as_str().unwrap_or(""),
                v["op"].as_str().unwrap_or(""),
                v["status"].as_str().unwrap_or(""),
                v["step"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Waits until no process on the fault host matches any of `patterns`
/// (`ps` command lines, bracketed so grep does not match itself), failing
/// with `complaint` after `within_secs`.
fn gone_from_the_host(patterns: &[&str], within_secs: u64, complaint: &str) {
    let grep: Vec<String> = patterns.iter().map(|p| format!("-e '{p}'")).collect();
    let list = format!("ps -eo pid,args | grep {} || true", grep.join(" "));
    let started = std::time::Instant::now();
    loop {
        let left = on_host(FAULT_HOST, &list);
        if left.trim().is_empty() {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(within_secs),
            "{complaint}: {left}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Lets the hung write of `deploy` go on and runs it again with `--push
/// --resume`: it skips `prepare`, which completed, and finishes `configure`.
fn resume_finishes(deploy: &HangingDeploy) {
    on_host(deploy.host, &format!("rm -f {}", deploy.marker));
    let out = wait(deploy.run(&["--push", "--resume"]));
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains("--resume: skipping prepare"), "{report}");
    assert_eq!(
        stages(deploy.host, &deploy.root),
        "configured\ndone\n",
        "{report}"
    );
}

#[test]
fn push_leaves_and_reports_what_a_run_without_it_does_and_copies_once() {
    let state = tempfile::tempdir().unwrap();
    let plain_root = format!("/tmp/{}", off_testbed::unique("example-plain"));
    let push_root = format!("/tmp/{}", off_testbed::unique("example-push"));
    // A copy from an earlier run of this test binary would hide the first copy.
    on_host(SAME_HOST, "rm -rf /root/.cache/off");
    let deploy = |root: &str, extra: &[&str]| {
        let events = state
            .path()
            .join(format!("events-{}", off_testbed::unique("e")));
        let mut args = vec![
            "--root",
            root,
            "--with-index",
            "--lines",
            "one 'quoted' $(line)",
            "--progress",
            "lines",
            "--events",
            events.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        (recipe_on(SAME_HOST, &args, state.path()), events)
    };
    let (plain, plain_events) = deploy(&plain_root, &[]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain));
    let (pushed, pushed_events) = deploy(&push_root, &["--push"]);
    assert_eq!(pushed.status.code(), Some(0), "{}", text(&pushed));
    assert!(
        text(&pushed).contains("--push: copied offregister_example"),
        "the first run copies the binary: {}",
        text(&pushed)
    );
    assert_eq!(files(SAME_HOST, &plain_root), files(SAME_HOST, &push_root));
    assert_eq!(
        normalized(&plain, &plain_root),
        normalized(&pushed, &push_root)
    );
    assert_eq!(event_kinds(&plain_events), event_kinds(&pushed_events));
    // The copy is the login user's alone.
    let cache = on_host(
        SAME_HOST,
        "stat -c '%a %U' /root/.cache/off/bin /root/.cache/off/bin/offregister_example-*",
    );
    assert_eq!(cache, "700 root\n700 root\n", "{cache}");

    // Again: nothing is copied, nothing changes.
    let (again, _) = deploy(&push_root, &["--push"]);
    let report = text(&again);
    assert_eq!(again.status.code(), Some(0), "{report}");
    assert!(!report.contains("--push: copied"), "{report}");
    assert!(report.contains("7 ok, 0 changed, 0 failed"), "{report}");

    // --check --push gives --check's verdict.
    let check = |root: &str, extra: &[&str]| {
        let mut args = vec![
            "--check",
            "--root",
            root,
            "--with-index",
            "--lines",
            "one 'quoted' $(line)",
        ];
        args.extend_from_slice(extra);
        recipe_on(SAME_HOST, &args, state.path())
    };
    let plain_check = check(&plain_root, &[]);
    let pushed_check = check(&push_root, &["--push"]);
    assert_eq!(plain_check.status.code(), Some(0), "{}", text(&plain_check));
    assert_eq!(
        pushed_check.status.code(),
        Some(0),
        "{}",
        text(&pushed_check)
    );
    assert_eq!(
        String::from_utf8_lossy(&plain_check.stdout).replace(&plain_root, "ROOT"),
        String::from_utf8_lossy(&pushed_check.stdout).replace(&push_root, "ROOT"),
    );
    // A drifted file is found either way.
    on_host(SAME_HOST, &format!("echo edited > {push_root}/conf/motd"));
    let drifted = check(&push_root, &["--push"]);
    assert_eq!(drifted.status.code(), Some(1), "{}", text(&drifted));
    assert!(text(&drifted).contains("conf/motd"), "{}", text(&drifted));
    on_host(SAME_HOST, &format!("rm -rf {plain_root} {push_root}"));
}

#[test]
fn a_killed_connection_leaves_nothing_running_and_resume_continues() {
    let _lock = off_testbed::lock_hosts(&[FAULT_HOST]);
    let (deploy, child) = HangingDeploy::start(FAULT_HOST, "push-cut", &["--push"]);
    assert!(
        !on_host(FAULT_HOST, "pgrep -f '[p]ush-child' || true")
            .trim()
            .is_empty(),
        "the copy runs on the host"
    );
    // Kill every sshd process serving a connection (not the daemon): the
    // connection is gone, and the copy's standard input with it.
    on_host(FAULT_HOST, "pkill -KILL -f '^sshd: root' || true");
    let out = wait(child);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert!(
        report.contains(&format!(
            "[root@{}] upload_template",
            common::address(FAULT_HOST)
        )),
        "the report names the host and the operation: {report}"
    );
    assert!(report.contains("step `configure` failed"), "{report}");
    // Nothing of the run is left on the host: not the copy, not the write it was in.
    gone_from_the_host(
        &["[p]ush-child", "[u]sr/local/bin/sync"],
        20,
        "left running on the host",
    );
    resume_finishes(&deploy);
}

#[test]
fn a_host_that_cannot_run_the_binary_is_refused_before_the_copy() {
    let _lock = off_testbed::lock_hosts(&[FAULT_HOST]);
    let state = tempfile::tempdir().unwrap();
    // A host whose glibc is older than the one the binary was built with.
    on_host(
        FAULT_HOST,
        "rm -rf /root/.cache/off; printf '#!/bin/sh\\necho glibc 2.17\\n' > /usr/local/bin/getconf; chmod 755 /usr/local/bin/getconf",
    );
    let root = format!("/tmp/{}", off_testbed::unique("example-old-glibc"));
    let out = recipe_on(FAULT_HOST, &["--push", "--root", &root], state.path());
    on_host(FAULT_HOST, "rm -f /usr/local/bin/getconf");
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("push: the host has glibc 2.17, older than the glibc"),
        "{report}"
    );
    assert!(report.contains("docs/push.md"), "{report}");
    assert_eq!(
        on_host(
            FAULT_HOST,
            &format!("ls /root/.cache/off 2>&1; ls {root} 2>&1 | head -1")
        )
        .lines()
        .filter(|l| !l.contains("No such file"))
        .count(),
        0,
        "nothing copied, nothing deployed"
    );
}

#[test]
fn a_cache_where_programs_cannot_run_is_named() {
    let _lock = off_testbed::lock_hosts(&[FAULT_HOST]);
    let state = tempfile::tempdir().unwrap();
    on_host(
        FAULT_HOST,
        "rm -rf /root/.cache/off; mkdir -p /root/.cache && mount -t tmpfs -o noexec tmpfs /root/.cache",
    );
    let root = format!("/tmp/{}", off_testbed::unique("example-noexec"));
    let out = recipe_on(
        FAULT_HOST,
        &["--push", "--root", &root, "-q", "--progress", "none"],
        state.path(),
    );
    on_host(FAULT_HOST, "umount /root/.cache");
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!(
            "[root@{}] failed: [root@{0}] push: the copy did not start on the host (is /root/.cache/off/bin on a filesystem mounted noexec?",
            common::address(FAULT_HOST)
        )),
        "{report}"
    );
    assert!(report.contains("Permission denied"), "{report}");
}

#[test]
fn a_host_cut_off_without_a_word_stops_its_copy_and_resume_continues() {
    let _lock = off_testbed::lock_hosts(&[FAULT_HOST]);
    let ns = off_testbed::TestbedConfig::default().host_name(FAULT_HOST);
    let link = |state: &str| {
        let status = std::process::Command::new("ip")
            .args(["-n", &ns, "link", "set", "eth0", state])
            .status()
            .unwrap();
        assert!(status.success(), "ip link set {state}");
    };
    let (deploy, child) = HangingDeploy::start(FAULT_HOST, "push-dropped", &["--push"]);
    // No reset, no FIN: the host's sshd keeps the session, and only the
    // silence of the control machine tells the copy it is alone.
    link("down");
    // Back on the network however the test ends.
    struct Relink<F: Fn(&str)>(F);
    impl<F: Fn(&str)> Drop for Relink<F> {
        fn drop(&mut self) {
            (self.0)("up");
        }
    }
    let relink = Relink(link);
    let out = wait(child);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert!(report.contains("upload_template"), "{report}");
    gone_from_the_host(&["[p]ush-child"], 60, "the copy went on alone");
    drop(relink);
    resume_finishes(&deploy);
}

#[test]
fn each_host_of_an_inventory_gets_its_own_kwargs() {
    let _lock = off_testbed::lock_hosts(&[SAME_HOST, FAULT_HOST]);
    let state = tempfile::tempdir().unwrap();
    let root = format!("/tmp/{}", off_testbed::unique("example-inventory"));
    let flags = common::ssh_flags(SAME_HOST);
    let inventory = state.path().join("hosts.yaml");
    std::fs::write(
        &inventory,
        format!(
            "hosts:\n- {{host: \"root@{}\", vars: {{greeting: \"salut\"}}}}\n- {{host: \"root@{}\", vars: {{greeting: \"hej\", lines: [\"a $(b) 'c'\"]}}}}\n",
            common::address(SAME_HOST),
            common::address(FAULT_HOST)
        ),
    )
    .unwrap();
    let out = common::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_offregister_example"))
            .env("OFF_STATE_DIR", state.path())
            .arg("--inventory")
            .arg(&inventory)
            .args(&flags[2..])
            .args(["--push", "--root", &root, "--progress", "none"]),
    );
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(
        on_host(SAME_HOST, &format!("cat {root}/conf/motd")),
        format!("salut from root@{}\n", common::address(SAME_HOST))
    );
    assert_eq!(
        on_host(FAULT_HOST, &format!("cat {root}/conf/motd")),
        format!(
            "hej from root@{}\na $(b) 'c'\n",
            common::address(FAULT_HOST)
        )
    );
    for host in [SAME_HOST, FAULT_HOST] {
        on_host(host, &format!("rm -rf {root}"));
    }
}
