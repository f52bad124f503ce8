//! What the HTTP backends (etcd's JSON gateway, Consul) share: one `ureq` agent, the URL's hosts
//! tried in turn when one cannot be reached, and transport failures turned into
//! [`StoreError::Unavailable`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ureq::Agent;

use super::StoreError;

/// The hosts of one store URL behind one agent.
pub(crate) struct HttpHosts {
    agent: Agent,
    hosts: Vec<String>,
    /// The host that answered last: tried first.
    current: AtomicUsize,
    /// The store URL, for messages.
    url: String,
    request_timeout: Duration,
}

/// An answer with any status: the caller decides what a status means for its protocol.
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
    /// `X-Consul-Index`, when present.
    pub consul_index: Option<u64>,
}

#[derive(Clone, Copy)]
pub(crate) enum Method {
    Get,
    Put,
    Post,
    Delete,
}

impl HttpHosts {
    pub fn new(hosts: Vec<String>, url: String, request_timeout: Duration) -> HttpHosts {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(request_timeout))
            .timeout_connect(Some(request_timeout.min(Duration::from_secs(2))))
            .build()
            .new_agent();
        HttpHosts {
            agent,
            hosts,
            current: AtomicUsize::new(0),
            url,
            request_timeout,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// `http://<host>` of the host to try first.
    pub fn base(&self) -> String {
        format!(
            "http://{}",
            self.hosts[self.current.load(Ordering::Relaxed) % self.hosts.len()]
        )
    }

    /// Sends one request to the first host that answers. `timeout` overrides the agent's (a
    /// blocking query needs longer). A transport failure on every host is `Unavailable`.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Answer, StoreError> {
        let start = self.current.load(Ordering::Relaxed);
        let mut last_error = String::new();
        for offset in 0..self.hosts.len() {
            let which = (start + offset) % self.hosts.len();
            let uri = format!("http://{}{path}", self.hosts[which]);
            match self.send_to(method, &uri, headers, body, timeout) {
                Ok(answer) => {
                    self.current.store(which, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(e) => last_error = format!("{}: {e}", self.hosts[which]),
            }
        }
        Err(StoreError::Unavailable {
            url: self.url.clone(),
            reason: last_error,
        })
    }

    fn send_to(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Answer, ureq::Error> {
        let timeout = Some(timeout.unwrap_or(self.request_timeout));
        let mut response = match method {
            Method::Get | Method::Delete => {
                let mut request = match method {
                    Method::Get => self.agent.get(uri),
                    _ => self.agent.delete(uri),
                };
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request.config().timeout_global(timeout).build().call()?
            }
            Method::Put | Method::Post => {
                let mut request = match method {
                    Method::Put => self.agent.put(uri),
                    _ => self.agent.post(uri),
                };
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request
                    .config()
                    .timeout_global(timeout)
                    .build()
                    .send(body.unwrap_or_default())?
            }
        };
        let consul_index = response
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string()?;
        Ok(Answer {
            status,
            body,
            consul_index,
        })
    }
}
