//! InfluxDB 1.x: each event one point of line protocol, a batch one `POST
//! /write?db=DB&precision=ns`.
//!
//! ```text
//! off_op,recipe=offregister_example,run_id=…,host=root@db1,step=prepare,kind=run,status=ok index=1i,planned=7i,done=1i,percent=14.29,changed=true,duration_ms=12i,command="mkdir -p /srv/x" 1764590400123456789
//! ```
//!
//! The measurement is `off_` and the event name (`off_op`, `off_host_finished`,
//! `off_check_item`, ...). Strings one groups or filters by are tags; numbers, booleans and
//! free text (commands, messages) are fields. Credentials come from `INFLUX_USERNAME` and
//! `INFLUX_PASSWORD` (HTTP basic authentication), never from the command line.

use base64::Engine;

use super::{Sink, http_agent, http_error, http_failure};
use crate::event::{Body, Event, unix_nanos};

/// The environment variables with the credentials.
pub const USERNAME_ENV: &str = "INFLUX_USERNAME";
pub const PASSWORD_ENV: &str = "INFLUX_PASSWORD";

/// One field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

/// One point: the measurement, its tags and fields (in order), a nanosecond timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, Field)>,
    pub time_ns: u128,
}

impl Point {
    /// The point in line protocol (without a newline). Tags with an empty value are left out:
    /// line protocol has no empty tag values.
    pub fn line(&self) -> String {
        let mut out = String::new();
        escape_into(&mut out, &self.measurement, &[',', ' ']);
        for (key, value) in &self.tags {
            if value.is_empty() {
                continue;
            }
            out.push(',');
            escape_into(&mut out, key, &[',', '=', ' ']);
            out.push('=');
            escape_into(&mut out, value, &[',', '=', ' ']);
        }
        let mut first = true;
        for (key, value) in &self.fields {
            out.push(if first { ' ' } else { ',' });
            first = false;
            escape_into(&mut out, key, &[',', '=', ' ']);
            out.push('=');
            match value {
                Field::Int(n) => {
                    out.push_str(&n.to_string());
                    out.push('i');
                }
                Field::Float(x) if x.is_finite() => out.push_str(&format!("{x:?}")),
                Field::Float(_) => out.push('0'),
                Field::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Field::Str(s) => {
                    out.push('"');
                    escape_into(&mut out, s, &['"', '\\']);
                    out.push('"');
                }
            }
        }
        out.push(' ');
        out.push_str(&self.time_ns.to_string());
        out
    }
}

/// Appends `text` with a backslash before each of `special`. A newline would end the point: in
/// a measurement, a key or a tag value it becomes a space, in a string field the two characters
/// `\n` (a backslash before anything but `"` and `\` is kept as it is).
fn escape_into(out: &mut String, text: &str, special: &[char]) {
    let in_string_field = special.contains(&'"');
    for c in text.chars() {
        if special.contains(&c) {
            out.push('\\');
            out.push(c);
        } else if c == '\n' || c == '\r' {
            if in_string_field {
                out.push_str(if c == '\n' { "\\n" } else { "\\r" });
            } else {
                // A space, escaped like one.
                out.push_str("\\ ");
            }
        } else {
            out.push(c);
        }
    }
}

fn int(n: u64) -> Field {
    Field::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The point of `event`.
pub fn point(event: &Event) -> Point {
    let mut tags = vec![
        ("recipe".to_string(), event.recipe.clone()),
        ("run_id".to_string(), event.run_id.clone()),
    ];
    let mut fields: Vec<(String, Field)> = Vec::new();
    let mut tag = |k: &str, v: &str| tags.push((k.to_string(), v.to_string()));
    let mut field = |k: &str, v: Field| fields.push((k.to_string(), v));
    match &event.body {
        Body::RunStarted(e) => {
            field("hosts", int(e.hosts.len() as u64));
            field("planned", int(e.planned));
            field("steps", Field::Str(e.steps.join(",")));
        }
        Body::Op(e) => {
            tag("host", &e.host);
            tag("step", &e.step);
            tag("kind", &e.kind);
            tag("status", status_word(event));
            field("index", int(e.index));
            field("planned", int(e.planned));
            field("done", int(e.done));
            field("percent", Field::Float(e.percent));
            field("changed", Field::Bool(e.changed));
            field("duration_ms", int(e.duration_ms));
            field("command", Field::Str(e.command.clone()));
        }
        Body::HostFinished(e) => {
            tag("host", &e.host);
            tag("status", status_word(event));
            field("ok", int(e.totals.ok));
            field("changed", int(e.totals.changed));
            field("failed", int(e.totals.failed));
            field("planned", int(e.planned));
            field("done", int(e.done));
            field("percent", Field::Float(e.percent));
            if let Some(error) = &e.error {
                field("error", Field::Str(error.clone()));
            }
        }
        Body::RunFinished(e) => {
            tag("status", status_word(event));
            field("exit_code", int(u64::from(e.exit_code)));
            field("duration_ms", int(e.duration_ms));
            field("hosts", int(e.hosts.len() as u64));
            let sum = |f: fn(&crate::event::Totals) -> u64| {
                int(e.hosts.iter().map(|h| f(&h.totals)).sum())
            };
            field("ok", sum(|t| t.ok));
            field("changed", sum(|t| t.changed));
            field("failed", sum(|t| t.failed));
        }
        Body::CheckItem(e) => {
            tag("host", &e.host);
            tag("resource", &e.resource);
            tag("item", &e.item);
            tag("status", status_word(event));
            field(
                "passed",
                Field::Bool(e.status == crate::event::CheckStatus::Pass),
            );
            field("expected", Field::Str(e.expected.clone()));
            field("actual", Field::Str(e.actual.clone()));
            if let Some(message) = &e.message {
                field("message", Field::Str(message.clone()));
            }
        }
        Body::CheckHost(e) => {
            tag("host", &e.host);
            tag("status", status_word(event));
            field("bootstrapped", Field::Bool(e.bootstrapped));
            field("passed", int(e.passed));
            field("failed", int(e.failed));
            field("duration_ms", int(e.duration_ms));
            if let Some(error) = &e.error {
                field("error", Field::Str(error.clone()));
            }
        }
        Body::Phase(e) => {
            tag("host", &e.host);
            tag("phase", e.phase.name());
            field("reached", Field::Bool(true));
            if let Some(detail) = &e.detail {
                field("detail", Field::Str(detail.clone()));
            }
        }
        Body::Log(e) => {
            tag("host", &e.host);
            field("line", int(e.line));
            field("text", Field::Str(e.text.clone()));
        }
    }
    Point {
        measurement: format!("off_{}", event.name()),
        tags,
        fields,
        time_ns: unix_nanos(event.time),
    }
}

fn status_word(event: &Event) -> &'static str {
    match &event.body {
        Body::CheckItem(_) | Body::CheckHost(_) if event.is_failure() => "fail",
        Body::CheckItem(_) | Body::CheckHost(_) => "pass",
        _ if event.is_failure() => "failed",
        _ => "ok",
    }
}

/// The InfluxDB sink.
pub struct InfluxSink {
    agent: ureq::Agent,
    url: String,
    database: String,
    authorization: Option<String>,
}

impl InfluxSink {
    pub fn new(host: &str, port: u16, database: &str) -> InfluxSink {
        let authorization = match (
            std::env::var(USERNAME_ENV).ok(),
            std::env::var(PASSWORD_ENV).ok(),
        ) {
            (None, None) => None,
            (user, password) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    user.unwrap_or_default(),
                    password.unwrap_or_default()
                ))
            )),
        };
        InfluxSink {
            agent: http_agent(),
            url: format!("http://{host}:{port}/write"),
            database: database.to_string(),
            authorization,
        }
    }
}

impl Sink for InfluxSink {
    fn deliver(&mut self, events: &[Event]) -> Result<(), String> {
        let mut body = String::new();
        for event in events {
            body.push_str(&point(event).line());
            body.push('\n');
        }
        let mut request = self
            .agent
            .post(&self.url)
            .query("db", &self.database)
            .query("precision", "ns")
            .header("Content-Type", "text/plain; charset=utf-8");
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request.send(body).map_err(http_error)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(http_failure(&mut response))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(tags: &[(&str, &str)], fields: Vec<(&str, Field)>) -> String {
        Point {
            measurement: "off op,x".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            time_ns: 1_700_000_000_000_000_001,
        }
        .line()
    }

    #[test]
    fn measurement_tags_and_fields_are_escaped() {
        assert_eq!(
            p(
                &[("step", "a b,c=d"), ("ho st", "x"), ("empty", "")],
                vec![
                    ("n", Field::Int(3)),
                    ("pct", Field::Float(25.0)),
                    ("ok", Field::Bool(true)),
                    ("cmd", Field::Str(r#"echo "a\b" x=1,2"#.into())),
                ]
            ),
            r#"off\ op\,x,step=a\ b\,c\=d,ho\ st=x n=3i,pct=25.0,ok=true,cmd="echo \"a\\b\" x=1,2" 1700000000000000001"#
        );
    }

    #[test]
    fn a_newline_never_ends_a_point_early() {
        let line = p(
            &[("step", "a\nb")],
            vec![("text", Field::Str("x\ny".into()))],
        );
        assert!(
            line.starts_with(r#"off\ op\,x,step=a\ b text="x\ny" "#),
            "{line}"
        );
        assert_eq!(line.lines().count(), 1);
    }

    #[test]
    fn an_op_is_a_point_of_off_op() {
        let event = crate::event::tests::op_event();
        assert_eq!(
            point(&event).line(),
            "off_op,recipe=demo,run_id=0123456789abcdef,host=root@a,step=install,kind=run,status=ok \
             index=1i,planned=2i,done=1i,percent=50.0,changed=true,duration_ms=7i,\
             command=\"echo hunter2\" 1700000000123456789"
        );
    }
}
