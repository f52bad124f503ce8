//! Syslog: each event one RFC 5424 message,
//!
//! ```text
//! <14>1 2026-12-01T12:00:00.123456Z ctl offregister_example 4242 op [off@32473 schema="1" run_id="…" host="root@db1" step="prepare" kind="run" index="1" planned="7" done="1" percent="14.29" status="ok" changed="true" duration_ms="12"] [root@db1] run: mkdir -p /srv/x (ok, changed) step prepare [1/7] 14.29%
//! ```
//!
//! over UDP (one datagram each), TCP (octet-counted framing, RFC 6587 §3.4.1) or a local unix
//! datagram socket (`/dev/log`). HOSTNAME is the machine that runs off; the host an event is
//! about is the `host` parameter. The structured data's SD-ID is `off@32473` (32473 is the
//! enterprise number RFC 5612 reserves for documentation).

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{DELIVERY_TIMEOUT, Sink, truncate};
use crate::event::Event;

/// The structured data element's id.
pub const SD_ID: &str = "off@32473";

/// Facility `user` (1).
const FACILITY: u8 = 1;
const SEVERITY_ERR: u8 = 3;
const SEVERITY_INFO: u8 = 6;

/// The longest MSG part: receivers must take 480 bytes, should take 2048, rsyslog takes 8 KiB by
/// default; a long command is cut here rather than the whole message being dropped.
const MAX_MSG: usize = 2048;

/// Parameters that are not SD-PARAMs: the command may be long (it is in MSG, cut); the rest is in
/// the header.
const NOT_PARAMS: &[&str] = &["event", "time", "recipe", "command", "text", "hosts"];

/// The message for `event`, without any transport framing.
pub fn encode(event: &Event, hostname: &str, procid: u32) -> String {
    let severity = if event.is_failure() {
        SEVERITY_ERR
    } else {
        SEVERITY_INFO
    };
    let mut out = format!(
        "<{}>1 {} {} {} {} {} [{SD_ID}",
        FACILITY * 8 + severity,
        humantime::format_rfc3339_micros(event.time),
        header_field(hostname, 255),
        header_field(&event.recipe, 48),
        procid,
        header_field(event.name(), 32),
    );
    if let Ok(Value::Object(map)) = serde_json::to_value(event) {
        // Sorted by name, whatever order the JSON map keeps.
        let mut params: Vec<(&String, &Value)> = map.iter().collect();
        params.sort_by_key(|(name, _)| *name);
        for (name, value) in params {
            if NOT_PARAMS.contains(&name.as_str()) {
                continue;
            }
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            push_param_value(&mut out, &value);
            out.push('"');
        }
    }
    out.push_str("] ");
    let msg: String = event
        .summary()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    out.push_str(truncate(&msg, MAX_MSG));
    out
}

/// A header field: printable US-ASCII without spaces, at most `max` characters, `-` when empty
/// (RFC 5424 §6.2).
fn header_field(text: &str, max: usize) -> String {
    let field: String = text
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if field.is_empty() {
        "-".to_string()
    } else {
        field
    }
}

/// The longest PARAM-VALUE: an error message with a command's stderr must not make a
/// datagram too long to send.
const MAX_PARAM: usize = 1024;

/// A PARAM-VALUE with `"`, `\` and `]` escaped (RFC 5424 §6.3.3), cut at [`MAX_PARAM`] bytes.
fn push_param_value(out: &mut String, value: &str) {
    for c in truncate(value, MAX_PARAM).chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The name of this machine, for HOSTNAME.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or fails.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "-".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// How messages travel.
pub enum Transport {
    Udp {
        addr: String,
        socket: Option<UdpSocket>,
    },
    Tcp {
        addr: String,
        stream: Option<TcpStream>,
    },
    Unix {
        path: PathBuf,
        socket: Option<UnixDatagram>,
    },
}

impl Transport {
    pub fn udp(host: &str, port: u16) -> Transport {
        Transport::Udp {
            addr: host_port(host, port),
            socket: None,
        }
    }

    pub fn tcp(host: &str, port: u16) -> Transport {
        Transport::Tcp {
            addr: host_port(host, port),
            stream: None,
        }
    }

    pub fn unix(path: &Path) -> Transport {
        Transport::Unix {
            path: path.to_path_buf(),
            socket: None,
        }
    }

    fn send(&mut self, messages: &[String]) -> Result<(), String> {
        match self {
            Transport::Udp { addr, socket } => {
                if socket.is_none() {
                    let target = resolve(addr)?;
                    let local = if target.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    };
                    let s = UdpSocket::bind(local).map_err(|e| e.to_string())?;
                    s.connect(target).map_err(|e| e.to_string())?;
                    *socket = Some(s);
                }
                let s = socket.as_ref().expect("set above");
                for message in messages {
                    // A refused datagram (ICMP port unreachable) shows on a later send.
                    s.send(message.as_bytes()).map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Transport::Tcp { addr, stream } => {
                if stream.is_none() {
                    let target = resolve(addr)?;
                    let s = TcpStream::connect_timeout(&target, DELIVERY_TIMEOUT)
                        .map_err(|e| e.to_string())?;
                    s.set_write_timeout(Some(DELIVERY_TIMEOUT))
                        .map_err(|e| e.to_string())?;
                    let _ = s.set_nodelay(true);
                    *stream = Some(s);
                }
                let mut framed = Vec::new();
                for message in messages {
                    framed.extend_from_slice(octet_counted(message).as_bytes());
                }
                let result = stream
                    .as_mut()
                    .expect("set above")
                    .write_all(&framed)
                    .map_err(|e| e.to_string());
                if result.is_err() {
                    // Reconnect at the next delivery.
                    *stream = None;
                }
                result
            }
            Transport::Unix { path, socket } => {
                if socket.is_none() {
                    let s = UnixDatagram::unbound().map_err(|e| e.to_string())?;
                    s.set_write_timeout(Some(DELIVERY_TIMEOUT))
                        .map_err(|e| e.to_string())?;
                    *socket = Some(s);
                }
                let s = socket.as_ref().expect("set above");
                for message in messages {
                    s.send_to(message.as_bytes(), &*path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                Ok(())
            }
        }
    }
}

/// `MSG-LEN SP SYSLOG-MSG` (RFC 6587 §3.4.1).
pub fn octet_counted(message: &str) -> String {
    format!("{} {message}", message.len())
}

fn host_port(host: &str, port: u16) -> String {
    format!("{host}:{port}")
}

fn resolve(addr: &str) -> Result<std::net::SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {addr}"))
}

/// The syslog sink.
pub struct SyslogSink {
    transport: Transport,
    hostname: String,
    procid: u32,
}

impl SyslogSink {
    pub fn new(transport: Transport) -> SyslogSink {
        SyslogSink {
            transport,
            hostname: hostname(),
            procid: std::process::id(),
        }
    }
}

impl Sink for SyslogSink {
    fn deliver(&mut self, events: &[Event]) -> Result<(), String> {
        let messages: Vec<String> = events
            .iter()
            .map(|e| encode(e, &self.hostname, self.procid))
            .collect();
        self.transport.send(&messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Body, Op, OpStatus, SCHEMA_VERSION};
    use std::time::{Duration, SystemTime};

    fn op(host: &str, step: &str, status: OpStatus) -> Event {
        Event {
            schema: SCHEMA_VERSION,
            time: SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            run_id: "r1".into(),
            recipe: "offregister_example".into(),
            body: Body::Op(Op {
                host: host.into(),
                step: step.into(),
                kind: "run".into(),
                index: 1,
                planned: 4,
                done: 1,
                percent: 25.0,
                status,
                changed: false,
                duration_ms: 3,
                command: "echo a\nb".into(),
            }),
        }
    }

    #[test]
    fn an_op_is_one_rfc5424_message_with_structured_data() {
        let message = encode(&op("root@db1", "prepare", OpStatus::Ok), "ctl", 42);
        assert_eq!(
            message,
            "<14>1 2023-11-14T22:13:20.123456Z ctl offregister_example 42 op \
             [off@32473 changed=\"false\" done=\"1\" duration_ms=\"3\" host=\"root@db1\" \
             index=\"1\" kind=\"run\" percent=\"25.0\" planned=\"4\" run_id=\"r1\" schema=\"1\" \
             status=\"ok\" step=\"prepare\"] \
             [root@db1] run: echo a b (ok) step prepare [1/4] 25.00%"
        );
        let failed = encode(&op("a", "s", OpStatus::Failed), "ctl", 42);
        assert!(failed.starts_with("<11>1 "), "{failed}");
    }

    #[test]
    fn hostile_values_are_escaped_in_structured_data() {
        let message = encode(
            &op("h\"] [x@1 a=\"b", "st\\ep]", OpStatus::Ok),
            "ctl host",
            1,
        );
        assert!(
            message.contains(r#"host="h\"\] [x@1 a=\"b" index"#)
                && message.contains(r#"step="st\\ep\]""#),
            "{message}"
        );
        // One SD element: every `]` inside values is escaped.
        let sd_end = message.find("\"] ").unwrap();
        let unescaped = message[..sd_end + 1]
            .char_indices()
            .filter(|&(i, c)| c == ']' && !message[..i].ends_with('\\'))
            .count();
        assert_eq!(unescaped, 0, "{message}");
        // HOSTNAME has no space.
        assert!(
            message.contains(" ctlhost offregister_example "),
            "{message}"
        );
    }

    #[test]
    fn octet_counting_counts_bytes() {
        assert_eq!(octet_counted("é"), "2 é");
    }
}
