//! Isolated test hosts for off's end-to-end tests, without Docker (DESIGN.md §10).
//!
//! Each host is a network namespace on a private bridge, with its own mount, UTS, IPC and PID
//! namespaces, an overlay of a cached Debian rootfs as its root (writable layer on a private
//! tmpfs) and `sshd -D` as its PID 1. Hosts have their own address, hostname, processes and
//! writable root; they reach each other and the machine but nothing else. Their apt sources are a
//! local repository inside the rootfs ([`APT_REPO_PACKAGES`]).
//!
//! [`up`] brings a testbed up (idempotently) and writes an [`Inventory`]; tests read it with
//! [`Inventory::load`]. [`down`] removes every trace. Everything needs root.

pub mod attack;
pub mod completions;
pub mod deadline;
mod host;
mod inventory;
mod network;
mod rootfs;
pub mod servers;
mod util;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub use host::{exec_in_host, host_pid1, ssh_banner};
pub use inventory::{Inventory, TestHost, TestUser};
pub use rootfs::{
    APT_REPO_DIR, APT_REPO_PACKAGES, DEFAULT_MIRROR, DEPLOY_SUDO_PASSWORD, DEPLOY_USER,
    FORMAT_VERSION, ROOTFS_PACKAGES, SUITE, cache_key, mirror,
};

/// A name no other test, nor another copy of the same test, uses at the
/// same time: `prefix`, this process's id and a counter. For markers on a
/// host (files, directories, patterns a wrapper waits on), so that a
/// leftover of an aborted run or a concurrent copy never matches.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Holds test hosts for one test: tests that use the same host, in one
/// suite or in two, wait for each other (nextest runs them in parallel
/// processes). Released when dropped.
pub struct HostLock(#[allow(dead_code)] Vec<std::fs::File>);

/// Locks test hosts `hosts` (in ascending order, so two tests cannot deadlock).
pub fn lock_hosts(hosts: &[usize]) -> HostLock {
    let mut sorted = hosts.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    HostLock(
        sorted
            .into_iter()
            .map(|h| {
                let path = std::env::temp_dir().join(format!("off-test-host-{h}.lock"));
                let file = std::fs::File::create(&path)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
                file.lock()
                    .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
                file
            })
            .collect(),
    )
}

/// Default state dir (keys, logs, inventory); `$OFF_TESTBED_STATE` overrides it.
pub const DEFAULT_STATE_DIR: &str = "/run/off-testbed";
/// Default rootfs cache; `$OFF_TESTBED_CACHE` overrides it. Outside the checkout so that
/// `cargo clean` and fresh clones keep it.
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/off-testbed";
/// Most hosts a testbed can have (addresses .10 to .209 of the /24).
pub const MAX_HOSTS: usize = 200;
/// Last octet of the first host's address.
const FIRST_HOST_OCTET: usize = 10;
/// Last octet of the address where no host ever answers.
const UNREACHABLE_OCTET: usize = 250;

/// Debian packages the machine needs to build the rootfs and run hosts; the CI driver installs
/// them. (coreutils, mount and gzip are on every Debian system but listed because the boot script
/// and the repository indexing call them.)
pub fn required_debian_packages() -> &'static [&'static str] {
    &[
        "debootstrap",
        "debian-archive-keyring",
        "dpkg-dev",
        "iproute2",
        "openssh-client",
        "openssh-server",
        "util-linux",
        "mount",
        "coreutils",
        "gzip",
    ]
}

/// Where and how a testbed lives. [`Default`] is the project's main testbed; a test can bring up
/// an independent one beside it with another prefix, bridge, subnet and state dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestbedConfig {
    /// Names of hosts and their network namespaces: `<prefix>-<index>`.
    pub prefix: String,
    /// The bridge on the machine (at most 11 characters: veths are named `<bridge>h<index>`).
    pub bridge: String,
    /// First three octets of the /24: the bridge is `.1`, host i is `.(10+i)`.
    pub subnet: String,
    /// Keys, logs, boot scripts, `known_hosts` and `inventory.yaml`.
    pub state_dir: PathBuf,
    /// The rootfs cache (shareable between testbeds).
    pub cache_dir: PathBuf,
    /// Size limit of each host's writable layer (tmpfs `size=`).
    pub tmpfs_size: String,
}

impl Default for TestbedConfig {
    fn default() -> Self {
        let env_path = |var: &str, default: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(default))
        };
        TestbedConfig {
            prefix: "off-host".into(),
            bridge: "offbr0".into(),
            subnet: "10.250.0".into(),
            state_dir: env_path("OFF_TESTBED_STATE", DEFAULT_STATE_DIR),
            cache_dir: env_path("OFF_TESTBED_CACHE", DEFAULT_CACHE_DIR),
            tmpfs_size: "1G".into(),
        }
    }
}

impl TestbedConfig {
    pub fn host_name(&self, index: usize) -> String {
        format!("{}-{index}", self.prefix)
    }

    pub fn address(&self, index: usize) -> String {
        format!("{}.{}", self.subnet, FIRST_HOST_OCTET + index)
    }

    pub fn gateway(&self) -> String {
        format!("{}.1", self.subnet)
    }

    pub fn unreachable_address(&self) -> String {
        format!("{}.{UNREACHABLE_OCTET}", self.subnet)
    }

    pub fn inventory_path(&self) -> PathBuf {
        self.state_dir.join("inventory.yaml")
    }

    pub fn client_key(&self) -> PathBuf {
        self.state_dir.join("id_ed25519")
    }

    pub fn known_hosts_path(&self) -> PathBuf {
        self.state_dir.join("known_hosts")
    }

    /// The host index of a namespace called `<prefix>-<index>`.
    fn parse_host_name(&self, name: &str) -> Option<usize> {
        let rest = name.strip_prefix(&self.prefix)?.strip_prefix('-')?;
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest.parse().ok()
    }

    fn validate(&self, hosts: usize) -> Result<()> {
        if hosts == 0 || hosts > MAX_HOSTS {
            bail!("a testbed has 1 to {MAX_HOSTS} hosts, not {hosts}");
        }
        let octets: Vec<&str> = self.subnet.split('.').collect();
        if octets.len() != 3 || octets.iter().any(|o| o.parse::<u8>().is_err()) {
            bail!(
                "subnet {:?} must be the first three octets of an IPv4 /24, e.g. \"10.250.0\"",
                self.subnet
            );
        }
        if self.prefix.is_empty()
            || !self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            bail!(
                "prefix {:?} must be letters, digits and '-' (it is a hostname)",
                self.prefix
            );
        }
        // Overlay options are comma-separated and colon-separated lists.
        for dir in [&self.state_dir, &self.cache_dir] {
            let s = dir.to_string_lossy();
            if !dir.is_absolute() || s.contains([',', ':', '\n']) {
                bail!(
                    "testbed directory {s:?} must be an absolute path without ',' or ':' (it goes into mount options)"
                );
            }
        }
        network::check_names(self, hosts)
    }
}

/// Returns the cached rootfs for `config`, building it if needed (a few minutes, once).
pub fn ensure_rootfs(config: &TestbedConfig) -> Result<PathBuf> {
    rootfs::ensure_rootfs(&config.cache_dir)
}

/// Brings up `hosts` hosts, after removing whatever a previous run with the same prefix left
/// (also after a crash), and writes the inventory. Returns when every host's sshd answers.
pub fn up(config: &TestbedConfig, hosts: usize) -> Result<Inventory> {
    util::require_root()?;
    config.validate(hosts)?;
    util::create_dir(&config.state_dir, 0o755)?;
    let _lock = util::FileLock::acquire(&config.state_dir.join(".lock"))?;
    teardown(config).context("cannot remove the previous testbed")?;
    // The rootfs build is long; do it before creating anything that would need tearing down.
    let rootfs = rootfs::ensure_rootfs(&config.cache_dir)?;
    let result = start(config, hosts, &rootfs);
    if result.is_err() {
        // Leave nothing half-up; the hosts' logs stay in the state dir for diagnosis.
        let _ = teardown(config);
    }
    result
}

fn start(config: &TestbedConfig, hosts: usize, rootfs: &Path) -> Result<Inventory> {
    let client_key = host::ensure_client_key(config)?;
    let client_pub = host::pub_path(&client_key);
    let host_keys = (0..hosts)
        .map(|i| host::ensure_host_key(config, i))
        .collect::<Result<Vec<_>>>()?;

    // Every host resolves every other by name, and itself (sudo looks its own name up).
    let mut etc_hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for i in 0..hosts {
        etc_hosts.push_str(&format!("{}\t{}\n", config.address(i), config.host_name(i)));
    }
    let etc_hosts_path = config.state_dir.join("hosts");
    fs::write(&etc_hosts_path, etc_hosts)
        .with_context(|| format!("cannot write {}", etc_hosts_path.display()))?;

    network::create_bridge(config)
        .with_context(|| format!("cannot create bridge {}", config.bridge))?;
    for (i, host_key) in host_keys.iter().enumerate() {
        let name = config.host_name(i);
        network::create_host_network(config, i, &name)
            .with_context(|| format!("cannot create the network of host {name}"))?;
        let script = host::boot_script(config, i, rootfs, host_key, &client_pub, &etc_hosts_path);
        host::spawn(config, i, &script).with_context(|| format!("cannot start host {name}"))?;
    }
    host::wait_for_ssh(config, 0..hosts)?;

    let mut known_hosts = String::new();
    for (i, host_key) in host_keys.iter().enumerate() {
        let public = fs::read_to_string(host::pub_path(host_key))?;
        let mut fields = public.split_whitespace();
        let (Some(kind), Some(data)) = (fields.next(), fields.next()) else {
            bail!("malformed host key {}", host::pub_path(host_key).display());
        };
        known_hosts.push_str(&format!("{} {kind} {data}\n", config.address(i)));
    }
    util::write_atomic(&config.known_hosts_path(), known_hosts.as_bytes(), 0o644)?;

    let inventory = Inventory {
        hosts: (0..hosts)
            .map(|i| TestHost {
                name: config.host_name(i),
                address: config.address(i),
                port: 22,
                users: vec![
                    TestUser {
                        name: "root".into(),
                        sudo_password: None,
                    },
                    TestUser {
                        name: DEPLOY_USER.into(),
                        sudo_password: Some(DEPLOY_SUDO_PASSWORD.into()),
                    },
                ],
            })
            .collect(),
        key: client_key,
        known_hosts: config.known_hosts_path(),
        unreachable_address: config.unreachable_address(),
        gateway: config.gateway(),
    };
    util::write_atomic(
        &config.inventory_path(),
        inventory.to_yaml()?.as_bytes(),
        0o644,
    )?;
    Ok(inventory)
}

/// Restarts host `index` as it was booted: kills every process of the host (its PID 1 first,
/// which ends its PID namespace, and with it the private tmpfs holding its writable layer), then
/// runs the host's boot script again in the same network namespace. The host comes back with a
/// fresh root, the same address and the same host key, so known_hosts entries stay valid.
/// Returns when its sshd answers. For tests that need a host nothing has touched yet.
pub fn reset_host(config: &TestbedConfig, index: usize) -> Result<()> {
    util::require_root()?;
    let _lock = util::FileLock::acquire(&config.state_dir.join(".lock"))?;
    let name = config.host_name(index);
    let files = host::host_files(config, index);
    let script = fs::read_to_string(&files.script).with_context(|| {
        format!(
            "cannot reset host {name}: no boot script {}",
            files.script.display()
        )
    })?;
    // A host whose sshd (its PID 1) was killed, as a test of a dying host does, has nothing
    // left to stop: its PID namespace ended with it.
    if let Ok(pid1) = host_pid1(config, index) {
        let killed = network::kill_namespace_processes(&name, pid1)
            .with_context(|| format!("cannot stop host {name}"))?;
        network::wait_reaped(&killed, Duration::from_secs(5))?;
    }
    host::spawn(config, index, &script).with_context(|| format!("cannot restart host {name}"))?;
    host::wait_for_ssh(config, [index])
}

/// Removes the testbed: kills every process in its namespaces, deletes them and the bridge, and
/// deletes the inventory. Does nothing (successfully) when nothing is up. Keys stay, so a later
/// `up` presents the same host keys.
pub fn down(config: &TestbedConfig) -> Result<()> {
    util::require_root()?;
    if !config.state_dir.exists() {
        // Nothing of ours can be running without a state dir, but namespaces from a run whose
        // state dir was deleted can: clean up without taking the lock.
        return teardown(config);
    }
    let _lock = util::FileLock::acquire(&config.state_dir.join(".lock"))?;
    teardown(config)
}

fn teardown(config: &TestbedConfig) -> Result<()> {
    let mut killed = Vec::new();
    for (i, ns) in network::namespaces(config)? {
        killed.extend(
            network::delete_namespace(&ns).with_context(|| format!("cannot remove host {ns}"))?,
        );
        // Only the now-unused mount point; never recursive, in case something is still mounted.
        let _ = fs::remove_dir(host::host_files(config, i).mount_dir);
    }
    network::wait_reaped(&killed, Duration::from_secs(5))?;
    network::delete_links(config)?;
    for file in [config.inventory_path(), config.known_hosts_path()] {
        match fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", file.display())),
        }
    }
    let left = leftover_mounts(config)?;
    if !left.is_empty() {
        bail!(
            "mounts left behind on the machine after tear-down: {}",
            left.join(", ")
        );
    }
    Ok(())
}

/// Mount points on the machine that belong to the testbed: under its state or cache dir, or a
/// namespace handle of one of its hosts.
fn leftover_mounts(config: &TestbedConfig) -> Result<Vec<String>> {
    let info = fs::read_to_string("/proc/self/mountinfo").context("cannot read mountinfo")?;
    Ok(info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|mp| {
            let p = Path::new(mp);
            p.starts_with(&config.state_dir)
                || p.starts_with(&config.cache_dir)
                || p.strip_prefix("/run/netns")
                    .is_ok_and(|n| config.parse_host_name(&n.to_string_lossy()).is_some())
        })
        .map(str::to_owned)
        .collect())
}

/// What is running of a testbed.
#[derive(Debug, Clone)]
pub struct Status {
    pub bridge_up: bool,
    pub hosts: Vec<HostStatus>,
    /// The inventory file, if `up` completed.
    pub inventory: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct HostStatus {
    pub index: usize,
    pub name: String,
    pub address: String,
    /// The machine's pid of the host's PID 1 (its sshd), if running.
    pub pid1: Option<u32>,
    /// sshd's banner, if it answers on port 22.
    pub ssh_banner: Option<String>,
}

/// Inspects the testbed without changing anything.
pub fn status(config: &TestbedConfig) -> Result<Status> {
    let hosts = network::namespaces(config)?
        .into_iter()
        .map(|(index, name)| {
            let address = config.address(index);
            let banner = format!("{address}:22")
                .parse()
                .ok()
                .and_then(|a| ssh_banner(a, Duration::from_secs(1)).ok());
            HostStatus {
                index,
                pid1: host_pid1(config, index).ok(),
                ssh_banner: banner,
                name,
                address,
            }
        })
        .collect();
    Ok(Status {
        bridge_up: network::link_exists(&config.bridge),
        hosts,
        inventory: Some(config.inventory_path()).filter(|p| p.exists()),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn unique_names_differ_per_call_and_process() {
        let (a, b) = (super::unique("m"), super::unique("m"));
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("m-{}-", std::process::id())), "{a}");
    }

    use super::*;

    #[test]
    fn addresses_and_names() {
        let c = TestbedConfig::default();
        assert_eq!(c.host_name(0), "off-host-0");
        assert_eq!(c.address(0), "10.250.0.10");
        assert_eq!(c.address(7), "10.250.0.17");
        assert_eq!(c.gateway(), "10.250.0.1");
        assert_eq!(c.unreachable_address(), "10.250.0.250");
        assert_eq!(c.parse_host_name("off-host-12"), Some(12));
        assert_eq!(c.parse_host_name("off-host-"), None);
        assert_eq!(c.parse_host_name("off-host-lc-1"), None);
        assert_eq!(c.parse_host_name("off-hostx-1"), None);
        let lc = TestbedConfig {
            prefix: "off-lc".into(),
            ..c.clone()
        };
        assert_eq!(lc.parse_host_name("off-host-0"), None);
        assert_eq!(lc.parse_host_name("off-lc-1"), Some(1));
    }

    #[test]
    fn validation() {
        let c = TestbedConfig {
            state_dir: "/run/off-testbed".into(),
            cache_dir: "/var/cache/off-testbed".into(),
            ..TestbedConfig::default()
        };
        c.validate(8).unwrap();
        c.validate(MAX_HOSTS).unwrap();
        assert!(c.validate(0).is_err());
        assert!(c.validate(MAX_HOSTS + 1).is_err());
        let bad_subnet = TestbedConfig {
            subnet: "10.250".into(),
            ..c.clone()
        };
        assert!(bad_subnet.validate(1).is_err());
        let long_bridge = TestbedConfig {
            bridge: "offbr0-too-long".into(),
            ..c.clone()
        };
        assert!(long_bridge.validate(1).is_err());
        let colon = TestbedConfig {
            state_dir: "/tmp/a:b".into(),
            ..c
        };
        assert!(colon.validate(1).is_err());
    }

    #[test]
    fn required_packages_include_the_tools_used() {
        let p = required_debian_packages();
        for tool_package in [
            "debootstrap",
            "iproute2",
            "openssh-client",
            "dpkg-dev",
            "util-linux",
        ] {
            assert!(p.contains(&tool_package), "{tool_package}");
        }
    }
}
