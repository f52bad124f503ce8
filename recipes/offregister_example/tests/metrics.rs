//! `--metrics` and `offmetric` end to end (DESIGN §8): the example recipe deploys to test host
//! 24 while real rsyslog, InfluxDB and pushgateway servers (one set per test, on loopback)
//! receive its events.

mod common;

use common::text;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use off_testbed::servers::{InfluxDb, Pushgateway, Rsyslog, loopback};
use off_testbed::{DEPLOY_SUDO_PASSWORD, DEPLOY_USER, Inventory};

const HOST: usize = 24;

/// A binary beside the example recipe's (`offmetric`, the `offregister_token` example), built
/// now: cargo does not build another package's binary for this test, and an old one would test
/// old code (a no-op when it is up to date; trybuild runs cargo from tests the same way).
fn sibling(path: &str, build: &[&str]) -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_offregister_example"))
        .parent()
        .unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet"])
        .args(build)
        .status()
        .unwrap();
    assert!(status.success(), "cargo build {build:?}");
    dir.join(path)
}

fn offmetric() -> PathBuf {
    sibling("offmetric", &["-p", "off-metrics", "--bin", "offmetric"])
}

fn token_recipe() -> PathBuf {
    sibling(
        "examples/offregister_token",
        &[
            "-p",
            "offregister_example",
            "--example",
            "offregister_token",
        ],
    )
}

/// `binary` against test host 24 as `user`, with `args` and `env`.
fn on_host_24(binary: &Path, user: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let inv = Inventory::load().expect("test hosts are not up: run `cargo xtask testbed up`");
    let address = &inv.host(HOST).unwrap().address;
    let state = std::env::temp_dir().join(format!("off-metrics-state-{}", std::process::id()));
    let ssh_config = inv
        .write_ssh_config(
            &std::env::temp_dir().join(format!("off-metrics-ssh-{}", std::process::id())),
            "",
        )
        .unwrap();
    let mut command = Command::new(binary);
    command
        .env("OFF_STATE_DIR", state)
        .args(["-H", &format!("{user}@{address}"), "-i"])
        .arg(&inv.key)
        .arg("--ssh-config")
        .arg(ssh_config)
        .args(args)
        .envs(env.iter().copied());
    command
}

fn example(args: &[&str]) -> Output {
    off_testbed::deadline::output(&mut on_host_24(
        Path::new(env!("CARGO_BIN_EXE_offregister_example")),
        "root",
        args,
        &[],
    ))
}

fn root(name: &str) -> String {
    format!("/tmp/example-metrics-{name}-{}", std::process::id())
}

fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

struct Servers {
    rsyslog: Rsyslog,
    influx: InfluxDb,
    gateway: Pushgateway,
}

impl Servers {
    fn start() -> Servers {
        let influx = InfluxDb::start(loopback()).unwrap();
        influx.create_database("deploys").unwrap();
        Servers {
            rsyslog: Rsyslog::start(loopback()).unwrap(),
            influx,
            gateway: Pushgateway::start(loopback()).unwrap(),
        }
    }

    fn flags(&self) -> Vec<String> {
        [
            self.rsyslog.tcp_url(),
            self.influx.sink_url("deploys"),
            self.gateway.sink_url(),
        ]
        .into_iter()
        .flat_map(|url| ["--metrics".to_string(), url])
        .collect()
    }
}

#[test]
fn a_deploy_lands_every_operation_in_syslog_influxdb_and_the_pushgateway() {
    let servers = Servers::start();
    let dir = tempfile::tempdir().unwrap();
    let events_path = dir.path().join("events.ndjson");
    let root = root("all");
    let mut args = vec![
        "--root",
        &root,
        "--with-index",
        "--progress",
        "none",
        "--events",
        events_path.to_str().unwrap(),
    ];
    let flags = servers.flags();
    args.extend(flags.iter().map(String::as_str));
    let out = example(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{}",
        text(&out)
    );

    let events = events(&events_path);
    let ops: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "op").collect();
    // Every operation of the recipe, none twice.
    assert!(ops.len() >= 6, "{events:#?}");
    assert_eq!(ops.last().unwrap()["done"], ops.len());
    let run_id = events[0]["run_id"].as_str().unwrap();
    let host = ops[0]["host"].as_str().unwrap();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"run_started"));
    assert_eq!(&names[names.len() - 2..], ["host_finished", "run_finished"]);

    // rsyslog: one RFC 5424 line per operation, with host, step and percent.
    let lines = servers.rsyslog.wait_for_lines(events.len()).unwrap();
    let op_lines: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" offregister_example ") && l.contains(" op [off@32473 "))
        .collect();
    assert_eq!(op_lines.len(), ops.len(), "{lines:#?}");
    for (line, op) in op_lines.iter().zip(&ops) {
        assert!(line.starts_with("<14>1 "), "{line}");
        for field in ["step", "percent", "done"] {
            let value = match &op[field] {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            assert!(
                line.contains(&format!("{field}=\"{value}\"")),
                "{field}: {line}"
            );
        }
        assert!(line.contains(&format!("host=\"{host}\"")), "{line}");
        assert!(line.contains(&format!("run_id=\"{run_id}\"")), "{line}");
    }

    // InfluxDB: every operation's point.
    let rows = servers
        .influx
        .select(
            "deploys",
            &format!("SELECT * FROM off_op WHERE run_id = '{run_id}'"),
        )
        .unwrap();
    assert_eq!(rows.len(), ops.len(), "{rows:#?}");
    for (row, op) in rows.iter().zip(&ops) {
        for field in ["step", "kind", "host", "command"] {
            assert_eq!(row[field], op[field], "{field}: {row:?}");
        }
        // InfluxDB writes 50.0 as 50.
        for field in ["done", "planned", "percent"] {
            assert_eq!(row[field].as_f64(), op[field].as_f64(), "{field}: {row:?}");
        }
    }

    // The pushgateway: the host's series end at 100 percent, in state ok.
    let metrics = servers.gateway.metrics().unwrap();
    let group = format!("instance=\"{host}\",job=\"offregister_example\"");
    for line in [
        format!("off_progress_percent{{{group}}} 100"),
        format!("off_done_operations{{{group}}} {}", ops.len()),
        format!("off_host_state{{{group},state=\"ok\"}} 1"),
        format!("off_operations_ok_total{{{group}}} {}", ops.len()),
        format!("off_operations_failed_total{{{group}}} 0"),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }
}

/// `text` with the summary's durations (`1.2s`) blanked.
fn without_durations(text: &str) -> String {
    text.lines()
        .map(|line| {
            line.split(' ')
                .map(|word| match word.strip_suffix('s') {
                    Some(n) if n.parse::<f64>().is_ok() => "Ns",
                    _ => word,
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn dead_and_silent_sinks_cost_one_warning_each_and_at_most_the_flush_bound() {
    let closed = std::net::TcpListener::bind((loopback(), 0))
        .unwrap()
        .local_addr()
        .unwrap();
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind((loopback(), 0)).unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let sinks = [
        format!("influxdb://{closed}/deploys"),
        format!("syslog+tcp://{closed}"),
        format!("pushgateway://{silent_addr}"),
        format!("influxdb://{silent_addr}/deploys"),
    ];
    let root = root("dead");
    let run = |with_sinks: bool| {
        common::on_host(HOST, &format!("rm -rf {root}"));
        let mut args = vec!["--root", root.as_str(), "--progress", "lines"];
        if with_sinks {
            for sink in &sinks {
                args.extend(["--metrics", sink.as_str()]);
            }
        }
        let started = Instant::now();
        let out = example(&args);
        (out, started.elapsed())
    };
    let (plain, plain_time) = run(false);
    let (dead, dead_time) = run(true);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain));
    assert_eq!(dead.status.code(), plain.status.code(), "{}", text(&dead));
    assert_eq!(
        without_durations(&String::from_utf8_lossy(&dead.stdout)),
        without_durations(&String::from_utf8_lossy(&plain.stdout))
    );
    let stderr = String::from_utf8_lossy(&dead.stderr);
    let plain_stderr = String::from_utf8_lossy(&plain.stderr);
    let extra: Vec<&str> = stderr
        .lines()
        .filter(|l| !plain_stderr.lines().any(|p| p == *l))
        .collect();
    assert_eq!(extra.len(), sinks.len(), "{stderr}");
    for sink in &sinks {
        let theirs = extra
            .iter()
            .filter(|l| l.starts_with(&format!("warning: --metrics {sink}: ")))
            .count();
        assert_eq!(theirs, 1, "{sink}: {stderr}");
    }
    let bound = off_runtime::metrics::FLUSH_TIMEOUT + Duration::from_millis(1500);
    assert!(
        dead_time <= plain_time + bound,
        "with dead sinks {dead_time:?}, without {plain_time:?}"
    );
    drop(silent);
}

#[test]
fn offmetric_pushes_a_real_deploys_events_and_plain_lines() {
    let influx = InfluxDb::start(loopback()).unwrap();
    influx.create_database("deploys").unwrap();
    let root = root("offmetric");
    let mut recipe = on_host_24(
        Path::new(env!("CARGO_BIN_EXE_offregister_example")),
        "root",
        &["--root", &root, "--events", "-", "-q", "--progress", "none"],
        &[],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let pipe = recipe.stdout.take().unwrap();
    let relay = off_testbed::deadline::output_with_its_stdin(
        Command::new(offmetric())
            .args(["--server", &influx.sink_url("deploys")])
            .stdin(pipe),
    );
    let recipe = off_testbed::deadline::wait_within(
        recipe,
        "offregister_example",
        None,
        off_testbed::deadline::DEFAULT_DEADLINE,
    );
    assert!(recipe.status.success());
    assert_eq!(relay.status.code(), Some(0), "{}", text(&relay));
    // Standard input passes through: the events, one a line.
    let passed: Vec<serde_json::Value> = String::from_utf8_lossy(&relay.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ops = passed.iter().filter(|e| e["event"] == "op").count();
    assert!(ops >= 6, "{passed:#?}");
    let run_id = passed[0]["run_id"].as_str().unwrap();
    let rows = influx
        .select(
            "deploys",
            &format!("SELECT * FROM off_op WHERE run_id = '{run_id}'"),
        )
        .unwrap();
    assert_eq!(rows.len(), ops, "{rows:#?}");

    // Plain lines (the original's `( a && b ) | offmetric`): log points with a line counter;
    // -q passes nothing on.
    let mut relay = Command::new(offmetric())
        .args(["--server", &influx.sink_url("deploys"), "-q"])
        .args(["--recipe", "plain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    relay
        .stdin
        .take()
        .unwrap()
        .write_all(b"[root@a] run: true\n{\"not\": \"an event\"}\n")
        .unwrap();
    let out = relay.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let rows = influx
        .select("deploys", "SELECT * FROM off_log WHERE recipe = 'plain'")
        .unwrap();
    let lines: Vec<(&serde_json::Value, &serde_json::Value)> =
        rows.iter().map(|r| (&r["line"], &r["text"])).collect();
    assert_eq!(
        lines,
        [
            (&1.into(), &"[root@a] run: true".into()),
            (&2.into(), &"{\"not\": \"an event\"}".into())
        ]
    );

    // A bad URL is a usage error naming the flag.
    let bad = off_testbed::deadline::output(
        Command::new(offmetric()).args(["--server", "influxdb://localhost:8086"]),
    );
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("--server <URL>") && stderr.contains("no database name"),
        "{stderr}"
    );
}

#[test]
fn neither_the_sudo_password_nor_a_secret_reaches_any_server() {
    let servers = Servers::start();
    let token = format!("tok-{}-s3cr3t", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let events_path = dir.path().join("events.ndjson");
    let path = format!("/tmp/off-token-{}", std::process::id());
    let mut args = vec![
        "--path",
        &path,
        "--events",
        events_path.to_str().unwrap(),
        "--progress",
        "lines",
    ];
    let flags = servers.flags();
    args.extend(flags.iter().map(String::as_str));
    let udp = ["--metrics".to_string(), servers.rsyslog.udp_url()];
    args.extend(udp.iter().map(String::as_str));
    let mut out = on_host_24(
        &token_recipe(),
        DEPLOY_USER,
        &args,
        &[
            ("OFF_TOKEN", token.as_str()),
            ("OFF_SUDO_PASSWORD", DEPLOY_SUDO_PASSWORD),
        ],
    );
    let out = off_testbed::deadline::output(&mut out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        common::on_host(HOST, &format!("cat {path}")),
        token,
        "the token was written"
    );
    let events_text = std::fs::read_to_string(&events_path).unwrap();
    // The command that holds the token by hand is there, redacted.
    assert!(
        events_text.contains(r#""command":"test -n '***'""#),
        "{events_text}"
    );

    let syslog = servers
        .rsyslog
        .wait_for_lines(2 * events_text.lines().count())
        .unwrap()
        .join("\n");
    assert!(syslog.contains("test -n '***'"), "{syslog}");
    let influx = servers
        .influx
        .select("deploys", "SELECT * FROM /.*/")
        .unwrap();
    let influx = serde_json::to_string(&influx).unwrap();
    assert!(influx.contains("test -n '***'"), "{influx}");
    let gateway = servers.gateway.metrics().unwrap();
    assert!(gateway.contains("job=\"offregister_token\""), "{gateway}");
    for (name, stored) in [
        ("--events", &events_text),
        ("rsyslog", &syslog),
        ("influxdb", &influx),
        ("pushgateway", &gateway),
        ("output", &text(&out)),
    ] {
        for secret in [token.as_str(), DEPLOY_SUDO_PASSWORD] {
            assert!(!stored.contains(secret), "{name} holds a secret:\n{stored}");
        }
    }
}

#[test]
fn a_bad_metrics_url_exits_2_naming_the_flag_before_any_host_is_touched() {
    let root = root("bad-url");
    for (url, reason) in [
        ("influxdb://localhost:99999/deploys", "invalid port number"),
        ("influxdb://localhost:8086", "no database name"),
        ("graphite://localhost:2003", "unknown scheme `graphite`"),
    ] {
        let out = example(&["--root", &root, "--metrics", url]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--metrics <URL>") && stderr.contains(reason),
            "{url}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{}", text(&out));
    }
    assert_eq!(
        common::on_host(
            HOST,
            &format!("test -e {root} && echo exists || echo absent")
        ),
        "absent\n"
    );
}

#[test]
fn a_recipes_check_pushes_its_items_and_the_hosts_verdict() {
    let influx = InfluxDb::start(loopback()).unwrap();
    influx.create_database("deploys").unwrap();
    let root = root("check");
    let out = example(&["--root", &root, "-q", "--progress", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Drift: the recipe's motd is not what it wrote.
    common::on_host(HOST, &format!("echo changed > {root}/conf/motd"));
    let sink = influx.sink_url("deploys");
    let out = example(&["--root", &root, "--check", "--metrics", &sink]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let failing = influx
        .select(
            "deploys",
            "SELECT * FROM off_check_item WHERE recipe = 'offregister_example' AND status = 'fail'",
        )
        .unwrap();
    assert_eq!(failing.len(), 1, "{failing:#?}");
    assert_eq!(failing[0]["item"], format!("{root}/conf/motd"));
    let hosts = influx
        .select("deploys", "SELECT * FROM off_check_host")
        .unwrap();
    assert_eq!(hosts.len(), 1, "{hosts:#?}");
    assert_eq!(hosts[0]["bootstrapped"], true);
}

#[test]
fn influxdb_credentials_come_from_the_environment() {
    let password = "influx-pw-4711";
    let influx = InfluxDb::start_with_auth(loopback(), "writer", password).unwrap();
    influx.create_database("deploys").unwrap();
    let sink = influx.sink_url("deploys");
    let push = |env: &[(&str, &str)]| {
        let mut relay = Command::new(offmetric())
            .args(["--server", &sink, "-q", "--recipe", "auth"])
            .env_remove("INFLUX_USERNAME")
            .env_remove("INFLUX_PASSWORD")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        relay.stdin.take().unwrap().write_all(b"hello\n").unwrap();
        relay.wait_with_output().unwrap()
    };
    let refused = push(&[]);
    assert_eq!(refused.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with(&format!("warning: --metrics {sink}: HTTP 401"))
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    let accepted = push(&[("INFLUX_USERNAME", "writer"), ("INFLUX_PASSWORD", password)]);
    assert_eq!(accepted.status.code(), Some(0));
    assert!(accepted.stderr.is_empty(), "{}", text(&accepted));
    let rows = influx
        .select("deploys", "SELECT * FROM off_log WHERE recipe = 'auth'")
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["text"], "hello");
}
