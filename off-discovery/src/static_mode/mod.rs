//! Static mode: the operator lists the nodes in a peers file (`--discovery-file peers.json`);
//! each node serves a small authenticated HTTP endpoint on its `--serve` address, says hello to
//! every listed peer until each has answered, and publishes its result to them. Membership is the
//! file's order; the master is the peer marked `"role": "master"`, else the node started with
//! `--role master`, else the first listed.
//!
//! Results are pushed (not polled) because a node may finish and exit before a slower peer asks:
//! a hello answered proves the peer is listening, so it can be told.

mod auth;
mod peers_file;
mod server;
mod wire;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use peers_file::{HostPort, PeerEntry, PeersFile, parse_port};
pub use server::Log;

use crate::coordinator::{Coordinator, PeerError};
use crate::member::{Member, Membership, NodeInfo, Role};
use crate::token::ClusterToken;
use auth::{NONCE_HEADER, SIGNATURE_HEADER, TIME_HEADER, Verifier, sign_request, verify_response};
use server::{Endpoint, Shared, State};
use wire::{HELLO, Hello, MAX_BODY, Outcome, RESULT};

/// How often a node retries a peer that has not answered yet.
const RETRY: Duration = Duration::from_millis(250);
/// How long a node keeps trying to tell a peer its result.
const PUSH_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a waiting node asks whether the node it waits on is still there, and how many
/// unanswered asks in a row mean it is gone.
const LIVENESS_EVERY: Duration = Duration::from_secs(2);
const LIVENESS_MISSES: u32 = 5;

/// Static mode's [`Coordinator`].
pub struct StaticCoordinator {
    peers: PeersFile,
    serve: HostPort,
    /// This node's index in the peers file.
    me: usize,
    shared: Arc<Shared>,
    agent: ureq::Agent,
    endpoint: Mutex<Option<Endpoint>>,
}

/// Why one call to a peer failed.
#[derive(Debug, Clone)]
enum CallError {
    /// No answer, or not HTTP.
    Unreachable(String),
    /// The peer refused our signature, or its answer was not signed with our token.
    Auth(String),
    /// The peer answered, with something this node cannot go on from.
    Refused(u16, String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(why) | CallError::Auth(why) => f.write_str(why),
            CallError::Refused(status, why) => write!(f, "answered {status}: {why}"),
        }
    }
}

impl StaticCoordinator {
    /// A coordinator for the node serving on `serve`, which must be one of `peers`. Binds
    /// nothing yet (that is [`Coordinator::join`]'s first step). Errors (exit 2): `serve` is not
    /// in the file.
    pub fn new(
        peers: PeersFile,
        serve: HostPort,
        token: ClusterToken,
    ) -> Result<StaticCoordinator, PeerError> {
        let log: Log = Arc::new(|line: &str| eprintln!("peer endpoint: {line}"));
        Self::with_log(peers, serve, token, log)
    }

    /// [`StaticCoordinator::new`] with the operator's messages going to `log`.
    pub fn with_log(
        peers: PeersFile,
        serve: HostPort,
        token: ClusterToken,
        log: Log,
    ) -> Result<StaticCoordinator, PeerError> {
        let me = find_me(&peers, &serve).map_err(PeerError::Usage)?;
        let n = peers.entries.len();
        let shared = Arc::new(Shared {
            verifier: Verifier::new(token),
            state: Mutex::new(State {
                me: None,
                known: vec![None; n],
                results: vec![None; n],
                conflict: None,
                refused: Vec::new(),
            }),
            changed: Condvar::new(),
            log,
        });
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(2)))
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            // Peers talk to each other directly, never through an environment's proxy.
            .proxy(None)
            .max_redirects(0)
            .build()
            .into();
        Ok(StaticCoordinator {
            peers,
            serve,
            me,
            shared,
            agent,
            endpoint: Mutex::new(None),
        })
    }

    /// This node's index in the peers file.
    pub fn index(&self) -> usize {
        self.me
    }

    /// The requests this node's endpoint refused, as logged.
    pub fn refused(&self) -> Vec<String> {
        self.shared.lock().refused.clone()
    }

    /// One signed call; the body of a signed 200 answer.
    fn call(&self, peer: usize, path: &str, body: &[u8]) -> Result<Vec<u8>, CallError> {
        let addr = &self.peers.entries[peer].addr;
        let token = self.shared.verifier.token();
        let auth = sign_request(token, "POST", path, body);
        let response = self
            .agent
            .post(format!("{}{path}", addr.url()))
            .header("Content-Type", "application/json")
            .header(TIME_HEADER, &auth.time)
            .header(NONCE_HEADER, &auth.nonce)
            .header(SIGNATURE_HEADER, &auth.signature)
            .send(body);
        let mut response = match response {
            Ok(r) => r,
            Err(e) => return Err(CallError::Unreachable(format!("{addr}: {e}"))),
        };
        let status = response.status().as_u16();
        let signature = response
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let reply = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| CallError::Unreachable(format!("{addr}: {e}")))?;
        if status == 401 {
            return Err(CallError::Auth(format!(
                "{addr} refused this node's signature (is its cluster token another one?)"
            )));
        }
        if !verify_response(token, &auth.nonce, status, &reply, signature.as_deref()) {
            return Err(CallError::Auth(format!(
                "{addr} answered without a valid signature (not a node of this cluster)"
            )));
        }
        if status != 200 {
            return Err(CallError::Refused(
                status,
                String::from_utf8_lossy(&reply).into_owned(),
            ));
        }
        Ok(reply)
    }

    fn hello(&self, peer: usize, mine: &Hello) -> Result<Hello, CallError> {
        let body = serde_json::to_vec(mine).expect("hello serialises");
        let reply = self.call(peer, HELLO, &body)?;
        serde_json::from_slice(&reply)
            .map_err(|e| CallError::Refused(200, format!("malformed hello ({e})")))
    }

    fn start_endpoint(&self) -> Result<(), PeerError> {
        let mut endpoint = self.endpoint.lock().unwrap_or_else(|e| e.into_inner());
        if endpoint.is_none() {
            *endpoint =
                Some(Endpoint::start(&self.serve, self.shared.clone()).map_err(PeerError::Usage)?);
        }
        Ok(())
    }

    fn wait_changed(&self, for_at_most: Duration) {
        let state = self.shared.lock();
        let _ = self.shared.changed.wait_timeout(state, for_at_most);
    }
}

impl Coordinator for StaticCoordinator {
    fn join(&self, me: &NodeInfo, timeout: Duration) -> Result<Membership, PeerError> {
        let mine = Hello {
            index: self.me,
            node: me.clone(),
            peers: self.peers.addresses(),
        };
        {
            let mut state = self.shared.lock();
            state.me = Some(mine.clone());
            state.known[self.me] = Some(me.clone());
        }
        self.start_endpoint()?;
        let deadline = Instant::now() + timeout;
        let mut last_error: Vec<Option<CallError>> = vec![None; self.peers.entries.len()];
        loop {
            let missing: Vec<usize> = {
                let state = self.shared.lock();
                if let Some(conflict) = &state.conflict {
                    return Err(PeerError::Usage(conflict.clone()));
                }
                (0..state.known.len())
                    .filter(|&i| state.known[i].is_none())
                    .collect()
            };
            if missing.is_empty() {
                break;
            }
            for peer in missing {
                match self.hello(peer, &mine) {
                    Ok(hello) if hello.peers != mine.peers || hello.index != peer => {
                        return Err(PeerError::Usage(format!(
                            "the peers file differs between this node ({}) and {} ({})",
                            mine.peers.join(", "),
                            self.peers.entries[peer].addr,
                            hello.peers.join(", ")
                        )));
                    }
                    Ok(hello) => {
                        self.shared.lock().known[peer] = Some(hello.node);
                        last_error[peer] = None;
                    }
                    Err(CallError::Refused(409, why)) => return Err(PeerError::Usage(why)),
                    Err(e) => last_error[peer] = Some(e),
                }
            }
            if Instant::now() >= deadline {
                return Err(not_answered(
                    &self.peers,
                    &self.shared.lock(),
                    &last_error,
                    timeout,
                ));
            }
            self.wait_changed(RETRY);
        }
        let nodes: Vec<NodeInfo> = self
            .shared
            .lock()
            .known
            .iter()
            .map(|n| n.clone().expect("every peer answered"))
            .collect();
        let master = choose_master(&self.peers, &nodes).map_err(PeerError::Usage)?;
        let members = nodes
            .into_iter()
            .enumerate()
            .map(|(index, node)| Member {
                id: node.id,
                host: node.host,
                port: node.port,
                role: if index == master {
                    Role::Master
                } else {
                    Role::Slave
                },
                index,
            })
            .collect();
        Ok(Membership {
            members,
            me: self.me,
            master,
        })
    }

    fn publish_result(&self, membership: &Membership, success: bool) -> Result<(), PeerError> {
        {
            let mut state = self.shared.lock();
            state.results[self.me] = Some(success);
            self.shared.changed.notify_all();
        }
        let body = serde_json::to_vec(&Outcome {
            index: self.me,
            success,
        })
        .expect("result serialises");
        let body = &body;
        let failures: Vec<String> = std::thread::scope(|scope| {
            let pushes: Vec<_> = (0..membership.members.len())
                .filter(|&peer| peer != self.me)
                .map(|peer| scope.spawn(move || self.push(peer, body)))
                .collect();
            pushes
                .into_iter()
                .filter_map(|p| p.join().expect("a push does not panic").err())
                .collect()
        });
        if failures.is_empty() {
            Ok(())
        } else {
            Err(PeerError::Unavailable(format!(
                "could not publish this node's result to every peer: {}",
                failures.join("; ")
            )))
        }
    }

    fn wait_for_result(
        &self,
        membership: &Membership,
        index: usize,
        timeout: Duration,
    ) -> Result<bool, PeerError> {
        let deadline = Instant::now() + timeout;
        let mut next_ask = Instant::now() + LIVENESS_EVERY;
        let mut misses = 0;
        let host = &membership.members[index].host;
        loop {
            if let Some(result) = self.shared.lock().results[index] {
                return Ok(result);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(PeerError::Timeout(format!(
                    "{host} published no result within {}",
                    human(timeout)
                )));
            }
            if now >= next_ask {
                next_ask = now + LIVENESS_EVERY;
                let mine = self.shared.lock().me.clone().expect("joined");
                match self.hello(index, &mine) {
                    Ok(_) => misses = 0,
                    Err(e) => {
                        misses += 1;
                        // Its result may have arrived while it was being asked.
                        if misses >= LIVENESS_MISSES && self.shared.lock().results[index].is_none()
                        {
                            return Err(PeerError::Unavailable(format!(
                                "{host} stopped answering before it published its result ({e})"
                            )));
                        }
                    }
                }
            }
            self.wait_changed(RETRY);
        }
    }
}

impl StaticCoordinator {
    /// Tells `peer` this node's result, retrying for [`PUSH_TIMEOUT`] — unless the peer
    /// published its own meanwhile: then it is done and needs nothing more.
    fn push(&self, peer: usize, body: &[u8]) -> Result<(), String> {
        let deadline = Instant::now() + PUSH_TIMEOUT;
        loop {
            if self.shared.lock().results[peer].is_some() {
                return Ok(());
            }
            match self.call(peer, RESULT, body) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("{}: {e}", self.peers.entries[peer].addr));
                }
                Err(_) => self.wait_changed(RETRY),
            }
        }
    }
}

/// The error of a join whose peers did not all answer in time: exit 3 when one of them
/// refused this node's token (a configuration error no wait fixes), else exit 4.
fn not_answered(
    peers: &PeersFile,
    state: &State,
    last_error: &[Option<CallError>],
    timeout: Duration,
) -> PeerError {
    let mut auth = false;
    let missing: Vec<String> = (0..peers.entries.len())
        .filter(|&i| state.known[i].is_none())
        .map(|i| {
            let addr = &peers.entries[i].addr;
            match &last_error[i] {
                Some(e @ CallError::Auth(_)) => {
                    auth = true;
                    e.to_string()
                }
                Some(e) => format!("{addr} ({e})"),
                None => addr.to_string(),
            }
        })
        .collect();
    let message = format!(
        "{} of {} peers did not answer within {} (--discovery-timeout): {}",
        missing.len(),
        peers.entries.len(),
        human(timeout),
        missing.join("; ")
    );
    if auth {
        PeerError::Unavailable(message)
    } else {
        PeerError::Timeout(message)
    }
}

/// This node's place in the file: the entry written as `serve`, else the entry whose name
/// resolves to the same address and port.
fn find_me(peers: &PeersFile, serve: &HostPort) -> Result<usize, String> {
    let same = |a: &HostPort| a.port == serve.port && a.host.eq_ignore_ascii_case(&serve.host);
    if let Some(i) = peers.entries.iter().position(|e| same(&e.addr)) {
        return Ok(i);
    }
    let resolve = |a: &HostPort| -> Vec<SocketAddr> {
        (a.host.as_str(), a.port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .unwrap_or_default()
    };
    let mine = resolve(serve);
    let found: Vec<usize> = peers
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.addr.port == serve.port && resolve(&e.addr).iter().any(|a| mine.contains(a))
        })
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [i] => Ok(*i),
        [] => Err(format!(
            "this node (--serve {serve}) is not in --discovery-file {} ({})",
            peers.path.display(),
            peers.addresses().join(", ")
        )),
        _ => Err(format!(
            "--serve {serve} matches several peers of --discovery-file {}",
            peers.path.display()
        )),
    }
}

/// The master, the same on every node (each sees the same file and the same roles): the peer
/// the file marks, else the one node that asked for `--role master`, else the first listed that
/// did not ask for `--role slave`. Contradictions are errors every node reports alike.
fn choose_master(peers: &PeersFile, nodes: &[NodeInfo]) -> Result<usize, String> {
    let asked: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].role == Role::Master)
        .collect();
    let name = |i: usize| peers.entries[i].addr.to_string();
    if let Some(marked) = peers.entries.iter().position(|e| e.master) {
        if let Some(&other) = asked.iter().find(|&&i| i != marked) {
            return Err(format!(
                "{} has \"role\": \"master\" in {}, but {} asked for the master role",
                name(marked),
                peers.path.display(),
                name(other)
            ));
        }
        if nodes[marked].role == Role::Slave {
            return Err(format!(
                "{} has \"role\": \"master\" in {}, but asked for the slave role",
                name(marked),
                peers.path.display()
            ));
        }
        return Ok(marked);
    }
    match asked.as_slice() {
        [one] => Ok(*one),
        [] => (0..nodes.len())
            .find(|&i| nodes[i].role != Role::Slave)
            .ok_or_else(|| "every node asked for the slave role: one must be the master".into()),
        several => Err(format!(
            "several nodes asked for the master role ({}): a cluster has one master",
            several
                .iter()
                .map(|&i| name(i))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> PeersFile {
        PeersFile {
            path: "peers.json".into(),
            entries: peers_file::parse(text).unwrap(),
        }
    }

    fn node(role: Role) -> NodeInfo {
        NodeInfo {
            id: "x".into(),
            host: "h".into(),
            port: 1,
            role,
        }
    }

    #[test]
    fn the_master_is_the_marked_peer_else_the_one_asking_else_the_first() {
        use Role::*;
        let plain = file(r#"["a:1", "b:1", "c:1"]"#);
        assert_eq!(
            choose_master(&plain, &[node(Auto), node(Auto), node(Auto)]),
            Ok(0)
        );
        assert_eq!(
            choose_master(&plain, &[node(Auto), node(Auto), node(Master)]),
            Ok(2)
        );
        assert_eq!(
            choose_master(&plain, &[node(Slave), node(Auto), node(Slave)]),
            Ok(1)
        );
        let e = choose_master(&plain, &[node(Master), node(Auto), node(Master)]).unwrap_err();
        assert!(
            e.starts_with("several nodes asked for the master role (a:1, c:1)"),
            "{e}"
        );
        let e = choose_master(&plain, &[node(Slave), node(Slave), node(Slave)]).unwrap_err();
        assert!(e.contains("one must be the master"), "{e}");

        let marked = file(r#"["a:1", {"host": "b", "port": 1, "role": "master"}, "c:1"]"#);
        assert_eq!(
            choose_master(&marked, &[node(Auto), node(Auto), node(Auto)]),
            Ok(1)
        );
        assert_eq!(
            choose_master(&marked, &[node(Slave), node(Master), node(Auto)]),
            Ok(1)
        );
        let e = choose_master(&marked, &[node(Master), node(Auto), node(Auto)]).unwrap_err();
        assert!(e.contains("but a:1 asked for the master role"), "{e}");
        let e = choose_master(&marked, &[node(Auto), node(Slave), node(Auto)]).unwrap_err();
        assert!(e.contains("but asked for the slave role"), "{e}");
    }

    #[test]
    fn a_node_finds_itself_by_name_or_by_address() {
        let peers = file(r#"["node0.example:8426", "127.0.0.1:8426", "localhost:9000"]"#);
        let at = |s: &str| find_me(&peers, &HostPort::parse(s).unwrap());
        assert_eq!(at("NODE0.example:8426"), Ok(0));
        assert_eq!(at("127.0.0.1:8426"), Ok(1));
        assert_eq!(at("127.0.0.1:9000"), Ok(2));
        let e = at("10.9.9.9:8426").unwrap_err();
        assert_eq!(
            e,
            "this node (--serve 10.9.9.9:8426) is not in --discovery-file peers.json (node0.example:8426, 127.0.0.1:8426, localhost:9000)"
        );
    }
}
