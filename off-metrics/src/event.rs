//! The one typed event of a run (DESIGN §8): what `--events` writes as NDJSON, one object a
//! line, and what every sink encodes. Its schema is versioned by [`SCHEMA_VERSION`]; fields are
//! only ever added within a version, so a reader of version 1 reads every later event of version 1.
//!
//! Every event has `schema`, `time`, `run_id`, `recipe` and `event` (which of the bodies below
//! follows, flattened into the same object).

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The version of the event schema written in every event's `schema` field.
pub const SCHEMA_VERSION: u32 = 1;

/// What replaces a secret in every event.
pub const REDACTED: &str = "***";

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// When it happened (RFC 3339, nanoseconds, UTC).
    #[serde(with = "rfc3339", default = "SystemTime::now")]
    pub time: SystemTime,
    /// The run it belongs to: one id per invocation of a binary, the same on every host.
    pub run_id: String,
    /// The recipe (binary) that runs: `offregister_postgres`, `offcheck`, ...
    pub recipe: String,
    #[serde(flatten)]
    pub body: Body,
}

/// What happened, tagged by the `event` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Body {
    /// The run starts on these hosts.
    RunStarted(RunStarted),
    /// One operation finished on one host.
    Op(Op),
    /// One host's part of the run ended.
    HostFinished(HostFinished),
    /// The run ended, with every host's totals.
    RunFinished(RunFinished),
    /// One item of a check on one host.
    CheckItem(CheckItem),
    /// A host's check ended.
    CheckHost(CheckHost),
    /// A peer-mode phase was reached on a host.
    Phase(Phase),
    /// A plain line `offmetric` read (not an event).
    Log(Log),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    pub hosts: Vec<String>,
    /// The steps that run, in order.
    pub steps: Vec<String>,
    /// Operations planned per host (the macro's estimate).
    pub planned: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    Ok,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// `user@host` (or `local`).
    pub host: String,
    /// The step the operation ran in.
    pub step: String,
    /// `run`, `sudo`, `put`, ...
    pub kind: String,
    /// The how-manieth operation of this kind on this host (from 1).
    pub index: u64,
    /// Operations planned on this host so far (an estimate, raised when exceeded).
    pub planned: u64,
    /// Operations done on this host, this one included.
    pub done: u64,
    /// `done` of `planned`, in percent, two decimals.
    pub percent: f64,
    pub status: OpStatus,
    pub changed: bool,
    pub duration_ms: u64,
    /// The user's command (never the sudo wrapper); secrets redacted.
    #[serde(default)]
    pub command: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    Ok,
    Failed,
}

/// Operations on one host by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub ok: u64,
    pub changed: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostFinished {
    pub host: String,
    pub status: HostStatus,
    #[serde(flatten)]
    pub totals: Totals,
    pub planned: u64,
    pub done: u64,
    pub percent: f64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostTotals {
    pub host: String,
    pub status: HostStatus,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFinished {
    pub status: HostStatus,
    /// The binary's exit code (DESIGN §9).
    pub exit_code: u8,
    pub duration_ms: u64,
    pub hosts: Vec<HostTotals>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckItem {
    pub host: String,
    /// `config`, `service`, `port`, ...
    pub resource: String,
    /// What the item is about: a path, a service, a port.
    pub item: String,
    pub status: CheckStatus,
    #[serde(default)]
    pub expected: String,
    #[serde(default)]
    pub actual: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckHost {
    pub host: String,
    pub status: CheckStatus,
    /// Whether any of the spec's files, packages or services is there.
    pub bootstrapped: bool,
    pub passed: u64,
    pub failed: u64,
    pub duration_ms: u64,
    /// The host could not be checked: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The phases of peer mode (DESIGN §7) a host reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerPhase {
    /// The host registered itself with the coordinator.
    Registered,
    /// The membership is frozen: the host knows its peers.
    Frozen,
    /// The host waits for the master to be ready.
    WaitingForMaster,
}

impl PeerPhase {
    pub fn name(self) -> &'static str {
        match self {
            PeerPhase::Registered => "registered",
            PeerPhase::Frozen => "frozen",
            PeerPhase::WaitingForMaster => "waiting_for_master",
        }
    }

    pub const ALL: [PeerPhase; 3] = [
        PeerPhase::Registered,
        PeerPhase::Frozen,
        PeerPhase::WaitingForMaster,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub host: String,
    pub phase: PeerPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Log {
    /// The machine `offmetric` runs on.
    pub host: String,
    /// The how-manieth plain line (from 1).
    pub line: u64,
    pub text: String,
}

impl Event {
    /// An event of `recipe`'s run `run_id`, happening now.
    pub fn now(run_id: &str, recipe: &str, body: Body) -> Event {
        Event {
            schema: SCHEMA_VERSION,
            time: SystemTime::now(),
            run_id: run_id.to_string(),
            recipe: recipe.to_string(),
            body,
        }
    }

    /// The `event` tag: `op`, `run_started`, ...
    pub fn name(&self) -> &'static str {
        match &self.body {
            Body::RunStarted(_) => "run_started",
            Body::Op(_) => "op",
            Body::HostFinished(_) => "host_finished",
            Body::RunFinished(_) => "run_finished",
            Body::CheckItem(_) => "check_item",
            Body::CheckHost(_) => "check_host",
            Body::Phase(_) => "phase",
            Body::Log(_) => "log",
        }
    }

    /// The host it is about; `None` for run-level events.
    pub fn host(&self) -> Option<&str> {
        match &self.body {
            Body::RunStarted(_) | Body::RunFinished(_) => None,
            Body::Op(e) => Some(&e.host),
            Body::HostFinished(e) => Some(&e.host),
            Body::CheckItem(e) => Some(&e.host),
            Body::CheckHost(e) => Some(&e.host),
            Body::Phase(e) => Some(&e.host),
            Body::Log(e) => Some(&e.host),
        }
    }

    /// Whether it reports a failure (sinks map this to a severity).
    pub fn is_failure(&self) -> bool {
        match &self.body {
            Body::Op(e) => e.status == OpStatus::Failed,
            Body::HostFinished(e) => e.status == HostStatus::Failed,
            Body::RunFinished(e) => e.status == HostStatus::Failed,
            Body::CheckItem(e) => e.status == CheckStatus::Fail,
            Body::CheckHost(e) => e.status == CheckStatus::Fail,
            _ => false,
        }
    }

    /// One line for people: `[root@db1] sudo: apt-get update (ok, changed) [5/20] 25.00%`.
    pub fn summary(&self) -> String {
        match &self.body {
            Body::RunStarted(e) => format!(
                "{} started on {} ({} operations planned per host)",
                self.recipe,
                e.hosts.join(", "),
                e.planned
            ),
            Body::Op(e) => format!(
                "[{}] {}: {} ({}{}) step {} [{}/{}] {:.2}%",
                e.host,
                e.kind,
                e.command,
                match e.status {
                    OpStatus::Ok => "ok",
                    OpStatus::Failed => "failed",
                },
                if e.changed { ", changed" } else { "" },
                e.step,
                e.done,
                e.planned,
                e.percent
            ),
            Body::HostFinished(e) => format!(
                "[{}] {}: ok={} changed={} failed={}{}",
                e.host,
                host_status(e.status),
                e.totals.ok,
                e.totals.changed,
                e.totals.failed,
                e.error
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            Body::RunFinished(e) => {
                let hosts: Vec<String> = e
                    .hosts
                    .iter()
                    .map(|h| {
                        format!(
                            "{} {} ok={} changed={} failed={}",
                            h.host,
                            host_status(h.status),
                            h.totals.ok,
                            h.totals.changed,
                            h.totals.failed
                        )
                    })
                    .collect();
                format!(
                    "{} finished: {} (exit {}); {}",
                    self.recipe,
                    host_status(e.status),
                    e.exit_code,
                    hosts.join("; ")
                )
            }
            Body::CheckItem(e) => format!(
                "[{}] {} {}: {}{}",
                e.host,
                e.resource,
                e.item,
                check_status(e.status),
                e.message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ),
            Body::CheckHost(e) => format!(
                "[{}] check {}: {} passed, {} failed{}",
                e.host,
                check_status(e.status),
                e.passed,
                e.failed,
                if e.bootstrapped {
                    ""
                } else {
                    ", not bootstrapped"
                }
            ),
            Body::Phase(e) => format!(
                "[{}] {}{}",
                e.host,
                e.phase.name(),
                e.detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
            Body::Log(e) => e.text.clone(),
        }
    }

    /// The event with every occurrence of each of `secrets` in any of its strings replaced by
    /// [`REDACTED`]. Every string field is covered, whatever the event, so a field added later
    /// cannot leak one.
    pub fn redact<S: AsRef<str>>(self, secrets: &[S]) -> Event {
        let secrets: Vec<&str> = secrets
            .iter()
            .map(AsRef::as_ref)
            .filter(|s| !s.is_empty())
            .collect();
        if secrets.is_empty() {
            return self;
        }
        let Ok(mut value) = serde_json::to_value(&self) else {
            return self;
        };
        let mut touched = false;
        redact_value(&mut value, &secrets, &mut touched);
        if !touched {
            return self;
        }
        match serde_json::from_value(value) {
            Ok(event) => event,
            // Redacting a string cannot make an event unreadable; if it did, dropping the
            // strings is the safe way out.
            Err(_) => Event {
                body: Body::Log(Log {
                    host: self
                        .host()
                        .map(|_| REDACTED.to_string())
                        .unwrap_or_default(),
                    line: 0,
                    text: REDACTED.to_string(),
                }),
                ..self
            },
        }
    }
}

fn redact_value(value: &mut serde_json::Value, secrets: &[&str], touched: &mut bool) {
    match value {
        serde_json::Value::String(s) => {
            if let Cow::Owned(r) = redact_str(s, secrets) {
                *s = r;
                *touched = true;
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                redact_value(item, secrets, touched);
            }
        }
        serde_json::Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                redact_value(item, secrets, touched);
            }
        }
        _ => {}
    }
}

/// `text` with every occurrence of each secret replaced by [`REDACTED`], longest secrets first
/// (so a secret that contains another is replaced whole).
pub fn redact_str<'a>(text: &'a str, secrets: &[&str]) -> Cow<'a, str> {
    if !secrets.iter().any(|s| !s.is_empty() && text.contains(s)) {
        return Cow::Borrowed(text);
    }
    let mut sorted: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for secret in sorted {
        out = out.replace(secret, REDACTED);
    }
    Cow::Owned(out)
}

fn host_status(status: HostStatus) -> &'static str {
    match status {
        HostStatus::Ok => "ok",
        HostStatus::Failed => "failed",
    }
}

fn check_status(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "fail",
    }
}

/// `done` of `planned` in percent, rounded to two decimals; 100 when nothing was planned.
pub fn percent(done: u64, planned: u64) -> f64 {
    if planned == 0 {
        return 100.0;
    }
    (done as f64 * 10_000.0 / planned as f64).round() / 100.0
}

/// A new run id: 16 random hex digits.
pub fn new_run_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Nanoseconds since the epoch (0 before it).
pub fn unix_nanos(time: SystemTime) -> u128 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_nanos(*time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn op_event() -> Event {
        Event {
            schema: SCHEMA_VERSION,
            time: SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
            run_id: "0123456789abcdef".into(),
            recipe: "demo".into(),
            body: Body::Op(Op {
                host: "root@a".into(),
                step: "install".into(),
                kind: "run".into(),
                index: 1,
                planned: 2,
                done: 1,
                percent: 50.0,
                status: OpStatus::Ok,
                changed: true,
                duration_ms: 7,
                command: "echo hunter2".into(),
            }),
        }
    }

    #[test]
    fn an_op_event_is_one_flat_object_and_reads_back() {
        let event = op_event();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"schema": 1, "time": "2023-11-14T22:13:20.123456789Z",
                "run_id": "0123456789abcdef", "recipe": "demo", "event": "op",
                "host": "root@a", "step": "install", "kind": "run", "index": 1,
                "planned": 2, "done": 1, "percent": 50.0, "status": "ok", "changed": true,
                "duration_ms": 7, "command": "echo hunter2"})
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn run_and_check_events_read_back() {
        let events = [
            Body::RunFinished(RunFinished {
                status: HostStatus::Failed,
                exit_code: 1,
                duration_ms: 3,
                hosts: vec![HostTotals {
                    host: "a".into(),
                    status: HostStatus::Failed,
                    totals: Totals {
                        ok: 2,
                        changed: 1,
                        failed: 1,
                    },
                }],
            }),
            Body::CheckHost(CheckHost {
                host: "a".into(),
                status: CheckStatus::Fail,
                bootstrapped: false,
                passed: 0,
                failed: 3,
                duration_ms: 1,
                error: None,
            }),
            Body::Phase(Phase {
                host: "a".into(),
                phase: PeerPhase::WaitingForMaster,
                detail: None,
            }),
        ];
        for body in events {
            let event = Event::now("r", "demo", body);
            let line = serde_json::to_string(&event).unwrap();
            assert_eq!(
                serde_json::from_str::<Event>(&line).unwrap(),
                event,
                "{line}"
            );
        }
        let line = serde_json::to_string(&Event::now(
            "r",
            "d",
            Body::Phase(Phase {
                host: "a".into(),
                phase: PeerPhase::WaitingForMaster,
                detail: None,
            }),
        ))
        .unwrap();
        assert!(line.contains(r#""event":"phase","host":"a","phase":"waiting_for_master""#));
        // Totals are flattened into the host's object.
        let finished = serde_json::to_value(Event::now(
            "r",
            "d",
            Body::RunFinished(RunFinished {
                status: HostStatus::Ok,
                exit_code: 0,
                duration_ms: 1,
                hosts: vec![HostTotals {
                    host: "a".into(),
                    status: HostStatus::Ok,
                    totals: Totals {
                        ok: 2,
                        changed: 0,
                        failed: 0,
                    },
                }],
            }),
        ))
        .unwrap();
        assert_eq!(
            finished["hosts"][0],
            serde_json::json!({"host": "a", "status": "ok", "ok": 2, "changed": 0, "failed": 0})
        );
    }

    #[test]
    fn redaction_covers_every_string_field() {
        let event = op_event().redact(&["hunter2", "root@a"]);
        let line = serde_json::to_string(&event).unwrap();
        assert!(
            !line.contains("hunter2") && !line.contains("root@a"),
            "{line}"
        );
        assert!(line.contains(r#""command":"echo ***""#), "{line}");
        // The longer of two overlapping secrets is replaced whole.
        assert_eq!(redact_str("pw=abcdef", &["abc", "abcdef"]), "pw=***");
        assert_eq!(op_event().redact(&[""]), op_event());
    }

    #[test]
    fn percent_has_two_decimals_and_is_100_for_nothing_planned() {
        assert_eq!(percent(137, 590), 23.22);
        assert_eq!(percent(2, 3), 66.67);
        assert_eq!(percent(0, 0), 100.0);
    }
}
