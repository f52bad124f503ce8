//! The Prometheus pushgateway: one group per recipe and host (`job=<recipe>`,
//! `instance=<host>`), replaced (`PUT`) with the host's current state after each batch of
//! events, in the text exposition format:
//!
//! ```text
//! # TYPE off_progress_percent gauge
//! off_progress_percent 42.86
//! # TYPE off_host_state gauge
//! off_host_state{state="running"} 1
//! off_host_state{state="ok"} 0
//! ...
//! # TYPE off_operations_ok_total counter
//! off_operations_ok_total 3
//! ```
//!
//! The pushgateway keeps the last push of a group until it is deleted: after a run, a dashboard
//! shows each host's final state (`off_host_state{state="ok"} 1`, `off_progress_percent 100`,
//! the final counters) and `push_time_seconds`, when it was pushed; the next run of the recipe
//! on the host replaces it.

use std::collections::BTreeMap;
use std::fmt::Write;

use base64::Engine;

use super::{Sink, http_agent, http_error, http_failure};
use crate::event::{Body, CheckStatus, Event, HostStatus, OpStatus, PeerPhase, unix_nanos};

/// What a host's group shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostSeries {
    pub run_id: String,
    pub step: String,
    pub planned: u64,
    pub done: u64,
    pub percent: f64,
    /// `running`, `ok` or `failed`.
    pub state: &'static str,
    pub ok: u64,
    pub changed: u64,
    pub failed: u64,
    /// A check's items passed and failed, and whether the host is bootstrapped.
    pub check: Option<(u64, u64, bool)>,
    pub phase: Option<PeerPhase>,
    /// Plain lines read by `offmetric`.
    pub lines: u64,
    pub last_event_seconds: f64,
}

pub const STATES: [&str; 3] = ["running", "ok", "failed"];

impl HostSeries {
    /// Folds `event` (about this host, or the whole run) into the series.
    pub fn apply(&mut self, event: &Event) {
        if self.run_id != event.run_id {
            // A new run starts from nothing.
            *self = HostSeries {
                run_id: event.run_id.clone(),
                state: "running",
                ..HostSeries::default()
            };
        }
        self.last_event_seconds = unix_nanos(event.time) as f64 / 1e9;
        match &event.body {
            Body::RunStarted(e) => {
                self.planned = e.planned;
                self.percent = crate::event::percent(0, e.planned);
            }
            Body::Op(e) => {
                self.step = e.step.clone();
                self.planned = e.planned;
                self.done = e.done;
                self.percent = e.percent;
                match e.status {
                    OpStatus::Ok => self.ok += 1,
                    OpStatus::Failed => self.failed += 1,
                }
                if e.changed {
                    self.changed += 1;
                }
            }
            Body::HostFinished(e) => {
                self.planned = e.planned;
                self.done = e.done;
                self.percent = e.percent;
                self.ok = e.totals.ok;
                self.changed = e.totals.changed;
                self.failed = e.totals.failed;
                self.state = host_state(e.status);
            }
            Body::RunFinished(_) => {}
            Body::CheckItem(e) => {
                let (passed, failed, _) = self.check.get_or_insert((0, 0, true));
                match e.status {
                    CheckStatus::Pass => *passed += 1,
                    CheckStatus::Fail => *failed += 1,
                }
            }
            Body::CheckHost(e) => {
                self.check = Some((e.passed, e.failed, e.bootstrapped));
                self.state = match e.status {
                    CheckStatus::Pass => "ok",
                    CheckStatus::Fail => "failed",
                };
            }
            Body::Phase(e) => self.phase = Some(e.phase),
            Body::Log(e) => self.lines = e.line,
        }
    }

    /// The group's metrics in the text exposition format.
    pub fn exposition(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {}", number(*value));
            }
        };
        let info = format!(
            "{{run_id=\"{}\",step=\"{}\"}}",
            label_value(&self.run_id),
            label_value(&self.step)
        );
        metric(
            "off_run_info",
            "gauge",
            "The run (and the step it is in) the other series are from.",
            &[(&info, 1.0)],
        );
        metric(
            "off_planned_operations",
            "gauge",
            "Operations planned on the host (an estimate, raised as the run goes).",
            &[("", self.planned as f64)],
        );
        metric(
            "off_done_operations",
            "gauge",
            "Operations done on the host.",
            &[("", self.done as f64)],
        );
        metric(
            "off_progress_percent",
            "gauge",
            "Done of planned operations in percent; 100 when the host succeeded.",
            &[("", self.percent)],
        );
        let states: Vec<(String, f64)> = STATES
            .iter()
            .map(|s| {
                (
                    format!("{{state=\"{s}\"}}"),
                    if *s == self.state { 1.0 } else { 0.0 },
                )
            })
            .collect();
        let states: Vec<(&str, f64)> = states.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        metric(
            "off_host_state",
            "gauge",
            "1 for the host's state (running, ok, failed), 0 for the others.",
            &states,
        );
        metric(
            "off_operations_ok_total",
            "counter",
            "Operations that succeeded on the host in this run.",
            &[("", self.ok as f64)],
        );
        metric(
            "off_operations_changed_total",
            "counter",
            "Operations that changed the host in this run.",
            &[("", self.changed as f64)],
        );
        metric(
            "off_operations_failed_total",
            "counter",
            "Operations that failed on the host in this run.",
            &[("", self.failed as f64)],
        );
        if let Some((passed, failed, bootstrapped)) = self.check {
            metric(
                "off_check_items",
                "gauge",
                "Check items by result.",
                &[
                    ("{result=\"pass\"}", passed as f64),
                    ("{result=\"fail\"}", failed as f64),
                ],
            );
            metric(
                "off_check_bootstrapped",
                "gauge",
                "1 when any of the spec's files, packages or services is on the host.",
                &[("", if bootstrapped { 1.0 } else { 0.0 })],
            );
        }
        if let Some(phase) = self.phase {
            let phases: Vec<(String, f64)> = PeerPhase::ALL
                .iter()
                .map(|p| {
                    (
                        format!("{{phase=\"{}\"}}", p.name()),
                        if *p == phase { 1.0 } else { 0.0 },
                    )
                })
                .collect();
            let phases: Vec<(&str, f64)> = phases.iter().map(|(l, v)| (l.as_str(), *v)).collect();
            metric(
                "off_peer_phase",
                "gauge",
                "1 for the peer-mode phase the host is in.",
                &phases,
            );
        }
        if self.lines > 0 {
            metric(
                "off_log_lines_total",
                "counter",
                "Plain lines offmetric read.",
                &[("", self.lines as f64)],
            );
        }
        metric(
            "off_last_event_timestamp_seconds",
            "gauge",
            "When the host's last event happened (Unix time).",
            &[("", self.last_event_seconds)],
        );
        out
    }
}

fn host_state(status: HostStatus) -> &'static str {
    match status {
        HostStatus::Ok => "ok",
        HostStatus::Failed => "failed",
    }
}

/// A sample value: integers without a fraction.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// A label value with `\`, `"` and newlines escaped (the text format's rules).
pub fn label_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `/metrics/job@base64/…/instance@base64/…`: base64url values carry any text, `/` included
/// (an empty one is `=`).
pub fn group_path(job: &str, instance: &str) -> String {
    let encode = |v: &str| {
        if v.is_empty() {
            "=".to_string()
        } else {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
        }
    };
    format!(
        "/metrics/job@base64/{}/instance@base64/{}",
        encode(job),
        encode(instance)
    )
}

/// The pushgateway sink: the series of every (recipe, host) seen, pushed when they change.
pub struct PushgatewaySink {
    agent: ureq::Agent,
    base: String,
    series: BTreeMap<(String, String), HostSeries>,
}

impl PushgatewaySink {
    pub fn new(host: &str, port: u16) -> PushgatewaySink {
        PushgatewaySink {
            agent: http_agent(),
            base: format!("http://{host}:{port}"),
            series: BTreeMap::new(),
        }
    }
}

impl Sink for PushgatewaySink {
    fn deliver(&mut self, events: &[Event]) -> Result<(), String> {
        let mut touched = Vec::new();
        for event in events {
            let hosts: Vec<String> = match (&event.body, event.host()) {
                (_, Some(host)) => vec![host.to_string()],
                (Body::RunStarted(e), None) => e.hosts.clone(),
                (_, None) => continue,
            };
            for host in hosts {
                let key = (event.recipe.clone(), host);
                self.series.entry(key.clone()).or_default().apply(event);
                if !touched.contains(&key) {
                    touched.push(key);
                }
            }
        }
        let mut result = Ok(());
        for key in touched {
            let body = self.series[&key].exposition();
            let url = format!("{}{}", self.base, group_path(&key.0, &key.1));
            let outcome = match self
                .agent
                .put(&url)
                .header("Content-Type", "text/plain; version=0.0.4")
                .send(body)
            {
                Ok(mut response) if !response.status().is_success() => {
                    Err(http_failure(&mut response))
                }
                Ok(_) => Ok(()),
                Err(e) => Err(http_error(e)),
            };
            if outcome.is_err() && result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{HostFinished, Totals};

    #[test]
    fn a_host_ends_at_100_percent_in_state_ok() {
        let mut series = HostSeries::default();
        let mut op = crate::event::tests::op_event();
        series.apply(&op);
        if let Body::Op(o) = &mut op.body {
            o.status = OpStatus::Failed;
            o.changed = false;
        }
        series.apply(&op);
        assert_eq!((series.ok, series.failed, series.changed), (1, 1, 1));
        assert_eq!(series.state, "running");
        let finished = Event {
            body: Body::HostFinished(HostFinished {
                host: "root@a".into(),
                status: HostStatus::Ok,
                totals: Totals {
                    ok: 2,
                    changed: 1,
                    failed: 0,
                },
                planned: 2,
                done: 2,
                percent: 100.0,
                error: None,
            }),
            ..op.clone()
        };
        series.apply(&finished);
        let text = series.exposition();
        for line in [
            "# TYPE off_progress_percent gauge",
            "off_progress_percent 100",
            "off_host_state{state=\"ok\"} 1",
            "off_host_state{state=\"running\"} 0",
            "# TYPE off_operations_ok_total counter",
            "off_operations_ok_total 2",
            "off_run_info{run_id=\"0123456789abcdef\",step=\"install\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        // A new run starts from zero.
        let next = Event {
            run_id: "other".into(),
            ..op
        };
        series.apply(&next);
        assert_eq!((series.ok + series.failed, series.state), (1, "running"));
    }

    #[test]
    fn label_values_and_group_paths_carry_any_text() {
        assert_eq!(label_value("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
        assert_eq!(
            group_path("offregister_x", "root@10.0.0.1"),
            "/metrics/job@base64/b2ZmcmVnaXN0ZXJfeA/instance@base64/cm9vdEAxMC4wLjAuMQ"
        );
        assert_eq!(
            group_path("j", ""),
            "/metrics/job@base64/ag/instance@base64/="
        );
    }
}
