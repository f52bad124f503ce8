//! Static mode with three nodes on loopback ports, each a real endpoint in this process: they
//! agree on one list and one master, the master runs first, a failing master stops the others,
//! and a request without the cluster's HMAC is refused.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use off_discovery::static_mode::{HostPort, PeersFile};
use off_discovery::{
    ClusterToken, Coordinator, Membership, NodeInfo, Order, PeerError, Role, StaticCoordinator,
    run_in_order,
};

const TOKEN: &str = "static-mode-test-token-0123456789";

/// Ports nothing listens on now.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

struct Cluster {
    _dir: tempfile::TempDir,
    peers: PeersFile,
    ports: Vec<u16>,
}

fn cluster(n: usize) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(n);
    let list: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    let path = dir.path().join("peers.json");
    std::fs::write(&path, format!("[{}]", list.join(", "))).unwrap();
    Cluster {
        peers: PeersFile::load(&path).unwrap(),
        _dir: dir,
        ports,
    }
}

fn node(cluster: &Cluster, i: usize, token: &str) -> (StaticCoordinator, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let serve = HostPort::parse(&format!("127.0.0.1:{}", cluster.ports[i])).unwrap();
    let coordinator = StaticCoordinator::with_log(
        cluster.peers.clone(),
        serve,
        ClusterToken::new(token),
        Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_string())),
    )
    .unwrap();
    (coordinator, log)
}

fn info(cluster: &Cluster, i: usize, role: Role) -> NodeInfo {
    NodeInfo {
        id: format!("node{i}"),
        host: "127.0.0.1".into(),
        port: cluster.ports[i],
        role,
    }
}

/// What each node's command saw and when it ran.
#[derive(Debug, Clone)]
struct Ran {
    node: usize,
    membership: Membership,
    start: Instant,
    end: Instant,
}

/// Runs the three nodes, node `i` starting after `delays[i]`, each with `roles[i]` and its
/// command exiting with `codes[i]` after `work`.
fn run_cluster(
    cluster: &Cluster,
    roles: [Role; 3],
    delays: [u64; 3],
    codes: [u8; 3],
    order: Order,
) -> (Vec<Result<u8, PeerError>>, Vec<Ran>) {
    let ran = Mutex::new(Vec::new());
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let ran = &ran;
                scope.spawn(move || {
                    std::thread::sleep(Duration::from_millis(delays[i]));
                    let (coordinator, _) = node(cluster, i, TOKEN);
                    run_in_order(
                        &coordinator,
                        &info(cluster, i, roles[i]),
                        order,
                        Duration::from_secs(20),
                        &mut |m| {
                            let start = Instant::now();
                            std::thread::sleep(Duration::from_millis(300));
                            ran.lock().unwrap().push(Ran {
                                node: i,
                                membership: m.clone(),
                                start,
                                end: Instant::now(),
                            });
                            codes[i]
                        },
                        &|_| {},
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    (results, ran.into_inner().unwrap())
}

#[test]
fn three_nodes_agree_on_the_list_and_the_master_runs_first() {
    let cluster = cluster(3);
    // Node 2 asks to be the master; node 1 starts late, so the others wait for it.
    let (results, ran) = run_cluster(
        &cluster,
        [Role::Auto, Role::Auto, Role::Master],
        [0, 800, 100],
        [0, 0, 0],
        Order::MasterFirst,
    );
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.as_ref().ok(), Some(&0), "node {i}: {r:?}");
    }
    assert_eq!(ran.len(), 3);
    let first = &ran[0].membership;
    assert_eq!(first.master, 2);
    assert_eq!(first.members.len(), 3);
    for r in &ran {
        assert_eq!(r.membership.members, first.members, "node {}", r.node);
        assert_eq!(r.membership.master, 2);
        assert_eq!(r.membership.me, r.node);
        assert_eq!(r.membership.members[r.node].id, format!("node{}", r.node));
    }
    assert_eq!(first.members[2].role, Role::Master);
    assert_eq!(first.members[0].role, Role::Slave);
    let master = ran.iter().find(|r| r.node == 2).unwrap();
    for slave in ran.iter().filter(|r| r.node != 2) {
        assert!(
            slave.start >= master.end,
            "node {} started before the master had finished",
            slave.node
        );
    }
    let env = first.env();
    assert_eq!(env[2], ("OFF_MASTER", "127.0.0.1".to_string()));
    assert_eq!(env[4], ("OFF_CLUSTER_SIZE", "3".to_string()));
}

#[test]
fn together_runs_every_node_at_once() {
    let cluster = cluster(3);
    let (results, ran) = run_cluster(
        &cluster,
        [Role::Auto; 3],
        [0, 0, 0],
        [0, 0, 0],
        Order::Together,
    );
    assert!(results.iter().all(|r| matches!(r, Ok(0))), "{results:?}");
    let last_start = ran.iter().map(|r| r.start).max().unwrap();
    let first_end = ran.iter().map(|r| r.end).min().unwrap();
    assert!(last_start < first_end, "the runs did not overlap");
}

#[test]
fn a_failing_master_stops_the_others_before_they_run() {
    let cluster = cluster(3);
    let (results, ran) = run_cluster(
        &cluster,
        [Role::Auto; 3],
        [0, 0, 0],
        [3, 0, 0],
        Order::MasterFirst,
    );
    assert_eq!(results[0].as_ref().ok(), Some(&3), "{:?}", results[0]);
    for r in &results[1..] {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.to_string(), "master 127.0.0.1 failed");
        assert_eq!(e.exit_code(), 1);
    }
    assert_eq!(ran.len(), 1, "only the master ran: {ran:?}");
    assert_eq!(ran[0].node, 0);
}

#[test]
fn a_request_without_the_cluster_hmac_is_refused_and_logged() {
    let cluster = cluster(2);
    let (a, a_log) = node(&cluster, 0, TOKEN);
    let (b, _) = node(&cluster, 1, "another-cluster-token-0123456789");
    std::thread::scope(|scope| {
        let a_join = scope.spawn(|| a.join(&info(&cluster, 0, Role::Auto), Duration::from_secs(4)));
        // A node with another token is refused by A, and refuses A.
        let e = b
            .join(&info(&cluster, 1, Role::Auto), Duration::from_secs(3))
            .unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(
            e.to_string().contains("refused this node's signature"),
            "{e}"
        );

        // A plain request, no signature at all.
        let url = format!("http://127.0.0.1:{}/off/v1/result", cluster.ports[0]);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent
            .post(&url)
            .send(&br#"{"index": 1, "success": false}"#[..])
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);

        let e = a_join.join().unwrap().unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
    });
    let refused = a.refused();
    assert!(
        refused.iter().any(
            |l| l.starts_with("refused POST /off/v1/hello from 127.0.0.1:")
                && l.ends_with("bad signature (another cluster token?)")
        ),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|l| l.starts_with("refused POST /off/v1/result") && l.ends_with("no signature")),
        "{refused:?}"
    );
    assert_eq!(*a_log.lock().unwrap(), refused);
    for line in &refused {
        assert!(!line.contains(TOKEN) && !line.contains("another-cluster-token"));
    }
}

#[test]
fn nodes_reading_different_peers_files_refuse_to_agree() {
    let cluster = cluster(2);
    let (a, _) = node(&cluster, 0, TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.json");
    let other = format!(
        "[\"127.0.0.1:{}\", \"127.0.0.1:{}\", \"10.9.9.9:1\"]",
        cluster.ports[0], cluster.ports[1]
    );
    std::fs::write(&path, other).unwrap();
    let b = StaticCoordinator::with_log(
        PeersFile::load(&path).unwrap(),
        HostPort::parse(&format!("127.0.0.1:{}", cluster.ports[1])).unwrap(),
        ClusterToken::new(TOKEN),
        Arc::new(|_: &str| {}),
    )
    .unwrap();
    std::thread::scope(|scope| {
        let a_join = scope.spawn(|| a.join(&info(&cluster, 0, Role::Auto), Duration::from_secs(5)));
        let e = b
            .join(&info(&cluster, 1, Role::Auto), Duration::from_secs(5))
            .unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains("the peers file differs"), "{e}");
        let e = a_join.join().unwrap().unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
    });
}

#[test]
fn a_peer_that_never_answers_is_a_timeout_naming_it() {
    let cluster = cluster(2);
    let (a, _) = node(&cluster, 0, TOKEN);
    let started = Instant::now();
    let e = a
        .join(&info(&cluster, 0, Role::Auto), Duration::from_secs(1))
        .unwrap_err();
    assert_eq!(e.exit_code(), 4, "{e}");
    let message = e.to_string();
    assert!(
        message
            .starts_with("1 of 2 peers did not answer within 1s (--discovery-timeout): 127.0.0.1:"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_master_that_dies_before_publishing_makes_the_others_exit_3_having_run_nothing() {
    let cluster = cluster(2);
    let (slave, _) = node(&cluster, 1, TOKEN);
    let ran = Mutex::new(false);
    std::thread::scope(|scope| {
        // The master joins, then goes away (its endpoint with it) without a result.
        scope.spawn(|| {
            let (master, _) = node(&cluster, 0, TOKEN);
            master
                .join(&info(&cluster, 0, Role::Master), Duration::from_secs(10))
                .unwrap();
            drop(master);
        });
        let started = Instant::now();
        let e = run_in_order(
            &slave,
            &info(&cluster, 1, Role::Auto),
            Order::MasterFirst,
            Duration::from_secs(10),
            &mut |_| {
                *ran.lock().unwrap() = true;
                0
            },
            &|_| {},
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(
            e.to_string()
                .starts_with("127.0.0.1 stopped answering before it published its result"),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(30));
    });
    assert!(!*ran.lock().unwrap(), "the slave ran without its master");
}
