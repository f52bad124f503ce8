//! What the example recipe reports is what happened on test host 26: a
//! second deploy changes nothing and says so, `--check` and the manifest
//! (`offcheck -c off.yaml`) catch a deleted `append` destination and a
//! changed directory mode, and `--diff` shows what would change without
//! changing anything.

mod common;

use common::text;

use std::process::Output;

use off_runtime::check::{self, CheckOptions};
use off_runtime::manifest::Manifest;
use off_runtime::transport::{HostKeyPolicy, SshOptions};
use off_testbed::Inventory;

const HOST: usize = 26;

fn recipe(args: &[&str]) -> Output {
    let state = std::env::temp_dir().join(format!("off-example-truthful-{}", std::process::id()));
    common::recipe_on(HOST, args, &state)
}

fn on_host(cmd: &str) -> String {
    common::on_host(HOST, cmd)
}

/// `(kind, changed)` of every operation in an `--events` file.
fn events(path: &std::path::Path) -> Vec<(String, bool)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "op")
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["changed"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_second_deploy_reports_0_changed() {
    let _lock = off_testbed::lock_hosts(&[HOST]);
    let root = format!("/tmp/example-truthful-again-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.ndjson");
    let args = ["--root", &root, "--progress", "lines"];
    let out = recipe(&[&args[..], &["--events", first.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", text(&out));
    // Everything but the `rm` of an index that is not there.
    let changed = events(&first)
        .iter()
        .filter(|(_, changed)| *changed)
        .count();
    assert_eq!(changed, 6, "{:?}", events(&first));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let host = format!("root@{}", common::address(HOST));
    assert!(stdout.contains(&format!("[{host}] changed\n")), "{stdout}");

    let second = dir.path().join("second.ndjson");
    let out = recipe(&[&args[..], &["--events", second.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" 0 changed, 0 failed"), "{stdout}");
    // Each echoed operation says how it ended, and the events agree.
    assert!(stdout.contains(&format!("[{host}] ok\n")), "{stdout}");
    assert!(!stdout.contains(&format!("[{host}] changed\n")), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "[{host}] skipped: {root}/www/index.html is absent"
        )),
        "{stdout}"
    );
    let kinds = events(&second);
    assert_eq!(kinds.len(), 7, "{kinds:?}");
    assert!(kinds.iter().all(|(_, changed)| !changed), "{kinds:?}");
    on_host(&format!("rm -rf {root}"));
}

/// The manifest's spec for `root`, checked on the host as `offcheck -c
/// off.yaml --inventory` checks it (same parsing, merging and engine).
fn offcheck_manifest(root: &str) -> check::CheckRun {
    let inv = Inventory::load().unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("off.yaml");
    let manifest = Manifest::parse(&std::fs::read_to_string(&path).unwrap(), "off.yaml").unwrap();
    let values = [("root".to_string(), root.to_string())].into();
    let value = manifest.check_spec_value(&values).unwrap();
    let spec = check::CheckSpec::from_value(&value, "off.yaml").unwrap();
    let target = format!("root@{}", common::address(HOST)).parse().unwrap();
    let options = CheckOptions {
        ssh: SshOptions {
            identity: Some(inv.key.clone()),
            known_hosts: Some(inv.known_hosts.clone()),
            host_key_policy: HostKeyPolicy::Strict,
            ..SshOptions::default()
        },
        ..CheckOptions::default()
    };
    check::run(vec![(target, spec)], &options)
}

fn failing(run: &check::CheckRun) -> Vec<String> {
    run.hosts[0]
        .items
        .iter()
        .filter(|i| !i.ok)
        .map(|i| i.message.clone().unwrap_or_default())
        .collect()
}

#[test]
fn check_and_the_manifest_catch_a_deleted_append_file_and_a_directory_mode() {
    let _lock = off_testbed::lock_hosts(&[HOST]);
    let root = format!("/tmp/example-truthful-check-{}", std::process::id());
    // With the index: the manifest cannot know the branch that removes it.
    let args = ["--root", &root, "--with-index"];
    let out = recipe(&args);
    assert!(out.status.success(), "{}", text(&out));
    let check = || recipe(&[&args[..], &["--check"]].concat());
    let out = check();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(failing(&offcheck_manifest(&root)).is_empty());

    on_host(&format!("rm {root}/conf/stages"));
    let out = check();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains(&format!("{root}/conf/stages: missing")),
        "{report}"
    );
    // The drifted file's diff is offered beside the report.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("+configured\n"), "{stderr}");
    assert!(stderr.contains(" configured\n+done\n"), "{stderr}");
    let manifest = failing(&offcheck_manifest(&root));
    assert!(
        manifest
            .iter()
            .any(|m| m.contains(&format!("{root}/conf/stages: missing"))),
        "{manifest:?}"
    );

    // Put back, but only one of its lines.
    on_host(&format!(
        "echo configured > {root}/conf/stages; chmod 700 {root}"
    ));
    let out = check();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("lacks the line `done`"), "{report}");
    assert!(report.contains("mode is 0700, expected 0755"), "{report}");
    let manifest = failing(&offcheck_manifest(&root));
    assert!(
        manifest
            .iter()
            .any(|m| m.contains("mode is 0700, expected 0755")),
        "{manifest:?}"
    );
    on_host(&format!("rm -rf {root}"));
}

/// The files under `root` (path, mode, owner, sha256) and the host's
/// processes, to compare before and after a run. SSH sessions (of this
/// run, ending, or of other tests on the host) are no process a run starts.
fn snapshot(root: &str) -> String {
    on_host(&format!(
        "find {root} -printf '%p %m %u\\n' | sort; find {root} -type f -exec sha256sum {{}} + | sort; \
         ps -e -o args= | grep -v -e '^ps ' -e '^sort' -e '^/bin/sh -c' -e '^sshd: [a-z]' -e '^sshd: \\[' \
         | sed 's/\\[listener\\] [0-9]* of/[listener] N of/' | sort"
    ))
}

/// [`snapshot`] once the run's SSH sessions had time to end: equal to
/// `before`, or what it is after 15 seconds.
fn snapshot_like(root: &str, before: &str) -> String {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let now = snapshot(root);
        if now == before || std::time::Instant::now() > until {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

#[test]
fn diff_shows_what_would_change_and_changes_nothing() {
    let _lock = off_testbed::lock_hosts(&[HOST]);
    let root = format!("/tmp/example-truthful-diff-{}", std::process::id());
    let args = ["--root", &root, "--with-index"];
    let out = recipe(&args);
    assert!(out.status.success(), "{}", text(&out));
    let diff = || recipe(&[&args[..], &["--diff"]].concat());
    let out = diff();
    assert_eq!(
        out.status.code(),
        Some(0),
        "nothing would change:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains("0 operations would change the host"),
        "{}",
        text(&out)
    );

    on_host(&format!(
        "sed -i 's/hello/howdy/' {root}/conf/motd; chmod 700 {root}; rm {root}/conf/stages; \
         rm {root}/www/index.html"
    ));
    let before = snapshot(&root);
    let out = diff();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let host = format!("root@{}", common::address(HOST));
    for expected in [
        format!("--- {root}/conf/motd (on {host})\n+++ {root}/conf/motd (this run)\n"),
        "-howdy".to_string(),
        "+hello".to_string(),
        format!("{root}/: mode 0700 -> 0755"),
        "--- /dev/null (absent)".to_string(),
        "+configured\n".to_string(),
        // The second append starts from what the first would write.
        " configured\n+done\n".to_string(),
        "+<h1>off</h1>".to_string(),
        "5 operations would change the host, 2 would not".to_string(),
    ] {
        assert!(all.contains(&expected), "{expected:?} missing in:\n{all}");
    }
    // Without --with-index the recipe's `rm` would run: listed, not run.
    let out = recipe(&["--root", &root, "--diff"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        !text(&out).contains(&format!("[{host}]   run: rm -f {root}/www/index.html")),
        "the index is absent, so the rm is skipped:\n{}",
        text(&out)
    );
    on_host(&format!("touch {root}/www/index.html"));
    let before_rm = snapshot(&root);
    let out = recipe(&["--root", &root, "--diff"]);
    assert!(
        text(&out).contains(&format!(
            "commands that would run:\n[{host}]   run: rm -f {root}/www/index.html"
        )),
        "{}",
        text(&out)
    );
    assert_eq!(
        snapshot_like(&root, &before_rm),
        before_rm,
        "--diff changed the host"
    );
    assert!(
        before_rm.contains("sshd"),
        "the processes are compared: {before_rm}"
    );
    on_host(&format!("rm {root}/www/index.html"));
    assert_eq!(
        snapshot_like(&root, &before),
        before,
        "--diff changed the host"
    );
    on_host(&format!("rm -rf {root}"));
}
