//! What static mode's nodes say to each other: the endpoints and their JSON bodies.

use serde::{Deserialize, Serialize};

use crate::member::NodeInfo;

/// `POST`: "I am node `index`, reading this list": answered with the same about the receiver.
pub const HELLO: &str = "/off/v1/hello";
/// `POST`: "node `index` finished, successfully or not".
pub const RESULT: &str = "/off/v1/result";

/// The body of [`HELLO`], both ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's place in the peers file.
    pub index: usize,
    pub node: NodeInfo,
    /// The sender's peers file, as `host:port` in order: two nodes that read different lists
    /// would not agree on anything.
    pub peers: Vec<String>,
}

/// The body of [`RESULT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub index: usize,
    pub success: bool,
}

/// The largest body a node reads: messages are a few hundred bytes.
pub const MAX_BODY: u64 = 64 * 1024;
