//! The real-server launchers start a server that answers on the address they report, and stop
//! it when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use off_testbed::servers::{self, loopback};

fn four_letter(addr: std::net::SocketAddr, word: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(word.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn zookeeper_runs_standalone_and_stops_on_drop() {
    let server = servers::zookeeper::start(loopback()).unwrap();
    let addr = server.addr;
    let stat = four_letter(addr, "stat");
    assert!(stat.contains("Mode: standalone"), "{stat}");
    drop(server);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}

#[test]
fn etcd_keeps_a_key_and_stops_on_drop() {
    let server = servers::etcd::start(loopback()).unwrap();
    let endpoint = format!("--endpoints=http://{}", server.addr);
    let put = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([&endpoint, "put", "k", "v"])
        .output()
        .unwrap();
    assert!(put.status.success(), "{put:?}");
    let get = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([&endpoint, "get", "k", "--print-value-only"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "v");
    let addr = server.addr;
    drop(server);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}

/// Test hosts reach servers at the bridge address: each launcher binds there too.
#[test]
fn servers_bind_to_the_bridge_address() {
    let bridge = servers::bridge_ip();
    assert!(
        std::net::TcpListener::bind((bridge, 0)).is_ok(),
        "no bridge at {bridge}: bring the testbed up (cargo xtask testbed up)"
    );
    let zookeeper = servers::zookeeper::start(bridge).unwrap();
    assert_eq!(zookeeper.addr.ip(), bridge);
    assert!(four_letter(zookeeper.addr, "stat").contains("Mode: standalone"));
    let etcd = servers::etcd::start(bridge).unwrap();
    assert_eq!(etcd.addr.ip(), bridge);
    let consul = servers::consul_fake::start(bridge).unwrap();
    assert_eq!(consul.addr.ip(), bridge);
    TcpStream::connect_timeout(&consul.addr, Duration::from_secs(1)).unwrap();
}
