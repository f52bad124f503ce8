//! Peer mode: nodes that do not know each other's addresses find each other, wait until a stop
//! condition holds, agree on one membership list and a master, and run — the master first, the
//! others once it has succeeded (DESIGN §7).
//!
//! The pieces, in the order a node meets them:
//! - [`member`]: who takes part ([`NodeInfo`]), the list every node agrees on ([`Membership`]);
//! - [`coordinator`]: the one interface over both ways of agreeing ([`Coordinator`]), and the
//!   errors that end a node's part with DESIGN §9's exit codes ([`PeerError`]);
//! - [`store`]: the key/value store interface of dynamic mode (Patroni's DCS shape) and its
//!   backends, chosen by URL (`zk://`, `etcd://`, `consul://`);
//! - [`condition`]: when dynamic mode stops waiting for more nodes (`n>=3 || t>=90s`);
//! - [`bootstrap`]: dynamic mode's [`Coordinator`] over any store ([`DynamicCoordinator`]).

pub mod bootstrap;
pub mod condition;
pub mod coordinator;
pub mod member;
pub mod store;

pub use bootstrap::DynamicCoordinator;
pub use condition::{Condition, ConditionError};
pub use coordinator::{Coordinator, PeerError};
pub use member::{Member, Membership, NodeInfo, Role};
