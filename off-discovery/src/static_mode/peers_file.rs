//! The peers file of static mode (`--discovery-file peers.json`): a JSON list of
//! `{"host": "node0.example", "port": 8426, "role": "master"}` objects (`role` optional) or of
//! `"host:port"` strings. Names stay names: they are resolved when a node is contacted.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A `HOST:PORT` address, as written (a name or an IP address; IPv6 in brackets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// `host:port`, `[v6]:port`. The error says what is wrong, not where (callers name the input).
    pub fn parse(text: &str) -> Result<HostPort, String> {
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("`{text}`: an IPv6 address in [brackets] needs its `]`"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| format!("`{text}`: expected HOST:PORT"))?;
            (host, port)
        } else {
            text.rsplit_once(':')
                .ok_or_else(|| format!("`{text}`: expected HOST:PORT, e.g. node0.example:8426"))?
        };
        if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
            return Err(format!(
                "`{text}`: expected HOST:PORT with a host name or address"
            ));
        }
        let port = parse_port(port).map_err(|e| format!("`{text}`: {e}"))?;
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }

    /// The URL base of its endpoint.
    pub fn url(&self) -> String {
        format!("http://{self}")
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A TCP port to listen on or connect to: 1 to 65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    let out_of_range = || format!("port {text} is out of range (a TCP port is 1 to 65535)");
    match text.trim().parse::<u64>() {
        Ok(0) => Err(out_of_range()),
        Ok(n) => u16::try_from(n).map_err(|_| out_of_range()),
        Err(_) => Err(format!(
            "`{text}` is not a port (a TCP port is a number, 1 to 65535)"
        )),
    }
}

/// One line of the peers file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    pub addr: HostPort,
    /// `"role": "master"`.
    pub master: bool,
}

/// The peers file, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeersFile {
    pub path: PathBuf,
    /// In the file's order: the cluster's membership order.
    pub entries: Vec<PeerEntry>,
}

impl PeersFile {
    /// Reads and checks `path`. Every error names the flag, the file and the item.
    pub fn load(path: &Path) -> Result<PeersFile, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("--discovery-file {shown}: no such file")
            } else {
                format!("cannot read --discovery-file {shown}: {e}")
            }
        })?;
        let entries = parse(&text).map_err(|e| format!("--discovery-file {shown}: {e}"))?;
        Ok(PeersFile {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The entries as `host:port`, in order: what two nodes compare to know they read the same
    /// list.
    pub fn addresses(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.addr.to_string()).collect()
    }
}

/// The entries of a peers file's text.
pub fn parse(text: &str) -> Result<Vec<PeerEntry>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let Value::Array(items) = value else {
        return Err(
            "expected a JSON list of peers: [{\"host\": \"node0.example\", \"port\": 8426}, …] or [\"node0.example:8426\", …]"
                .into(),
        );
    };
    if items.is_empty() {
        return Err("the list of peers is empty".into());
    }
    let mut entries: Vec<PeerEntry> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let entry = entry(item).map_err(|e| format!("peer {} (of {}): {e}", i + 1, items.len()))?;
        if let Some(j) = entries.iter().position(|e| e.addr == entry.addr) {
            return Err(format!(
                "peer {} repeats peer {} ({})",
                i + 1,
                j + 1,
                entry.addr
            ));
        }
        entries.push(entry);
    }
    let masters: Vec<String> = entries
        .iter()
        .filter(|e| e.master)
        .map(|e| e.addr.to_string())
        .collect();
    if masters.len() > 1 {
        return Err(format!(
            "more than one peer has \"role\": \"master\" ({}); a cluster has one master",
            masters.join(", ")
        ));
    }
    Ok(entries)
}

fn entry(item: &Value) -> Result<PeerEntry, String> {
    match item {
        Value::String(text) => Ok(PeerEntry {
            addr: HostPort::parse(text)?,
            master: false,
        }),
        Value::Object(map) => {
            if let Some(key) = map
                .keys()
                .find(|k| !["host", "port", "role"].contains(&k.as_str()))
            {
                return Err(format!(
                    "unknown key `{key}` (a peer has `host`, `port` and an optional `role`)"
                ));
            }
            let host = match map.get("host") {
                Some(Value::String(h)) if !h.trim().is_empty() => h.trim(),
                Some(_) => return Err("`host` must be a host name or address".into()),
                None => return Err("missing `host`".into()),
            };
            let port = match map.get("port") {
                Some(Value::Number(n)) => parse_port(&n.to_string())?,
                Some(Value::String(s)) => parse_port(s)?,
                Some(_) => return Err("`port` must be a number, 1 to 65535".into()),
                None => return Err("missing `port`".into()),
            };
            let master = match map.get("role") {
                None | Some(Value::Null) => false,
                Some(Value::String(r)) if r == "master" => true,
                Some(Value::String(r)) if r == "slave" => false,
                Some(other) => {
                    return Err(format!("`role` is `master` or `slave`, not {other}"));
                }
            };
            let addr = HostPort::parse(
                &HostPort {
                    host: host.into(),
                    port,
                }
                .to_string(),
            )?;
            Ok(PeerEntry { addr, master })
        }
        _ => Err("expected a \"host:port\" string or a {\"host\", \"port\"} object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn objects_and_strings_in_file_order() {
        let entries = parse(
            r#"[{"host": "node0.example", "port": 8426},
                "10.0.0.2:8426",
                {"host": "::1", "port": "9000", "role": "master"},
                "[fe80::1]:1"]"#,
        )
        .unwrap();
        assert_eq!(
            entries,
            [
                PeerEntry {
                    addr: hp("node0.example", 8426),
                    master: false
                },
                PeerEntry {
                    addr: hp("10.0.0.2", 8426),
                    master: false
                },
                PeerEntry {
                    addr: hp("::1", 9000),
                    master: true
                },
                PeerEntry {
                    addr: hp("fe80::1", 1),
                    master: false
                },
            ]
        );
        assert_eq!(entries[2].addr.to_string(), "[::1]:9000");
    }

    #[test]
    fn every_mistake_is_named() {
        let e = |text: &str| parse(text).unwrap_err();
        assert!(e("{").starts_with("not valid JSON"), "{}", e("{"));
        assert!(e(r#"{"host": "a"}"#).starts_with("expected a JSON list"));
        assert_eq!(e("[]"), "the list of peers is empty");
        assert_eq!(
            e(r#"["a:1", "b:88426"]"#),
            "peer 2 (of 2): `b:88426`: port 88426 is out of range (a TCP port is 1 to 65535)"
        );
        assert_eq!(
            e(r#"[{"host": "a", "port": 0}]"#),
            "peer 1 (of 1): port 0 is out of range (a TCP port is 1 to 65535)"
        );
        assert_eq!(e(r#"[{"port": 1}]"#), "peer 1 (of 1): missing `host`");
        assert_eq!(e(r#"[{"host": "a"}]"#), "peer 1 (of 1): missing `port`");
        assert!(e(r#"[{"host": "a", "port": 1, "name": "x"}]"#).contains("unknown key `name`"));
        assert!(
            e(r#"[{"host": "a", "port": 1, "role": "boss"}]"#)
                .contains("`role` is `master` or `slave`")
        );
        assert_eq!(
            e(r#"["a"]"#),
            "peer 1 (of 1): `a`: expected HOST:PORT, e.g. node0.example:8426"
        );
        assert_eq!(e(r#"["a:1", "a:1"]"#), "peer 2 repeats peer 1 (a:1)");
        assert!(e(r#"[7]"#).contains("expected a \"host:port\" string"));
        assert!(
            e(r#"[{"host": "a", "port": 1, "role": "master"}, {"host": "b", "port": 1, "role": "master"}]"#)
                .starts_with("more than one peer has \"role\": \"master\" (a:1, b:1)")
        );
    }

    #[test]
    fn the_file_is_named_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.json");
        let e = PeersFile::load(&path).unwrap_err();
        assert_eq!(
            e,
            format!("--discovery-file {}: no such file", path.display())
        );
        std::fs::write(&path, "[\"a:1\", ").unwrap();
        let e = PeersFile::load(&path).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "--discovery-file {}: not valid JSON",
                path.display()
            )),
            "{e}"
        );
        std::fs::write(&path, "[\"a:1\", \"b:2\"]").unwrap();
        assert_eq!(PeersFile::load(&path).unwrap().addresses(), ["a:1", "b:2"]);
    }

    #[test]
    fn ports_are_1_to_65535() {
        assert_eq!(parse_port("8426"), Ok(8426));
        assert_eq!(
            parse_port("88426").unwrap_err(),
            "port 88426 is out of range (a TCP port is 1 to 65535)"
        );
        assert!(parse_port("0").is_err());
        assert!(parse_port("http").unwrap_err().contains("not a port"));
        assert!(HostPort::parse("[::1:80").is_err());
        assert!(HostPort::parse(":80").is_err());
        assert_eq!(HostPort::parse("h:80").unwrap().url(), "http://h:80");
    }
}
