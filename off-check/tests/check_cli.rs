//! The `offcheck` binary: exit codes, bad specs and flags (exit 2, nothing
//! run), targets from -H and --inventory, formats, --help.

#[path = "../../off-runtime/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const CHECK_HOST: usize = 8;
const SUDO_HOST: usize = 9;

fn offcheck(args: &[&str]) -> Output {
    offcheck_with(args, &[], None)
}

fn offcheck_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_offcheck"));
    cmd.args(args).env_remove("OFF_SUDO_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    off_testbed::deadline::output_within(
        &mut cmd,
        stdin.map(str::as_bytes),
        off_testbed::deadline::DEFAULT_DEADLINE,
    )
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// An ssh_config that reaches the test hosts with the testbed's key and
/// known_hosts, as a user would pass with --ssh-config.
fn ssh_config(dir: &Path) -> String {
    let inv = inventory();
    let path = write(
        dir,
        "ssh_config",
        &format!(
            "Host *\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 3\n",
            inv.key.display(),
            inv.known_hosts.display()
        ),
    );
    path.to_str().unwrap().to_string()
}

fn host(index: usize, user: &str) -> String {
    let inv = inventory();
    let h = inv.host(index).unwrap();
    format!("{user}@{}:{}", h.address, h.port)
}

#[test]
fn local_checks_exit_0_when_passing_and_1_on_drift() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "f.conf", "abc");
    let good = write(
        dir.path(),
        "good.yaml",
        &format!("config:\n- path: {}\n  size: 3\n", file.display()),
    );
    let out = offcheck(&["-c", good.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).starts_with("host: local\nok: true\n"),
        "{}",
        stdout(&out)
    );
    let bad = write(
        dir.path(),
        "bad.json",
        &format!(
            "{{\"config\": [{{\"path\": \"{}\", \"size\": \"4\"}}]}}",
            file.display()
        ),
    );
    let out = offcheck(&["-c", bad.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&out), 1);
    let doc: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(doc["config"][0]["actual"]["size"], 3);
    assert_eq!(doc["ok"], false);
}

#[test]
fn bad_specs_exit_2_naming_field_and_line_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let run_marker = format!("command:\n- cmd: touch {}\n", marker.display());
    let cases = [
        (
            "unknown.yaml",
            "servce:\n- a: running\n",
            "unknown.yaml:3",
            "unknown field `servce`",
        ),
        (
            "field.yaml",
            "config:\n- path: /a\n  colour: red\n",
            "field.yaml:5",
            "unknown field `colour`",
        ),
        (
            "type.yaml",
            "port: [ssh]\n",
            "type.yaml:3",
            "`ssh` is not a port number",
        ),
        (
            "unit.yaml",
            "config:\n- path: /a\n  size: 3Q\n",
            "unit.yaml:5",
            "invalid size `3Q`",
        ),
        (
            "regex.yaml",
            "version: {cmd: x, regex: \"[\", expected: \"1\"}\n",
            "regex.yaml:3",
            "invalid regex",
        ),
        (
            "constraint.yaml",
            "package:\n- {name: a, version: \">=\"}\n",
            "constraint.yaml:4",
            "invalid version constraint",
        ),
        ("type.json", "", "type.json:1", "invalid type"),
    ];
    for (name, text, location, message) in cases {
        let text = if name.ends_with(".json") {
            format!(
                "{{\"command\": [{{\"cmd\": \"touch {}\"}}], \"port\": \"22\"}}",
                marker.display()
            )
        } else {
            format!("{run_marker}{text}")
        };
        let spec = write(dir.path(), name, &text);
        let out = offcheck(&["-c", spec.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(location), "{name}: {err}");
        assert!(err.contains(message), "{name}: {err}");
        assert!(stdout(&out).is_empty());
        assert!(!marker.exists(), "{name}: nothing runs");
    }
    let out = offcheck(&["-c", dir.path().join("missing.yaml").to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("missing.yaml: cannot read the spec"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "s.yaml", "port: [22]\n");
    let spec = spec.to_str().unwrap();
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    for (args, named) in [
        (vec!["-c", spec, "--format", "xml"], "--format"),
        (
            vec!["-c", spec, "--retry-timeout", "soon"],
            "--retry-timeout",
        ),
        (vec!["-c", spec, "--sleep", "1s"], "--retry-timeout"),
        (vec!["-c", spec, "-H", "root@db:99999"], "-H"),
        (vec!["-H", "db1"], "-c"),
        (vec!["-c", spec, "--parallel", "0"], "--parallel"),
        (vec!["-c", spec, "--parallel", "abc"], "--parallel"),
        (vec!["-c", spec, "-H", "db1", "-i", missing], "-i "),
        (
            vec!["-c", spec, "-H", "db1", "--ssh-config", missing],
            "--ssh-config",
        ),
        (
            vec!["-c", spec, "--sudo-password-stdin"],
            "--sudo-password-stdin",
        ),
    ] {
        let out = offcheck(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(named),
            "{args:?}: the message must name {named}: {}",
            stderr(&out)
        );
    }
    let out = offcheck(&["-c", spec, "-H", "root@db:99999"]);
    assert!(
        stderr(&out).contains("invalid host `root@db:99999`"),
        "{}",
        stderr(&out)
    );
    let inv = write(dir.path(), "inv.yaml", "hosts:\n- hots: a\n");
    let out = offcheck(&["-c", spec, "--inventory", inv.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("inv.yaml:2"), "{}", stderr(&out));
}

#[test]
fn help_teaches_the_spec_and_exit_codes() {
    let out = offcheck(&["--help"]);
    assert_eq!(code(&out), 0);
    let help = stdout(&out);
    for wanted in [
        "--retry-timeout",
        "--sudo-password-stdin",
        "postgresql: running",
        "Exit codes",
        "-H root@db1",
    ] {
        assert!(help.contains(wanted), "{wanted}: {help}");
    }
}

#[test]
fn remote_hosts_from_flags_and_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ssh_config(dir.path());
    let spec = write(
        dir.path(),
        "s.yaml",
        "port: [22]\ncommand:\n- {cmd: hostname, stdout_contains: ['{expected_name}']}\n",
    );
    let spec = spec.to_str().unwrap();
    let inv = inventory();
    let names = [CHECK_HOST, SUDO_HOST].map(|i| inv.host(i).unwrap().name.clone());
    let inventory_file = write(
        dir.path(),
        "inv.yaml",
        &format!(
            "hosts:\n- host: {}\n  vars: {{expected_name: {}}}\n- host: {}\n  vars: {{expected_name: {}}}\n",
            host(CHECK_HOST, "root"),
            names[0],
            host(SUDO_HOST, "deploy"),
            names[1]
        ),
    );
    let out = offcheck_with(
        &[
            "-c",
            spec,
            "--inventory",
            inventory_file.to_str().unwrap(),
            "--ssh-config",
            &cfg,
            "--sudo-password-stdin",
            "--format",
            "tap",
        ],
        &[],
        Some("deploy-sudo-pw\n"),
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1..6\n"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("deploy-sudo-pw"));

    // The placeholder left unresolved on -H hosts: drift, exit 1.
    let out = offcheck(&[
        "-c",
        spec,
        "-H",
        &host(CHECK_HOST, "root"),
        "--ssh-config",
        &cfg,
    ]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));

    // Wrong sudo password from the environment: exit 3, never a hang.
    let plain = write(dir.path(), "p.yaml", "port: [22]\n");
    let out = offcheck_with(
        &[
            "-c",
            plain.to_str().unwrap(),
            "-H",
            &host(SUDO_HOST, "deploy"),
            "--ssh-config",
            &cfg,
        ],
        &[("OFF_SUDO_PASSWORD", "wrong")],
        None,
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sudo refused the password"),
        "{}",
        stderr(&out)
    );

    // One unreachable host among two.
    let out = offcheck(&[
        "-c",
        plain.to_str().unwrap(),
        "-H",
        &format!(
            "root@{},{}",
            inv.unreachable_address,
            host(CHECK_HOST, "root")
        ),
        "--ssh-config",
        &cfg,
        "--format",
        "junit",
    ]);
    assert_eq!(code(&out), 3);
    let xml = stdout(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("error"))
            .count(),
        1
    );
}

/// Inventory vars are data: a var in a check's command is one shell word on
/// the host (which runs it as root), for a plain spec and for a manifest,
/// over root's login and through sudo; the checks still see the value.
#[test]
fn inventory_vars_in_commands_never_run_as_shell() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ssh_config(dir.path());
    let pwned = format!("/tmp/{}", off_testbed::unique("offcheck-pwned"));
    let clean = format!("rm -f {pwned}-*");
    let hosts = [CHECK_HOST, SUDO_HOST];
    for h in hosts {
        in_host(h, &clean);
    }
    let plain = write(
        dir.path(),
        "s.yaml",
        "version: {cmd: 'echo {ver}', expected: '15'}\n\
         alive_script:\n- {shell: /bin/sh, cmd: 'test -n {probe}'}\n\
         command:\n- {cmd: 'printf %s {probe}', stdout_contains: ['{probe}']}\n",
    );
    let manifest = write(
        dir.path(),
        "off.yaml",
        "# >>> generated by cargo off gen-config; do not edit inside this block >>>\n\
         recipe:\n  name: t\n\
         kwargs:\n- name: ver\n  type: String\n- name: probe\n  type: String\n\
         check:\n  version:\n    cmd: 'echo {ver}'\n    expected: '15'\n  alive_script:\n  - cmd: 'test -n {probe}'\n\
         # <<< end of generated block <<<\n\noverrides: {}\n",
    );
    let inventory_file = write(
        dir.path(),
        "inv.yaml",
        &format!(
            "hosts:\n- host: {}\n  vars: {{ver: '15.4; touch {pwned}-ver', probe: '$(touch {pwned}-probe)'}}\n\
             - host: {}\n  vars: {{ver: '15.4 `touch {pwned}-ver`', probe: 'x; touch {pwned}-probe'}}\n",
            host(CHECK_HOST, "root"),
            host(SUDO_HOST, "deploy"),
        ),
    );
    for spec in [&plain, &manifest] {
        let out = offcheck_with(
            &[
                "-c",
                spec.to_str().unwrap(),
                "--inventory",
                inventory_file.to_str().unwrap(),
                "--ssh-config",
                &cfg,
                "--sudo-password-stdin",
            ],
            &[],
            Some("deploy-sudo-pw\n"),
        );
        assert_eq!(
            code(&out),
            0,
            "{}: {}{}",
            spec.display(),
            stdout(&out),
            stderr(&out)
        );
        for h in hosts {
            let left = in_host(h, &format!("ls {pwned}-* 2>/dev/null; true"));
            assert_eq!(left, "", "host {h}, {}", spec.display());
        }
    }
    // The plain spec's command printed the value as it is.
    let out = offcheck(&[
        "-c",
        plain.to_str().unwrap(),
        "--inventory",
        inventory_file.to_str().unwrap(),
        "--ssh-config",
        &cfg,
        "--format",
        "json",
    ]);
    let first: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(
        first["command"][0]["actual"]["stdout"],
        format!("$(touch {pwned}-probe)")
    );

    // A var inside the command's own quotes would not be one word: refused
    // before anything runs, naming the host and the field.
    let quoted = write(
        dir.path(),
        "q.yaml",
        "alive_script:\n- {shell: /bin/sh, cmd: \"test -n '{probe}'\"}\n",
    );
    let out = offcheck(&[
        "-c",
        quoted.to_str().unwrap(),
        "--inventory",
        inventory_file.to_str().unwrap(),
        "--ssh-config",
        &cfg,
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("host `")
            && err.contains("alive_script[0].cmd: placeholder `{probe}` is inside single quotes"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    for h in hosts {
        in_host(h, &clean);
    }
}

#[test]
fn retry_timeout_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ssh_config(dir.path());
    let spec = write(dir.path(), "s.yaml", "port: [1]\n");
    let started = std::time::Instant::now();
    let out = offcheck(&[
        "-c",
        spec.to_str().unwrap(),
        "-H",
        &host(CHECK_HOST, "root"),
        "--ssh-config",
        &cfg,
        "--retry-timeout",
        "2s",
        "--sleep",
        "500ms",
    ]);
    assert_eq!(code(&out), 4, "{}", stdout(&out));
    assert!(stdout(&out).contains("timed_out: true"), "{}", stdout(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn retry_timeout_waits_for_a_host_that_does_not_answer_yet() {
    let dir = tempfile::tempdir().unwrap();
    // A second sshd on port 2222 of the check host, started a few seconds
    // after offcheck: until then the "host" at that port is unreachable.
    let config = write(
        dir.path(),
        "ssh_config",
        &format!(
            "Host *\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking accept-new\n  BatchMode yes\n  ConnectTimeout 2\n",
            inventory().key.display(),
            dir.path().join("known_hosts").display()
        ),
    );
    let spec = write(dir.path(), "s.yaml", "port: [2222]\n");
    let address = inventory().host(CHECK_HOST).unwrap().address.clone();
    let late_sshd = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(3));
        in_host(
            CHECK_HOST,
            "/usr/sbin/sshd -p 2222 -o PidFile=/run/offcheck-late-sshd.pid",
        );
    });
    let out = offcheck(&[
        "-c",
        spec.to_str().unwrap(),
        "-H",
        &format!("root@{address}:2222"),
        "--ssh-config",
        config.to_str().unwrap(),
        "--retry-timeout",
        "40s",
        "--sleep",
        "500ms",
    ]);
    late_sshd.join().unwrap();
    in_host(CHECK_HOST, "kill $(cat /run/offcheck-late-sshd.pid)");
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let attempts: u32 = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("attempts: ")?.parse().ok())
        .unwrap();
    assert!(attempts > 1, "{}", stdout(&out));
}

/// Host 16: the example recipe's committed `off.yaml` as a spec.
const MANIFEST_HOST: usize = 16;

#[test]
fn a_recipe_manifest_is_a_spec_with_overrides_and_kwargs() {
    let dir = tempfile::tempdir().unwrap();
    let root = format!("/tmp/{}", off_testbed::unique("offcheck-manifest"));
    let manifest_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../recipes/offregister_example/off.yaml")
        .canonicalize()
        .unwrap();
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    in_host(
        MANIFEST_HOST,
        &format!(
            "mkdir -p {root}/conf {root}/www && echo hi > {root}/conf/motd && \
             touch {root}/conf/stages {root}/www/index.html && chmod 600 {root}/conf/motd"
        ),
    );
    let inventory = write(
        dir.path(),
        "hosts.yaml",
        &format!(
            "hosts:\n- host: {}\n  vars: {{root: {root}}}\n",
            host(MANIFEST_HOST, "root")
        ),
    );
    let ssh = ssh_config(dir.path());
    let check = |spec: &Path| {
        offcheck(&[
            "-c",
            spec.to_str().unwrap(),
            "--inventory",
            inventory.to_str().unwrap(),
            "--ssh-config",
            &ssh,
        ])
    };

    // The generated block alone: the kwarg fills `{root}`, every file exists.
    let out = check(&manifest_path);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&format!("{root}/conf/motd")));

    // An override adds a mode to one file: merged over the block, checked.
    let with_override = manifest.replace(
        "overrides: {}",
        "overrides:\n  check:\n    config:\n    - path: \"{root}/conf/motd\"\n      mode: \"0644\"\n",
    );
    let out = check(&write(dir.path(), "off.yaml", &with_override));
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("mode"), "{}", stdout(&out));

    // Without a value for `{root}`, the kwarg's default is used.
    let out = offcheck(&[
        "-c",
        manifest_path.to_str().unwrap(),
        "-H",
        &host(MANIFEST_HOST, "root"),
        "--ssh-config",
        &ssh,
    ]);
    assert_eq!(
        code(&out),
        1,
        "/srv/example is not deployed: {}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("/srv/example/conf/motd"));

    // A malformed manifest is exit 2 naming the line.
    let broken = manifest.replace("overrides: {}", "overrides: [unclosed");
    let out = check(&write(dir.path(), "broken.yaml", &broken));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("broken.yaml:"), "{}", stderr(&out));
    in_host(MANIFEST_HOST, &format!("rm -rf {root}"));
}

#[test]
fn completions_and_man_page_need_no_spec() {
    off_testbed::completions::assert_each_shell_completes(
        Path::new(env!("CARGO_BIN_EXE_offcheck")),
        "offcheck",
        "offcheck --inv",
        "--inventory",
    );
    let page = offcheck(&["--man"]);
    assert_eq!(code(&page), 0);
    assert!(
        stdout(&page).contains(".TH offcheck 1"),
        "{}",
        stdout(&page)
    );
    // Without them, -c is still required.
    let out = offcheck(&[]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config <SPEC>"));
}
