//! Every backend keeps the `Store` contract against its real server (the Consul fake, or a real
//! agent when `CONSUL_HTTP_ADDR` is set): create-if-absent, leased keys in creation order that
//! vanish with their session, blocking waits that miss no change, and an unreachable store
//! reported as unavailable within a bounded time.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{Backend, fast_options};
use off_discovery::PeerError;
use off_discovery::store::{self, Outcome};

fn create_is_done_once_then_lost(backend: Backend) {
    let a = backend.open();
    let b = backend.open();
    assert_eq!(a.create("c/frozen", b"one").unwrap(), Outcome::Done(()));
    assert_eq!(b.create("c/frozen", b"two").unwrap(), Outcome::LostRace);
    assert_eq!(b.get("c/frozen").unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(a.get("c/absent").unwrap(), None);
    a.delete("c/frozen").unwrap();
    assert_eq!(b.get("c/frozen").unwrap(), None);
    a.delete("c/frozen").unwrap();
}

fn leased_keys_list_in_creation_order(backend: Backend) {
    let stores: Vec<_> = (0..3).map(|_| backend.open()).collect();
    let mut keys = Vec::new();
    for (i, store) in stores.iter().enumerate().rev() {
        keys.push(
            store
                .put_leased("c/members", format!("m{i}").as_bytes())
                .unwrap(),
        );
    }
    // Neighbours and the prefix's own parent are not under it.
    stores[0].create("c/membersnot", b"no").unwrap();
    stores[0].create("c/other/x", b"no").unwrap();
    let listed = stores[1].list("c/members").unwrap();
    let listed_keys: Vec<&str> = listed.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(listed_keys, keys);
    let values: Vec<&[u8]> = listed.iter().map(|e| e.value.as_slice()).collect();
    assert_eq!(values, [&b"m2"[..], b"m1", b"m0"]);
    assert!(
        listed.windows(2).all(|w| w[0].order < w[1].order),
        "{listed:?}"
    );
    for key in &keys {
        assert!(key.starts_with("c/members/"), "{key}");
    }
    assert!(stores[0].list("c/nothing").unwrap().is_empty());
}

fn leased_keys_end_with_their_session(backend: Backend) {
    let stays = backend.open();
    let leaves = backend.open();
    stays.put_leased("c/members", b"stays").unwrap();
    leaves.put_leased("c/members", b"leaves").unwrap();
    leaves.create("c/kept", b"persistent").unwrap();
    assert_eq!(stays.list("c/members").unwrap().len(), 2);
    drop(leaves);
    let listed = stays.list("c/members").unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].value, b"stays");
    assert_eq!(
        stays.get("c/kept").unwrap().as_deref(),
        Some(&b"persistent"[..])
    );
}

fn wait_wakes_on_a_change_and_misses_none(backend: Backend) {
    let watcher = backend.open();
    let writer = backend.open();
    watcher.list("c").unwrap();
    // Nothing changes: the wait lasts its timeout.
    let start = Instant::now();
    watcher.wait("c", Duration::from_millis(700)).unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(600),
        "{:?}",
        start.elapsed()
    );

    // A change between the read and the wait still wakes it up at once.
    watcher.list("c/members").unwrap();
    writer.put_leased("c/members", b"w").unwrap();
    let start = Instant::now();
    watcher.wait("c", Duration::from_secs(10)).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );

    // A change while waiting wakes it up (a deeper key counts: members are under `c/members`).
    watcher.list("c/members").unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            writer.create("c/frozen", b"list").unwrap();
        });
        let start = Instant::now();
        watcher.wait("c", Duration::from_secs(10)).unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    });
    assert!(watcher.get("c/frozen").unwrap().is_some());
}

fn unreachable_store_is_unavailable_in_bounded_time(scheme: &str) {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("{scheme}://127.0.0.1:{port}/test");
    let start = Instant::now();
    let error = store::open_with(&url, &fast_options())
        .err()
        .expect("no store there");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(error, PeerError::Unavailable(_)), "{error:?}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
    assert_eq!(error.exit_code(), 3);
}

macro_rules! backend_tests {
    ($name:ident, $scheme:literal) => {
        mod $name {
            use super::*;

            #[test]
            fn create_is_done_once_then_lost() {
                super::create_is_done_once_then_lost(Backend::$name());
            }

            #[test]
            fn leased_keys_list_in_creation_order() {
                super::leased_keys_list_in_creation_order(Backend::$name());
            }

            #[test]
            fn leased_keys_end_with_their_session() {
                super::leased_keys_end_with_their_session(Backend::$name());
            }

            #[test]
            fn wait_wakes_on_a_change_and_misses_none() {
                super::wait_wakes_on_a_change_and_misses_none(Backend::$name());
            }

            #[test]
            fn unreachable_store_is_unavailable_in_bounded_time() {
                super::unreachable_store_is_unavailable_in_bounded_time($scheme);
            }
        }
    };
}

backend_tests!(etcd, "etcd");
backend_tests!(consul, "consul");
backend_tests!(zookeeper, "zk");

#[test]
fn bad_urls_are_usage_errors_naming_the_url() {
    for url in ["redis://h:1/off", "etcd:/h", "consul://u:secret@h:8500/off"] {
        let error = store::open(url).err().expect("refused");
        assert!(matches!(error, PeerError::Usage(_)), "{url}: {error:?}");
        assert_eq!(error.exit_code(), 2);
        assert!(!error.to_string().contains("secret"), "{error}");
    }
    let error = store::open("redis://h:1/off").err().unwrap();
    assert!(error.to_string().contains("redis://h:1/off"), "{error}");
}

/// A lease ended under a live store (revoked, or expired while the store was out of reach):
/// the node's keys are gone, and the store says so instead of acting as a member.
#[test]
fn an_etcd_lease_that_ended_makes_the_store_unavailable() {
    let backend = Backend::etcd();
    let node = backend.open();
    let observer = backend.open();
    node.put_leased("c/members", b"n").unwrap();
    let endpoint = backend
        .url
        .trim_start_matches("etcd://")
        .trim_end_matches("/test");
    let etcdctl = |args: &[&str]| {
        let out = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints=http://{endpoint}"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    // `etcdctl lease list` prints hex IDs; revoke every lease (the observer's too).
    for lease in etcdctl(&["lease", "list"]).lines().skip(1) {
        etcdctl(&["lease", "revoke", lease.trim()]);
    }
    assert!(observer.list("c/members").unwrap().is_empty());
    // The keepalive (every third of the 2 s TTL) finds the lease gone.
    std::thread::sleep(Duration::from_millis(1500));
    let error = node.list("c/members").unwrap_err();
    assert!(error.to_string().contains("lease has ended"), "{error}");
}

#[test]
fn a_consul_session_that_ended_makes_the_store_unavailable() {
    let backend = Backend::consul();
    if backend.is_real_consul() {
        eprintln!("a real Consul agent: its sessions are not ours to destroy");
        return;
    }
    let node = backend.open();
    let observer = backend.open();
    node.put_leased("c/members", b"n").unwrap();
    let key = &observer.list("c/members").unwrap()[0].key;
    let session = key.rsplit('/').next().unwrap().rsplit_once('-').unwrap().0;
    let host = backend
        .url
        .trim_start_matches("consul://")
        .trim_end_matches("/test");
    ureq::put(format!("http://{host}/v1/session/destroy/{session}"))
        .send_empty()
        .unwrap();
    assert!(observer.list("c/members").unwrap().is_empty());
    // The renewal (every third of the 10 s minimum TTL) finds the session gone.
    std::thread::sleep(Duration::from_millis(4000));
    let error = node.list("c/members").unwrap_err();
    assert!(error.to_string().contains("session has ended"), "{error}");
}

/// The ZooKeeper backend blocks on a runtime of its own: called from a caller's async code it
/// must neither panic (tokio refuses nested runtimes) nor deadlock.
#[test]
fn zookeeper_works_when_called_from_async_code() {
    let backend = Backend::zookeeper();
    let caller = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    caller.block_on(async {
        let store = backend.open();
        assert_eq!(store.create("c/k", b"v").unwrap(), Outcome::Done(()));
        store.put_leased("c/members", b"m").unwrap();
        assert_eq!(store.list("c/members").unwrap().len(), 1);
        store.wait("c", Duration::from_millis(100)).unwrap();
        drop(store);
    });
}
