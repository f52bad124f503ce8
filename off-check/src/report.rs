//! The report of a check run: YAML (the default), JSON, JUnit XML or TAP.
//!
//! YAML and JSON give one document per host (YAML documents separated by
//! `---` when there are several; JSON one object per line), each shaped as:
//!
//! ```yaml
//! host: root@db1
//! ok: false
//! bootstrapped: true
//! exit_code: 1
//! attempts: 1
//! config:
//! - path: /etc/postgresql/15/main/postgresql.conf
//!   expected: {exists: true, mode: "0644"}
//!   actual: {exists: true, mode: "0600"}
//!   ok: false
//!   message: "/etc/postgresql/15/main/postgresql.conf: mode is 0600, expected 0644"
//! service:
//! - name: postgresql
//!   expected: running
//!   actual: running
//!   ok: true
//! ```

use std::fmt::Write as _;
use std::str::FromStr;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::engine::{CheckRun, HostCheck};
use super::evaluate::ItemResult;

/// The report formats of `--format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReportFormat {
    #[default]
    Yaml,
    Json,
    Junit,
    Tap,
}

impl FromStr for ReportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "yaml" => Ok(ReportFormat::Yaml),
            "json" => Ok(ReportFormat::Json),
            "junit" => Ok(ReportFormat::Junit),
            "tap" => Ok(ReportFormat::Tap),
            _ => Err(format!(
                "unknown report format `{s}` (yaml, json, junit or tap)"
            )),
        }
    }
}

/// The resource sections in the order a report lists them.
const SECTIONS: [&str; 8] = [
    "version",
    "os",
    "config",
    "service",
    "alive_script",
    "port",
    "package",
    "command",
];

struct ItemDoc<'a>(&'a ItemResult);

impl Serialize for ItemDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let i = self.0;
        let mut map = s.serialize_map(None)?;
        if !i.key.is_empty() {
            match i.name.parse::<u16>() {
                Ok(port) if i.key == "port" => map.serialize_entry(i.key, &port)?,
                _ => map.serialize_entry(i.key, &i.name)?,
            }
        }
        map.serialize_entry("expected", &i.expected)?;
        map.serialize_entry("actual", &i.actual)?;
        map.serialize_entry("ok", &i.ok)?;
        if let Some(m) = &i.message {
            map.serialize_entry("message", m)?;
        }
        map.end()
    }
}

struct HostDoc<'a>(&'a HostCheck);

impl Serialize for HostDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("host", &h.host)?;
        map.serialize_entry("ok", &h.ok())?;
        map.serialize_entry("bootstrapped", &h.bootstrapped)?;
        map.serialize_entry("exit_code", &h.exit_code())?;
        if let Some(e) = &h.error {
            map.serialize_entry("error", &e.to_string())?;
        }
        map.serialize_entry("attempts", &h.attempts)?;
        if h.timed_out {
            map.serialize_entry("timed_out", &true)?;
        }
        for section in SECTIONS {
            let items: Vec<ItemDoc<'_>> = h
                .items
                .iter()
                .filter(|i| i.resource == section)
                .map(ItemDoc)
                .collect();
            if !items.is_empty() {
                map.serialize_entry(section, &items)?;
            }
        }
        map.end()
    }
}

impl CheckRun {
    /// The report in `format`, ending with a newline.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Yaml => self.yaml(),
            ReportFormat::Json => self
                .hosts
                .iter()
                .map(|h| serde_json::to_string(&HostDoc(h)).expect("serializable") + "\n")
                .collect(),
            ReportFormat::Junit => self.junit(),
            ReportFormat::Tap => self.tap(),
        }
    }

    fn yaml(&self) -> String {
        let several = self.hosts.len() > 1;
        let mut text = String::new();
        for h in &self.hosts {
            if several {
                text.push_str("---\n");
            }
            let doc = serde_saphyr::to_string(&HostDoc(h)).expect("serializable");
            text.push_str(&doc);
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        text
    }

    /// Per host a `<testsuite>`; per item a `<testcase>` (classname = the
    /// resource) with a `<failure>` when it failed; an unreachable host is
    /// one test case with an `<error>`.
    fn junit(&self) -> String {
        let mut x = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"offcheck\">\n",
        );
        for h in &self.hosts {
            let cases = cases(h);
            let failures = cases.iter().filter(|c| !c.ok && !c.error).count();
            let errors = cases.iter().filter(|c| c.error).count();
            let _ = writeln!(
                x,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">",
                xml(&h.host),
                cases.len(),
                h.duration.as_secs_f64()
            );
            for c in &cases {
                let _ = write!(
                    x,
                    "    <testcase classname=\"{}\" name=\"{}\"",
                    xml(c.resource),
                    xml(&c.name)
                );
                if c.ok {
                    x.push_str("/>\n");
                    continue;
                }
                let tag = if c.error { "error" } else { "failure" };
                let _ = writeln!(
                    x,
                    ">\n      <{tag} message=\"{}\">{}</{tag}>\n    </testcase>",
                    xml(&c.message),
                    xml(&c.detail)
                );
            }
            x.push_str("  </testsuite>\n");
        }
        x.push_str("</testsuites>\n");
        x
    }

    /// TAP 13: the plan, then `ok N - host resource name` per item, with a
    /// YAML block of expected/actual under each failure.
    fn tap(&self) -> String {
        let all: Vec<(&HostCheck, Case)> = self
            .hosts
            .iter()
            .flat_map(|h| cases(h).into_iter().map(move |c| (h, c)))
            .collect();
        let mut t = format!("TAP version 13\n1..{}\n", all.len());
        for (n, (h, c)) in all.iter().enumerate() {
            let status = if c.ok { "ok" } else { "not ok" };
            // `#` would start a directive (SKIP/TODO) in the description.
            let description = format!("{} {} {}", h.host, c.resource, c.name)
                .replace('\\', "\\\\")
                .replace('#', "\\#")
                .replace('\n', " ");
            let _ = writeln!(t, "{status} {} - {description}", n + 1);
            if !c.ok {
                t.push_str("  ---\n");
                for line in c.diagnostic.lines() {
                    let _ = writeln!(t, "  {line}");
                }
                t.push_str("  ...\n");
            }
        }
        t
    }
}

/// One test case of the JUnit and TAP reports.
struct Case {
    resource: &'static str,
    name: String,
    ok: bool,
    /// The host could not be checked (JUnit `<error>`).
    error: bool,
    message: String,
    detail: String,
    /// A YAML mapping for TAP.
    diagnostic: String,
}

fn cases(h: &HostCheck) -> Vec<Case> {
    if let Some(e) = &h.error {
        let message = e.to_string();
        return vec![Case {
            resource: "host",
            name: "reachable".into(),
            ok: false,
            error: true,
            diagnostic: yaml_map(&[("message", serde_json::json!(message))]),
            detail: message.clone(),
            message,
        }];
    }
    let mut cases = vec![Case {
        resource: "host",
        name: "bootstrapped".into(),
        ok: h.bootstrapped,
        error: false,
        message: "none of the spec's files, packages or services are on the host".into(),
        detail: String::new(),
        diagnostic: yaml_map(&[
            ("message", serde_json::json!("no trace of the deployment")),
            ("expected", serde_json::json!(true)),
            ("actual", serde_json::json!(false)),
        ]),
    }];
    for i in &h.items {
        let message = i.message.clone().unwrap_or_default();
        let detail = format!(
            "expected: {}\nactual: {}",
            serde_json::to_string(&i.expected).expect("json"),
            serde_json::to_string(&i.actual).expect("json")
        );
        cases.push(Case {
            resource: i.resource,
            name: i.name.clone(),
            ok: i.ok,
            error: false,
            diagnostic: yaml_map(&[
                ("message", serde_json::json!(message)),
                ("expected", i.expected.clone()),
                ("actual", i.actual.clone()),
            ]),
            message,
            detail,
        });
    }
    if h.timed_out {
        cases.push(Case {
            resource: "host",
            name: "retry".into(),
            ok: false,
            error: false,
            message: format!("still failing after {} attempts", h.attempts),
            detail: String::new(),
            diagnostic: yaml_map(&[("attempts", serde_json::json!(h.attempts))]),
        });
    }
    cases
}

fn yaml_map(entries: &[(&str, serde_json::Value)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    serde_saphyr::to_string(&map).expect("serializable")
}

/// Escaped for XML text and attributes, without the control characters
/// XML 1.0 cannot carry.
fn xml(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || c == '\r' || c >= ' ')
        .collect();
    quick_xml::escape::escape(clean.as_str()).into_owned()
}
