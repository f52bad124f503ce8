//! The key/value store of dynamic mode, modelled on Patroni's DCS: a few small primitives that
//! every backend (ZooKeeper, etcd v3, Consul) can keep exactly, with three outcomes always kept
//! apart — done, lost the race ([`Outcome::LostRace`]), store unavailable
//! ([`StoreError::Unavailable`]).
//!
//! The backends own the protocol; the bootstrap (register, wait, freeze) is written once over
//! [`Store`]. (Signatures below are the contract the bootstrap builds on; the backends fill them.)

use std::time::Duration;

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

    /// Every key directly under `prefix`, in creation order ([`Entry::order`]).
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
