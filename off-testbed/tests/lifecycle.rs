//! End-to-end: a second, independent testbed beside the main one goes up twice and down twice and
//! leaves nothing behind. Needs root; shares the rootfs cache with the main testbed (so it builds
//! the rootfs only if nothing has yet).

use std::fs;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use off_testbed::{TestbedConfig, down, exec_in_host, ssh_banner, status, up};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn independent_config(
    prefix: &str,
    bridge: &str,
    subnet: &str,
    state: &tempfile::TempDir,
) -> TestbedConfig {
    TestbedConfig {
        prefix: prefix.into(),
        bridge: bridge.into(),
        subnet: subnet.into(),
        state_dir: state.path().to_owned(),
        // Same cache as the main testbed: the rootfs is built once per machine.
        ..TestbedConfig::default()
    }
}

/// Brings the testbed down even when an assertion fails half-way.
struct DownOnDrop(TestbedConfig);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        let _ = down(&self.0);
    }
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command");
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn netns_pids(name: &str) -> Vec<u32> {
    stdout(Command::new("ip").args(["netns", "pids", name]))
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// Running means present and not a zombie: the dead hosts' exit status goes to the machine's
/// init, which reaps it in its own time.
fn running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z' | 'X')
        ),
        Err(_) => false,
    }
}

fn main_testbed_pids() -> Vec<Option<u32>> {
    status(&TestbedConfig::default())
        .unwrap()
        .hosts
        .iter()
        .map(|h| h.pid1)
        .collect()
}

#[test]
fn up_twice_down_twice_leaves_nothing() {
    if !is_root() {
        eprintln!("SKIPPED: the testbed needs root");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let config = independent_config("off-lc", "offbr9", "10.250.9", &state);
    let _guard = DownOnDrop(config.clone());
    let main_before = main_testbed_pids();

    let mut all_pids = Vec::new();
    for round in 0..2 {
        let inventory = up(&config, 2).unwrap_or_else(|e| panic!("up #{round}: {e:#}"));
        assert_eq!(inventory.hosts.len(), 2);
        assert_eq!(inventory.gateway, "10.250.9.1");
        assert_eq!(inventory.unreachable_address, "10.250.9.250");
        assert!(inventory.key.exists());
        let known_hosts = fs::read_to_string(&inventory.known_hosts).unwrap();
        for (i, host) in inventory.hosts.iter().enumerate() {
            assert_eq!(host.name, format!("off-lc-{i}"));
            assert_eq!(host.address, format!("10.250.9.{}", 10 + i));
            assert!(known_hosts.contains(&format!("{} ssh-ed25519 ", host.address)));
            let addr: SocketAddr = format!("{}:{}", host.address, host.port).parse().unwrap();
            let banner = ssh_banner(addr, Duration::from_secs(5)).unwrap();
            assert!(banner.starts_with("SSH-2.0-OpenSSH"), "{banner}");

            let out = exec_in_host(&config, i, "hostname; cat /proc/1/comm").unwrap();
            assert!(out.status.success(), "{out:?}");
            let text = String::from_utf8(out.stdout).unwrap();
            assert_eq!(text, format!("off-lc-{i}\nsshd\n"));
            all_pids.extend(netns_pids(&host.name));
        }
        // Each host has its own writable root.
        let w = exec_in_host(&config, 0, "echo round > /etc/off-lc-marker").unwrap();
        assert!(w.status.success(), "{w:?}");
        let r = exec_in_host(&config, 1, "test ! -e /etc/off-lc-marker").unwrap();
        assert!(r.status.success(), "host 1 sees host 0's file");
    }
    // The second `up` replaced the first round's hosts.
    assert!(all_pids.len() >= 4);

    down(&config).unwrap();
    down(&config).unwrap();

    let netns = stdout(Command::new("ip").args(["netns", "list"]));
    assert!(
        !netns.lines().any(|l| l.starts_with("off-lc-")),
        "namespaces left: {netns}"
    );
    let links = stdout(Command::new("ip").args(["-o", "link", "show"]));
    assert!(!links.contains("offbr9"), "links left: {links}");
    let alive: Vec<u32> = all_pids.iter().copied().filter(|&p| running(p)).collect();
    assert!(alive.is_empty(), "host processes still running: {alive:?}");
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let state_path = state.path().to_string_lossy().into_owned();
    assert!(
        !mountinfo.contains(&state_path),
        "mounts under the state dir left: {mountinfo}"
    );
    assert!(!mountinfo.contains("/run/netns/off-lc-"));
    assert!(!config.inventory_path().exists());
    // The main testbed (if any) was not touched.
    assert_eq!(main_testbed_pids(), main_before);
}

#[test]
fn failed_boot_is_reported_and_cleaned_up() {
    if !is_root() {
        eprintln!("SKIPPED: the testbed needs root");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let config = TestbedConfig {
        // mount rejects this size, so the boot script fails.
        tmpfs_size: "not-a-size".into(),
        ..independent_config("off-lf", "offbr8", "10.250.8", &state)
    };
    let _guard = DownOnDrop(config.clone());
    let err = format!("{:#}", up(&config, 1).unwrap_err());
    eprintln!("expected error: {err}");
    assert!(err.contains("off-lf-0"), "{err}");
    assert!(
        err.contains("not-a-size"),
        "the error should quote the host's log: {err}"
    );
    let netns = stdout(Command::new("ip").args(["netns", "list"]));
    assert!(!netns.contains("off-lf-"), "{netns}");
    let links = stdout(Command::new("ip").args(["-o", "link", "show"]));
    assert!(!links.contains("offbr8"), "{links}");
}

#[test]
fn reset_host_gives_a_fresh_root_with_the_same_address_and_key() {
    if !is_root() {
        eprintln!("SKIPPED: the testbed needs root");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let config = independent_config("off-lr", "offbr7", "10.250.7", &state);
    let _guard = DownOnDrop(config.clone());
    let inventory = up(&config, 2).unwrap_or_else(|e| panic!("up: {e:#}"));
    for i in 0..2 {
        let out = exec_in_host(
            &config,
            i,
            "echo dirty > /etc/off-lr-marker && (sleep 600 >/dev/null 2>&1 &)",
        )
        .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let pid1_of_other = off_testbed::host_pid1(&config, 1).unwrap();
    let known_hosts_before = fs::read_to_string(&inventory.known_hosts).unwrap();

    off_testbed::reset_host(&config, 0).unwrap_or_else(|e| panic!("reset: {e:#}"));

    // Host 0: a fresh root and no process of the old one; the same hostname.
    let out = exec_in_host(
        &config,
        0,
        "test ! -e /etc/off-lr-marker && ! pgrep -x sleep && hostname",
    )
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "off-lr-0\n");
    // Its host key is still the one in known_hosts: strict checking lets ssh in.
    let ssh = Command::new("ssh")
        .args(["-i"])
        .arg(&inventory.key)
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            inventory.known_hosts.display()
        ))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
        ])
        .arg(format!("root@{}", inventory.hosts[0].address))
        .arg("hostname")
        .output()
        .unwrap();
    assert!(ssh.status.success(), "{ssh:?}");
    assert_eq!(String::from_utf8_lossy(&ssh.stdout), "off-lr-0\n");
    assert_eq!(
        fs::read_to_string(&inventory.known_hosts).unwrap(),
        known_hosts_before
    );
    // Host 1 was not touched.
    assert_eq!(off_testbed::host_pid1(&config, 1).unwrap(), pid1_of_other);
    let out = exec_in_host(&config, 1, "cat /etc/off-lr-marker").unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "dirty\n");
}
