//! Who takes part in a cluster, and the membership list every node agrees on.

use serde::{Deserialize, Serialize};

/// The role a node asks for (`--role`), and the role it is given in the frozen list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Slave,
    /// Requested only: the first registered node becomes the master.
    Auto,
}

/// What a node says about itself when it registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Unique per node and run (host and a random suffix), so a restarted node is a new member.
    pub id: String,
    /// The address the others reach it on (the `--serve` host).
    pub host: String,
    pub port: u16,
    /// The role asked for.
    pub role: Role,
}

/// One member of the frozen list: what it registered and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub host: String,
    pub port: u16,
    /// `Master` or `Slave`, never `Auto`.
    pub role: Role,
    /// Its place in the list, from 0: the order of registration (dynamic mode) or of the file.
    pub index: usize,
}

/// The membership list every node of a cluster agrees on, as seen by one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// In list order; the same on every node.
    pub members: Vec<Member>,
    /// This node's index in `members`.
    pub me: usize,
    /// The master's index in `members`.
    pub master: usize,
}

impl Membership {
    pub fn me(&self) -> &Member {
        &self.members[self.me]
    }

    pub fn master(&self) -> &Member {
        &self.members[self.master]
    }

    pub fn is_master(&self) -> bool {
        self.me == self.master
    }

    /// `OFF_PEERS`: the members as a JSON array of `{id, host, port, role, index}`.
    pub fn peers_json(&self) -> String {
        serde_json::to_string(&self.members).expect("members serialise")
    }

    /// The environment a node's command runs with: `OFF_PEERS`, `OFF_ROLE`, `OFF_MASTER`,
    /// `OFF_INDEX`, `OFF_CLUSTER_SIZE`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let role = if self.is_master() { "master" } else { "slave" };
        vec![
            ("OFF_PEERS", self.peers_json()),
            ("OFF_ROLE", role.to_string()),
            ("OFF_MASTER", self.master().host.clone()),
            ("OFF_INDEX", self.me.to_string()),
            ("OFF_CLUSTER_SIZE", self.members.len().to_string()),
        ]
    }
}
