//! The Prometheus pushgateway (`prometheus-pushgateway`), in memory (no persistence file).

use std::net::{IpAddr, SocketAddr};
use std::process::Command;

use anyhow::{Context, Result};

use super::{Server, ServerDir, free_port};

/// A running pushgateway.
#[derive(Debug)]
pub struct Pushgateway {
    pub server: Server,
}

impl Pushgateway {
    /// Starts a pushgateway listening on `ip`.
    pub fn start(ip: IpAddr) -> Result<Pushgateway> {
        let dir = ServerDir::temp("pushgateway")?;
        let addr = SocketAddr::new(ip, free_port(ip)?);
        let mut command = Command::new("prometheus-pushgateway");
        command.arg(format!("--web.listen-address={addr}"));
        let server = Server::start("pushgateway", addr, dir, command, None)?;
        Ok(Pushgateway { server })
    }

    /// `pushgateway://ADDR`, the sink URL.
    pub fn sink_url(&self) -> String {
        format!("pushgateway://{}", self.server.addr)
    }

    /// What a Prometheus scrape of the pushgateway gets: `GET /metrics`, in the text format.
    pub fn metrics(&self) -> Result<String> {
        let url = format!("http://{}/metrics", self.server.addr);
        let text = ureq::get(&url)
            .call()
            .with_context(|| format!("pushgateway: GET {url}"))?
            .body_mut()
            .read_to_string()?;
        Ok(text)
    }
}
