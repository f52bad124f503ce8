//! Peer mode: nodes that do not know each other's addresses find each other, wait until a stop
//! condition holds, agree on one membership list and a master, and run — the master first, the
//! others once it has succeeded (DESIGN §7).
//!
//! The pieces, in the order a node meets them:
//! - [`flags`]: the command-line flags of peer mode ([`PeerFlags`]), shared by `offconsensus`
//!   and every recipe binary, checked into a [`PeerPlan`] before anything binds;
//! - [`token`]: the shared cluster token ([`ClusterToken`]);
//! - [`member`]: who takes part ([`NodeInfo`]), the list every node agrees on ([`Membership`]);
//! - [`coordinator`]: the one interface over both ways of agreeing ([`Coordinator`]), and the
//!   errors that end a node's part with DESIGN §9's exit codes ([`PeerError`]);
//! - [`static_mode`]: the nodes listed in a peers file, each serving an authenticated endpoint
//!   ([`StaticCoordinator`]);
//! - [`store`]: the key/value store interface of dynamic mode (Patroni's DCS shape) and its
//!   backends, chosen by URL (`zk://`, `etcd://`, `consul://`);
//! - [`condition`]: when dynamic mode stops waiting for more nodes (`n>=3 || t>=90s`);
//! - [`bootstrap`]: dynamic mode's [`Coordinator`] over any store ([`DynamicCoordinator`]);
//! - [`run`]: the run order over any coordinator ([`run_in_order`]).

pub mod bootstrap;
pub mod condition;
pub mod coordinator;
pub mod flags;
pub mod member;
pub mod run;
pub mod static_mode;
pub mod store;
pub mod token;

pub use bootstrap::DynamicCoordinator;
pub use condition::{Condition, ConditionError};
pub use coordinator::{Coordinator, PeerError};
pub use flags::{Discovery, PeerFlags, PeerPlan};
pub use member::{Member, Membership, NodeInfo, Role};
pub use run::{Order, Phase, run_in_order};
pub use static_mode::StaticCoordinator;
pub use token::ClusterToken;
