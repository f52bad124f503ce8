//! A **fake** Consul agent: Consul has no Debian package, so peer mode's Consul backend is tested
//! against this in-process HTTP server instead, and against a real agent when `CONSUL_HTTP_ADDR`
//! is set. It follows Consul's documented HTTP API for the part the backend uses, and nothing
//! else:
//!
//! - `PUT /v1/session/create` (`TTL` between 10s and 24h, `Behavior` `delete` or `release`),
//!   `PUT /v1/session/renew/<id>` (404 once the session is gone), `PUT /v1/session/destroy/<id>`;
//! - `PUT /v1/kv/<key>` with `?cas=<index>` (0: only if absent), `?acquire=<session>`,
//!   `?release=<session>`; answers `true` or `false`;
//! - `GET /v1/kv/<key>` (and `?recurse`): a JSON array of entries with `CreateIndex`,
//!   `ModifyIndex`, `LockIndex`, `Flags`, `Session` and a base64 `Value` (null when empty), 404 when nothing
//!   matches, the `X-Consul-Index` header, and blocking queries (`?index=<n>&wait=<d>`, at most
//!   10 minutes) that return as soon as the index of what they read passes `n`;
//! - `DELETE /v1/kv/<key>` (and `?recurse`).
//!
//! Sessions not renewed within their TTL are invalidated: with `Behavior: delete` the keys they
//! hold are deleted, with `release` they are released (Consul may wait up to twice the TTL; this
//! fake waits exactly the TTL, which is within the contract). There is one datacenter, no ACLs,
//! no lock delay, and no Raft: the index is a counter of writes.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use base64::Engine;
use serde_json::{Value, json};

/// Consul's bounds on a session TTL and on a blocking query's wait.
const MIN_TTL: Duration = Duration::from_secs(10);
const MAX_TTL: Duration = Duration::from_secs(86_400);
const MAX_WAIT: Duration = Duration::from_secs(600);
const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// A running fake agent; stopped when dropped.
pub struct ConsulFake {
    /// The HTTP address: `http://<addr>` is what `CONSUL_HTTP_ADDR` would hold.
    pub addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    state: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ConsulFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsulFake")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Starts the fake on `ip` (a free port chosen by the kernel).
pub fn start(ip: IpAddr) -> Result<ConsulFake> {
    let server = tiny_http::Server::http(SocketAddr::new(ip, 0))
        .map_err(|e| anyhow!("cannot start the Consul fake on {ip}: {e}"))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| anyhow!("the Consul fake has no IP address"))?;
    let server = Arc::new(server);
    let state = Arc::new(Shared {
        data: Mutex::new(Data::default()),
        changed: Condvar::new(),
    });
    let mut threads = Vec::new();
    {
        let (server, state) = (server.clone(), state.clone());
        threads.push(std::thread::spawn(move || {
            for request in server.incoming_requests() {
                let state = state.clone();
                // A blocking query holds its request for up to its wait: one thread each.
                std::thread::spawn(move || handle(&state, request));
            }
        }));
    }
    {
        let state = state.clone();
        threads.push(std::thread::spawn(move || expire_sessions(&state)));
    }
    Ok(ConsulFake {
        addr,
        server,
        state,
        threads,
    })
}

impl ConsulFake {
    /// `http://<addr>`.
    pub fn http_addr(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many sessions are alive (for tests of the backend's cleanup).
    pub fn live_sessions(&self) -> usize {
        self.state.data.lock().unwrap().sessions.len()
    }
}

impl Drop for ConsulFake {
    fn drop(&mut self) {
        self.server.unblock();
        {
            let mut data = self.state.data.lock().unwrap();
            data.stopped = true;
        }
        self.state.changed.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

struct Shared {
    data: Mutex<Data>,
    /// Notified on every write, for blocking queries and the expiry thread.
    changed: Condvar,
}

#[derive(Default)]
struct Data {
    /// The last index handed out: every write takes the next.
    index: u64,
    kv: BTreeMap<String, KvEntry>,
    /// The index at which each deleted key went away, so a blocking query on a prefix wakes up
    /// for deletions too (Consul keeps tombstones for the same reason).
    tombstones: BTreeMap<String, u64>,
    sessions: HashMap<String, Session>,
    stopped: bool,
}

struct KvEntry {
    value: Vec<u8>,
    flags: u64,
    create_index: u64,
    modify_index: u64,
    lock_index: u64,
    session: Option<String>,
}

struct Session {
    ttl: Option<Duration>,
    behavior: Behavior,
    name: String,
    create_index: u64,
    renewed: Instant,
}

#[derive(Clone, Copy, PartialEq)]
enum Behavior {
    Release,
    Delete,
}

impl Data {
    fn next_index(&mut self) -> u64 {
        self.index += 1;
        self.index
    }

    fn delete_key(&mut self, key: &str) {
        if self.kv.remove(key).is_some() {
            let index = self.next_index();
            self.tombstones.insert(key.to_string(), index);
        }
    }

    /// Invalidates a session: its keys are deleted or released, per its behavior.
    fn invalidate(&mut self, id: &str) {
        let Some(session) = self.sessions.remove(id) else {
            return;
        };
        let held: Vec<String> = self
            .kv
            .iter()
            .filter(|(_, e)| e.session.as_deref() == Some(id))
            .map(|(k, _)| k.clone())
            .collect();
        for key in held {
            match session.behavior {
                Behavior::Delete => self.delete_key(&key),
                Behavior::Release => {
                    let index = self.next_index();
                    let entry = self.kv.get_mut(&key).expect("held key exists");
                    entry.session = None;
                    entry.modify_index = index;
                }
            }
        }
        self.next_index();
    }

    /// The index of what a read of `key` (or, with `recurse`, of the prefix) saw: the highest
    /// modify index or tombstone among matching keys, else the store's index.
    fn query_index(&self, key: &str, recurse: bool) -> u64 {
        let matches = |k: &str| {
            if recurse {
                k.starts_with(key)
            } else {
                k == key
            }
        };
        let live = self
            .kv
            .iter()
            .filter(|(k, _)| matches(k))
            .map(|(_, e)| e.modify_index);
        let dead = self
            .tombstones
            .iter()
            .filter(|(k, _)| matches(k))
            .map(|(_, i)| *i);
        match live.chain(dead).max() {
            Some(index) => index,
            None => self.index.max(1),
        }
    }
}

fn expire_sessions(state: &Shared) {
    let mut data = state.data.lock().unwrap();
    while !data.stopped {
        let now = Instant::now();
        let expired: Vec<String> = data
            .sessions
            .iter()
            .filter(|(_, s)| s.ttl.is_some_and(|ttl| now >= s.renewed + ttl))
            .map(|(id, _)| id.clone())
            .collect();
        if !expired.is_empty() {
            for id in expired {
                data.invalidate(&id);
            }
            state.changed.notify_all();
        }
        data = state
            .changed
            .wait_timeout(data, Duration::from_millis(100))
            .unwrap()
            .0;
    }
}

/// An answer: status, body, and the index header when the endpoint reports one.
struct Reply {
    status: u16,
    body: String,
    index: Option<u64>,
}

impl Reply {
    fn json(value: Value) -> Reply {
        Reply {
            status: 200,
            body: value.to_string(),
            index: None,
        }
    }

    fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply {
            status,
            body: message.into(),
            index: None,
        }
    }
}

fn handle(state: &Shared, mut request: tiny_http::Request) {
    let mut body = Vec::new();
    let reply = match request.as_reader().read_to_end(&mut body) {
        Ok(_) => {
            let (path, query) = split_url(request.url());
            route(state, request.method(), &path, &query, body)
        }
        Err(e) => Reply::error(400, format!("cannot read the request body: {e}")),
    };
    let content_type = if reply.status == 200 {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = tiny_http::Response::from_string(reply.body)
        .with_status_code(reply.status)
        .with_header(
            tiny_http::Header::from_bytes("Content-Type", content_type).expect("valid header"),
        );
    if let Some(index) = reply.index {
        response.add_header(
            tiny_http::Header::from_bytes("X-Consul-Index", index.to_string())
                .expect("valid header"),
        );
    }
    let _ = request.respond(response);
}

/// The decoded path and query parameters (a parameter without `=` has an empty value).
fn split_url(url: &str) -> (String, HashMap<String, String>) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (percent_decode(path), params)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if bytes[i] == b'%'
            && let Some(b) = escaped
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn route(
    state: &Shared,
    method: &tiny_http::Method,
    path: &str,
    query: &HashMap<String, String>,
    body: Vec<u8>,
) -> Reply {
    use tiny_http::Method::{Delete, Get, Put};
    if let Some(key) = path.strip_prefix("/v1/kv/") {
        return match method {
            Get => kv_get(state, key, query),
            Put => kv_put(state, key, query, body),
            Delete => kv_delete(state, key, query),
            _ => Reply::error(405, "method not allowed"),
        };
    }
    match (method, path) {
        (Put, "/v1/session/create") => session_create(state, &body),
        (Put, p) if p.starts_with("/v1/session/renew/") => {
            session_renew(state, &p["/v1/session/renew/".len()..])
        }
        (Put, p) if p.starts_with("/v1/session/destroy/") => {
            let mut data = state.data.lock().unwrap();
            data.invalidate(&p["/v1/session/destroy/".len()..]);
            drop(data);
            state.changed.notify_all();
            Reply::json(json!(true))
        }
        _ => Reply::error(404, format!("no such endpoint in the Consul fake: {path}")),
    }
}

fn session_create(state: &Shared, body: &[u8]) -> Reply {
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Reply::error(400, format!("Request decode failed: {e}")),
        }
    };
    let ttl = match request.get("TTL").and_then(Value::as_str) {
        None | Some("") => None,
        Some(text) => match go_duration(text) {
            Some(ttl) if (MIN_TTL..=MAX_TTL).contains(&ttl) => Some(ttl),
            Some(_) => {
                return Reply::error(
                    400,
                    format!("Invalid Session TTL '{text}', must be between [10s=24h0m0s]"),
                );
            }
            None => return Reply::error(400, format!("Request decode failed: bad TTL {text:?}")),
        },
    };
    let behavior = match request.get("Behavior").and_then(Value::as_str) {
        None | Some("") | Some("release") => Behavior::Release,
        Some("delete") => Behavior::Delete,
        Some(other) => return Reply::error(400, format!("Invalid Behavior setting '{other}'")),
    };
    let name = request
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let id = new_session_id();
    let mut data = state.data.lock().unwrap();
    let create_index = data.next_index();
    data.sessions.insert(
        id.clone(),
        Session {
            ttl,
            behavior,
            name,
            create_index,
            renewed: Instant::now(),
        },
    );
    Reply::json(json!({ "ID": id }))
}

fn session_renew(state: &Shared, id: &str) -> Reply {
    let mut data = state.data.lock().unwrap();
    match data.sessions.get_mut(id) {
        Some(session) => {
            session.renewed = Instant::now();
            Reply::json(json!([{
                "ID": id,
                "Name": session.name,
                "TTL": session.ttl.map(|t| format!("{}s", t.as_secs())).unwrap_or_default(),
                "Behavior": if session.behavior == Behavior::Delete { "delete" } else { "release" },
                "CreateIndex": session.create_index,
                "ModifyIndex": session.create_index,
            }]))
        }
        None => Reply::error(404, format!("Session id '{id}' not found")),
    }
}

fn kv_get(state: &Shared, key: &str, query: &HashMap<String, String>) -> Reply {
    let recurse = query.contains_key("recurse");
    let wanted: Option<u64> = match query.get("index").map(|i| i.parse()) {
        None => None,
        Some(Ok(index)) => Some(index),
        Some(Err(_)) => return Reply::error(400, "Invalid index"),
    };
    let wait = match query.get("wait") {
        None => DEFAULT_WAIT,
        Some(text) => match go_duration(text) {
            Some(wait) => wait.min(MAX_WAIT),
            None => return Reply::error(400, format!("Invalid wait time: {text:?}")),
        },
    };
    let deadline = Instant::now() + wait;
    let mut data = state.data.lock().unwrap();
    if let Some(wanted) = wanted.filter(|&i| i > 0) {
        while data.query_index(key, recurse) <= wanted && !data.stopped {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            data = state.changed.wait_timeout(data, deadline - now).unwrap().0;
        }
    }
    let index = data.query_index(key, recurse);
    let entries: Vec<Value> = data
        .kv
        .iter()
        .filter(|(k, _)| {
            if recurse {
                k.starts_with(key)
            } else {
                *k == key
            }
        })
        .map(|(k, e)| {
            let mut entry = json!({
                "Key": k,
                "Flags": e.flags,
                // Consul writes an empty value as null.
                "Value": if e.value.is_empty() {
                    Value::Null
                } else {
                    json!(base64::engine::general_purpose::STANDARD.encode(&e.value))
                },
                "CreateIndex": e.create_index,
                "ModifyIndex": e.modify_index,
                "LockIndex": e.lock_index,
            });
            if let Some(session) = &e.session {
                entry["Session"] = json!(session);
            }
            entry
        })
        .collect();
    let mut reply = if entries.is_empty() {
        Reply::error(404, "")
    } else {
        Reply::json(Value::Array(entries))
    };
    reply.index = Some(index);
    reply
}

fn kv_put(state: &Shared, key: &str, query: &HashMap<String, String>, body: Vec<u8>) -> Reply {
    let cas: Option<u64> = match query.get("cas").map(|c| c.parse()) {
        None => None,
        Some(Ok(cas)) => Some(cas),
        Some(Err(_)) => return Reply::error(400, "Invalid cas index"),
    };
    let flags: u64 = query.get("flags").and_then(|f| f.parse().ok()).unwrap_or(0);
    let mut data = state.data.lock().unwrap();
    let existing = data
        .kv
        .get(key)
        .map(|e| (e.modify_index, e.session.clone()));
    if let Some(cas) = cas {
        let current = existing.as_ref().map_or(0, |(index, _)| *index);
        if cas != current {
            return Reply::json(json!(false));
        }
    }
    let mut session = existing.as_ref().and_then(|(_, s)| s.clone());
    let mut lock_increment = 0;
    if let Some(id) = query.get("acquire") {
        if !data.sessions.contains_key(id) {
            return Reply::error(500, format!("invalid session \"{id}\""));
        }
        match &session {
            Some(holder) if holder != id => return Reply::json(json!(false)),
            Some(_) => {}
            None => lock_increment = 1,
        }
        session = Some(id.clone());
    } else if let Some(id) = query.get("release") {
        if session.as_deref() != Some(id.as_str()) {
            return Reply::json(json!(false));
        }
        session = None;
    }
    let index = data.next_index();
    let entry = data.kv.entry(key.to_string()).or_insert(KvEntry {
        value: Vec::new(),
        flags: 0,
        create_index: index,
        modify_index: index,
        lock_index: 0,
        session: None,
    });
    entry.value = body;
    entry.flags = flags;
    entry.modify_index = index;
    entry.lock_index += lock_increment;
    entry.session = session;
    data.tombstones.remove(key);
    drop(data);
    state.changed.notify_all();
    Reply::json(json!(true))
}

fn kv_delete(state: &Shared, key: &str, query: &HashMap<String, String>) -> Reply {
    let recurse = query.contains_key("recurse");
    let mut data = state.data.lock().unwrap();
    let doomed: Vec<String> = data
        .kv
        .keys()
        .filter(|k| {
            if recurse {
                k.starts_with(key)
            } else {
                *k == key
            }
        })
        .cloned()
        .collect();
    for k in doomed {
        data.delete_key(&k);
    }
    drop(data);
    state.changed.notify_all();
    Reply::json(json!(true))
}

/// A duration as Go's `time.ParseDuration` writes it (`10s`, `1m30s`, `500ms`): what Consul
/// accepts for `TTL` and `wait`.
fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += Duration::from_secs_f64(number * seconds);
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// A random UUID-shaped session ID, like Consul's.
fn new_session_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn urls_split_into_path_and_decoded_query() {
        let (path, query) = split_url("/v1/kv/a%2Fb?recurse&index=5&acquire=x%20y");
        assert_eq!(path, "/v1/kv/a/b");
        assert_eq!(query.get("recurse").map(String::as_str), Some(""));
        assert_eq!(query.get("index").map(String::as_str), Some("5"));
        assert_eq!(query.get("acquire").map(String::as_str), Some("x y"));
    }
}
