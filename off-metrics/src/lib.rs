//! off's events and metrics (DESIGN §8): the one typed, versioned [`Event`] every run emits,
//! written as NDJSON by `--events` and pushed by `--metrics URL` to syslog (RFC 5424), InfluxDB
//! (1.x line protocol) and the Prometheus pushgateway (text exposition format), and the
//! `offmetric` binary that pushes the events (or plain lines) it reads on standard input.
//!
//! A sink never fails or slows a run: see [`pipeline`].

pub mod event;
pub mod flags;
pub mod pipeline;
pub mod publisher;
pub mod sink;
pub mod url;

pub use event::{
    Body, CheckHost, CheckItem, CheckStatus, Event, HostFinished, HostStatus, HostTotals, Log, Op,
    OpStatus, PeerPhase, Phase, REDACTED, RunFinished, RunStarted, SCHEMA_VERSION, Totals,
};
pub use flags::MetricsFlags;
pub use pipeline::{FLUSH_TIMEOUT, Metrics};
pub use publisher::Publisher;
pub use url::{SinkKind, SinkUrl};
