//! The sink URLs of `--metrics` (and `offmetric --server`), checked before anything runs.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The schemes, as `--help` and errors list them.
pub const SCHEMES: &[&str] = &["syslog", "syslog+tcp", "influxdb", "pushgateway"];

/// A parsed sink URL, with the text it was given as (what warnings name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkUrl {
    pub text: String,
    pub sink: SinkKind,
}

/// Where a sink sends and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// `syslog://host[:514]`: RFC 5424 in UDP datagrams.
    SyslogUdp { host: String, port: u16 },
    /// `syslog+tcp://host[:514]`: RFC 5424 over TCP, octet-counted (RFC 6587).
    SyslogTcp { host: String, port: u16 },
    /// `syslog:///dev/log`: RFC 5424 to a local unix datagram socket.
    SyslogUnix { path: PathBuf },
    /// `influxdb://host[:8086]/db`: the InfluxDB 1.x `/write` endpoint.
    InfluxDb {
        host: String,
        port: u16,
        database: String,
    },
    /// `pushgateway://host[:9091]`: the Prometheus pushgateway.
    Pushgateway { host: String, port: u16 },
}

impl fmt::Display for SinkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for SinkUrl {
    type Err = String;

    /// The message says what is wrong with the URL; the caller names the flag.
    fn from_str(text: &str) -> Result<SinkUrl, String> {
        let Some((scheme, _)) = text.split_once("://") else {
            return Err(format!(
                "`{text}` is not a sink URL (SCHEME://HOST[:PORT][/PATH]; schemes: {})",
                SCHEMES.join(", ")
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if !SCHEMES.contains(&scheme.as_str()) {
            let hint = off_input::did_you_mean(&scheme, SCHEMES.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            return Err(format!(
                "unknown scheme `{scheme}` in `{text}`; {hint}(schemes: {})",
                SCHEMES.join(", ")
            ));
        }
        let url = url::Url::parse(text).map_err(|e| format!("`{text}`: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            // The URL is not quoted: it holds the password.
            return Err(format!(
                "{scheme}://…: credentials do not belong in a URL on the command line (every \
                 user of the machine can read it); set INFLUX_USERNAME and INFLUX_PASSWORD"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("`{text}`: a sink URL has no query or fragment"));
        }
        let host = url.host_str().unwrap_or("").to_string();
        let port = |default: u16| -> Result<u16, String> {
            match url.port() {
                Some(0) => Err(format!("`{text}`: port 0 is out of range (1-65535)")),
                Some(port) => Ok(port),
                None => Ok(default),
            }
        };
        let path = url.path();
        let no_path = |what: &str| -> Result<(), String> {
            if path.is_empty() || path == "/" {
                Ok(())
            } else {
                Err(format!("`{text}`: {what} takes no path (`{path}`)"))
            }
        };
        let need_host = || -> Result<(), String> {
            if host.is_empty() {
                Err(format!("`{text}`: no host"))
            } else {
                Ok(())
            }
        };
        let sink = match scheme.as_str() {
            "syslog" if host.is_empty() => {
                if url.port().is_some() || path.is_empty() || path == "/" {
                    return Err(format!(
                        "`{text}`: give a host (syslog://HOST[:PORT]) or a socket path (syslog:///dev/log)"
                    ));
                }
                SinkKind::SyslogUnix {
                    path: PathBuf::from(path),
                }
            }
            "syslog" => {
                no_path("syslog://HOST")?;
                SinkKind::SyslogUdp {
                    port: port(514)?,
                    host,
                }
            }
            "syslog+tcp" => {
                need_host()?;
                no_path("syslog+tcp://HOST")?;
                SinkKind::SyslogTcp {
                    port: port(514)?,
                    host,
                }
            }
            "influxdb" => {
                need_host()?;
                let database = path.trim_start_matches('/');
                if database.is_empty() {
                    return Err(format!(
                        "`{text}`: no database name (influxdb://HOST[:PORT]/DATABASE)"
                    ));
                }
                if database.contains('/') {
                    return Err(format!(
                        "`{text}`: the path is the database name, one word (influxdb://HOST[:PORT]/DATABASE)"
                    ));
                }
                let database = percent_decode(database)
                    .ok_or_else(|| format!("`{text}`: the database name is not UTF-8"))?;
                SinkKind::InfluxDb {
                    port: port(8086)?,
                    host,
                    database,
                }
            }
            "pushgateway" => {
                need_host()?;
                no_path("pushgateway://HOST")?;
                SinkKind::Pushgateway {
                    port: port(9091)?,
                    host,
                }
            }
            _ => unreachable!("the scheme was checked above"),
        };
        Ok(SinkUrl {
            text: text.to_string(),
            sink,
        })
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> SinkKind {
        text.parse::<SinkUrl>().unwrap().sink
    }

    fn error(text: &str) -> String {
        text.parse::<SinkUrl>().unwrap_err()
    }

    #[test]
    fn each_scheme_with_its_default_port() {
        assert_eq!(
            kind("syslog://logs.example"),
            SinkKind::SyslogUdp {
                host: "logs.example".into(),
                port: 514
            }
        );
        assert_eq!(
            kind("syslog+tcp://10.0.0.1:1514"),
            SinkKind::SyslogTcp {
                host: "10.0.0.1".into(),
                port: 1514
            }
        );
        assert_eq!(
            kind("syslog:///dev/log"),
            SinkKind::SyslogUnix {
                path: "/dev/log".into()
            }
        );
        assert_eq!(
            kind("influxdb://db1/deploys"),
            SinkKind::InfluxDb {
                host: "db1".into(),
                port: 8086,
                database: "deploys".into()
            }
        );
        assert_eq!(
            kind("pushgateway://pg:9091/"),
            SinkKind::Pushgateway {
                host: "pg".into(),
                port: 9091
            }
        );
        assert_eq!(
            kind("influxdb://[::1]:8087/my%20db"),
            SinkKind::InfluxDb {
                host: "[::1]".into(),
                port: 8087,
                database: "my db".into()
            }
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let e = error("sislog://h");
        assert!(
            e.contains("unknown scheme `sislog` in `sislog://h`; did you mean `syslog`?"),
            "{e}"
        );
        assert!(error("http://h").contains("schemes: syslog, syslog+tcp, influxdb, pushgateway"));
        assert!(error("influxdb://h:8086").contains("no database name"));
        assert!(error("influxdb://h:8086/").contains("no database name"));
        assert!(error("influxdb://h/a/b").contains("one word"));
        let e = error("pushgateway://h:99999");
        assert!(e.contains("invalid port number"), "{e}");
        assert!(error("syslog://h:0").contains("port 0 is out of range"));
        let e = error("influxdb://u:hunter2@h/db");
        assert!(
            e.contains("INFLUX_PASSWORD") && !e.contains("hunter2"),
            "{e}"
        );
        assert!(error("localhost:514").contains("not a sink URL"));
        assert!(error("pushgateway://h/metrics").contains("takes no path"));
        assert!(error("syslog://").contains("socket path"));
    }
}
