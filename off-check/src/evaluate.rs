//! Comparing what the script found with what the spec expects, item by item.

use serde_json::{Map, Value, json};

use super::script::{Captured, Facts};
use super::spec::{CheckSpec, FileCheck, FileKind, ServiceState};

/// The default version regex: the first run of dotted numbers.
const VERSION_REGEX: &str = r"\d+(?:\.\d+)*";

/// One checked item: what was expected, what the host has, and whether they agree.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemResult {
    /// The spec section: `config`, `service`, ...
    pub resource: &'static str,
    /// What names the item in the report: `path`, `name`, `port`, `cmd`.
    pub key: &'static str,
    /// The item's name: the path, service, port, command, ...
    pub name: String,
    pub expected: Value,
    pub actual: Value,
    pub ok: bool,
    /// Why it failed, on one line.
    pub message: Option<String>,
}

impl ItemResult {
    fn new(resource: &'static str, key: &'static str, name: impl Into<String>) -> Self {
        ItemResult {
            resource,
            key,
            name: name.into(),
            expected: Value::Null,
            actual: Value::Null,
            ok: false,
            message: None,
        }
    }

    fn verdict(mut self, ok: bool, message: impl FnOnce() -> String) -> Self {
        self.ok = ok;
        self.message = (!ok).then(message);
        self
    }
}

/// Every item of `spec` judged against `facts`, in spec order, and whether
/// the host is bootstrapped.
pub(crate) fn evaluate(spec: &CheckSpec, facts: &Facts) -> (Vec<ItemResult>, bool) {
    let mut items = Vec::new();
    if let Some(v) = &spec.version {
        let mut item = ItemResult::new("version", "cmd", v.cmd.clone());
        item.expected = json!(v.expected.as_str());
        let out = facts.captured("v").unwrap_or_default();
        let text = format!("{}\n{}", out.stdout, out.stderr);
        let regex = v
            .regex
            .as_ref()
            .map(|p| p.0.clone())
            .unwrap_or_else(|| regex::Regex::new(VERSION_REGEX).expect("valid"));
        let found = regex.captures(&text).map(|c| {
            c.get(1)
                .or_else(|| c.get(0))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default()
        });
        item.actual = json!(found);
        items.push(match found {
            Some(version) => {
                let ok = v.expected.matches(&version);
                item.verdict(ok, || {
                    format!("version {version} does not satisfy {}", v.expected)
                })
            }
            None => item.verdict(false, || {
                format!(
                    "no version in the output of `{}` ({}): {}",
                    v.cmd,
                    exit_text(&out),
                    first_line(&text)
                )
            }),
        });
    }
    if !spec.os.is_empty() {
        let mut item = ItemResult::new("os", "", "os");
        item.expected = json!(spec.os);
        let release = facts.blob("os").map(os_release);
        item.actual = json!(
            release
                .as_ref()
                .map(|r| format!("{} {}", r.name, r.version_id))
        );
        let ok = release
            .as_ref()
            .is_some_and(|r| spec.os.iter().any(|wanted| r.matches(wanted)));
        items.push(item.verdict(ok, || match &release {
            None => "no /etc/os-release on the host".into(),
            Some(r) => format!(
                "{} {} is not one of {}",
                r.name,
                r.version_id,
                spec.os.join(", ")
            ),
        }));
    }
    for (i, f) in spec.config.iter().enumerate() {
        items.push(file_item(i, f, facts));
    }
    for s in &spec.service {
        let mut item = ItemResult::new("service", "name", s.name.clone());
        item.expected = json!(s.state.name());
        let found = facts.services.get(&s.name).copied().unwrap_or_default();
        let (actual, ok) = match s.state {
            ServiceState::Running | ServiceState::Stopped => {
                let actual = match (found.exists, found.running) {
                    (_, true) => "running",
                    (true, false) => "stopped",
                    (false, false) => "absent",
                };
                (actual, (s.state == ServiceState::Running) == found.running)
            }
            ServiceState::Enabled | ServiceState::Disabled => {
                let actual = match (found.exists, found.enabled) {
                    (_, true) => "enabled",
                    (true, false) => "disabled",
                    (false, false) => "absent",
                };
                (actual, (s.state == ServiceState::Enabled) == found.enabled)
            }
        };
        item.actual = json!(actual);
        items.push(item.verdict(ok, || {
            format!(
                "service {} is {actual}, expected {}",
                s.name,
                s.state.name()
            )
        }));
    }
    for (i, a) in spec.alive_script.iter().enumerate() {
        let mut item = ItemResult::new("alive_script", "cmd", a.cmd.clone());
        item.expected = json!({ "exit_code": a.exit_code });
        let out = facts.captured(&format!("a{i}")).unwrap_or_default();
        item.actual = json!({ "exit_code": out.code });
        let ok = out.code == Some(a.exit_code);
        items.push(item.verdict(ok, || {
            let timed_out = if out.code == Some(124) {
                format!(
                    " (timed out after {})",
                    humantime::format_duration(a.timeout)
                )
            } else {
                String::new()
            };
            format!(
                "`{}` {}{timed_out}, expected {}: {}",
                a.cmd,
                exit_text(&out),
                a.exit_code,
                first_line(&format!("{}{}", out.stderr, out.stdout))
            )
        }));
    }
    let listening = facts.listening_ports();
    for p in &spec.port {
        let mut item = ItemResult::new("port", "port", p.port.to_string());
        let state = |yes: bool| if yes { "listening" } else { "not listening" };
        item.expected = json!(state(p.listening));
        let actual = listening.as_ref().map(|l| l.contains(&p.port));
        item.actual = json!(actual.map(state));
        let ok = actual == Some(p.listening);
        items.push(item.verdict(ok, || match actual {
            None => "cannot read /proc/net/tcp on the host".into(),
            Some(_) => format!(
                "port {} is {}, expected {}",
                p.port,
                state(!p.listening),
                state(p.listening)
            ),
        }));
    }
    for p in &spec.package {
        let mut item = ItemResult::new("package", "name", p.name.clone());
        item.expected = match &p.version {
            Some(v) => json!(v.as_str()),
            None => json!("installed"),
        };
        let versions = facts.packages.get(&p.name);
        item.actual = match versions {
            Some(v) => json!(v.join(", ")),
            None => json!("not installed"),
        };
        let ok = versions.is_some_and(|installed| match &p.version {
            Some(wanted) => installed.iter().any(|v| wanted.matches(v)),
            None => true,
        });
        items.push(
            item.verdict(ok, || match (versions, &facts.package_manager) {
                (None, Some(m)) if m == "none" => "the host has neither dpkg nor rpm".into(),
                (None, _) => format!("package {} is not installed", p.name),
                (Some(v), _) => format!(
                    "package {} is at {}, expected {}",
                    p.name,
                    v.join(", "),
                    p.version.as_ref().map(|c| c.as_str()).unwrap_or("")
                ),
            }),
        );
    }
    for (i, c) in spec.command.iter().enumerate() {
        let mut item = ItemResult::new("command", "cmd", c.cmd.clone());
        let mut expected = Map::new();
        expected.insert("exit_code".into(), json!(c.exit_code));
        if !c.stdout_contains.is_empty() {
            expected.insert("stdout_contains".into(), json!(c.stdout_contains));
        }
        if let Some(r) = &c.stdout_regex {
            expected.insert("stdout_regex".into(), json!(r.0.as_str()));
        }
        item.expected = Value::Object(expected);
        let out = facts.captured(&format!("c{i}")).unwrap_or_default();
        item.actual = json!({ "exit_code": out.code, "stdout": shorten(&out.stdout, 500) });
        let mut problems = Vec::new();
        if out.code != Some(c.exit_code) {
            problems.push(format!("{}, expected {}", exit_text(&out), c.exit_code));
        }
        for wanted in &c.stdout_contains {
            if !out.stdout.contains(wanted.as_str()) {
                problems.push(format!("stdout lacks `{wanted}`"));
            }
        }
        // `^` and `$` match at line boundaries: output is lines.
        if let Some(r) = &c.stdout_regex
            && !regex::RegexBuilder::new(r.0.as_str())
                .multi_line(true)
                .build()
                .unwrap_or_else(|_| r.0.clone())
                .is_match(&out.stdout)
        {
            problems.push(format!("stdout does not match /{}/", r.0.as_str()));
        }
        items.push(item.verdict(problems.is_empty(), || {
            format!("`{}`: {}", c.cmd, problems.join("; "))
        }));
    }

    // Bootstrapped: some trace of the deployment is on the host.
    let traces =
        spec.config.iter().filter(|f| f.exists).count() + spec.package.len() + spec.service.len();
    let bootstrapped = traces == 0
        || spec
            .config
            .iter()
            .any(|f| f.exists && facts.files.contains_key(&f.path))
        || spec
            .package
            .iter()
            .any(|p| facts.packages.contains_key(&p.name))
        || facts.services.values().any(|s| s.exists);
    (items, bootstrapped)
}

fn file_item(index: usize, f: &FileCheck, facts: &Facts) -> ItemResult {
    let mut item = ItemResult::new("config", "path", f.path.clone());
    let found = facts.files.get(&f.path);
    let mut expected = Map::new();
    let mut actual = Map::new();
    let mut problems = Vec::new();
    expected.insert("exists".into(), json!(f.exists));
    actual.insert("exists".into(), json!(found.is_some()));
    if found.is_some() != f.exists {
        problems.push(if f.exists {
            "missing".to_string()
        } else {
            "exists".to_string()
        });
    }
    if let (true, Some(file)) = (f.exists, found) {
        let mut compare = |name: &str, wanted: Value, got: Value, ok: bool| {
            if !ok {
                problems.push(format!(
                    "{name} is {}, expected {}",
                    show(&got),
                    show(&wanted)
                ));
            }
            expected.insert(name.into(), wanted);
            actual.insert(name.into(), got);
        };
        if let Some(sha) = &f.sha256 {
            let got = facts.sha256.get(&f.path);
            compare(
                "sha256",
                json!(sha),
                json!(got),
                got.is_some_and(|g| g == sha),
            );
        }
        if let Some(size) = &f.size {
            compare(
                "size",
                json!(size.to_string()),
                json!(file.size),
                size.matches(file.size),
            );
        }
        if let Some(mode) = f.mode {
            compare(
                "mode",
                json!(format!("{mode:04o}")),
                json!(format!("{:04o}", file.mode)),
                mode == file.mode,
            );
        }
        if let Some(owner) = &f.owner {
            let ok = *owner == file.user || *owner == file.uid;
            compare("owner", json!(owner), json!(file.user), ok);
        }
        if let Some(group) = &f.group {
            let ok = *group == file.group || *group == file.gid;
            compare("group", json!(group), json!(file.group), ok);
        }
        if let Some(kind) = f.kind {
            let is_dir = file.kind == "directory";
            let got = if is_dir { "directory" } else { "file" };
            let ok = match kind {
                FileKind::Directory => is_dir,
                FileKind::File => file.kind.starts_with("regular"),
            };
            compare("kind", json!(kind), json!(got), ok);
        }
        if !f.contains.is_empty() {
            let missing: Vec<&String> = f
                .contains
                .iter()
                .enumerate()
                .filter(|(j, _)| facts.lines.get(&(index, *j)) != Some(&true))
                .map(|(_, line)| line)
                .collect();
            expected.insert("contains".into(), json!(f.contains));
            actual.insert("missing_lines".into(), json!(missing));
            if !missing.is_empty() {
                let shown: Vec<String> = missing.iter().map(|l| format!("`{l}`")).collect();
                problems.push(format!("lacks the line {}", shown.join(", ")));
            }
        }
    }
    item.expected = Value::Object(expected);
    item.actual = Value::Object(actual);
    let ok = problems.is_empty();
    item.verdict(ok, || format!("{}: {}", f.path, problems.join("; ")))
}

struct OsRelease {
    id: String,
    name: String,
    version_id: String,
}

impl OsRelease {
    /// `Debian 12`: the name (matching NAME's start or ID) then VERSION_ID
    /// or its leading components; a name alone matches every version.
    fn matches(&self, wanted: &str) -> bool {
        let wanted = wanted.trim();
        let (name, version) = match wanted.rsplit_once(char::is_whitespace) {
            Some((n, v)) if v.starts_with(|c: char| c.is_ascii_digit()) => (n.trim(), Some(v)),
            _ => (wanted, None),
        };
        let name = name.to_lowercase();
        let name_ok = self.name.to_lowercase().starts_with(&name) || self.id == name;
        let version_ok = version
            .is_none_or(|v| self.version_id == v || self.version_id.starts_with(&format!("{v}.")));
        name_ok && version_ok
    }
}

fn os_release(text: &str) -> OsRelease {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
            .unwrap_or_default()
    };
    OsRelease {
        id: get("ID").to_lowercase(),
        name: get("NAME"),
        version_id: get("VERSION_ID"),
    }
}

fn exit_text(out: &Captured) -> String {
    match out.code {
        Some(code) => format!("exited {code}"),
        None => "did not run".into(),
    }
}

fn first_line(text: &str) -> String {
    shorten(text.trim().lines().next().unwrap_or(""), 200)
}

fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "absent".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> CheckSpec {
        CheckSpec::from_str(text, crate::SpecFormat::Yaml, "t").unwrap()
    }

    const TCP: &str = "sl local rem st\n0: 0100007F:1538 0:0 0A\n";
    const OS: &str = "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";

    #[test]
    fn os_names_match_name_and_version() {
        let r = os_release(OS);
        assert!(r.matches("Debian 12"));
        assert!(r.matches("debian"));
        assert!(!r.matches("Debian 11"));
        assert!(!r.matches("Ubuntu 22.04"));
        let u = os_release("NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\n");
        assert!(u.matches("Ubuntu 22.04"));
        assert!(u.matches("Ubuntu 22"));
        assert!(!u.matches("Ubuntu 24.04"));
    }

    #[test]
    fn judges_items_and_bootstrapped() {
        let s = spec(
            "version: {cmd: v, expected: \">=15, <16\"}\nos: [Ubuntu 22.04, Debian 12]\n\
             config:\n- path: /a\n  mode: \"0644\"\n  size: 1K\n- path: /b\n  exists: false\n\
             service:\n- pg: running\n- cron: stopped\nport: [5432, 22]\n\
             package: [{name: pg, version: \"15\"}, other]\n\
             command:\n- cmd: c\n  stdout_contains: [yes]\n",
        );
        let out = format!(
            "@@blob v.out 10\npsql 15.18\n@@code v 0\n@@blob os {}\n{OS}\n\
             @@stat\n1000\t600\t0\troot\t0\troot\tregular file\t/a\n\
             @@svc pg 1 1 1\n@@svc cron 0 0 0\n@@pkg\ndpkg\npg\tinstall ok installed\t15.4-1\n\
             @@blob tcp {}\n{TCP}\n\
             @@blob c0.out 2\nno\n@@code c0 0\n@@end\n",
            OS.len(),
            TCP.len()
        );
        let (items, bootstrapped) = evaluate(&s, &Facts::parse(out.as_bytes()));
        assert!(bootstrapped);
        let verdicts: Vec<(&str, &str, bool)> = items
            .iter()
            .map(|i| (i.resource, i.name.as_str(), i.ok))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("version", "v", true),
                ("os", "os", true),
                ("config", "/a", false),
                ("config", "/b", true),
                ("service", "pg", true),
                ("service", "cron", true),
                ("port", "5432", true),
                ("port", "22", false),
                ("package", "pg", true),
                ("package", "other", false),
                ("command", "c", false),
            ]
        );
        let a = &items[2];
        assert_eq!(a.actual["mode"], "0600");
        assert_eq!(a.expected["mode"], "0644");
        assert!(
            a.message
                .as_ref()
                .unwrap()
                .contains("mode is 0600, expected 0644")
        );
        assert_eq!(items[7].actual, "not listening");
        assert!(
            items[10]
                .message
                .as_ref()
                .unwrap()
                .contains("stdout lacks `yes`")
        );
    }

    #[test]
    fn a_host_without_any_trace_is_not_bootstrapped() {
        let s = spec("config:\n- path: /a\nservice:\n- pg: running\npackage: [pg]\n");
        let facts = Facts::parse(b"@@svc pg 0 0 0\n@@pkg\ndpkg\n@@end\n");
        let (items, bootstrapped) = evaluate(&s, &facts);
        assert!(!bootstrapped);
        assert!(items.iter().all(|i| !i.ok));
        assert!(
            evaluate(&spec("port: [1]\n"), &facts).1,
            "nothing to judge by"
        );
        let facts = Facts::parse(b"@@svc pg 1 0 0\n@@pkg\ndpkg\n@@end\n");
        assert!(evaluate(&s, &facts).1, "one service is a trace");
    }
}
