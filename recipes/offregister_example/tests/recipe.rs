//! The example recipe as a user runs it: on a test host over SSH (host 6 of
//! the testbed), with progress lines, a config file, bad input, `--dry-run`
//! and `--resume`.

mod common;

use std::process::Output;

const HOST: usize = 6;

fn recipe(args: &[&str]) -> Output {
    recipe_with_state(args, &std::env::temp_dir().join("off-example-state"))
}

/// [`recipe`], keeping the completed-steps records of `--resume` in `state`.
fn recipe_with_state(args: &[&str], state: &std::path::Path) -> Output {
    common::recipe_on(HOST, args, state)
}

fn on_host(cmd: &str) -> String {
    common::on_host(HOST, cmd)
}

#[test]
fn progress_lines_count_up_to_exactly_100_percent() {
    let root = format!("/tmp/example-progress-{}", std::process::id());
    let out = recipe(&["--root", &root, "--with-index", "--progress", "lines"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains('\x1b'),
        "escape codes in redirected output"
    );
    let totals: Vec<f64> = stdout
        .lines()
        .filter_map(|l| {
            let rest = l.split_once("total] (")?.1;
            rest.strip_suffix("%)")?.parse().ok()
        })
        .collect();
    assert!(totals.len() >= 6, "{stdout}");
    assert!(
        totals.windows(2).all(|w| w[0] <= w[1]),
        "the percentage went down: {totals:?}"
    );
    assert_eq!(*totals.last().unwrap(), 100.0);
    assert!(
        stdout.contains("[1/1 upload_template operations]"),
        "{stdout}"
    );
    assert!(stdout.contains("[7/7 total] (100.00%)"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "[2/2 append operations]"),
        "{stdout}"
    );
    assert_eq!(
        on_host(&format!("cat {root}/conf/stages")),
        "configured\ndone\n"
    );
}

#[test]
fn config_file_with_a_flag_override() {
    let root = format!("/tmp/example-config-{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("off-example-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("cfg.yaml");
    std::fs::write(
        &cfg,
        format!("root: {root}\ngreeting: from-file\nlines: [one, two]\n"),
    )
    .unwrap();
    let out = recipe(&["-c", cfg.to_str().unwrap(), "--greeting", "from-flag", "-q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let motd = on_host(&format!("cat {root}/conf/motd"));
    assert_eq!(
        motd,
        format!("from-flag from root@{}\none\ntwo\n", common::address(HOST))
    );
}

#[test]
fn bad_input_exits_2_naming_the_key_and_runs_nothing() {
    let root = format!("/tmp/example-bad-{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("off-example-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unknown_key = dir.join("unknown.yaml");
    std::fs::write(&unknown_key, format!("root: {root}\ngretting: hi\n")).unwrap();
    let wrong_type = dir.join("wrong.json");
    std::fs::write(
        &wrong_type,
        format!("{{\"root\": \"{root}\", \"with_index\": \"maybe\"}}"),
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["-c", unknown_key.to_str().unwrap()],
            "unknown key `gretting`",
        ),
        (
            vec!["-c", unknown_key.to_str().unwrap()],
            "line 2; did you mean `greeting`?",
        ),
        (
            vec!["-c", wrong_type.to_str().unwrap()],
            "invalid value `maybe` for --with-index",
        ),
        (
            vec!["-c", wrong_type.to_str().unwrap()],
            "wrong.json line 1)",
        ),
        (
            vec!["--root", &root, "--steps", "prepare,nope"],
            "unknown step `nope`",
        ),
        (vec!["--root", &root, "--no-such-flag"], "--no-such-flag"),
        (
            vec!["--root", &root, "-c", "/nonexistent/cfg.yaml"],
            "/nonexistent/cfg.yaml",
        ),
    ];
    for (args, expected) in cases {
        let out = recipe(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected {expected:?} in {stderr}"
        );
    }
    assert_eq!(
        on_host(&format!("test -e {root} && echo exists || echo absent")),
        "absent\n"
    );
}

#[test]
fn dry_run_prints_every_operation_and_touches_nothing() {
    let root = format!("/tmp/example-dry-{}", std::process::id());
    let out = recipe(&["--root", &root, "--with-index", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("assumed to succeed with empty output"),
        "{stdout}"
    );
    let address = common::address(HOST);
    for expected in [
        format!("[root@{address}] step `prepare`"),
        format!("mkdir: {root}"),
        format!("mkdir: {root}/conf"),
        format!("mkdir: {root}/www"),
        format!("upload_template: {root}/conf/motd"),
        format!("append: {root}/conf/stages"),
        format!("put: {root}/www/index.html"),
    ] {
        assert!(
            stdout.contains(&expected),
            "{expected:?} missing in:\n{stdout}"
        );
    }
    assert_eq!(
        on_host(&format!("test -e {root} && echo exists || echo absent")),
        "absent\n"
    );
}

#[test]
fn resume_after_a_failed_step_skips_the_completed_ones() {
    let root = format!("/tmp/example-resume-{}", std::process::id());
    let state = std::env::temp_dir().join(format!("off-example-resume-{}", std::process::id()));
    // A directory where the message of the day goes makes `configure` fail.
    on_host(&format!("mkdir -p {root}/conf/motd/blocker"));
    let out = recipe_with_state(&["--root", &root], &state);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("step `configure` failed"), "{stdout}");

    // Repair the cause; remove what `prepare` made, to see it is not redone.
    on_host(&format!("rm -rf {root}/conf/motd {root}/www"));
    let out = recipe_with_state(&["--root", &root, "--resume"], &state);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("--resume: skipping prepare, completed in the last run"),
        "{stdout}"
    );
    assert_eq!(
        on_host(&format!(
            "test -e {root}/www && echo www; test -f {root}/conf/motd && echo motd"
        )),
        "motd\n"
    );

    // Everything completed: a second resume has nothing left to do, and a
    // run without --resume starts from the first step again.
    let out = recipe_with_state(&["--root", &root, "--resume"], &state);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("skipping prepare, configure"), "{stdout}");
    let out = recipe_with_state(&["--root", &root], &state);
    assert!(out.status.success());
    assert_eq!(on_host(&format!("test -d {root}/www && echo www")), "www\n");
}

#[test]
fn bad_connection_and_run_flags_exit_2_naming_the_flag_before_any_host() {
    let inv = off_testbed::Inventory::load().expect("test hosts are not up");
    let address = common::address(HOST);
    let root = format!("/tmp/example-bad-flags-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    let events = format!("{missing}/events.ndjson");
    let unreadable = dir.path().to_str().unwrap();
    let key = inv.key.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-i", missing], "-i "),
        (vec!["-i", key, "--ssh-config", missing], "--ssh-config "),
        (vec!["-i", key, "--parallel", "0"], "--parallel"),
        (vec!["-i", key, "--parallel", "abc"], "--parallel"),
        (vec!["-i", key, "--events", &events], "--events"),
        (vec!["-i", key, "--inventory", missing], "--inventory"),
        (vec!["-i", key, "--inventory", unreadable], "--inventory"),
        // Standard input is empty.
        (
            vec!["-i", key, "--sudo-password-stdin"],
            "--sudo-password-stdin",
        ),
    ];
    for (args, flag) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_offregister_example"))
            .env("OFF_STATE_DIR", dir.path().join("state"))
            .args(["-H", &format!("root@{address}"), "--root", &root])
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") && first.contains(flag),
            "{args:?}: the first line must name {flag}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing runs");
    }
    assert_eq!(
        on_host(&format!("test -e {root} && echo exists || echo absent")),
        "absent\n"
    );
}

#[test]
fn no_host_given_says_first_that_it_deploys_to_this_machine() {
    let state = tempfile::tempdir().unwrap();
    let root = state.path().join("root");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_offregister_example"))
            .env("OFF_STATE_DIR", state.path())
            .arg("--root")
            .arg(&root)
            .args(["--progress", "none"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.lines().next(),
        Some(
            "offregister_example: no -H or --inventory: deploying to this machine (-H local says so explicitly)"
        ),
        "{stdout}"
    );
    assert!(root.join("conf/stages").exists());
    // Named explicitly, as `local` or `localhost`, it is no surprise: no such line.
    for named in ["local", "localhost"] {
        let out = run(&["-H", named]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(!stdout.contains("no -H"), "{named}: {stdout}");
        assert!(stdout.contains("[local] run:"), "{named}: {stdout}");
    }
    let help = run(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    let top: Vec<&str> = help.lines().take(3).collect();
    assert!(
        top.iter()
            .any(|l| l.starts_with("Runs on this machine unless -H")),
        "{help}"
    );
}
