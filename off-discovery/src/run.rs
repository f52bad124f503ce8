//! The run order, written once over [`Coordinator`] for both modes (Apache Brooklyn's idea: a
//! first-member spec, then the members): join, then the master runs its command first and the
//! others once the master has published success (`--order together`: all at once); every node
//! publishes its result. A master that fails makes the others exit 1, having run nothing.

use std::time::Duration;

use crate::coordinator::{Coordinator, PeerError};
use crate::member::{Membership, NodeInfo};

/// `--order`: when the non-master nodes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// The master alone first; the others once it has succeeded.
    #[default]
    MasterFirst,
    /// Every node as soon as the list is frozen.
    Together,
}

/// How long the others wait for the master's run to finish. A dead master is noticed sooner
/// (each coordinator checks that the node it waits on is still there); this bounds a master
/// that is alive but never finishes.
pub const MASTER_RUN_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The phases a node goes through, for its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Registering (dynamic) or greeting the listed peers (static).
    Joining,
    /// The list is frozen.
    Joined(Membership),
    /// Waiting for the master's result before running.
    WaitingForMaster {
        host: String,
    },
    Running,
    /// The command ended with this exit code.
    Ran(u8),
}

impl Phase {
    /// One line for the operator.
    pub fn describe(&self) -> String {
        match self {
            Phase::Joining => "joining the cluster".into(),
            Phase::Joined(m) => format!(
                "joined as member {} of {} ({}); master: {}",
                m.me + 1,
                m.members.len(),
                if m.is_master() { "master" } else { "slave" },
                m.master().host
            ),
            Phase::WaitingForMaster { host } => format!("waiting for master {host} to succeed"),
            Phase::Running => "running".into(),
            Phase::Ran(code) => format!("ran: exit code {code}"),
        }
    }
}

/// Joins through `coordinator`, then runs `command` in the order `order` asks, publishes the
/// result, and returns the command's exit code. `command` receives the frozen list (for
/// `OFF_PEERS` and friends, or a recipe's kwargs). `on_phase` sees each phase as it starts.
/// Errors: the coordinator's ([`PeerError::ClusterFull`], timeouts, an unreachable store), and
/// [`PeerError::MasterFailed`] for a slave whose master failed — that slave ran nothing.
pub fn run_in_order(
    coordinator: &dyn Coordinator,
    me: &NodeInfo,
    order: Order,
    join_timeout: Duration,
    command: &mut dyn FnMut(&Membership) -> u8,
    on_phase: &dyn Fn(&Phase),
) -> Result<u8, PeerError> {
    on_phase(&Phase::Joining);
    let membership = coordinator.join(me, join_timeout)?;
    on_phase(&Phase::Joined(membership.clone()));
    if order == Order::MasterFirst && !membership.is_master() {
        let host = membership.master().host.clone();
        on_phase(&Phase::WaitingForMaster { host: host.clone() });
        let master_ok =
            coordinator.wait_for_result(&membership, membership.master, MASTER_RUN_TIMEOUT)?;
        if !master_ok {
            // Published too, so that nobody waits on a node that will not run.
            let _ = coordinator.publish_result(&membership, false);
            return Err(PeerError::MasterFailed { host });
        }
    }
    on_phase(&Phase::Running);
    let code = command(&membership);
    on_phase(&Phase::Ran(code));
    // The command's exit code stands; a peer that cannot be told is reported by the coordinator
    // (and noticed by that peer, which stops waiting on a node that is gone).
    if let Err(e) = coordinator.publish_result(&membership, code == 0) {
        eprintln!("warning: {e}");
    }
    Ok(code)
}

/// A binary's report of a node's part that ended: the message and DESIGN §9's code.
impl From<PeerError> for off_error::CliError {
    fn from(e: PeerError) -> Self {
        off_error::CliError::new(e.exit_code(), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::{Member, Role};
    use std::sync::Mutex;

    /// A coordinator whose list and master's result are given: the order logic alone.
    struct Fixed {
        membership: Membership,
        master_result: bool,
        published: Mutex<Vec<bool>>,
    }

    impl Coordinator for Fixed {
        fn join(&self, _: &NodeInfo, _: Duration) -> Result<Membership, PeerError> {
            Ok(self.membership.clone())
        }
        fn publish_result(&self, _: &Membership, success: bool) -> Result<(), PeerError> {
            self.published.lock().unwrap().push(success);
            Ok(())
        }
        fn wait_for_result(
            &self,
            _: &Membership,
            i: usize,
            _: Duration,
        ) -> Result<bool, PeerError> {
            assert_eq!(i, self.membership.master);
            Ok(self.master_result)
        }
    }

    fn fixed(me: usize, master_result: bool) -> Fixed {
        let member = |index: usize| Member {
            id: format!("n{index}"),
            host: format!("n{index}"),
            port: 1,
            role: if index == 0 {
                Role::Master
            } else {
                Role::Slave
            },
            index,
        };
        Fixed {
            membership: Membership {
                members: (0..3).map(member).collect(),
                me,
                master: 0,
            },
            master_result,
            published: Mutex::new(Vec::new()),
        }
    }

    fn me() -> NodeInfo {
        NodeInfo {
            id: "n1".into(),
            host: "n1".into(),
            port: 1,
            role: Role::Auto,
        }
    }

    #[test]
    fn a_slave_runs_after_the_master_succeeded_and_publishes_its_code() {
        let c = fixed(1, true);
        let mut ran = 0;
        let code = run_in_order(
            &c,
            &me(),
            Order::MasterFirst,
            Duration::ZERO,
            &mut |_| {
                ran += 1;
                7
            },
            &|_| {},
        )
        .unwrap();
        assert_eq!((code, ran), (7, 1));
        assert_eq!(*c.published.lock().unwrap(), [false]);
    }

    #[test]
    fn a_failed_master_stops_a_slave_before_it_runs_unless_together() {
        let c = fixed(1, false);
        let mut ran = 0;
        let e = run_in_order(
            &c,
            &me(),
            Order::MasterFirst,
            Duration::ZERO,
            &mut |_| {
                ran += 1;
                0
            },
            &|_| {},
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "master n0 failed");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(ran, 0);
        let code = run_in_order(
            &c,
            &me(),
            Order::Together,
            Duration::ZERO,
            &mut |_| {
                ran += 1;
                0
            },
            &|_| {},
        )
        .unwrap();
        assert_eq!((code, ran), (0, 1));
    }

    #[test]
    fn the_master_runs_without_waiting() {
        let c = fixed(0, false);
        let phases = Mutex::new(Vec::new());
        let code = run_in_order(
            &c,
            &me(),
            Order::MasterFirst,
            Duration::ZERO,
            &mut |m| {
                assert!(m.is_master());
                0
            },
            &|p| phases.lock().unwrap().push(p.describe()),
        )
        .unwrap();
        assert_eq!(code, 0);
        let phases = phases.into_inner().unwrap();
        assert_eq!(phases[1], "joined as member 1 of 3 (master); master: n0");
        assert!(
            !phases.iter().any(|p| p.starts_with("waiting")),
            "{phases:?}"
        );
    }
}
