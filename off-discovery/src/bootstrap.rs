//! Dynamic mode's bootstrap, written once over any [`Store`]: register, wait for the stop
//! condition, freeze one list, and pass results along it.
//!
//! Every key of a cluster lives under `<cluster>/`, a name derived from the cluster token by a
//! hash ([`cluster_name`]), so that clusters sharing a store never meet and the token itself is
//! never written anywhere:
//!
//! - `<cluster>/members/<store's name>`: each node's [`NodeInfo`], leased (it ends with the
//!   node's session, so a node that dies before the freeze drops out);
//! - `<cluster>/frozen`: the membership list, created once by the first node that sees the
//!   condition hold: the first N registered in the store's creation order (etcd's discovery
//!   rule), N being [`Condition::size`] or, when the condition names no count, everyone
//!   registered. Every node reads that one list; a node outside it gets
//!   [`PeerError::ClusterFull`];
//! - `<cluster>/results/<index>`: each member's published result.
//!
//! The master is the first member of the list that asked for `--role master`, else the first
//! member. The list and the results outlive the nodes: a token bootstraps one cluster once.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::condition::Condition;
use crate::coordinator::{Coordinator, PeerError};
use crate::member::{Member, Membership, NodeInfo, Role};
use crate::store::{self, Entry, Outcome, Store, StoreOptions, StoreUrl, keys};

/// The name of a cluster's keyspace: the first 128 bits of a SHA-256 of the token, in hex.
pub fn cluster_name(token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"off peer-mode cluster\0")
        .chain_update(token.as_bytes())
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A [`Coordinator`] over a key/value store: one node's part in dynamic mode.
pub struct DynamicCoordinator {
    store: Box<dyn Store>,
    cluster: String,
    condition: Condition,
    /// When this node started: `t` in the condition counts from here.
    started: Instant,
}

/// What a member publishes when its run ends.
#[derive(Debug, Serialize, Deserialize)]
struct Published {
    success: bool,
    host: String,
}

impl DynamicCoordinator {
    /// A coordinator for the cluster `token` names, freezing when `condition` holds. `t` counts
    /// from now; see [`DynamicCoordinator::started_at`]. An empty token is a usage error.
    pub fn new(
        store: Box<dyn Store>,
        token: &str,
        condition: Condition,
    ) -> Result<DynamicCoordinator, PeerError> {
        if token.is_empty() {
            return Err(empty_token());
        }
        Ok(DynamicCoordinator {
            store,
            cluster: cluster_name(token),
            condition,
            started: Instant::now(),
        })
    }

    /// Validates `condition`, the store URL and the token (each a [`PeerError::Usage`]) before
    /// it connects to the store (unreachable: [`PeerError::Unavailable`]).
    pub fn open(
        store_url: &str,
        options: &StoreOptions,
        token: &str,
        condition: &str,
    ) -> Result<DynamicCoordinator, PeerError> {
        let condition = Condition::parse(condition)?;
        StoreUrl::parse(store_url).map_err(PeerError::Usage)?;
        if token.is_empty() {
            return Err(empty_token());
        }
        DynamicCoordinator::new(store::open_with(store_url, options)?, token, condition)
    }

    /// Counts `t` from `started` (the process's start) instead of from [`DynamicCoordinator::new`].
    pub fn started_at(mut self, started: Instant) -> DynamicCoordinator {
        self.started = started;
        self
    }

    /// The store it coordinates through.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.cluster)
    }

    fn result_key(&self, index: usize) -> String {
        format!("{}/{}/{index}", self.cluster, keys::RESULTS)
    }

    /// The registered nodes, in creation order, each once (a retried registration may leave a
    /// node twice: its first key counts).
    fn registered(&self) -> Result<Vec<NodeInfo>, PeerError> {
        let entries = self.store.list(&self.key(keys::MEMBERS))?;
        let mut nodes: Vec<NodeInfo> = Vec::with_capacity(entries.len());
        for Entry { key, value, .. } in entries {
            let node: NodeInfo = serde_json::from_slice(&value).map_err(|e| {
                PeerError::Unavailable(format!(
                    "key/value store {}: `{key}` is not a node's registration ({e})",
                    self.store.url()
                ))
            })?;
            if !nodes.iter().any(|n| n.id == node.id) {
                nodes.push(node);
            }
        }
        Ok(nodes)
    }

    fn frozen(&self) -> Result<Option<Vec<Member>>, PeerError> {
        let Some(value) = self.store.get(&self.key(keys::FROZEN))? else {
            return Ok(None);
        };
        let members: Vec<Member> = serde_json::from_slice(&value).map_err(|e| {
            PeerError::Unavailable(format!(
                "key/value store {}: the frozen list of this cluster is not one ({e})",
                self.store.url()
            ))
        })?;
        Ok(Some(members))
    }

    /// This node's view of the frozen list.
    fn membership(members: Vec<Member>, me: &NodeInfo) -> Result<Membership, PeerError> {
        let Some(my_index) = members.iter().position(|m| m.id == me.id) else {
            return Err(PeerError::ClusterFull {
                size: members.len(),
            });
        };
        let master = members
            .iter()
            .position(|m| m.role == Role::Master)
            .unwrap_or(0);
        Ok(Membership {
            members,
            me: my_index,
            master,
        })
    }
}

fn empty_token() -> PeerError {
    PeerError::Usage("the cluster token is empty (set OFF_TOKEN or --token-file)".to_string())
}

/// The list the first `size` registered nodes make, with the master chosen.
fn freeze(registered: &[NodeInfo], size: usize) -> Vec<Member> {
    let chosen = &registered[..size.min(registered.len())];
    let master = chosen
        .iter()
        .position(|n| n.role == Role::Master)
        .unwrap_or(0);
    chosen
        .iter()
        .enumerate()
        .map(|(index, node)| Member {
            id: node.id.clone(),
            host: node.host.clone(),
            port: node.port,
            role: if index == master {
                Role::Master
            } else {
                Role::Slave
            },
            index,
        })
        .collect()
}

impl Coordinator for DynamicCoordinator {
    fn join(&self, me: &NodeInfo, timeout: Duration) -> Result<Membership, PeerError> {
        let deadline = Instant::now() + timeout;
        // A list frozen already has no room: do not register into it.
        if let Some(members) = self.frozen()? {
            return Self::membership(members, me);
        }
        let value = serde_json::to_vec(me).expect("a node serialises");
        self.store.put_leased(&self.key(keys::MEMBERS), &value)?;
        loop {
            if let Some(members) = self.frozen()? {
                return Self::membership(members, me);
            }
            let registered = self.registered()?;
            let elapsed = self.started.elapsed();
            if self.condition.holds(registered.len(), elapsed) {
                let size = self.condition.size().unwrap_or(registered.len());
                let members = freeze(&registered, size);
                let value = serde_json::to_vec(&members).expect("members serialise");
                match self.store.create(&self.key(keys::FROZEN), &value)? {
                    Outcome::Done(()) => return Self::membership(members, me),
                    // Another node froze first: its list is the one, read it.
                    Outcome::LostRace => continue,
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(PeerError::Timeout(format!(
                    "the stop condition `{}` did not hold within {} ({} registered)",
                    self.condition,
                    humanize(timeout),
                    registered.len()
                )));
            }
            let mut wait = deadline - now;
            if let Some(turn) = self.condition.next_time_change(elapsed) {
                wait = wait.min(turn - elapsed);
            }
            self.store.wait(&self.cluster, wait)?;
        }
    }

    fn publish_result(&self, membership: &Membership, success: bool) -> Result<(), PeerError> {
        let published = Published {
            success,
            host: membership.me().host.clone(),
        };
        let value = serde_json::to_vec(&published).expect("a result serialises");
        let key = self.result_key(membership.me);
        match self.store.create(&key, &value)? {
            Outcome::Done(()) => Ok(()),
            Outcome::LostRace if self.store.get(&key)?.as_deref() == Some(&value[..]) => Ok(()),
            Outcome::LostRace => Err(PeerError::Unavailable(format!(
                "key/value store {}: member {} of this cluster has already published another result",
                self.store.url(),
                membership.me
            ))),
        }
    }

    /// A member that ended (its registration is gone) without publishing counts as failed: it
    /// can no longer publish, and waiting for it would only end in a timeout.
    fn wait_for_result(
        &self,
        membership: &Membership,
        index: usize,
        timeout: Duration,
    ) -> Result<bool, PeerError> {
        let member = membership.members.get(index).ok_or_else(|| {
            PeerError::Usage(format!(
                "no member {index} in a cluster of {}",
                membership.members.len()
            ))
        })?;
        let key = self.result_key(index);
        let read = || -> Result<Option<bool>, PeerError> {
            match self.store.get(&key)? {
                None => Ok(None),
                Some(value) => serde_json::from_slice::<Published>(&value)
                    .map(|p| Some(p.success))
                    .map_err(|e| {
                        PeerError::Unavailable(format!(
                            "key/value store {}: `{key}` is not a result ({e})",
                            self.store.url()
                        ))
                    }),
            }
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(success) = read()? {
                return Ok(success);
            }
            if !self.registered()?.iter().any(|n| n.id == member.id) {
                // It may have published just before it ended.
                return Ok(read()?.unwrap_or(false));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(PeerError::Timeout(format!(
                    "member {} ({}) published no result within {}",
                    index,
                    member.host,
                    humanize(timeout)
                )));
            }
            self.store.wait(&self.cluster, deadline - now)?;
        }
    }
}

/// `90s`, `1500ms`: a timeout as a user would write it.
fn humanize(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, role: Role) -> NodeInfo {
        NodeInfo {
            id: id.to_string(),
            host: format!("{id}.example"),
            port: 8426,
            role,
        }
    }

    #[test]
    fn the_cluster_name_hides_the_token_and_tells_tokens_apart() {
        let name = cluster_name("s3cret-token");
        assert_eq!(name.len(), 32);
        assert!(name.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!name.contains("s3cret"));
        assert_eq!(name, cluster_name("s3cret-token"));
        assert_ne!(name, cluster_name("s3cret-token2"));
    }

    #[test]
    fn the_first_n_registered_are_frozen_with_the_first_master_asked_for() {
        let registered = [
            node("a", Role::Auto),
            node("b", Role::Slave),
            node("c", Role::Master),
            node("d", Role::Master),
        ];
        let members = freeze(&registered, 3);
        let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        let roles: Vec<Role> = members.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::Slave, Role::Slave, Role::Master]);
        assert_eq!(members[2].index, 2);

        // No master asked for among the chosen: the first registered is.
        let members = freeze(&registered, 2);
        assert_eq!(members[0].role, Role::Master);
        // Fewer registered than the size: all of them.
        assert_eq!(freeze(&registered[..1], 3).len(), 1);
    }

    #[test]
    fn a_node_outside_the_list_finds_the_cluster_full() {
        let members = freeze(&[node("a", Role::Auto), node("b", Role::Auto)], 2);
        let error =
            DynamicCoordinator::membership(members.clone(), &node("z", Role::Auto)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cluster full (2 of 2 members already joined)"
        );
        assert_eq!(error.exit_code(), 1);
        let membership = DynamicCoordinator::membership(members, &node("b", Role::Auto)).unwrap();
        assert_eq!((membership.me, membership.master), (1, 0));
    }
}
