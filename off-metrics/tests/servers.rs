//! The sinks against the real servers (rsyslog, InfluxDB 1.x, the pushgateway), each test with
//! instances of its own on loopback.

use std::net::{TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use off_metrics::event::{Body, CheckItem, CheckStatus, Event, HostFinished, Op, Totals};
use off_metrics::pipeline::{Metrics, Warn};
use off_metrics::sink::syslog::SD_ID;
use off_metrics::{HostStatus, OpStatus, SCHEMA_VERSION, SinkUrl};
use off_testbed::servers::{InfluxDb, Pushgateway, Rsyslog, loopback};

fn url(text: &str) -> SinkUrl {
    text.parse().unwrap()
}

fn warnings() -> (Warn, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (
        Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_string())),
        seen,
    )
}

fn op(run_id: &str, host: &str, step: &str, done: u64, planned: u64) -> Event {
    Event {
        schema: SCHEMA_VERSION,
        time: SystemTime::now(),
        run_id: run_id.into(),
        recipe: "offregister_demo".into(),
        body: Body::Op(Op {
            host: host.into(),
            step: step.into(),
            kind: "run".into(),
            index: done,
            planned,
            done,
            percent: off_metrics::event::percent(done, planned),
            status: OpStatus::Ok,
            changed: true,
            duration_ms: 5,
            command: format!("echo {done}"),
        }),
    }
}

/// Sends `events` through `urls` and waits for the flush; the warnings given.
fn push(urls: &[&str], events: &[Event]) -> Vec<String> {
    let (warn, seen) = warnings();
    let urls: Vec<SinkUrl> = urls.iter().map(|u| url(u)).collect();
    let metrics = Metrics::start(&urls, warn);
    for event in events {
        metrics.send(event);
    }
    metrics.finish();
    seen.lock().unwrap().clone()
}

#[test]
fn syslog_over_udp_tcp_and_a_unix_socket_arrives_as_rfc5424_with_hostile_values_escaped() {
    let rsyslog = Rsyslog::start(loopback()).unwrap();
    let hostile_host = "root@h\"] [evil@1 x=\"y";
    let hostile_step = "st\\ep]\nnext";
    let events = [
        op("udp", "root@a", "prepare", 1, 3),
        op("tcp", hostile_host, hostile_step, 2, 3),
        op("unix", "root@c", "configure", 3, 3),
    ];
    let warnings = [
        push(&[&rsyslog.udp_url()], &events[..1]),
        push(&[&rsyslog.tcp_url()], &events[1..2]),
        push(&[&rsyslog.socket_url()], &events[2..]),
    ];
    assert!(warnings.iter().all(Vec::is_empty), "{warnings:?}");
    let lines = rsyslog.wait_for_lines(3).unwrap();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, run) in lines.iter().zip(["udp", "tcp", "unix"]) {
        assert!(line.starts_with("<14>1 "), "{line}");
        assert!(line.contains(&format!("[{SD_ID} ")), "{line}");
        assert!(line.contains(&format!("run_id=\"{run}\"")), "{line}");
        assert!(line.contains(" offregister_demo "), "{line}");
    }
    // rsyslog's own parser finds exactly one SD element with the values escaped as sent.
    let sd = rsyslog.structured_data().unwrap();
    let tcp = sd.iter().find(|l| l.contains("run_id=\"tcp\"")).unwrap();
    assert!(
        tcp.starts_with(&format!("[{SD_ID} ")) && tcp.ends_with(']'),
        "{tcp}"
    );
    assert!(
        tcp.contains(r#"host="root@h\"\] [evil@1 x=\"y""#),
        "the host is one escaped value: {tcp}"
    );
    assert!(tcp.contains(r#"step="st\\ep\]"#), "{tcp}");
    assert!(!tcp.contains("[evil@1 x=\"y\""), "{tcp}");
    assert!(lines[2].contains("percent=\"100.0\""), "{}", lines[2]);
}

#[test]
fn influxdb_stores_every_point_and_tag_values_with_spaces_commas_and_equals_read_back() {
    let influx = InfluxDb::start(loopback()).unwrap();
    influx.create_database("deploys").unwrap();
    let step = "install db, then=start it";
    let mut events: Vec<Event> = (1..=5)
        .map(|i| op("run1", "root@10.0.0.1", step, i, 5))
        .collect();
    events.push(Event {
        body: Body::CheckItem(CheckItem {
            host: "deploy@db 2".into(),
            resource: "config".into(),
            item: "/etc/a b,c=d.conf".into(),
            status: CheckStatus::Fail,
            expected: "sha256 \"ab\"".into(),
            actual: "missing \\ gone".into(),
            message: None,
        }),
        ..op("run1", "x", "y", 1, 1)
    });
    let warnings = push(&[&influx.sink_url("deploys")], &events);
    assert!(warnings.is_empty(), "{warnings:?}");
    let rows = influx
        .select("deploys", "SELECT * FROM off_op WHERE run_id = 'run1'")
        .unwrap();
    assert_eq!(rows.len(), 5, "{rows:?}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["step"], step);
        assert_eq!(row["host"], "root@10.0.0.1");
        assert_eq!(row["done"], (i + 1) as u64);
        assert_eq!(row["command"], format!("echo {}", i + 1));
    }
    assert_eq!(rows[4]["percent"], 100.0);
    let items = influx
        .select(
            "deploys",
            "SELECT * FROM off_check_item WHERE status = 'fail'",
        )
        .unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["host"], "deploy@db 2");
    assert_eq!(items[0]["item"], "/etc/a b,c=d.conf");
    assert_eq!(items[0]["expected"], "sha256 \"ab\"");
    assert_eq!(items[0]["actual"], "missing \\ gone");
}

#[test]
fn influxdb_without_the_database_is_one_warning_naming_the_sink() {
    let influx = InfluxDb::start(loopback()).unwrap();
    let sink = influx.sink_url("nowhere");
    let warnings = push(
        &[&sink],
        &[op("r", "h", "s", 1, 2), op("r", "h", "s", 2, 2)],
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(&format!("warning: --metrics {sink}: HTTP 404")),
        "{warnings:?}"
    );
    assert!(warnings[0].contains("database not found"), "{warnings:?}");
}

#[test]
fn the_pushgateway_keeps_each_hosts_last_state() {
    let gateway = Pushgateway::start(loopback()).unwrap();
    let mut events: Vec<Event> = (1..=3).map(|i| op("r7", "root@a", "s", i, 4)).collect();
    events.push(Event {
        body: Body::HostFinished(HostFinished {
            host: "root@a".into(),
            status: HostStatus::Ok,
            totals: Totals {
                ok: 3,
                changed: 3,
                failed: 0,
            },
            planned: 3,
            done: 3,
            percent: 100.0,
            error: None,
        }),
        ..op("r7", "root@a", "s", 3, 3)
    });
    events.push(op("r7", "root@b/x", "s", 1, 4));
    let warnings = push(&[&gateway.sink_url()], &events);
    assert!(warnings.is_empty(), "{warnings:?}");
    let text = gateway.metrics().unwrap();
    let a = r#"instance="root@a",job="offregister_demo""#;
    for line in [
        format!("off_progress_percent{{{a}}} 100"),
        format!("off_host_state{{{a},state=\"ok\"}} 1"),
        format!("off_host_state{{{a},state=\"running\"}} 0"),
        format!("off_operations_ok_total{{{a}}} 3"),
        format!("off_planned_operations{{{a}}} 3"),
        // A host with a `/` in its name is a group of its own.
        r#"off_progress_percent{instance="root@b/x",job="offregister_demo"} 25"#.to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    assert!(text.contains("# TYPE off_operations_ok_total counter"));
}

#[test]
fn a_closed_port_and_a_sink_that_never_answers_cost_one_warning_and_at_most_the_flush_bound() {
    let closed = {
        let listener = TcpListener::bind((loopback(), 0)).unwrap();
        listener.local_addr().unwrap()
    };
    // Accepts (the kernel's backlog) but never reads or answers.
    let silent = TcpListener::bind((loopback(), 0)).unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let closed_udp = {
        let socket = UdpSocket::bind((loopback(), 0)).unwrap();
        socket.local_addr().unwrap()
    };
    let urls = [
        format!("influxdb://{closed}/db"),
        format!("pushgateway://{closed}"),
        format!("syslog+tcp://{closed}"),
        format!("influxdb://{silent_addr}/db"),
        format!("pushgateway://{silent_addr}"),
        format!("syslog://{closed_udp}"),
    ];
    let events: Vec<Event> = (1..=200).map(|i| op("r", "h", "s", i, 200)).collect();
    let (warn, seen) = warnings();
    let parsed: Vec<SinkUrl> = urls.iter().map(|u| url(u)).collect();
    let started = Instant::now();
    let metrics = Metrics::start(&parsed, warn);
    for event in &events {
        metrics.send(event);
        std::thread::sleep(Duration::from_millis(1));
    }
    let sent = started.elapsed();
    metrics.finish();
    let total = started.elapsed();
    assert!(
        total < sent + off_metrics::FLUSH_TIMEOUT + Duration::from_millis(500),
        "sending took {sent:?}, finishing {:?}",
        total - sent
    );
    let seen = seen.lock().unwrap();
    for url in &urls {
        let theirs: Vec<&String> = seen
            .iter()
            .filter(|w| w.starts_with(&format!("warning: --metrics {url}: ")))
            .collect();
        assert_eq!(theirs.len(), 1, "{url}: {seen:#?}");
    }
    assert_eq!(seen.len(), urls.len(), "{seen:#?}");
    drop(silent);
}
