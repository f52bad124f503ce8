//! Consul's KV store with sessions, over its HTTP API with `ureq`.
//!
//! The mapping onto [`Store`]:
//! - one session per store (`/v1/session/create` with `Behavior: delete` and a `TTL` of
//!   [`StoreOptions::lease_ttl`], at least Consul's minimum of 10 s), renewed every third of it by
//!   a background thread (`/v1/session/renew`), destroyed when the store is dropped — so the keys
//!   it holds are deleted then, or when the TTL runs out after the process died;
//! - [`Store::create`] is `PUT ?cas=0`; [`Store::put_leased`] is `PUT ?acquire=<session>` on a
//!   key named `<session>-<counter>`;
//! - [`Store::list`] is `GET ?recurse`, sorted by `CreateIndex` ([`Entry::order`]);
//! - [`Store::wait`] is a blocking query (`?recurse&index=&wait=`) from an index no newer than
//!   what the caller last read, so a change between a read and the wait is never missed.
//!
//! Credentials: `CONSUL_HTTP_TOKEN` (Consul's own variable) is sent as `X-Consul-Token`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::http::{Answer, HttpHosts, Method};
use super::{
    Entry, Outcome, StopSignal, Store, StoreError, StoreOptions, StoreUrl, child_of, full_key,
    retrying,
};
use crate::coordinator::PeerError;

/// Consul refuses a session TTL under 10 s.
const MIN_SESSION_TTL: Duration = Duration::from_secs(10);

/// One node's session with a Consul agent.
pub struct ConsulStore {
    shared: Arc<Shared>,
    prefix: String,
    counter: AtomicU64,
    /// Indexes that bound what the caller has seen, for the next blocking query (see
    /// [`ConsulStore::wait`]).
    indexes: Mutex<Indexes>,
    keepalive: Option<JoinHandle<()>>,
    stop: Arc<StopSignal>,
}

#[derive(Default)]
struct Indexes {
    /// The smallest `X-Consul-Index` of the reads since the last wait.
    read_since_wait: Option<u64>,
    /// What the last blocking query returned.
    last_wait: u64,
}

struct Shared {
    http: HttpHosts,
    token: Option<String>,
    session: String,
    session_lost: AtomicBool,
    options: StoreOptions,
}

impl ConsulStore {
    /// Creates this store's session (retrying an unreachable agent for `retry_for`).
    pub fn open(url: &StoreUrl, options: &StoreOptions) -> Result<ConsulStore, PeerError> {
        let mut shared = Shared {
            http: HttpHosts::new(url.hosts.clone(), url.to_string(), options.request_timeout),
            token: std::env::var("CONSUL_HTTP_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            session: String::new(),
            session_lost: AtomicBool::new(false),
            options: options.clone(),
        };
        let ttl = options.lease_ttl.max(MIN_SESSION_TTL);
        let body = json!({
            "Name": "off peer",
            "TTL": format!("{}s", ttl.as_secs()),
            "Behavior": "delete",
            "LockDelay": "0s",
        })
        .to_string();
        let answer = retrying(options.retry_for, || {
            shared.send(
                Method::Put,
                "/v1/session/create",
                Some(body.as_bytes()),
                None,
            )
        })?;
        let created: Value = shared.json(&answer)?;
        shared.session = created["ID"]
            .as_str()
            .ok_or_else(|| shared.protocol("session/create answered no ID"))?
            .to_string();
        let shared = Arc::new(shared);
        let stop = Arc::new(StopSignal::default());
        let keepalive = {
            let (shared, stop) = (shared.clone(), stop.clone());
            let pause = ttl / 3;
            std::thread::Builder::new()
                .name("consul-session-renew".into())
                .spawn(move || renew(&shared, &stop, pause))
                .map_err(|e| PeerError::Unavailable(format!("cannot start a thread: {e}")))?
        };
        Ok(ConsulStore {
            shared,
            prefix: url.prefix.clone(),
            counter: AtomicU64::new(0),
            indexes: Mutex::new(Indexes::default()),
            keepalive: Some(keepalive),
            stop,
        })
    }

    /// One request, retried while the agent is unreachable.
    fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Answer, StoreError> {
        if self.shared.session_lost.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable {
                url: self.url().to_string(),
                reason:
                    "this node's session has ended (destroyed, or out of reach longer than its TTL)"
                        .to_string(),
            });
        }
        retrying(self.shared.options.retry_for, || {
            self.shared.send(method, path, body, timeout)
        })
    }

    /// A read: its index bounds what the caller has seen.
    fn read(&self, path: &str) -> Result<Option<Vec<Value>>, StoreError> {
        let answer = self.send(Method::Get, path, None, None)?;
        if let Some(index) = answer.consul_index {
            let mut indexes = self.indexes.lock().unwrap();
            indexes.read_since_wait = Some(indexes.read_since_wait.map_or(index, |i| i.min(index)));
        }
        if answer.status == 404 {
            return Ok(None);
        }
        match self.shared.json(&answer)? {
            Value::Array(entries) => Ok(Some(entries)),
            _ => Err(self.shared.protocol(&format!("{path} answered no list"))),
        }
    }

    fn kv_path(&self, key: &str) -> String {
        format!("/v1/kv/{}", encode_key(&full_key(&self.prefix, key)))
    }

    fn put(&self, key: &str, query: &str, value: &[u8]) -> Result<bool, StoreError> {
        let path = format!("{}?{query}", self.kv_path(key));
        let answer = self.send(Method::Put, &path, Some(value), None)?;
        match self.shared.json(&answer)? {
            Value::Bool(done) => Ok(done),
            _ => Err(self
                .shared
                .protocol(&format!("PUT {path} answered no boolean"))),
        }
    }

    fn relative(&self, full: &str) -> String {
        full.strip_prefix(&self.prefix)
            .and_then(|k| k.strip_prefix('/'))
            .unwrap_or(full)
            .to_string()
    }
}

impl Shared {
    fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Answer, StoreError> {
        let mut headers = Vec::new();
        if let Some(token) = &self.token {
            headers.push(("X-Consul-Token", token.as_str()));
        }
        let answer = self.http.send(method, path, &headers, body, timeout)?;
        if answer.status >= 500 && !answer.body.contains("invalid session") {
            return Err(StoreError::Unavailable {
                url: self.http.url().to_string(),
                reason: format!("{path}: {} {}", answer.status, answer.body.trim()),
            });
        }
        Ok(answer)
    }

    fn json(&self, answer: &Answer) -> Result<Value, StoreError> {
        if answer.status != 200 {
            return Err(self.protocol(&format!(
                "answered {}: {}",
                answer.status,
                answer.body.trim()
            )));
        }
        serde_json::from_str(&answer.body).map_err(|_| self.protocol("answered with no JSON"))
    }

    fn protocol(&self, reason: &str) -> StoreError {
        StoreError::Protocol {
            url: self.http.url().to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Renews the session every `pause` until stopped; a session the agent no longer knows is
/// marked lost.
fn renew(shared: &Shared, stop: &StopSignal, pause: Duration) {
    let path = format!("/v1/session/renew/{}", shared.session);
    while !stop.sleep(pause) {
        if let Ok(answer) = shared.send(Method::Put, &path, None, None)
            && answer.status == 404
        {
            shared.session_lost.store(true, Ordering::Relaxed);
            return;
        }
    }
}

impl Drop for ConsulStore {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.keepalive.take() {
            let _ = thread.join();
        }
        // Best effort: a session that is not destroyed ends with its TTL.
        let path = format!("/v1/session/destroy/{}", self.shared.session);
        let _ = self.shared.send(Method::Put, &path, None, None);
    }
}

impl Store for ConsulStore {
    fn url(&self) -> &str {
        self.shared.http.url()
    }

    fn create(&self, key: &str, value: &[u8]) -> Result<Outcome<()>, StoreError> {
        Ok(if self.put(key, "cas=0", value)? {
            Outcome::Done(())
        } else {
            Outcome::LostRace
        })
    }

    fn put_leased(&self, prefix: &str, value: &[u8]) -> Result<String, StoreError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let key = format!("{}/{}-{n}", prefix.trim_matches('/'), self.shared.session);
        let query = format!("acquire={}", self.shared.session);
        // The key is this session's alone, so only a dead session makes the acquire fail.
        if !self.put(&key, &query, value)? {
            return Err(self.shared.protocol(&format!("cannot acquire {key}")));
        }
        Ok(key)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let entries = self.read(&self.kv_path(key))?;
        match entries.as_ref().and_then(|e| e.first()) {
            None => Ok(None),
            Some(entry) => Ok(Some(decode(&self.shared, &entry["Value"])?)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        let dir = full_key(&self.prefix, prefix);
        let path = format!("/v1/kv/{}/?recurse", encode_key(&dir));
        let mut entries = Vec::new();
        for entry in self.read(&path)?.unwrap_or_default() {
            let key = entry["Key"]
                .as_str()
                .ok_or_else(|| self.shared.protocol("an entry has no Key"))?;
            if child_of(&dir, key).is_none() {
                continue;
            }
            entries.push(Entry {
                key: self.relative(key),
                value: decode(&self.shared, &entry["Value"])?,
                order: entry["CreateIndex"].as_u64().unwrap_or(0),
            });
        }
        entries.sort_by_key(|e| e.order);
        Ok(entries)
    }

    /// Blocks from the newest index that still covers every change the caller has not read:
    /// the smallest index of the reads since the last wait, or what the last wait returned
    /// (whatever changed up to it was there for those reads to see), whichever is larger.
    fn wait(&self, prefix: &str, timeout: Duration) -> Result<(), StoreError> {
        let index = {
            let mut indexes = self.indexes.lock().unwrap();
            let read = indexes.read_since_wait.take().unwrap_or(0);
            read.max(indexes.last_wait)
        };
        let dir = full_key(&self.prefix, prefix);
        let wait_ms = timeout.as_millis().max(1);
        let path = format!(
            "/v1/kv/{}/?recurse&index={index}&wait={wait_ms}ms",
            encode_key(&dir)
        );
        // Consul may add up to wait/16 to the wait.
        let http_timeout = timeout + timeout / 16 + self.shared.options.request_timeout;
        let answer = self.send(Method::Get, &path, None, Some(http_timeout))?;
        if let Some(returned) = answer.consul_index {
            // An index that went backwards (Consul's docs: reset it) bounds nothing.
            self.indexes.lock().unwrap().last_wait = if returned < index { 0 } else { returned };
        }
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let answer = self.send(Method::Delete, &self.kv_path(key), None, None)?;
        self.shared.json(&answer).map(|_| ())
    }
}

/// A key in a URL path: `/` kept, anything but unreserved characters percent-encoded.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `Value` field: base64, or null for an empty value.
fn decode(shared: &Shared, value: &Value) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => BASE64
            .decode(s)
            .map_err(|_| shared.protocol("a value is not base64")),
        _ => Err(shared.protocol("a value is not a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded_but_slashes() {
        assert_eq!(encode_key("off/a b/c?"), "off/a%20b/c%3F");
    }
}
