//! The Consul fake answers the part of Consul's HTTP API the store backend uses as Consul
//! documents it. With `CONSUL_HTTP_ADDR` set, the same checks run against that real agent (under a
//! fresh prefix), which is how the fake is kept honest.

use std::time::{Duration, Instant};

use off_testbed::servers::{consul_fake, loopback};
use serde_json::Value;

/// An agent to talk to: the fake, or the real one at `CONSUL_HTTP_ADDR`.
struct Agent {
    base: String,
    prefix: String,
    _fake: Option<consul_fake::ConsulFake>,
}

impl Agent {
    fn new() -> Agent {
        let unique = format!(
            "fake-check-{}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        match std::env::var("CONSUL_HTTP_ADDR") {
            Ok(addr) => Agent {
                base: if addr.starts_with("http") {
                    addr
                } else {
                    format!("http://{addr}")
                },
                prefix: unique,
                _fake: None,
            },
            Err(_) => {
                let fake = consul_fake::start(loopback()).unwrap();
                Agent {
                    base: fake.http_addr(),
                    prefix: unique,
                    _fake: Some(fake),
                }
            }
        }
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
    }

    /// `(status, X-Consul-Index, body)`.
    fn call(&self, method: &str, path: &str, body: &str) -> (u16, Option<u64>, String) {
        let uri = format!("{}{path}", self.base);
        let agent = Agent::agent();
        let mut response = match method {
            "GET" => agent.get(&uri).call(),
            "DELETE" => agent.delete(&uri).call(),
            _ => agent.put(&uri).send(body),
        }
        .unwrap();
        let index = response
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let status = response.status().as_u16();
        (status, index, response.body_mut().read_to_string().unwrap())
    }

    fn kv(&self, key: &str) -> String {
        format!("/v1/kv/{}/{key}", self.prefix)
    }

    fn session(&self, ttl: &str) -> String {
        let (status, _, body) = self.call(
            "PUT",
            "/v1/session/create",
            &format!(r#"{{"TTL":"{ttl}","Behavior":"delete","LockDelay":"0s"}}"#),
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["ID"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.call("DELETE", &format!("/v1/kv/{}?recurse", self.prefix), "");
    }
}

#[test]
fn kv_cas_recurse_and_indexes() {
    let agent = Agent::new();
    let (status, index, _) = agent.call("GET", &agent.kv("a"), "");
    assert_eq!(status, 404);
    assert!(index.is_some(), "a 404 still carries X-Consul-Index");

    assert_eq!(
        agent
            .call("PUT", &format!("{}?cas=0", agent.kv("a")), "one")
            .2
            .trim(),
        "true"
    );
    assert_eq!(
        agent
            .call("PUT", &format!("{}?cas=0", agent.kv("a")), "two")
            .2
            .trim(),
        "false"
    );
    agent.call("PUT", &agent.kv("b"), "");
    let (status, index, body) = agent.call("GET", &format!("{}?recurse", agent.kv("")), "");
    assert_eq!(status, 200);
    let entries: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["Key"], format!("{}/a", agent.prefix));
    assert_eq!(entries[0]["Value"], "b25l", "base64 of `one`");
    assert!(entries[1]["Value"].is_null(), "an empty value is null");
    assert!(entries[0]["CreateIndex"].as_u64() < entries[1]["CreateIndex"].as_u64());
    let index = index.unwrap();
    assert!(index >= entries[1]["ModifyIndex"].as_u64().unwrap());

    // A blocking query with nothing changing lasts its wait...
    let start = Instant::now();
    let path = format!("{}?recurse&index={index}&wait=1s", agent.kv(""));
    let (_, same, _) = agent.call("GET", &path, "");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(same, Some(index));
    // ...and a deletion under the prefix ends it with a higher index.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(agent.call("DELETE", &agent.kv("a"), "").2.trim(), "true");
        });
        let start = Instant::now();
        let path = format!("{}?recurse&index={index}&wait=10s", agent.kv(""));
        let (_, after, _) = agent.call("GET", &path, "");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert!(after.unwrap() > index);
    });
}

#[test]
fn sessions_acquire_and_delete_their_keys() {
    let agent = Agent::new();
    let (status, _, body) = agent.call("PUT", "/v1/session/create", r#"{"TTL":"5s"}"#);
    assert_eq!(status, 400, "Consul refuses a TTL under 10s: {body}");

    let holder = agent.session("10s");
    let other = agent.session("10s");
    let acquire = |session: &str| format!("{}?acquire={session}", agent.kv("lock"));
    assert_eq!(agent.call("PUT", &acquire(&holder), "h").2.trim(), "true");
    assert_eq!(agent.call("PUT", &acquire(&other), "o").2.trim(), "false");
    let (_, _, body) = agent.call("GET", &agent.kv("lock"), "");
    let entry: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(entry[0]["Session"], holder.as_str());
    assert_eq!(entry[0]["LockIndex"], 1);

    let (status, _, _) = agent.call("PUT", &format!("/v1/session/renew/{holder}"), "");
    assert_eq!(status, 200);
    agent.call("PUT", &format!("/v1/session/destroy/{holder}"), "");
    let (status, _, _) = agent.call("GET", &agent.kv("lock"), "");
    assert_eq!(
        status, 404,
        "behavior=delete removes the key with its session"
    );
    let (status, _, _) = agent.call("PUT", &format!("/v1/session/renew/{holder}"), "");
    assert_eq!(status, 404);
    let (status, _, _) = agent.call("PUT", &acquire(&holder), "again");
    assert_eq!(status, 500, "a destroyed session cannot acquire");
    agent.call("PUT", &format!("/v1/session/destroy/{other}"), "");
}

#[test]
fn a_session_not_renewed_expires_with_its_keys() {
    let agent = Agent::new();
    let session = agent.session("10s");
    let acquire = format!("{}?acquire={session}", agent.kv("member"));
    assert_eq!(agent.call("PUT", &acquire, "m").2.trim(), "true");
    let start = Instant::now();
    // Consul invalidates between the TTL and twice the TTL.
    while agent.call("GET", &agent.kv("member"), "").0 == 200 {
        assert!(
            start.elapsed() < Duration::from_secs(25),
            "the key outlived its session"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        start.elapsed() >= Duration::from_secs(9),
        "{:?}",
        start.elapsed()
    );
}
