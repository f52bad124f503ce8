//! The run's events (DESIGN §8, docs/metrics.md): an observer that builds the typed events of
//! a recipe run (the run starting, each operation, each host finishing, the run finishing) and
//! publishes them to `--events` and the sinks of `--metrics`, secrets redacted.
//!
//! It keeps its own per-host count of operations, by the same rule as the progress display
//! ([`Counts`]), so an event's `planned`, `done` and `percent` are what the display shows.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::progress::Counts;
use crate::executor::RunReport;
use crate::metrics::event::{
    Body, HostFinished, HostStatus, HostTotals, Op, OpStatus as EventStatus, RunFinished,
    RunStarted, Totals, millis, percent,
};
use crate::metrics::{Metrics, Publisher};
use crate::report::{OpEvent, OpStatus, RunObserver};

struct HostState {
    counts: Counts,
    step: &'static str,
    totals: Totals,
    finished: bool,
}

/// The observer that publishes a recipe run's events.
pub(crate) struct RunEvents {
    publisher: Publisher,
    plan: Vec<(&'static str, u64)>,
    hosts: Mutex<HashMap<String, HostState>>,
    started: Instant,
}

impl RunEvents {
    /// Events of `recipe`, whose plan per host is `plan`, to `ndjson` (`--events`) and
    /// `metrics`.
    pub(crate) fn new(
        recipe: &str,
        plan: Vec<(&'static str, u64)>,
        ndjson: Option<Box<dyn Write + Send>>,
        metrics: Metrics,
    ) -> RunEvents {
        RunEvents {
            publisher: Publisher::new(
                recipe,
                ndjson,
                metrics,
                Box::new(crate::transport::values_to_redact),
            ),
            plan,
            hosts: Mutex::new(HashMap::new()),
            started: Instant::now(),
        }
    }

    fn with_host<R>(&self, host: &str, f: impl FnOnce(&mut HostState) -> R) -> R {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let state = hosts.entry(host.to_string()).or_insert_with(|| HostState {
            counts: Counts::new(&self.plan),
            step: "",
            totals: Totals::default(),
            finished: false,
        });
        f(state)
    }

    /// The run starts on `hosts` with the steps `steps`.
    pub(crate) fn run_started(&self, hosts: Vec<String>, steps: Vec<String>) {
        let planned = self.plan.iter().map(|(_, n)| n).sum();
        self.publisher.publish(Body::RunStarted(RunStarted {
            hosts,
            steps,
            planned,
        }));
    }

    /// `host` runs `step` from now on.
    pub(crate) fn set_step(&self, host: &str, step: &'static str) {
        self.with_host(host, |s| s.step = step);
    }

    /// `host` is done: it succeeded (its progress ends at 100%) or failed with `error`.
    pub(crate) fn host_finished(&self, host: &str, error: Option<String>) {
        let body = self.with_host(host, |state| {
            state.finished = true;
            if error.is_none() {
                state.counts.complete();
            }
            let (done, planned) = state.counts.total();
            Body::HostFinished(HostFinished {
                host: host.to_string(),
                status: if error.is_none() {
                    HostStatus::Ok
                } else {
                    HostStatus::Failed
                },
                totals: state.totals,
                planned,
                done,
                percent: percent(done, planned),
                error,
            })
        });
        self.publisher.publish(body);
    }

    /// The run ended as `report` says: a `host_finished` for each host that never got to run
    /// (unreachable, cancelled), then `run_finished`.
    pub(crate) fn run_finished(&self, report: &RunReport) {
        for host in &report.hosts {
            let seen = self.with_host(&host.label, |s| s.finished);
            if !seen && let Err(e) = &host.result {
                self.host_finished(&host.label, Some(e.to_string()));
            }
        }
        let status = |ok: bool| {
            if ok {
                HostStatus::Ok
            } else {
                HostStatus::Failed
            }
        };
        self.publisher.publish(Body::RunFinished(RunFinished {
            status: status(report.exit_code() == 0),
            exit_code: report.exit_code(),
            duration_ms: millis(self.started.elapsed()),
            hosts: report
                .hosts
                .iter()
                .map(|h| HostTotals {
                    host: h.label.clone(),
                    status: status(h.result.is_ok()),
                    totals: Totals {
                        ok: h.ok,
                        changed: h.changed,
                        failed: h.failed,
                    },
                })
                .collect(),
        }));
    }

    /// Flushes `--events` and waits (at most the flush bound) for the sinks.
    pub(crate) fn finish(&self) {
        self.publisher.finish();
    }
}

impl RunObserver for RunEvents {
    fn op_finished(&self, event: &OpEvent<'_>, status: OpStatus, duration: Duration) {
        let body = self.with_host(event.host, |state| {
            let (index, _) = state.counts.record(event.op);
            let (done, planned) = state.counts.total();
            let (status, changed) = match status {
                OpStatus::Ok { changed } => (EventStatus::Ok, changed),
                OpStatus::Failed => (EventStatus::Failed, false),
            };
            match status {
                EventStatus::Ok => state.totals.ok += 1,
                EventStatus::Failed => state.totals.failed += 1,
            }
            if changed {
                state.totals.changed += 1;
            }
            Body::Op(Op {
                host: event.host.to_string(),
                step: state.step.to_string(),
                kind: event.op.to_string(),
                index,
                planned,
                done,
                percent: percent(done, planned),
                status,
                changed,
                duration_ms: millis(duration),
                command: event.command.to_string(),
            })
        });
        self.publisher.publish(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::driver::test_output::Buf;

    fn event<'a>(command: &'a str) -> OpEvent<'a> {
        OpEvent {
            host: "root@a",
            op: "run",
            command,
            quiet: false,
        }
    }

    fn lines(buf: &Buf) -> Vec<serde_json::Value> {
        buf.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn ops_and_hosts_are_events_with_the_display_counts_and_no_secret() {
        let secret = crate::Secret::new("hunter2-in-events");
        let buf = Buf::default();
        let events = RunEvents::new(
            "demo",
            vec![("run", 1), ("sudo", 1)],
            Some(Box::new(buf.clone())),
            Metrics::none(),
        );
        events.run_started(vec!["root@a".into()], vec!["install".into()]);
        events.set_step("root@a", "install");
        let ms = Duration::from_millis(7);
        let command = format!("echo {}", secret.expose());
        events.op_finished(&event(&command), OpStatus::Ok { changed: true }, ms);
        events.op_finished(&event("false"), OpStatus::Failed, ms);
        events.host_finished("root@a", None);
        events.finish();
        let lines = lines(&buf);
        assert_eq!(lines.len(), 4);
        let run_id = lines[0]["run_id"].as_str().unwrap();
        assert!(
            lines
                .iter()
                .all(|l| l["run_id"] == run_id && l["schema"] == 1)
        );
        assert_eq!(lines[0]["event"], "run_started");
        assert_eq!(lines[0]["planned"], 2);
        let mut first = lines[1].clone();
        let object = first.as_object_mut().unwrap();
        assert!(object.remove("time").is_some());
        object.remove("run_id");
        assert_eq!(
            first,
            serde_json::json!({"schema": 1, "recipe": "demo", "event": "op",
                "host": "root@a", "step": "install", "kind": "run", "index": 1,
                "planned": 2, "done": 1, "percent": 50.0, "status": "ok",
                "changed": true, "duration_ms": 7, "command": "echo ***"})
        );
        assert_eq!(lines[2]["status"], "failed");
        assert_eq!(
            (&lines[2]["done"], &lines[2]["planned"]),
            (&2.into(), &3.into())
        );
        assert_eq!(lines[3]["event"], "host_finished");
        assert_eq!(lines[3]["percent"], 100.0);
        assert_eq!(
            (&lines[3]["ok"], &lines[3]["changed"], &lines[3]["failed"]),
            (&1.into(), &1.into(), &1.into())
        );
        let text = buf.text();
        assert!(!text.contains("hunter2"), "{text}");
    }
}
