//! The etcd backend authenticates with `ETCDCTL_USER` from the environment, and a wrong password
//! is an authentication failure that never quotes it. (A test binary of its own: it sets a
//! process-wide variable.)

use std::process::Command;

use off_discovery::store::{self, Outcome, StoreOptions};
use off_testbed::servers::{self, loopback};

fn etcdctl(endpoint: &str, args: &[&str]) {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints=http://{endpoint}"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "etcdctl {args:?}: {out:?}");
}

#[test]
fn credentials_come_from_the_environment() {
    // Tokens that expire after a second, to see them renewed.
    let server = servers::etcd::start_with(loopback(), &["--auth-token-ttl=1"]).unwrap();
    let endpoint = server.addr.to_string();
    etcdctl(&endpoint, &["user", "add", "root:rootpw-s3cret"]);
    etcdctl(&endpoint, &["auth", "enable"]);
    let url = format!("etcd://{endpoint}/test");
    let options = StoreOptions {
        retry_for: std::time::Duration::from_secs(1),
        ..StoreOptions::default()
    };

    // SAFETY: this test binary has one test; nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("ETCDCTL_USER", "root:wrong-s3cret") };
    let error = store::open_with(&url, &options)
        .err()
        .expect("a wrong password");
    assert_eq!(error.exit_code(), 3, "{error}");
    assert!(
        error.to_string().contains("authentication as `root`"),
        "{error}"
    );
    assert!(!error.to_string().contains("s3cret"), "{error}");

    unsafe { std::env::set_var("ETCDCTL_USER", "root:rootpw-s3cret") };
    let store = store::open_with(&url, &options).unwrap();
    assert_eq!(store.create("k", b"v").unwrap(), Outcome::Done(()));
    store.put_leased("members", b"m").unwrap();
    assert_eq!(store.list("members").unwrap().len(), 1);
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"v"[..]));

    // Without credentials etcd grants a lease but refuses every key.
    unsafe { std::env::remove_var("ETCDCTL_USER") };
    let anonymous = store::open_with(&url, &options).unwrap();
    let error = anonymous.get("k").unwrap_err();
    assert!(error.to_string().contains("user name is empty"), "{error}");
}
