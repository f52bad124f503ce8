//! Dynamic mode's bootstrap on every backend: nodes started at once agree on one list of the
//! first N registered and one master, the rest find the cluster full, a node that dies before the
//! freeze drops out, results pass along the list, and outages and timeouts end a node's part
//! with their exit codes.

mod common;

use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{Backend, fast_options};
use off_discovery::bootstrap::cluster_name;
use off_discovery::store::{self, Store, keys};
use off_discovery::{
    Condition, Coordinator, DynamicCoordinator, Membership, NodeInfo, PeerError, Role,
};

const TOKEN: &str = "test-cluster-token";
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

fn node(name: &str, role: Role) -> NodeInfo {
    NodeInfo {
        id: format!("{name}-id"),
        host: format!("{name}.example"),
        port: 8426,
        role,
    }
}

fn coordinator(backend: &Backend, token: &str, condition: &str) -> DynamicCoordinator {
    DynamicCoordinator::new(backend.open(), token, Condition::parse(condition).unwrap()).unwrap()
}

type Joined = (NodeInfo, Result<Membership, PeerError>, DynamicCoordinator);

/// Each node opens its own session, then all join at the same moment.
fn join_at_once(
    backend: &Backend,
    token: &str,
    condition: &str,
    nodes: Vec<NodeInfo>,
) -> Vec<Joined> {
    let coordinators: Vec<DynamicCoordinator> = nodes
        .iter()
        .map(|_| coordinator(backend, token, condition))
        .collect();
    let barrier = Barrier::new(nodes.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .into_iter()
            .zip(coordinators)
            .map(|(me, coordinator)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let joined = coordinator.join(&me, JOIN_TIMEOUT);
                    (me, joined, coordinator)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The ids registered in `token`'s cluster now, read with a session of its own.
fn registered_ids(store: &dyn Store, token: &str) -> Vec<String> {
    store
        .list(&format!("{}/{}", cluster_name(token), keys::MEMBERS))
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_slice::<NodeInfo>(&e.value).unwrap().id)
        .collect()
}

fn ids(membership: &Membership) -> Vec<&str> {
    membership.members.iter().map(|m| m.id.as_str()).collect()
}

fn five_nodes_three_join(backend: Backend) {
    let nodes = vec![
        node("n0", Role::Auto),
        node("n1", Role::Slave),
        node("n2", Role::Auto),
        node("n3", Role::Auto),
        node("n4", Role::Auto),
    ];
    let joined = join_at_once(&backend, TOKEN, "n>=3", nodes);
    let memberships: Vec<&Membership> = joined
        .iter()
        .filter_map(|(_, r, _)| r.as_ref().ok())
        .collect();
    assert_eq!(
        memberships.len(),
        3,
        "{:?}",
        joined.iter().map(|j| &j.1).collect::<Vec<_>>()
    );
    for (me, result, _) in &joined {
        match result {
            Ok(membership) => {
                assert_eq!(membership.me().id, me.id);
                assert_eq!(membership.members, memberships[0].members);
                assert_eq!(membership.master, memberships[0].master);
            }
            Err(error) => {
                assert!(
                    matches!(error, PeerError::ClusterFull { size: 3 }),
                    "{error:?}"
                );
                assert_eq!(
                    error.to_string(),
                    "cluster full (3 of 3 members already joined)"
                );
                assert_eq!(error.exit_code(), 1);
            }
        }
    }
    let list = memberships[0];
    let mut mes: Vec<usize> = memberships.iter().map(|m| m.me).collect();
    mes.sort();
    assert_eq!(mes, [0, 1, 2]);
    // Nobody asked for master: the first registered is, and the list is in registration order.
    assert_eq!(list.master, 0);
    assert_eq!(list.members[0].role, Role::Master);
    assert!(list.members[1..].iter().all(|m| m.role == Role::Slave));
    assert!(list.members.iter().enumerate().all(|(i, m)| m.index == i));
    let env = list.env();
    assert!(env.contains(&("OFF_CLUSTER_SIZE", "3".to_string())));
}

fn the_master_asked_for_is_the_master(backend: Backend) {
    let nodes = vec![
        node("a", Role::Auto),
        node("b", Role::Master),
        node("c", Role::Slave),
    ];
    let joined = join_at_once(&backend, TOKEN, "n==3", nodes);
    for (_, result, _) in &joined {
        let membership = result.as_ref().unwrap();
        assert_eq!(membership.master().id, "b-id");
        assert_eq!(membership.master().role, Role::Master);
    }
}

fn a_node_dropped_before_the_freeze_is_not_in_the_list(backend: Backend) {
    let observer = backend.open();
    let early = coordinator(&backend, TOKEN, "n>=3");
    let doomed = coordinator(&backend, TOKEN, "n>=3");
    std::thread::scope(|scope| {
        let early_join = scope.spawn(|| early.join(&node("early", Role::Auto), JOIN_TIMEOUT));
        let doomed_join = scope.spawn(move || {
            // Registers, then ends before the condition holds: its session goes with it.
            let result = doomed.join(&node("doomed", Role::Master), Duration::from_millis(1500));
            assert!(matches!(result, Err(PeerError::Timeout(_))), "{result:?}");
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while registered_ids(observer.as_ref(), TOKEN).len() < 2 {
            assert!(Instant::now() < deadline, "two nodes never registered");
            std::thread::sleep(Duration::from_millis(50));
        }
        doomed_join.join().unwrap();
        let late = join_at_once(
            &backend,
            TOKEN,
            "n>=3",
            vec![node("late1", Role::Auto), node("late2", Role::Auto)],
        );
        let early = early_join.join().unwrap().unwrap();
        assert_eq!(early.members.len(), 3);
        assert!(!ids(&early).contains(&"doomed-id"), "{:?}", ids(&early));
        assert_eq!(ids(&early)[0], "early-id");
        for (_, result, _) in late {
            assert_eq!(result.unwrap().members, early.members);
        }
    });
}

/// The child half of [`a_killed_node_drops_out_when_its_lease_ends`]: joins and waits until it
/// is killed. Run only by that test, as a child process.
#[test]
#[ignore = "a child process of a_killed_node_drops_out_when_its_lease_ends"]
fn killed_node_child() {
    let url = std::env::var("OFF_TEST_STORE_URL").expect("run by the parent test");
    let store = store::open_with(&url, &fast_options()).unwrap();
    let coordinator =
        DynamicCoordinator::new(store, TOKEN, Condition::parse("n>=3").unwrap()).unwrap();
    let _ = coordinator.join(&node("killed", Role::Master), Duration::from_secs(120));
}

fn a_killed_node_drops_out_when_its_lease_ends(backend: Backend) {
    let observer = backend.open();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["killed_node_child", "--exact", "--ignored", "--nocapture"])
        .env("OFF_TEST_STORE_URL", &backend.url)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !registered_ids(observer.as_ref(), TOKEN).contains(&"killed-id".to_string()) {
        assert!(Instant::now() < deadline, "the child never registered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let early = coordinator(&backend, TOKEN, "n>=3");
    std::thread::scope(|scope| {
        let early_join = scope.spawn(|| early.join(&node("early", Role::Auto), JOIN_TIMEOUT));
        // SIGKILL: no chance to close its session; only the lease's end removes it.
        child.kill().unwrap();
        child.wait().unwrap();
        let start = Instant::now();
        while registered_ids(observer.as_ref(), TOKEN).contains(&"killed-id".to_string()) {
            // Consul may take twice its 10 s minimum TTL.
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the killed node's key stayed"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let late = join_at_once(
            &backend,
            TOKEN,
            "n>=3",
            vec![node("late1", Role::Auto), node("late2", Role::Auto)],
        );
        let early = early_join.join().unwrap().unwrap();
        assert!(!ids(&early).contains(&"killed-id"), "{:?}", ids(&early));
        assert_eq!(early.members.len(), 3);
        for (_, result, _) in late {
            assert_eq!(result.unwrap().members, early.members);
        }
    });
}

fn results_pass_from_the_master_to_the_others(backend: Backend) {
    let joined = join_at_once(
        &backend,
        TOKEN,
        "n>=3",
        vec![
            node("a", Role::Master),
            node("b", Role::Auto),
            node("c", Role::Auto),
        ],
    );
    let (_, master, master_node) = &joined.iter().find(|(n, _, _)| n.id == "a-id").unwrap();
    let master = master.as_ref().unwrap();
    assert!(master.is_master());
    let (_, other, other_node) = joined.iter().find(|(n, _, _)| n.id == "b-id").unwrap();
    let other = other.as_ref().unwrap();

    // Nothing published yet, the master alive: a timeout.
    let start = Instant::now();
    let error = other_node
        .wait_for_result(other, master.me, Duration::from_millis(800))
        .unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(700));
    assert!(matches!(error, PeerError::Timeout(_)), "{error:?}");
    assert!(error.to_string().contains("a.example"), "{error}");
    assert_eq!(error.exit_code(), 4);

    // Published while the other waits: it wakes with the result.
    std::thread::scope(|scope| {
        let waiting =
            scope.spawn(|| other_node.wait_for_result(other, master.me, Duration::from_secs(20)));
        std::thread::sleep(Duration::from_millis(300));
        master_node.publish_result(master, true).unwrap();
        assert!(waiting.join().unwrap().unwrap());
    });
    // Publishing the same result again is harmless; another one is refused.
    master_node.publish_result(master, true).unwrap();
    assert!(master_node.publish_result(master, false).is_err());

    // A failed member's result reads as failed.
    other_node.publish_result(other, false).unwrap();
    assert!(
        !master_node
            .wait_for_result(master, other.me, Duration::from_secs(5))
            .unwrap()
    );
}

fn a_member_that_ended_without_a_result_failed(backend: Backend) {
    let mut joined = join_at_once(
        &backend,
        TOKEN,
        "n>=2",
        vec![node("a", Role::Master), node("b", Role::Auto)],
    );
    let pos = joined.iter().position(|(n, _, _)| n.id == "a-id").unwrap();
    let (_, master, master_node) = joined.remove(pos);
    let master_index = master.unwrap().me;
    let (_, other, other_node) = joined.remove(0);
    let other = other.unwrap();
    // The master dies before publishing: its session ends with it.
    drop(master_node);
    let start = Instant::now();
    let success = other_node
        .wait_for_result(&other, master_index, Duration::from_secs(60))
        .unwrap();
    assert!(!success);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

fn a_time_condition_freezes_whoever_registered(backend: Backend) {
    let start = Instant::now();
    let joined = join_at_once(
        &backend,
        TOKEN,
        "n>=3 || t>=1500ms",
        vec![node("a", Role::Auto), node("b", Role::Auto)],
    );
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(1400), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    for (_, result, _) in &joined {
        assert_eq!(result.as_ref().unwrap().members.len(), 2);
    }
    // `t` alone: everyone registered by then.
    let joined = join_at_once(
        &backend,
        "another-token",
        "t>=1s",
        vec![node("z", Role::Auto)],
    );
    assert_eq!(joined[0].1.as_ref().unwrap().members.len(), 1);
}

fn the_condition_never_holding_is_a_timeout(backend: Backend) {
    let alone = coordinator(&backend, TOKEN, "n>=3");
    let start = Instant::now();
    let error = alone
        .join(&node("alone", Role::Auto), Duration::from_secs(1))
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(error, PeerError::Timeout(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the stop condition `n>=3` did not hold within 1s (1 registered)"
    );
    assert_eq!(error.exit_code(), 4);
}

fn clusters_with_different_tokens_never_meet(backend: Backend) {
    let observer = backend.open();
    std::thread::scope(|scope| {
        let one = scope.spawn(|| {
            join_at_once(
                &backend,
                "token-one",
                "n>=2",
                vec![node("a", Role::Auto), node("b", Role::Auto)],
            )
        });
        let two = scope.spawn(|| {
            join_at_once(
                &backend,
                "token-two",
                "n>=2",
                vec![node("c", Role::Auto), node("d", Role::Auto)],
            )
        });
        for (cluster, expected) in [(one, ["a-id", "b-id"]), (two, ["c-id", "d-id"])] {
            for (_, result, _) in cluster.join().unwrap() {
                let mut got = ids(result.as_ref().unwrap())
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>();
                got.sort();
                assert_eq!(got, expected);
            }
        }
    });
    // The token names the keyspace only through its hash.
    for token in ["token-one", "token-two"] {
        let listed = observer.list(&cluster_name(token)).unwrap();
        assert!(listed.iter().all(|e| !e.key.contains(token)), "{listed:?}");
        assert!(
            listed.iter().any(|e| e.key.ends_with(keys::FROZEN)),
            "{listed:?}"
        );
    }
}

fn an_unreachable_store_is_unavailable(mut backend: Backend) {
    let node_store = coordinator(&backend, TOKEN, "n>=3");
    if !backend.stop() {
        eprintln!("a real Consul agent: not stopped");
        return;
    }
    let start = Instant::now();
    let error = node_store
        .join(&node("a", Role::Auto), Duration::from_secs(60))
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(error, PeerError::Unavailable(_)), "{error:?}");
    assert!(error.to_string().contains("127.0.0.1"), "{error}");
    assert_eq!(error.exit_code(), 3);
}

macro_rules! bootstrap_tests {
    ($name:ident) => {
        mod $name {
            use super::*;

            #[test]
            fn five_nodes_three_join() {
                super::five_nodes_three_join(Backend::$name());
            }

            #[test]
            fn the_master_asked_for_is_the_master() {
                super::the_master_asked_for_is_the_master(Backend::$name());
            }

            #[test]
            fn a_node_dropped_before_the_freeze_is_not_in_the_list() {
                super::a_node_dropped_before_the_freeze_is_not_in_the_list(Backend::$name());
            }

            #[test]
            fn a_killed_node_drops_out_when_its_lease_ends() {
                super::a_killed_node_drops_out_when_its_lease_ends(Backend::$name());
            }

            #[test]
            fn results_pass_from_the_master_to_the_others() {
                super::results_pass_from_the_master_to_the_others(Backend::$name());
            }

            #[test]
            fn a_member_that_ended_without_a_result_failed() {
                super::a_member_that_ended_without_a_result_failed(Backend::$name());
            }

            #[test]
            fn a_time_condition_freezes_whoever_registered() {
                super::a_time_condition_freezes_whoever_registered(Backend::$name());
            }

            #[test]
            fn the_condition_never_holding_is_a_timeout() {
                super::the_condition_never_holding_is_a_timeout(Backend::$name());
            }

            #[test]
            fn clusters_with_different_tokens_never_meet() {
                super::clusters_with_different_tokens_never_meet(Backend::$name());
            }

            #[test]
            fn an_unreachable_store_is_unavailable() {
                super::an_unreachable_store_is_unavailable(Backend::$name());
            }
        }
    };
}

bootstrap_tests!(etcd);
bootstrap_tests!(consul);
bootstrap_tests!(zookeeper);

#[test]
fn a_store_on_a_closed_port_is_unavailable_in_bounded_time() {
    for scheme in ["etcd", "consul", "zk"] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("{scheme}://127.0.0.1:{port}/test");
        let start = Instant::now();
        let error = store::open_with(&url, &fast_options()).err().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "{scheme}: {:?}",
            start.elapsed()
        );
        assert_eq!(error.exit_code(), 3, "{scheme}: {error}");
        assert!(error.to_string().contains(&url), "{scheme}: {error}");
    }
}

#[test]
fn an_empty_token_is_a_usage_error() {
    let backend = Backend::consul();
    let error = DynamicCoordinator::new(backend.open(), "", Condition::parse("n>=1").unwrap())
        .err()
        .unwrap();
    assert_eq!(error.exit_code(), 2);
}

#[test]
fn bad_input_is_refused_before_the_store_is_reached() {
    // Nothing listens there: reaching the store would be `Unavailable`, not `Usage`.
    let closed = "etcd://127.0.0.1:1/off";
    let options = fast_options();
    for (url, token, condition, says) in [
        (closed, TOKEN, "n>=", "column 4"),
        ("redis://h/off", TOKEN, "n>=3", "unknown scheme `redis`"),
        (closed, "", "n>=3", "token is empty"),
    ] {
        let start = Instant::now();
        let error = DynamicCoordinator::open(url, &options, token, condition)
            .err()
            .unwrap();
        assert!(matches!(error, PeerError::Usage(_)), "{error:?}");
        assert!(error.to_string().contains(says), "{error}");
        assert!(start.elapsed() < Duration::from_millis(500));
    }
    let error = DynamicCoordinator::open(closed, &options, TOKEN, "n>=3")
        .err()
        .unwrap();
    assert_eq!(error.exit_code(), 3, "{error}");
}
