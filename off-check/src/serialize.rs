//! Writing a spec back as YAML or JSON, in the shortest form that reads back
//! the same (defaults left out), for generators such as `cargo off gen-config`.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::size::Size;
use super::spec::{
    AliveScript, CheckSpec, CommandCheck, FileCheck, PackageCheck, Pattern, PortCheck,
    ServiceCheck, VersionCheck,
};
use super::version::VersionConstraint;

fn duration_text(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl Serialize for CheckSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(v) = &self.version {
            m.serialize_entry("version", v)?;
        }
        if !self.os.is_empty() {
            m.serialize_entry("os", &self.os)?;
        }
        if !self.config.is_empty() {
            m.serialize_entry("config", &self.config)?;
        }
        if !self.service.is_empty() {
            m.serialize_entry("service", &self.service)?;
        }
        if !self.alive_script.is_empty() {
            m.serialize_entry("alive_script", &self.alive_script)?;
        }
        if !self.port.is_empty() {
            m.serialize_entry("port", &self.port)?;
        }
        if !self.package.is_empty() {
            m.serialize_entry("package", &self.package)?;
        }
        if !self.command.is_empty() {
            m.serialize_entry("command", &self.command)?;
        }
        m.end()
    }
}

impl Serialize for VersionCheck {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.cmd.is_empty() && self.regex.is_none() {
            return self.expected.serialize(s);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("cmd", &self.cmd)?;
        if let Some(r) = &self.regex {
            m.serialize_entry("regex", r)?;
        }
        m.serialize_entry("expected", &self.expected)?;
        m.end()
    }
}

impl Serialize for FileCheck {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("path", &self.path)?;
        if !self.exists {
            m.serialize_entry("exists", &false)?;
        }
        if let Some(sha) = &self.sha256 {
            m.serialize_entry("sha256", sha)?;
        }
        if let Some(size) = &self.size {
            m.serialize_entry("size", size)?;
        }
        if let Some(mode) = self.mode {
            m.serialize_entry("mode", &format!("{mode:04o}"))?;
        }
        if let Some(owner) = &self.owner {
            m.serialize_entry("owner", owner)?;
        }
        if let Some(group) = &self.group {
            m.serialize_entry("group", group)?;
        }
        if self.init {
            m.serialize_entry("init", &true)?;
        }
        if let Some(kind) = &self.kind {
            m.serialize_entry("kind", kind)?;
        }
        if !self.contains.is_empty() {
            m.serialize_entry("contains", &self.contains)?;
        }
        m.end()
    }
}

impl Serialize for ServiceCheck {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(&self.name, &self.state)?;
        m.end()
    }
}

impl Serialize for AliveScript {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let default = AliveScript::default();
        let mut m = s.serialize_map(None)?;
        if self.shell != default.shell {
            m.serialize_entry("shell", &self.shell)?;
        }
        m.serialize_entry("cmd", &self.cmd)?;
        if self.exit_code != 0 {
            m.serialize_entry("exit_code", &self.exit_code)?;
        }
        if self.timeout != default.timeout {
            m.serialize_entry("timeout", &duration_text(self.timeout))?;
        }
        m.end()
    }
}

impl Serialize for PortCheck {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.listening {
            return s.serialize_u16(self.port);
        }
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("port", &self.port)?;
        m.serialize_entry("listening", &false)?;
        m.end()
    }
}

impl Serialize for PackageCheck {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(version) = &self.version else {
            return s.serialize_str(&self.name);
        };
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("version", version)?;
        m.end()
    }
}

impl Serialize for CommandCheck {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let default = CommandCheck::default();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("cmd", &self.cmd)?;
        if self.exit_code != 0 {
            m.serialize_entry("exit_code", &self.exit_code)?;
        }
        if !self.stdout_contains.is_empty() {
            m.serialize_entry("stdout_contains", &self.stdout_contains)?;
        }
        if let Some(r) = &self.stdout_regex {
            m.serialize_entry("stdout_regex", r)?;
        }
        if self.timeout != default.timeout {
            m.serialize_entry("timeout", &duration_text(self.timeout))?;
        }
        m.end()
    }
}

impl Serialize for VersionConstraint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SpecFormat;

    const SPEC: &str = r#"
version: {cmd: "psql --version", regex: '(\d+)', expected: ">=15, <16"}
os: [Debian 12]
config:
- {path: /etc/a, sha256: 2100400000000000000000000000000000000000000000000000000000000000, size: 22K, mode: "0640", owner: postgres, group: "0"}
- {path: /etc/init.d/pg, init: true}
- {path: /etc/b, exists: false}
service:
- postgresql: running
- cron: disabled
alive_script:
- {shell: /bin/bash, cmd: pg_isready, exit_code: 1, timeout: 1m 30s}
port: [5432, {port: 80, listening: false}]
package: [postgresql-15, {name: libpq5, version: ">=15"}]
command:
- {cmd: id, exit_code: 2, stdout_contains: [root], stdout_regex: "^u", timeout: 500ms}
"#;

    #[test]
    fn specs_read_back_the_same_from_yaml_and_json() {
        let spec = CheckSpec::from_str(SPEC, SpecFormat::Yaml, "t").unwrap();
        let yaml = serde_saphyr::to_string(&spec).unwrap();
        let back = CheckSpec::from_str(&yaml, SpecFormat::Yaml, "yaml").unwrap();
        assert_eq!(back, spec, "{yaml}");
        let json = serde_json::to_string(&spec).unwrap();
        let back = CheckSpec::from_str(&json, SpecFormat::Json, "json").unwrap();
        assert_eq!(back, spec, "{json}");
        assert!(yaml.contains("- postgresql: running"), "{yaml}");
        assert!(
            !yaml.contains("exists: true"),
            "defaults are left out: {yaml}"
        );
    }
}
