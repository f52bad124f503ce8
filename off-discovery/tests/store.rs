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
