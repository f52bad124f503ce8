//! Inventory files: the hosts of a run with per-host variables.
//!
//! ```yaml
//! hosts:
//! - host: root@db1:22
//!   vars: {role: primary}
//! - host: deploy@db2
//! ```
//!
//! Recipe binaries read them with `--inventory` (the vars are per-host
//! kwargs); `offcheck` too (the vars fill a spec's `{name}` placeholders).

use std::path::Path;

use serde_json::{Map, Value};

use off_transport::target::Target;

/// One host of an inventory.
#[derive(Debug, Clone)]
pub struct InventoryHost {
    /// As written in the file, for messages.
    pub name: String,
    pub target: Target,
    pub vars: Map<String, Value>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    hosts: Vec<Entry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    host: String,
    #[serde(default)]
    vars: Map<String, Value>,
}

/// The hosts of the inventory `text` read from `path`. Errors are one line
/// each, starting with `--inventory FILE[:LINE]`.
pub fn parse(path: &Path, text: &str) -> Result<Vec<InventoryHost>, Vec<String>> {
    let shown = path.display();
    let file: InventoryFile = serde_saphyr::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}", l.line()))
            .unwrap_or_default();
        let message = e.without_snippet().to_string();
        let message = message.lines().next().unwrap_or_default().to_string();
        vec![format!("--inventory {shown}{at}: {message}")]
    })?;
    if file.hosts.is_empty() {
        return Err(vec![format!("--inventory {shown}: no hosts")]);
    }
    let mut hosts = Vec::new();
    let mut errors = Vec::new();
    for entry in file.hosts {
        match entry.host.parse::<Target>() {
            Ok(target) => hosts.push(InventoryHost {
                name: entry.host,
                target,
                vars: entry.vars,
            }),
            Err(e) => errors.push(format!("--inventory {shown}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(hosts)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hosts_and_vars() {
        let hosts = parse(
            Path::new("hosts.yaml"),
            "hosts:\n- host: root@db1:2222\n  vars: {version: 15}\n- host: db2\n",
        )
        .unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].target.to_string(), "root@db1:2222");
        assert_eq!(hosts[0].vars["version"], 15);
        assert!(hosts[1].vars.is_empty());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let err = parse(Path::new("h.yaml"), "hosts:\n- host: a\n  varz: {}\n").unwrap_err();
        assert!(err[0].starts_with("--inventory h.yaml:3: "), "{err:?}");
        let err = parse(Path::new("h.yaml"), "hosts: []\n").unwrap_err();
        assert_eq!(err, ["--inventory h.yaml: no hosts"]);
        let err = parse(Path::new("h.yaml"), "hosts:\n- host: 'a@'\n- host: 'b@'\n").unwrap_err();
        assert_eq!(err.len(), 2);
    }
}
