//! The sinks: one module per backend, each an encoder (pure, unit-tested) and a [`Sink`] that
//! delivers a batch of events. Sinks run on a thread of their own behind the bounded queue of
//! [`crate::Metrics`]; they may block, fail or be slow without the run noticing.

pub mod influxdb;
pub mod pushgateway;
pub mod syslog;

use std::time::Duration;

use crate::event::Event;
use crate::url::{SinkKind, SinkUrl};

/// How long one delivery (a connect, a write, an HTTP request) may take before it counts as a
/// failure. Short: a sink that answers slower than this drops events instead of queueing them.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(2);

/// One backend.
pub trait Sink: Send {
    /// Delivers `events` (in order); an error says why not, for the one warning.
    fn deliver(&mut self, events: &[Event]) -> Result<(), String>;
}

/// The sink for `url`. Opening connects to nothing: a sink that is down is found out on the
/// sink's own thread at its first delivery.
pub fn open(url: &SinkUrl) -> Box<dyn Sink> {
    match &url.sink {
        SinkKind::SyslogUdp { host, port } => {
            Box::new(syslog::SyslogSink::new(syslog::Transport::udp(host, *port)))
        }
        SinkKind::SyslogTcp { host, port } => {
            Box::new(syslog::SyslogSink::new(syslog::Transport::tcp(host, *port)))
        }
        SinkKind::SyslogUnix { path } => {
            Box::new(syslog::SyslogSink::new(syslog::Transport::unix(path)))
        }
        SinkKind::InfluxDb {
            host,
            port,
            database,
        } => Box::new(influxdb::InfluxSink::new(host, *port, database)),
        SinkKind::Pushgateway { host, port } => {
            Box::new(pushgateway::PushgatewaySink::new(host, *port))
        }
    }
}

/// An HTTP agent whose every request ends within [`DELIVERY_TIMEOUT`] and that reports a non-2xx
/// answer as a response, not an error (the sink quotes the server's message).
pub(crate) fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(DELIVERY_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// Why an HTTP request failed, in the words of the warning.
pub(crate) fn http_error(error: ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(_) => format!("no answer within {DELIVERY_TIMEOUT:?}"),
        ureq::Error::Io(e) => e.to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        other => other.to_string(),
    }
}

/// The first line of an HTTP error answer, for the warning.
pub(crate) fn http_failure(response: &mut ureq::http::Response<ureq::Body>) -> String {
    let status = response.status();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    let first = body.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {}", truncate(first, 200))
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
