//! The hosts' network: one Linux bridge on the machine holding the gateway address, and per host
//! a network namespace joined to the bridge by a veth pair. Hosts get no default route: they
//! reach each other and the machine, nothing else.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::TestbedConfig;
use crate::util;

/// Linux's limit on interface names (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

/// The bridge-side end of host `index`'s veth pair (the other end is `eth0` in the namespace).
pub(crate) fn veth_name(config: &TestbedConfig, index: usize) -> String {
    format!("{}h{index}", config.bridge)
}

pub(crate) fn check_names(config: &TestbedConfig, hosts: usize) -> Result<()> {
    let longest = veth_name(config, hosts.saturating_sub(1));
    if longest.len() > MAX_IFNAME {
        bail!(
            "bridge name {:?} is too long: the veth names derived from it (e.g. {longest:?}) exceed {MAX_IFNAME} characters",
            config.bridge
        );
    }
    Ok(())
}

/// Names of the existing network namespaces that belong to the testbed (`<prefix>-<number>`),
/// with their host index.
pub(crate) fn namespaces(config: &TestbedConfig) -> Result<Vec<(usize, String)>> {
    let out = util::run(Command::new("ip").args(["netns", "list"]))?;
    let mut found: Vec<(usize, String)> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|name| Some((config.parse_host_name(name)?, name.to_owned())))
        .collect();
    found.sort();
    Ok(found)
}

/// Pids of all processes in namespace `ns` (as seen from the machine).
pub(crate) fn namespace_pids(ns: &str) -> Result<Vec<u32>> {
    let out = util::run(Command::new("ip").args(["netns", "pids", ns]))?;
    Ok(out.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

pub(crate) fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// Creates the bridge with the gateway address.
pub(crate) fn create_bridge(config: &TestbedConfig) -> Result<()> {
    check_subnet_free(config)?;
    let b = &config.bridge;
    ip(&["link", "add", "name", b, "type", "bridge"])?;
    ip(&["addr", "add", &format!("{}/24", config.gateway()), "dev", b])?;
    ip(&["link", "set", b, "up"])
}

/// Another interface holding an address in our /24 (a stale testbed under another name, a VPN)
/// would make the routes ambiguous and the tests fail in confusing ways.
fn check_subnet_free(config: &TestbedConfig) -> Result<()> {
    let out = util::run(Command::new("ip").args(["-o", "-4", "addr", "show"]))?;
    let needle = format!("inet {}.", config.subnet);
    if let Some(line) = out.lines().find(|l| l.contains(&needle)) {
        bail!(
            "subnet {}.0/24 is already in use on this machine ({}); bring that testbed down or choose another subnet",
            config.subnet,
            line.split_whitespace()
                .take(4)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}

/// Creates namespace `ns` for host `index` with `eth0` on the bridge and loopback up.
pub(crate) fn create_host_network(config: &TestbedConfig, index: usize, ns: &str) -> Result<()> {
    let veth = veth_name(config, index);
    ip(&["netns", "add", ns])?;
    // Creating the peer directly inside the namespace avoids a temporary name on the machine.
    ip(&[
        "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
    ])?;
    ip(&["link", "set", &veth, "master", &config.bridge, "up"])?;
    let addr = format!("{}/24", config.address(index));
    ip(&["-n", ns, "addr", "add", &addr, "dev", "eth0"])?;
    ip(&["-n", ns, "link", "set", "eth0", "up"])?;
    ip(&["-n", ns, "link", "set", "lo", "up"])
}

/// Kills every process in namespace `ns`, waits until none is left in it, and deletes the
/// namespace. Returns the killed pids.
pub(crate) fn delete_namespace(ns: &str) -> Result<Vec<u32>> {
    let killed = kill_all(ns, Vec::new())?;
    ip(&["netns", "del", ns]).with_context(|| format!("cannot delete network namespace {ns}"))?;
    Ok(killed)
}

/// Kills `pid1` (a host's PID 1: the kernel then kills the rest of its PID namespace) and any
/// process left in network namespace `ns`, and waits until none is left; the namespace stays.
/// Returns the killed pids.
pub(crate) fn kill_namespace_processes(ns: &str, pid1: u32) -> Result<Vec<u32>> {
    // SAFETY: plain kill(2); a pid that has already exited just yields ESRCH.
    unsafe { libc::kill(pid1 as libc::pid_t, libc::SIGKILL) };
    kill_all(ns, vec![pid1])
}

/// SIGKILLs the processes of network namespace `ns` until there are none; returns `killed` with
/// the pids it killed added.
fn kill_all(ns: &str, mut killed: Vec<u32>) -> Result<Vec<u32>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = namespace_pids(ns)?;
        if pids.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("processes {pids:?} in network namespace {ns} survive SIGKILL");
        }
        for pid in pids {
            // SAFETY: plain kill(2); a pid that has already exited just yields ESRCH.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            if !killed.contains(&pid) {
                killed.push(pid);
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(killed)
}

/// Waits (at most `timeout`) until the killed `pids` have left the process table. They are dead
/// already: the hosts are detached, so their exit status goes to the machine's init, which may
/// take a moment (about two seconds on the CI VMs) to reap them. Zombies still present after the
/// timeout are left to init; a pid that is still running is an error.
pub(crate) fn wait_reaped(pids: &[u32], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<(u32, char)> = pids
            .iter()
            .filter_map(|&pid| Some((pid, process_state(pid)?)))
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let running: Vec<u32> = left
                .iter()
                .filter(|(_, state)| *state != 'Z' && *state != 'X')
                .map(|(pid, _)| *pid)
                .collect();
            if !running.is_empty() {
                bail!("killed processes {running:?} are still running");
            }
            return Ok(());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The state letter of `pid` (`R`, `S`, `Z`...), `None` if there is no such process.
pub(crate) fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ...`: comm may contain spaces and parentheses; the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Deletes the bridge and any veth left attached to it.
pub(crate) fn delete_links(config: &TestbedConfig) -> Result<()> {
    // A deleted namespace takes its veth peers along, but asynchronously; delete leftovers
    // explicitly so a quick re-up does not trip over them.
    if let Ok(entries) = std::fs::read_dir("/sys/class/net") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix(&format!("{}h", config.bridge))
                && !rest.is_empty()
                && rest.bytes().all(|b| b.is_ascii_digit())
            {
                delete_link(&name)?;
            }
        }
    }
    delete_link(&config.bridge)
}

fn delete_link(name: &str) -> Result<()> {
    if !link_exists(name) {
        return Ok(());
    }
    let out = util::output(Command::new("ip").args(["link", "del", name]))?;
    // It may vanish between the check and the delete (namespace clean-up runs asynchronously).
    if !out.status.success() && link_exists(name) {
        bail!(
            "cannot delete interface {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<()> {
    util::run(Command::new("ip").args(args)).map(drop)
}
