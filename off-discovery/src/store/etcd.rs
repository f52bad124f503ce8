//! etcd v3 through its JSON gateway (`/v3/kv/range`, `/v3/kv/txn`, `/v3/lease/grant`,
//! `/v3/watch`, ...), over HTTP with `ureq`.
//!
//! Why not the `etcd-client` crate: it speaks gRPC through `tonic`, and its build script
//! compiles etcd's `.proto` files with `tonic-prost-build`, which needs `protoc` on the build
//! machine — a system package a user's `cargo install` must not require. The gateway is part of
//! every etcd v3 server (3.4 and later serve it under `/v3/`), carries the same API as JSON
//! (keys and values base64, 64-bit numbers as strings), and needs nothing but an HTTP client.
//!
//! The mapping onto [`Store`]:
//! - one lease per store, granted with [`StoreOptions::lease_ttl`] and kept alive every third of
//!   it by a background thread (`/v3/lease/keepalive`), revoked when the store is dropped;
//! - create-if-absent and [`Store::put_leased`] are a transaction comparing the key's
//!   `create_revision` with 0; leased keys are named `<lease id>-<counter>`;
//! - [`Store::list`] ranges over the prefix sorted by create revision ([`Entry::order`]);
//! - [`Store::wait`] is a watch starting just after the oldest revision this store has read
//!   since its last wait, so a change between a read and the wait is never missed.
//!
//! Credentials: `ETCDCTL_USER` (`name:password`, etcdctl's own variable) authenticates through
//! `/v3/auth/authenticate`; the token goes in the `Authorization` header, and is renewed the
//! same way when etcd says it has expired.

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::http::{HttpHosts, Method};
use super::{
    Entry, Outcome, StopSignal, Store, StoreError, StoreOptions, StoreUrl, child_of, full_key,
    retrying,
};
use crate::coordinator::PeerError;

/// One node's session with an etcd cluster.
pub struct EtcdStore {
    shared: Arc<Shared>,
    prefix: String,
    /// Distinguishes this store's leased keys from each other.
    counter: AtomicU64,
    /// The oldest revision read since the last wait: the next watch starts after it.
    unwatched_since: Mutex<Option<i64>>,
    keepalive: Option<JoinHandle<()>>,
    stop: Arc<StopSignal>,
}

/// What the keepalive thread shares with the store.
struct Shared {
    http: HttpHosts,
    /// `ETCDCTL_USER`, when set.
    user: Option<String>,
    /// `Authorization` header value, when `user` is set.
    token: Mutex<Option<String>>,
    lease: i64,
    /// Set when a keepalive found the lease gone: this node's leased keys have vanished.
    lease_lost: AtomicBool,
    options: StoreOptions,
    /// The newest revision seen, for a wait that follows no read.
    last_revision: Mutex<i64>,
}

impl EtcdStore {
    /// Connects (retrying an unreachable cluster for `retry_for`), authenticates when
    /// `ETCDCTL_USER` is set, and grants this store's lease.
    pub fn open(url: &StoreUrl, options: &StoreOptions) -> Result<EtcdStore, PeerError> {
        let http = HttpHosts::new(url.hosts.clone(), url.to_string(), options.request_timeout);
        let user = std::env::var("ETCDCTL_USER").ok();
        let token = match &user {
            Some(user) => Some(authenticate(&http, user, options)?),
            None => None,
        };
        let mut shared = Shared {
            http,
            user,
            token: Mutex::new(token),
            lease: 0,
            lease_lost: AtomicBool::new(false),
            options: options.clone(),
            last_revision: Mutex::new(0),
        };
        let ttl = options.lease_ttl.as_secs().max(1);
        let granted = retrying(options.retry_for, || {
            shared.call("/v3/lease/grant", json!({ "TTL": ttl }))
        })?;
        shared.lease = number(&granted["ID"]).ok_or_else(|| shared.protocol("no lease ID"))?;
        let shared = Arc::new(shared);
        let stop = Arc::new(StopSignal::default());
        let keepalive = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("etcd-lease-keepalive".into())
                .spawn(move || keep_alive(&shared, &stop))
                .map_err(|e| PeerError::Unavailable(format!("cannot start a thread: {e}")))?
        };
        Ok(EtcdStore {
            shared,
            prefix: url.prefix.clone(),
            counter: AtomicU64::new(0),
            unwatched_since: Mutex::new(None),
            keepalive: Some(keepalive),
            stop,
        })
    }

    fn call(&self, path: &str, body: Value) -> Result<Value, StoreError> {
        if self.shared.lease_lost.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable {
                url: self.shared.http.url().to_string(),
                reason:
                    "this node's lease has ended (revoked, or out of reach longer than its TTL)"
                        .to_string(),
            });
        }
        let answer = retrying(self.shared.options.retry_for, || {
            self.shared.call(path, body.clone())
        })?;
        if let Some(revision) = number(&answer["header"]["revision"]) {
            self.saw_revision(revision);
        }
        Ok(answer)
    }

    fn saw_revision(&self, revision: i64) {
        let mut since = self.unwatched_since.lock().unwrap();
        *since = Some(since.map_or(revision, |s| s.min(revision)));
        let mut last = self.shared.last_revision.lock().unwrap();
        *last = (*last).max(revision);
    }

    /// Creates `key` with `value` (under `lease` when non-zero) unless it exists.
    fn create_if_absent(&self, key: &str, value: &[u8], lease: i64) -> Result<bool, StoreError> {
        let key = BASE64.encode(key);
        let mut put = json!({ "key": key, "value": BASE64.encode(value) });
        if lease != 0 {
            put["lease"] = json!(lease.to_string());
        }
        let answer = self.call(
            "/v3/kv/txn",
            json!({
                "compare": [{
                    "key": key,
                    "target": "CREATE",
                    "result": "EQUAL",
                    "create_revision": "0",
                }],
                "success": [{ "request_put": put }],
            }),
        )?;
        Ok(answer["succeeded"].as_bool().unwrap_or(false))
    }

    fn relative<'a>(&self, full: &'a str) -> &'a str {
        full.strip_prefix(&self.prefix)
            .and_then(|k| k.strip_prefix('/'))
            .unwrap_or(full)
    }
}

impl Shared {
    /// One POST to the gateway. gRPC's `UNAVAILABLE` and server errors are `Unavailable`; any
    /// other error answer is `Protocol`.
    fn call(&self, path: &str, body: Value) -> Result<Value, StoreError> {
        match self.call_once(path, &body) {
            Err(StoreError::Protocol { reason, .. })
                if reason.contains("invalid auth token") && self.user.is_some() =>
            {
                let user = self.user.as_deref().expect("checked");
                let token = authenticate(&self.http, user, &self.options)
                    .map_err(|e| self.protocol(&e.to_string()))?;
                *self.token.lock().unwrap() = Some(token);
                self.call_once(path, &body)
            }
            other => other,
        }
    }

    fn token(&self) -> Option<String> {
        self.token.lock().unwrap().clone()
    }

    fn call_once(&self, path: &str, body: &Value) -> Result<Value, StoreError> {
        let token = self.token();
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(token) = &token {
            headers.push(("Authorization", token));
        }
        let answer = self.http.send(
            Method::Post,
            path,
            &headers,
            Some(body.to_string().as_bytes()),
            None,
        )?;
        let value: Value = serde_json::from_str(&answer.body).map_err(|_| {
            self.protocol(&format!(
                "{path} answered {} with a body that is not JSON: {}",
                answer.status,
                answer.body.chars().take(200).collect::<String>()
            ))
        })?;
        // The gateway reports gRPC errors as `{"error": ..., "code": n}`.
        if answer.status != 200 || value.get("error").is_some() {
            let message = value["error"].as_str().unwrap_or("error").to_string();
            let code = value["code"].as_i64().unwrap_or(0);
            const GRPC_UNAVAILABLE: i64 = 14;
            const GRPC_DEADLINE_EXCEEDED: i64 = 4;
            let reason = format!("{path}: {message}");
            return Err(
                if answer.status >= 500 && code == 0
                    || code == GRPC_UNAVAILABLE
                    || code == GRPC_DEADLINE_EXCEEDED
                {
                    StoreError::Unavailable {
                        url: self.http.url().to_string(),
                        reason,
                    }
                } else {
                    self.protocol(&reason)
                },
            );
        }
        Ok(value)
    }

    fn protocol(&self, reason: &str) -> StoreError {
        StoreError::Protocol {
            url: self.http.url().to_string(),
            reason: reason.to_string(),
        }
    }
}

fn authenticate(http: &HttpHosts, user: &str, options: &StoreOptions) -> Result<String, PeerError> {
    let (name, password) = user
        .split_once(':')
        .ok_or_else(|| PeerError::Usage("ETCDCTL_USER must be `name:password`".to_string()))?;
    let body = json!({ "name": name, "password": password }).to_string();
    let answer = retrying(options.retry_for, || {
        http.send(
            Method::Post,
            "/v3/auth/authenticate",
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
            None,
        )
    })?;
    let value: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    match value["token"].as_str() {
        Some(token) => Ok(token.to_string()),
        // Never quote the answer: it may echo what was sent.
        None => Err(PeerError::Unavailable(format!(
            "{}: authentication as `{name}` (ETCDCTL_USER) failed",
            http.url()
        ))),
    }
}

/// Renews the lease every third of its TTL until stopped. A lease the server no longer knows
/// is marked lost, so that this node stops acting as a member.
fn keep_alive(shared: &Shared, stop: &StopSignal) {
    let pause = shared.options.lease_ttl / 3;
    while !stop.sleep(pause) {
        match shared.call(
            "/v3/lease/keepalive",
            json!({ "ID": shared.lease.to_string() }),
        ) {
            Ok(answer) => {
                // An expired lease is answered with no TTL.
                if number(&answer["result"]["TTL"]).unwrap_or(0) <= 0 {
                    shared.lease_lost.store(true, Ordering::Relaxed);
                    return;
                }
            }
            // Unreachable for now: the lease lasts its TTL, and the next try may get through.
            Err(_) => continue,
        }
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.keepalive.take() {
            let _ = thread.join();
        }
        // Best effort: a lease that is not revoked ends with its TTL.
        let _ = self.shared.call(
            "/v3/lease/revoke",
            json!({ "ID": self.shared.lease.to_string() }),
        );
    }
}

impl Store for EtcdStore {
    fn url(&self) -> &str {
        self.shared.http.url()
    }

    fn create(&self, key: &str, value: &[u8]) -> Result<Outcome<()>, StoreError> {
        let key = full_key(&self.prefix, key);
        Ok(if self.create_if_absent(&key, value, 0)? {
            Outcome::Done(())
        } else {
            Outcome::LostRace
        })
    }

    fn put_leased(&self, prefix: &str, value: &[u8]) -> Result<String, StoreError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let key = full_key(
            &self.prefix,
            &format!(
                "{}/{:016x}-{n}",
                prefix.trim_matches('/'),
                self.shared.lease
            ),
        );
        // The name is this store's alone: "exists" can only mean a retried request that had
        // already been applied.
        self.create_if_absent(&key, value, self.shared.lease)?;
        Ok(self.relative(&key).to_string())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = full_key(&self.prefix, key);
        let answer = self.call("/v3/kv/range", json!({ "key": BASE64.encode(&key) }))?;
        match answer["kvs"].as_array().and_then(|kvs| kvs.first()) {
            None => Ok(None),
            Some(kv) => Ok(Some(decode(&self.shared, &kv["value"])?)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        let dir = full_key(&self.prefix, prefix);
        let start = format!("{dir}/");
        let answer = self.call(
            "/v3/kv/range",
            json!({
                "key": BASE64.encode(&start),
                "range_end": BASE64.encode(prefix_end(start.as_bytes())),
                "sort_order": "ASCEND",
                "sort_target": "CREATE",
            }),
        )?;
        let mut entries = Vec::new();
        for kv in answer["kvs"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let key = String::from_utf8(decode(&self.shared, &kv["key"])?)
                .map_err(|_| self.shared.protocol("a key under the prefix is not UTF-8"))?;
            if child_of(&dir, &key).is_none() {
                continue;
            }
            entries.push(Entry {
                key: self.relative(&key).to_string(),
                value: decode(&self.shared, &kv["value"])?,
                order: number(&kv["create_revision"]).unwrap_or(0) as u64,
            });
        }
        Ok(entries)
    }

    fn wait(&self, prefix: &str, timeout: Duration) -> Result<(), StoreError> {
        let since = self
            .unwatched_since
            .lock()
            .unwrap()
            .take()
            .unwrap_or_else(|| *self.shared.last_revision.lock().unwrap());
        let dir = format!("{}/", full_key(&self.prefix, prefix));
        let request = json!({
            "create_request": {
                "key": BASE64.encode(&dir),
                "range_end": BASE64.encode(prefix_end(dir.as_bytes())),
                "start_revision": (since + 1).to_string(),
            }
        });
        let response = retrying(self.shared.options.retry_for, || {
            let uri = format!("{}/v3/watch", self.shared.http.base());
            let mut builder = self.shared.http.agent().post(&uri);
            if let Some(token) = self.shared.token() {
                builder = builder.header("Authorization", token);
            }
            let response = builder
                .config()
                .timeout_global(Some(timeout))
                .build()
                .send(request.to_string());
            match response {
                Ok(response) => Ok(Some(response)),
                Err(ureq::Error::Timeout(_)) => Ok(None),
                Err(e) => Err(StoreError::Unavailable {
                    url: self.url().to_string(),
                    reason: format!("watch: {e}"),
                }),
            }
        })?;
        let Some(response) = response else {
            return Ok(());
        };
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        for line in reader.lines() {
            let Ok(line) = line else {
                // The timeout ended the stream, or the server went away: the caller re-reads
                // either way, and a store that is gone shows there.
                return Ok(());
            };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let result = &message["result"];
            let events = result["events"].as_array().is_some_and(|e| !e.is_empty());
            // A compacted start revision cancels the watch: something changed, re-read.
            if events
                || result["canceled"].as_bool() == Some(true)
                || message.get("error").is_some()
            {
                return Ok(());
            }
        }
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = full_key(&self.prefix, key);
        self.call("/v3/kv/deleterange", json!({ "key": BASE64.encode(&key) }))?;
        Ok(())
    }
}

/// The end of etcd's range for every key starting with `prefix`: the prefix with its last byte
/// incremented.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A base64 field (absent: empty, as the gateway omits empty values).
fn decode(shared: &Shared, value: &Value) -> Result<Vec<u8>, StoreError> {
    BASE64
        .decode(value.as_str().unwrap_or_default())
        .map_err(|_| shared.protocol("a key or value is not base64"))
}

/// A 64-bit number, which the gateway writes as a string.
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => s.parse().ok(),
        other => other.as_i64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end(b"a/"), b"a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
    }

    #[test]
    fn numbers_come_as_strings_or_numbers() {
        assert_eq!(number(&json!("12")), Some(12));
        assert_eq!(number(&json!(12)), Some(12));
        assert_eq!(number(&json!(null)), None);
    }
}
