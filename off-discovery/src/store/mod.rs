//! The key/value store of dynamic mode, modelled on Patroni's DCS: a few small primitives that
//! every backend (ZooKeeper, etcd v3, Consul) can keep exactly, with three outcomes always kept
//! apart — done, lost the race ([`Outcome::LostRace`]), store unavailable
//! ([`StoreError::Unavailable`]).
//!
//! The backends own the protocol; the bootstrap (register, wait, freeze) is written once over
//! [`Store`]. [`open`] picks the backend from the URL's scheme.

pub mod consul;
pub mod etcd;
mod http;
pub mod url;
pub mod zookeeper;

use std::time::{Duration, Instant};

pub use url::{Scheme, StoreUrl};

use crate::coordinator::PeerError;

/// What a write that can lose a race did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// This call did it.
    Done(T),
    /// Another node got there first (the key existed, the compare failed): not an error.
    LostRace,
}

/// A store that cannot answer. Never a lost race: a caller retries this (bounded) and reports it
/// with the store's URL, while a lost race is an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Unreachable, timed out, or answered with a server error.
    #[error("{url}: {reason}")]
    Unavailable { url: String, reason: String },
    /// Reached, but its answer broke the protocol or the data is not ours (a bug or a foreign
    /// key under our prefix).
    #[error("{url}: {reason}")]
    Protocol { url: String, reason: String },
}

/// One key under a prefix, as [`Store::list`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The full key.
    pub key: String,
    pub value: Vec<u8>,
    /// The server's creation order: a ZooKeeper sequence number, etcd's create revision,
    /// Consul's create index. Entries of one prefix sort by it.
    pub order: u64,
}

/// The primitives of dynamic mode. Keys are `/`-separated paths relative to the store URL's
/// prefix (see [`keys`]); values are bytes (JSON in practice). One `Store` value is one node's
/// session: [`Store::put_leased`] keys live as long as it does (a ZooKeeper session, an etcd
/// lease, a Consul session, each kept alive in the background) and vanish when the node dies.
pub trait Store: Send + Sync {
    /// The URL it was opened from, credentials removed: for messages.
    fn url(&self) -> &str;

    /// Creates `key` with `value` unless it exists (persistent: outlives this session).
    fn create(&self, key: &str, value: &[u8]) -> Result<Outcome<()>, StoreError>;

    /// Creates a new key under `prefix` that lives only as long as this session, named by the
    /// store in creation order (a ZooKeeper ephemeral sequential node; an etcd key under the
    /// session's lease; a Consul key acquired by the session). Returns the key.
    fn put_leased(&self, prefix: &str, value: &[u8]) -> Result<String, StoreError>;

    /// The value at `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every key directly under `prefix`, in creation order ([`Entry::order`]). (In ZooKeeper
    /// the parents of a deeper key are keys too, and are listed like any other.)
    fn list(&self, prefix: &str) -> Result<Vec<Entry>, StoreError>;

    /// Blocks until something under `prefix` may have changed since the last `list`/`get`/`wait`
    /// of this session, or `timeout` passes (a ZooKeeper watch, an etcd watch or a polled range,
    /// a Consul blocking query). Spurious wake-ups are allowed: callers re-read and re-check.
    fn wait(&self, prefix: &str, timeout: Duration) -> Result<(), StoreError>;

    /// Deletes `key` (absent is fine).
    fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Key names, in one place. Every key of a cluster lives under `<url prefix>/<cluster>/`, where
/// `<cluster>` is derived from the cluster token, so two clusters sharing a store never meet.
pub mod keys {
    /// Registered nodes, one leased key each.
    pub const MEMBERS: &str = "members";
    /// The frozen list: created once, by the first node that sees the condition hold.
    pub const FROZEN: &str = "frozen";
    /// Each member's published result, `results/<index>`.
    pub const RESULTS: &str = "results";
}

/// How a backend keeps its session and how long it tries an unreachable store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long this node's leased keys outlive it when it dies without cleaning up: the
    /// ZooKeeper session timeout, the etcd lease TTL, the Consul session TTL (Consul refuses less
    /// than 10 s, so its backend asks for at least that). Renewed every third of it.
    pub lease_ttl: Duration,
    /// How long an unreachable store is retried (with back-off) before
    /// [`StoreError::Unavailable`].
    pub retry_for: Duration,
    /// How long one request may take.
    pub request_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            lease_ttl: Duration::from_secs(10),
            retry_for: Duration::from_secs(15),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens the store `url` names with the default [`StoreOptions`].
pub fn open(url: &str) -> Result<Box<dyn Store>, PeerError> {
    open_with(url, &StoreOptions::default())
}

/// Opens the store `url` names: a bad URL (unknown scheme, bad host or port, credentials in it)
/// is [`PeerError::Usage`]; a store that cannot be reached within `options.retry_for` is
/// [`PeerError::Unavailable`] naming the URL.
pub fn open_with(url: &str, options: &StoreOptions) -> Result<Box<dyn Store>, PeerError> {
    let parsed = StoreUrl::parse(url).map_err(PeerError::Usage)?;
    let store: Box<dyn Store> = match parsed.scheme {
        Scheme::Etcd => Box::new(etcd::EtcdStore::open(&parsed, options)?),
        Scheme::Consul => Box::new(consul::ConsulStore::open(&parsed, options)?),
        Scheme::ZooKeeper => Box::new(zookeeper::ZooKeeperStore::open(&parsed, options)?),
    };
    Ok(store)
}

impl From<StoreError> for PeerError {
    fn from(error: StoreError) -> PeerError {
        // A store that answers nonsense is as unusable as one that does not answer: either way
        // this node cannot take part, and the message says which.
        PeerError::Unavailable(format!("key/value store {error}"))
    }
}

/// Runs `op` until it returns anything but [`StoreError::Unavailable`], or `retry_for` has
/// passed, pausing 100 ms, then twice as long each time up to 1 s.
pub(crate) fn retrying<T>(
    retry_for: Duration,
    mut op: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let deadline = Instant::now() + retry_for;
    let mut pause = Duration::from_millis(100);
    loop {
        match op() {
            Err(StoreError::Unavailable { .. }) if Instant::now() + pause < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

/// `<url prefix>/<key>`, the key as the server stores it.
pub(crate) fn full_key(prefix: &str, key: &str) -> String {
    let key = key.trim_matches('/');
    if key.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}/{key}")
    }
}

/// The part of `full` below `dir/` when it is directly under it (no further `/`).
pub(crate) fn child_of<'a>(dir: &str, full: &'a str) -> Option<&'a str> {
    full.strip_prefix(dir)?
        .strip_prefix('/')
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// A keepalive thread's stop signal: set and notified when the store is dropped.
#[derive(Default)]
pub(crate) struct StopSignal {
    stopped: std::sync::Mutex<bool>,
    wake: std::sync::Condvar,
}

impl StopSignal {
    pub fn stop(&self) {
        *self.stopped.lock().unwrap() = true;
        self.wake.notify_all();
    }

    /// Sleeps `pause` unless stopped first; returns whether it was stopped.
    pub fn sleep(&self, pause: Duration) -> bool {
        let stopped = self.stopped.lock().unwrap();
        let (stopped, _) = self
            .wake
            .wait_timeout_while(stopped, pause, |stopped| !*stopped)
            .unwrap();
        *stopped
    }
}
