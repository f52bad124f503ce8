//! The check engine end to end: every resource passing and failing on a test
//! host over SSH (as root, and as a sudo user), on the local machine, the
//! report formats read back by real parsers, retries, unreachable hosts.
//!
//! Test hosts: 8 (root) and 9 (the sudo user `deploy`).

mod common;

use std::time::{Duration, Instant};

use common::*;
use off_runtime::check::{
    self, CheckOptions, CheckRun, CheckSpec, ItemResult, ReportFormat, Retry, SpecFormat,
};
use off_runtime::prelude::*;

const CHECK_HOST: usize = 8;
const SUDO_HOST: usize = 9;

fn spec(text: &str) -> CheckSpec {
    CheckSpec::from_str(text, SpecFormat::Yaml, "test spec").unwrap_or_else(|e| panic!("{e}"))
}

fn options(fx: &Fixture) -> CheckOptions {
    CheckOptions {
        ssh: fx.ssh.clone(),
        sudo_password: fx.sudo_password.clone(),
        ..CheckOptions::default()
    }
}

fn check_on(fx: &Fixture, spec: CheckSpec) -> CheckRun {
    check::run(vec![(fx.target.clone(), spec)], &options(fx))
}

/// A unique name per test and process, for files, services and ports.
fn unique(name: &str) -> String {
    format!("off-check-{name}-{}", std::process::id())
}

/// Installs an init.d service `name` on `host` whose status is its pid file's
/// process, enabled in runlevel 2, and starts it unless `start` is false.
fn fake_service(host: usize, name: &str, start: bool) {
    in_host(
        host,
        &format!(
            "printf '%s\\n' '#!/bin/sh' 'case \"$1\" in status) [ -f /run/{name}.pid ] && kill -0 \"$(cat /run/{name}.pid)\" 2>/dev/null;; *) exit 0;; esac' > /etc/init.d/{name} \
             && chmod 755 /etc/init.d/{name} && ln -sf ../init.d/{name} /etc/rc2.d/S01{name}"
        ),
    );
    if start {
        in_host(
            host,
            &format!("nohup sleep 600 >/dev/null 2>&1 & echo $! > /run/{name}.pid"),
        );
    }
}

/// Starts a TCP listener on `port` inside `host` after `delay_secs`; returns
/// the command that stops it.
fn listen_later(host: usize, port: u16, delay_secs: u32) -> String {
    let pidfile = format!("/run/off-check-listener-{port}.pid");
    in_host(
        host,
        &format!(
            "nohup sh -c 'sleep {delay_secs}; exec perl -MIO::Socket::INET -e \"push @ARGV, IO::Socket::INET->new(LocalPort => {port}, Listen => 5, ReuseAddr => 1) || die; sleep 600\"' >/dev/null 2>&1 & echo $! > {pidfile}"
        ),
    );
    format!("kill $(cat {pidfile}) 2>/dev/null; rm -f {pidfile}; true")
}

/// Waits (at most 30 s) until something listens on TCP `port` in `host`.
fn wait_for_listener(host: usize, port: u16) {
    let until = Instant::now() + Duration::from_secs(30);
    while in_host(host, &format!("ss -Hltn 'sport = :{port}'"))
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < until, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a cleanup command in a host when dropped, even when the test failed.
struct Cleanup(usize, String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = off_testbed::exec_in_host(&off_testbed::TestbedConfig::default(), self.0, &self.1);
    }
}

fn failing(run: &CheckRun) -> Vec<String> {
    run.hosts
        .iter()
        .flat_map(|h| h.items.iter())
        .filter(|i| !i.ok)
        .map(|i| format!("{} {}: {:?}", i.resource, i.name, i.message))
        .collect()
}

fn item<'a>(run: &'a CheckRun, resource: &str, name: &str) -> &'a ItemResult {
    run.hosts[0]
        .items
        .iter()
        .find(|i| i.resource == resource && i.name == name)
        .unwrap_or_else(|| panic!("no {resource} {name} in {:#?}", run.hosts[0].items))
}

#[test]
fn every_resource_passes_and_fails_over_ssh() {
    let host = CHECK_HOST;
    let name = unique("all");
    let dir = format!("/srv/{name}");
    let port = 20000 + (std::process::id() % 10000) as u16;
    in_host(
        host,
        &format!(
            "mkdir -p {dir} && printf 'listen_addresses = x\\n' > {dir}/app.conf && chmod 640 {dir}/app.conf \
             && chown root:daemon {dir}/app.conf && head -c 3000 /dev/zero > {dir}/big"
        ),
    );
    fake_service(host, &format!("{name}-up"), true);
    fake_service(host, &format!("{name}-down"), false);
    let stop_listener = listen_later(host, port, 0);
    let _cleanup = Cleanup(
        host,
        format!(
            "{stop_listener}; kill $(cat /run/{name}-up.pid); rm -rf {dir} /etc/init.d/{name}-* /etc/rc2.d/S01{name}-* /run/{name}-*"
        ),
    );
    wait_for_listener(host, port);
    let sha = in_host(host, &format!("sha256sum {dir}/app.conf | cut -d' ' -f1"))
        .trim()
        .to_string();
    let passing = spec(&format!(
        r#"
version: {{cmd: "dpkg-query -W -f='${{Version}}' dash", regex: '^(\d+\.\d+)', expected: ">=0.5, <1"}}
os: [Ubuntu 22.04, Debian 12]
config:
- {{path: {dir}/app.conf, sha256: {sha}, size: 21, mode: "0640", owner: root, group: daemon}}
- {{path: {dir}/big, size: 3K}}
- {{path: {dir}/absent, exists: false}}
- {{path: /etc/init.d/{name}-up, init: true}}
service:
- {name}-up: running
- {name}-down: stopped
- {name}-up: enabled
- {name}-nothing: disabled
- sshd: running
alive_script:
- {{shell: /bin/sh, cmd: "test -d {dir}", exit_code: 0, timeout: 5s}}
port: [22, {port}, {{port: 1, listening: false}}]
package: [openssh-server, {{name: dash, version: ">=0.5"}}]
command:
- {{cmd: "cat {dir}/app.conf; exit 3", exit_code: 3, stdout_contains: [listen_addresses], stdout_regex: "= x$"}}
"#
    ));
    let fx = Fixture::host(host, "root");
    let run = check_on(&fx, passing);
    assert_eq!(failing(&run), Vec::<String>::new());
    assert_eq!(run.exit_code(), 0);
    assert!(run.hosts[0].bootstrapped);
    assert_eq!(run.hosts[0].items.len(), 18);
    assert_eq!(
        item(&run, "version", "dpkg-query -W -f='${Version}' dash").actual,
        "0.5"
    );

    let drifted = spec(&format!(
        r#"
version: {{cmd: "echo 9.1", expected: "<9"}}
os: [Ubuntu 22.04]
config:
- {{path: {dir}/app.conf, sha256: "{zero}", size: 2K, mode: "0644", owner: daemon, group: root}}
- {{path: {dir}/absent}}
- {{path: {dir}/big, exists: false}}
service:
- {name}-down: running
- {name}-up: stopped
- {name}-nothing: enabled
- {name}-up: disabled
alive_script:
- {{cmd: "sleep 5", timeout: 1s}}
port: [{{port: {port}, listening: false}}, 1]
package: [{name}-pkg, {{name: dash, version: "<0.5"}}]
command:
- {{cmd: "echo hello", exit_code: 1, stdout_contains: [bye], stdout_regex: "^x"}}
"#,
        zero = "0".repeat(64)
    ));
    let run = check_on(&fx, drifted);
    let failed = failing(&run);
    assert_eq!(failed.len(), 15, "{failed:#?}");
    assert_eq!(run.exit_code(), 1);
    let conf = item(&run, "config", &format!("{dir}/app.conf"));
    assert_eq!(conf.actual["sha256"], sha.as_str());
    assert_eq!(conf.actual["size"], 21);
    assert_eq!(conf.actual["mode"], "0640");
    assert_eq!(conf.actual["owner"], "root");
    assert_eq!(conf.actual["group"], "daemon");
    let message = conf.message.as_deref().unwrap();
    for attr in ["sha256", "size", "mode", "owner", "group"] {
        assert!(message.contains(attr), "{message}");
    }
    assert_eq!(
        item(&run, "config", &format!("{dir}/absent")).actual["exists"],
        false
    );
    assert_eq!(item(&run, "version", "echo 9.1").actual, "9.1");
    assert_eq!(item(&run, "os", "os").actual, "Debian GNU/Linux 12");
    assert_eq!(
        item(&run, "service", &format!("{name}-down")).actual,
        "stopped"
    );
    assert_eq!(
        item(&run, "alive_script", "sleep 5").actual["exit_code"],
        124
    );
    assert_eq!(item(&run, "port", &port.to_string()).actual, "listening");
    assert_eq!(
        item(&run, "package", &format!("{name}-pkg")).actual,
        "not installed"
    );
    let cmd = item(&run, "command", "echo hello");
    assert_eq!(cmd.actual["stdout"], "hello\n");
    assert!(
        cmd.message
            .as_deref()
            .unwrap()
            .contains("stdout lacks `bye`")
    );
}

#[test]
fn a_sudo_user_checks_what_only_root_can_read() {
    let host = SUDO_HOST;
    let name = unique("sudo");
    in_host(
        host,
        &format!("mkdir -p /root/{name} && chmod 700 /root/{name} && echo secret > /root/{name}/f"),
    );
    let _cleanup = Cleanup(host, format!("rm -rf /root/{name}"));
    let sha = in_host(host, &format!("sha256sum /root/{name}/f | cut -d' ' -f1"));
    let s = spec(&format!(
        "config:\n- {{path: /root/{name}/f, sha256: {}}}\ncommand:\n- {{cmd: id -un, stdout_contains: [root]}}\n",
        sha.trim()
    ));
    let fx = Fixture::host(host, "deploy");
    assert!(fx.sudo_password.is_some());
    let run = check_on(&fx, s.clone());
    assert_eq!(failing(&run), Vec::<String>::new());
    assert_eq!(run.exit_code(), 0, "{}", run.render(ReportFormat::Yaml));

    let mut wrong = fx.clone();
    wrong.sudo_password = Some(Secret::new("not-the-password"));
    let started = Instant::now();
    let run = check_on(&wrong, s);
    assert_eq!(run.exit_code(), 3);
    let error = run.hosts[0].error.as_ref().unwrap().to_string();
    assert!(error.contains("sudo refused the password"), "{error}");
    assert!(!error.contains("not-the-password"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(30), "no hang");
}

#[test]
fn a_host_without_the_deployment_is_not_bootstrapped() {
    let name = unique("none");
    let s = spec(&format!(
        "config:\n- path: /etc/{name}.conf\n- {{path: /etc/hostname, exists: false}}\nservice:\n- {name}: running\npackage: [{name}]\nport: [22]\n"
    ));
    let run = check_on(&Fixture::host(CHECK_HOST, "root"), s);
    let h = &run.hosts[0];
    assert!(
        !h.bootstrapped,
        "an existing file expected absent is no trace"
    );
    assert_eq!(run.exit_code(), 1);
    assert!(item(&run, "port", "22").ok);
    let yaml = run.render(ReportFormat::Yaml);
    assert!(yaml.contains("bootstrapped: false"), "{yaml}");
}

#[test]
fn retry_waits_for_a_late_port_and_service_then_times_out_on_a_missing_one() {
    let host = CHECK_HOST;
    let name = unique("late");
    let port = 30000 + (std::process::id() % 10000) as u16;
    fake_service(host, &name, false);
    let stop_listener = listen_later(host, port, 3);
    let _cleanup = Cleanup(
        host,
        format!(
            "{stop_listener}; kill $(cat /run/{name}.pid); rm -f /etc/init.d/{name} /etc/rc2.d/S01{name} /run/{name}.pid"
        ),
    );
    in_host(
        host,
        &format!("nohup sh -c 'sleep 2; sleep 600 & echo $! > /run/{name}.pid' >/dev/null 2>&1 &"),
    );
    let fx = Fixture::host(host, "root");
    let mut opts = options(&fx);
    opts.retry = Some(Retry {
        timeout: Duration::from_secs(40),
        sleep: Duration::from_millis(500),
    });
    let s = spec(&format!("port: [{port}]\nservice:\n- {name}: running\n"));
    let started = Instant::now();
    let run = check::run(vec![(fx.target.clone(), s)], &opts);
    assert_eq!(run.exit_code(), 0, "{}", run.render(ReportFormat::Yaml));
    assert!(run.hosts[0].attempts > 1, "the port came up late");
    assert!(started.elapsed() >= Duration::from_secs(2));

    // Long enough for a second attempt even when one check takes seconds
    // (the suite's other tests share the host).
    opts.retry = Some(Retry {
        timeout: Duration::from_secs(10),
        sleep: Duration::from_millis(500),
    });
    let s = spec(&format!("port: [{}]\n", port + 1));
    let started = Instant::now();
    let run = check::run(vec![(fx.target.clone(), s)], &opts);
    assert_eq!(run.exit_code(), 4);
    assert!(run.hosts[0].timed_out);
    // At least one retry before the deadline (how many fit in 10 s depends
    // on how busy the machine is).
    assert!(run.hosts[0].attempts >= 2, "{}", run.hosts[0].attempts);
    assert!(started.elapsed() < Duration::from_secs(40));
}

#[test]
fn an_unreachable_host_is_exit_3_and_the_others_are_still_checked() {
    let inv = inventory();
    let fx = Fixture::host(CHECK_HOST, "root");
    let mut opts = options(&fx);
    opts.ssh.connect_timeout = Duration::from_secs(3);
    let unreachable: Target = format!("root@{}", inv.unreachable_address).parse().unwrap();
    let s = spec("port: [22]\n");
    let run = check::run(
        vec![(unreachable, s.clone()), (fx.target.clone(), s)],
        &opts,
    );
    assert_eq!(run.exit_code(), 3);
    assert_eq!(run.hosts[0].exit_code(), 3);
    assert!(
        run.hosts[0]
            .error
            .as_ref()
            .unwrap()
            .to_string()
            .contains("unreachable")
    );
    assert_eq!(run.hosts[1].exit_code(), 0);
}

#[test]
fn checks_the_local_machine() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.conf");
    std::fs::write(&file, "x = 1\n").unwrap();
    let path = file.to_str().unwrap();
    let s = spec(&format!(
        "config:\n- {{path: {path}, size: 6, sha256: {}}}\ncommand:\n- {{cmd: 'cat {path}', stdout_contains: ['x = 1']}}\n",
        "a".repeat(64)
    ));
    let run = check::run(vec![(Target::Local, s)], &CheckOptions::default());
    assert_eq!(run.hosts[0].host, "local");
    assert_eq!(
        failing(&run).len(),
        1,
        "only the checksum differs: {:?}",
        failing(&run)
    );
    assert_eq!(run.exit_code(), 1);
}

/// Two hosts, one passing and one failing item each, in every format.
#[test]
fn reports_parse_as_json_junit_and_tap() {
    let fx8 = Fixture::host(CHECK_HOST, "root");
    let fx9 = Fixture::host(SUDO_HOST, "root");
    let s = spec(
        "port: [22, {port: 22, listening: false}]\ncommand:\n- {cmd: 'echo \"<&>\"; printf \"\\001\"', stdout_contains: [nope]}\n",
    );
    let run = check::run(
        vec![(fx8.target.clone(), s.clone()), (fx9.target.clone(), s)],
        &options(&fx8),
    );
    assert_eq!(run.exit_code(), 1);

    let json = run.render(ReportFormat::Json);
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&json)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["host"], fx8.target.to_string());
    assert_eq!(docs[0]["bootstrapped"], true);
    assert_eq!(docs[0]["port"][1]["ok"], false);
    assert_eq!(docs[0]["port"][1]["expected"], "not listening");
    assert_eq!(docs[0]["port"][1]["actual"], "listening");
    assert_eq!(docs[1]["command"][0]["actual"]["stdout"], "<&>\n\u{1}");

    let xml = run.render(ReportFormat::Junit);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2);
    for suite in &suites {
        assert_eq!(
            suite.attribute("tests"),
            Some("4"),
            "bootstrapped + 3 items"
        );
        assert_eq!(suite.attribute("failures"), Some("2"));
        let failure = suite
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(
            failure.parent().unwrap().attribute("classname"),
            Some("port")
        );
    }

    let tap = run.render(ReportFormat::Tap);
    let mut lines = tap.lines();
    assert_eq!(lines.next(), Some("TAP version 13"));
    assert_eq!(lines.next(), Some("1..8"));
    let mut n = 0;
    let mut not_ok = 0;
    for line in lines {
        if line.starts_with("  ") {
            continue; // YAML diagnostics
        }
        n += 1;
        let rest = line
            .strip_prefix("ok ")
            .or_else(|| {
                not_ok += 1;
                line.strip_prefix("not ok ")
            })
            .unwrap_or_else(|| panic!("not a TAP test line: {line}"));
        assert!(rest.starts_with(&format!("{n} - ")), "{line}");
    }
    assert_eq!((n, not_ok), (8, 4));
}

/// Listening sockets opened and closed as fast as the host can while the
/// checks read /proc/net/tcp: the table changes size between any two reads,
/// and every run must still parse and report the port that does not change.
#[test]
fn ports_are_read_correctly_while_the_tcp_table_churns() {
    let host = SUDO_HOST;
    let pidfile = format!("/run/{}.pid", unique("churn"));
    // Ports 41000-41999, away from the ports the other tests listen on; the
    // churn stops by itself after two minutes if the cleanup never runs.
    in_host(
        host,
        &format!(
            "nohup timeout 120 perl -MIO::Socket::INET -e 'while (1) {{ my @s = map {{ IO::Socket::INET->new(LocalAddr => \"127.0.0.1\", LocalPort => 41000 + int(rand(1000)), Listen => 1, ReuseAddr => 1) }} 1 .. 1 + int(rand(40)); select(undef, undef, undef, 0.002); }}' >/dev/null 2>&1 & echo $! > {pidfile}"
        ),
    );
    let _cleanup = Cleanup(
        host,
        format!("kill $(cat {pidfile}) 2>/dev/null; rm -f {pidfile}; true"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let fx = Fixture::host(host, "root");
    let s =
        spec("os: [Debian]\nport: [22, {port: 1, listening: false}]\npackage: [openssh-server]\n");
    let runs = 60;
    let run = check::run(
        (0..runs).map(|_| (fx.target.clone(), s.clone())).collect(),
        &options(&fx),
    );
    let failed: Vec<String> = run
        .hosts
        .iter()
        .filter(|h| !h.ok())
        .map(|h| match &h.error {
            Some(e) => e.to_string(),
            None => format!("{:?}", h.items.iter().filter(|i| !i.ok).collect::<Vec<_>>()),
        })
        .collect();
    assert_eq!(
        failed,
        Vec::<String>::new(),
        "{} of {runs} runs failed",
        failed.len()
    );
}

/// A reply that breaks the script's framing (here a command that writes a
/// blob header longer than the rest of the output straight to the script's
/// own standard output, until a marker file exists) is an error saying so,
/// and `--retry-timeout` checks again until the reply is whole.
#[test]
fn a_malformed_reply_is_reported_and_retried() {
    let host = CHECK_HOST;
    let marker = format!("/tmp/{}", unique("well-formed"));
    let _cleanup = Cleanup(host, format!("rm -f {marker}"));
    // The first ancestor whose standard output is not a file in the
    // script's directory is the script itself.
    let corrupt = format!(
        "[ -e {marker} ] && exit 0; p=$$; while [ -f /proc/$p/fd/1 ]; do p=$(ps -o ppid= -p $p | tr -d ' '); done; printf '@@blob junk 99999999\\n' > /proc/$p/fd/1"
    );
    let s = CheckSpec {
        port: vec![check::PortCheck {
            port: 22,
            listening: true,
        }],
        command: vec![check::CommandCheck {
            cmd: corrupt,
            ..check::CommandCheck::default()
        }],
        ..CheckSpec::default()
    };
    let fx = Fixture::host(host, "root");
    let run = check_on(&fx, s.clone());
    let error = run.hosts[0].error.as_ref().expect("a malformed reply");
    let message = error.to_string();
    assert!(
        message.contains("output is malformed") && message.contains("blob `junk`"),
        "{message}"
    );
    assert_eq!(run.exit_code(), 1);

    let mut opts = options(&fx);
    opts.retry = Some(Retry {
        timeout: Duration::from_secs(40),
        sleep: Duration::from_millis(500),
    });
    let mended = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        in_host(host, &format!("touch {marker}"));
    });
    let run = check::run(vec![(fx.target.clone(), s)], &opts);
    mended.join().unwrap();
    assert_eq!(run.exit_code(), 0, "{}", run.render(ReportFormat::Yaml));
    assert!(
        run.hosts[0].attempts > 1,
        "{}",
        run.render(ReportFormat::Yaml)
    );
}
