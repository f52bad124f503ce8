//! Peer mode end to end: three fresh test hosts (21, 22, 23), each given the recipe binary, a
//! config and the cluster token, all started at the same moment with `--serve`, finding each
//! other through a peers file (static mode) or an etcd on the control machine (dynamic mode).
//! Nobody says which is the primary; they end as one primary and two replicas streaming from
//! it, and each passes `--check` with its role.

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

const HOSTS: [usize; 3] = [21, 22, 23];
const PEER_PORT: u16 = 8426;
const TOKEN: &str = "serve-cluster-test-token-0123456789";
const CONFIG: &str = "version: 15\n\
    listen_addresses: '*'\n\
    allowed_networks: [10.250.0.0/24]\n\
    replication_password: \"r3pl'pw\"\n\
    users:\n\
    - {user: app, password: app-pw, dbname: appdb}\n";

/// `ssh`/`scp` to the test hosts as root, with the testbed's key and known_hosts.
struct Ssh {
    key: std::path::PathBuf,
    config: std::path::PathBuf,
}

impl Ssh {
    fn new() -> Ssh {
        let inv = inventory();
        let config = inv
            .write_ssh_config(&scratch("serve-ssh").join("config"), "  BatchMode yes\n")
            .unwrap();
        Ssh {
            key: inv.key.clone(),
            config,
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.arg("-i").arg(&self.key).arg("-F").arg(&self.config);
        c
    }

    /// Copies `files` into root's home on `host`.
    fn copy(&self, host: usize, files: &[&std::path::Path]) {
        let out = self
            .command("scp")
            .args(files)
            .arg(format!("root@{}:/root/", address(host)))
            .output()
            .unwrap();
        assert_ok(&out);
    }

    /// Starts `cmd` on `host` (not waiting for it).
    fn spawn(&self, host: usize, cmd: &str) -> std::process::Child {
        self.command("ssh")
            .arg(format!("root@{}", address(host)))
            .arg(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// Gives each host the binary, the config, the token (mode 0600) and `extra` files; then starts
/// `args` on all three at once and returns their outputs, in host order.
fn deploy_at_once(extra: &[&std::path::Path], args: &str) -> Vec<Output> {
    let ssh = Ssh::new();
    let dir = scratch("serve-cluster");
    let cfg = write_config(&dir, "cluster.yaml", CONFIG);
    let token = write_config(&dir, "token", &format!("{TOKEN}\n"));
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_offregister_postgres"));
    for host in HOSTS {
        let mut files = vec![binary.as_path(), cfg.as_ref(), token.as_ref()];
        files.extend_from_slice(extra);
        ssh.copy(host, &files);
        let (code, _, err) = on_host(host, "chmod 600 /root/token");
        assert_eq!(code, 0, "{err}");
    }
    let children: Vec<_> = HOSTS
        .iter()
        .map(|&host| {
            ssh.spawn(
                host,
                &format!(
                    "cd /root && ./offregister_postgres -c cluster.yaml --serve {}:{PEER_PORT} --token-file token --progress lines {args}",
                    address(host)
                ),
            )
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// The cluster the three runs left: the primary (the first host, the master) and two replicas
/// streaming from it, each passing `--check` with its role.
fn assert_streaming_cluster(outputs: &[Output], primary: usize) {
    for (host, out) in HOSTS.iter().zip(outputs) {
        assert_ok(out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("joined as member"), "host {host}: {stderr}");
        // The token stays in its file.
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    }
    let replicas: Vec<usize> = HOSTS.into_iter().filter(|&h| h != primary).collect();
    let primary_addr = address(primary);
    for &replica in &replicas {
        let stderr = String::from_utf8_lossy(&outputs[replica - HOSTS[0]].stderr);
        assert!(
            stderr.contains(&format!("waiting for master {primary_addr} to succeed")),
            "replica {replica}: {stderr}"
        );
        assert_eq!(
            psql(replica, "postgres", "SELECT pg_is_in_recovery()"),
            "t\n"
        );
    }
    assert_eq!(
        psql(primary, "postgres", "SELECT pg_is_in_recovery()"),
        "f\n"
    );
    let mut expected: Vec<String> = replicas
        .iter()
        .map(|&r| format!("{} streaming", address(r)))
        .collect();
    expected.sort();
    let states = psql(
        primary,
        "postgres",
        "SELECT host(client_addr) || ' ' || state FROM pg_stat_replication ORDER BY 1",
    );
    assert_eq!(states, format!("{}\n", expected.join("\n")));

    let dir = scratch("serve-check");
    let cfg = write_config(&dir, "cluster.yaml", CONFIG);
    let out = recipe(primary, &["-c", &cfg, "--check", "--role", "primary"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for replica in replicas {
        let out = recipe(
            replica,
            &[
                "-c",
                &cfg,
                "--check",
                "--role",
                "replica",
                "--primary-host",
                &primary_addr,
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn three_fresh_hosts_with_a_peers_file_become_a_primary_and_two_streaming_replicas() {
    let _lock = lock_hosts(&HOSTS);
    for host in HOSTS {
        fresh(host);
    }
    let dir = scratch("serve-static");
    let list: Vec<String> = HOSTS
        .iter()
        .map(|&h| format!("\"{}:{PEER_PORT}\"", address(h)))
        .collect();
    let peers = write_config(&dir, "peers.json", &format!("[{}]", list.join(", ")));
    let outputs = deploy_at_once(
        &[peers.as_ref()],
        "--discovery_mode static --discovery_file peers.json",
    );
    assert_streaming_cluster(&outputs, HOSTS[0]);
}

/// The form: no peers file, a store on the control machine, `n>=3`. The first
/// registered is the master.
#[test]
fn three_fresh_hosts_registering_in_etcd_become_a_primary_and_two_streaming_replicas() {
    let _lock = lock_hosts(&HOSTS);
    for host in HOSTS {
        fresh(host);
    }
    let etcd = off_testbed::servers::etcd::start(off_testbed::servers::bridge_ip())
        .expect("etcd starts on the bridge");
    let outputs = deploy_at_once(
        &[],
        &format!(
            "--discovery_stop 'n>=3' --kv etcd://{}/off-serve-test",
            etcd.addr
        ),
    );
    // Which host registered first decides the master: read it from a replica's log.
    let stderr = String::from_utf8_lossy(&outputs[0].stderr).into_owned();
    let master_addr = stderr
        .lines()
        .find_map(|l| l.split("; master: ").nth(1))
        .unwrap_or_else(|| panic!("no membership line: {stderr}"))
        .trim()
        .to_string();
    let primary = HOSTS
        .into_iter()
        .find(|&h| address(h) == master_addr)
        .unwrap_or_else(|| panic!("master {master_addr} is not one of the hosts"));
    assert_streaming_cluster(&outputs, primary);
}
