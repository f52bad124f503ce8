//! The one interface over both ways nodes agree (a key/value store in dynamic mode, each other's
//! HTTP endpoints in static mode), and the errors that end a node's part.

use std::time::Duration;

use off_error::exit_code;

use crate::member::{Membership, NodeInfo};

/// How the nodes of one cluster agree. Dynamic mode implements it over a [`crate::store::Store`],
/// static mode over the peers file and each node's `--serve` endpoint. The run order (master
/// first) is written once over this trait.
pub trait Coordinator: Send + Sync {
    /// Registers `me`, waits until the stop condition holds (re-checked after every wake-up),
    /// and returns the one frozen list every node reads — or [`PeerError::ClusterFull`] when the
    /// list was frozen without this node. Gives up with [`PeerError::Timeout`] after `timeout`.
    fn join(&self, me: &NodeInfo, timeout: Duration) -> Result<Membership, PeerError>;

    /// Publishes this node's result, for the nodes that wait on it.
    fn publish_result(&self, membership: &Membership, success: bool) -> Result<(), PeerError>;

    /// Waits until the member at `index` has published its result, and returns it.
    fn wait_for_result(
        &self,
        membership: &Membership,
        index: usize,
        timeout: Duration,
    ) -> Result<bool, PeerError>;
}

/// Why a node's part in peer mode ended without running (or after its run failed).
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Bad input: nothing bound or registered.
    #[error("{0}")]
    Usage(String),
    /// The list was frozen without this node.
    #[error("cluster full ({size} of {size} members already joined)")]
    ClusterFull { size: usize },
    /// The master ran and failed: the others change nothing.
    #[error("master {host} failed")]
    MasterFailed { host: String },
    /// The store or a peer could not be reached after a bounded retry.
    #[error("{0}")]
    Unavailable(String),
    /// The stop condition (or a peer's result) did not arrive within `--discovery_timeout`.
    #[error("{0}")]
    Timeout(String),
}

impl PeerError {
    /// DESIGN §9's code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            PeerError::Usage(_) => exit_code::USAGE,
            PeerError::ClusterFull { .. } | PeerError::MasterFailed { .. } => exit_code::FAILED,
            PeerError::Unavailable(_) => exit_code::UNREACHABLE,
            PeerError::Timeout(_) => exit_code::TIMEOUT,
        }
    }
}
