//! The endpoint each node serves on its `--serve` address (and only there): it answers peers'
//! hellos and records their results, after checking every request's HMAC. A request that fails
//! the check is refused (401) and logged, without the token.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tiny_http::{Header, Request, Response};

use super::auth::{NONCE_HEADER, SIGNATURE_HEADER, TIME_HEADER, Verifier, sign_response};
use super::peers_file::HostPort;
use super::wire::{HELLO, Hello, MAX_BODY, Outcome, RESULT};
use crate::member::NodeInfo;

/// A message for the operator (stderr by default).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// What a node knows about the cluster, shared by its endpoint and its own calls.
pub struct State {
    /// What the node said about itself (`None` until it joins).
    pub me: Option<Hello>,
    /// Each listed node as it described itself, by file index.
    pub known: Vec<Option<NodeInfo>>,
    /// Each node's published result, by file index.
    pub results: Vec<Option<bool>>,
    /// Why this cluster cannot agree (a peer reads another list), once seen.
    pub conflict: Option<String>,
    /// Requests refused, as logged.
    pub refused: Vec<String>,
}

pub struct Shared {
    pub verifier: Verifier,
    pub state: Mutex<State>,
    pub changed: Condvar,
    pub log: Log,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running endpoint; stops when dropped.
pub struct Endpoint {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Listens on `addr` alone (never a wildcard address the user did not ask for).
    pub fn start(addr: &HostPort, shared: Arc<Shared>) -> Result<Endpoint, String> {
        let server = tiny_http::Server::http((addr.host.as_str(), addr.port))
            .map_err(|e| format!("--serve {addr}: cannot listen there: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("off-peer-endpoint".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    match server.recv_timeout(Duration::from_millis(100)) {
                        Ok(Some(request)) => handle(&shared, request),
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
            })
            .map_err(|e| format!("cannot start the peer endpoint: {e}"))?;
        Ok(Endpoint {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn header<'a>(request: &'a Request, name: &'static str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn handle(shared: &Shared, mut request: Request) {
    let method = request.method().as_str().to_string();
    let path = request.url().to_string();
    let from = request
        .remote_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "?".into());
    let nonce = header(&request, NONCE_HEADER).unwrap_or("").to_string();
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut body);
    let (status, reply) = if read.is_err() || body.len() as u64 > MAX_BODY {
        (413, b"body too large".to_vec())
    } else {
        let checked = shared.verifier.check(
            &method,
            &path,
            header(&request, TIME_HEADER),
            header(&request, NONCE_HEADER),
            header(&request, SIGNATURE_HEADER),
            &body,
        );
        match checked {
            Err(why) => {
                let line = format!("refused {method} {path} from {from}: {why}");
                (shared.log)(&line);
                shared.lock().refused.push(line);
                (401, b"unauthenticated".to_vec())
            }
            Ok(()) => route(shared, &method, &path, &body),
        }
    };
    let signature = sign_response(shared.verifier.token(), &nonce, status, &reply);
    let response = Response::from_data(reply)
        .with_status_code(status)
        .with_header(
            Header::from_bytes(SIGNATURE_HEADER.as_bytes(), signature.as_bytes())
                .expect("hex is a valid header value"),
        );
    let _ = request.respond(response);
}

fn route(shared: &Shared, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    match (method, path) {
        ("POST", HELLO) => {
            let Ok(hello) = serde_json::from_slice::<Hello>(body) else {
                return (400, b"malformed hello".to_vec());
            };
            let mut state = shared.lock();
            let Some(me) = state.me.clone() else {
                return (503, b"not joined yet".to_vec());
            };
            if hello.peers != me.peers {
                let why = format!(
                    "the peers file differs between this node ({}) and {} ({})",
                    me.peers.join(", "),
                    hello.node.host,
                    hello.peers.join(", ")
                );
                state.conflict.get_or_insert(why.clone());
                shared.changed.notify_all();
                return (409, why.into_bytes());
            }
            if hello.index >= state.known.len() || hello.index == me.index {
                return (400, b"no such peer index".to_vec());
            }
            state.known[hello.index] = Some(hello.node);
            shared.changed.notify_all();
            (200, serde_json::to_vec(&me).expect("hello serialises"))
        }
        ("POST", RESULT) => {
            let Ok(outcome) = serde_json::from_slice::<Outcome>(body) else {
                return (400, b"malformed result".to_vec());
            };
            let mut state = shared.lock();
            let Some(slot) = state.results.get_mut(outcome.index) else {
                return (400, b"no such peer index".to_vec());
            };
            *slot = Some(outcome.success);
            shared.changed.notify_all();
            (200, b"{}".to_vec())
        }
        _ => (404, b"not found".to_vec()),
    }
}
