//! Stores for the tests: each test gets a server of its own (ZooKeeper, etcd, the Consul fake)
//! on loopback, or, for Consul with `CONSUL_HTTP_ADDR` set, the real agent under a prefix of its
//! own.

#![allow(dead_code)]

use std::time::Duration;

use off_discovery::store::{self, Store, StoreOptions};
use off_testbed::servers::{self, loopback};

/// A running store server and the URL that reaches it. Dropping it stops the server.
pub struct Backend {
    pub url: String,
    /// `None` for a real Consul agent the test does not own, and once stopped.
    server: Option<Box<dyn std::any::Any + Send + Sync>>,
    real_consul: bool,
}

/// Short leases and retries, so that a test of expiry or of an outage takes seconds.
pub fn fast_options() -> StoreOptions {
    StoreOptions {
        lease_ttl: Duration::from_secs(2),
        retry_for: Duration::from_secs(5),
        request_timeout: Duration::from_secs(2),
    }
}

impl Backend {
    pub fn etcd() -> Backend {
        let server = servers::etcd::start(loopback()).expect("etcd starts");
        Backend {
            url: format!("etcd://{}/test", server.addr),
            server: Some(Box::new(server)),
            real_consul: false,
        }
    }

    pub fn zookeeper() -> Backend {
        let server = servers::zookeeper::start(loopback()).expect("zookeeper starts");
        Backend {
            url: format!("zk://{}/test", server.addr),
            server: Some(Box::new(server)),
            real_consul: false,
        }
    }

    /// The real agent at `CONSUL_HTTP_ADDR` when set (under a fresh prefix), else the fake.
    pub fn consul() -> Backend {
        match std::env::var("CONSUL_HTTP_ADDR") {
            Ok(addr) => {
                let host = addr
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_string();
                let unique: u64 = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64;
                Backend {
                    url: format!("consul://{host}/test-{}-{unique:x}", std::process::id()),
                    server: None,
                    real_consul: true,
                }
            }
            Err(_) => {
                let fake = servers::consul_fake::start(loopback()).expect("the Consul fake starts");
                Backend {
                    url: format!("consul://{}/test", fake.addr),
                    server: Some(Box::new(fake)),
                    real_consul: false,
                }
            }
        }
    }

    /// Stops the server (the test's outage); false when the test does not own it.
    pub fn stop(&mut self) -> bool {
        self.server.take().is_some()
    }

    /// Whether this is a real Consul agent (`CONSUL_HTTP_ADDR`), not the fake.
    pub fn is_real_consul(&self) -> bool {
        self.real_consul
    }

    /// A new session with the store (one node's).
    pub fn open(&self) -> Box<dyn Store> {
        store::open_with(&self.url, &fast_options()).expect("the store opens")
    }
}

impl Drop for Backend {
    /// On a real Consul agent, removes what the test left under its prefix.
    fn drop(&mut self) {
        if !self.real_consul {
            return;
        }
        let Some((host, prefix)) = self
            .url
            .strip_prefix("consul://")
            .and_then(|rest| rest.split_once('/'))
        else {
            return;
        };
        let mut request = ureq::delete(format!("http://{host}/v1/kv/{prefix}?recurse"));
        if let Ok(token) = std::env::var("CONSUL_HTTP_TOKEN") {
            request = request.header("X-Consul-Token", token);
        }
        let _ = request.call();
    }
}
