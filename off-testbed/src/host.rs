//! One host: inside its network namespace, `unshare` new mount/UTS/IPC/PID namespaces and run a
//! boot script as their PID 1. The script builds the host's root (an overlay of the cached rootfs
//! with its writable layer on a private tmpfs), mounts /proc, /sys, a minimal /dev and /run,
//! installs the host's ssh keys, and replaces itself with `sshd -D` chrooted into that root.
//!
//! Every mount exists only in the host's private mount namespace, so killing the host's processes
//! removes them all: nothing is ever mounted on the machine itself.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::util::{self, shell_quote};
use crate::{TestbedConfig, network};

/// How long all hosts together may take to accept ssh connections after being spawned.
pub(crate) const SSH_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The client key pair in the state dir, generated once.
pub(crate) fn ensure_client_key(config: &TestbedConfig) -> Result<PathBuf> {
    let key = config.client_key();
    if !key.exists() || !key.with_extension("pub").exists() {
        generate_key(&key, "off-testbed-client")?;
    }
    Ok(key)
}

/// Host `index`'s ed25519 host key, generated once per index and kept in the state dir so that
/// re-ups present the same key (known_hosts files stay valid).
pub(crate) fn ensure_host_key(config: &TestbedConfig, index: usize) -> Result<PathBuf> {
    let key = config
        .state_dir
        .join("hostkeys")
        .join(config.host_name(index))
        .join("ssh_host_ed25519_key");
    if !key.exists() || !pub_path(&key).exists() {
        util::create_dir(key.parent().unwrap(), 0o700)?;
        generate_key(&key, &config.host_name(index))?;
    }
    Ok(key)
}

pub(crate) fn pub_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

fn generate_key(path: &Path, comment: &str) -> Result<()> {
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(pub_path(path));
    util::run(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(path),
    )
    .map(drop)
    .with_context(|| format!("cannot generate ssh key {}", path.display()))
}

/// Per-host runtime files in the state dir.
pub(crate) struct HostFiles {
    /// Mount point of the host's tmpfs (mounted only inside the host's mount namespace).
    pub mount_dir: PathBuf,
    pub script: PathBuf,
    pub log: PathBuf,
}

pub(crate) fn host_files(config: &TestbedConfig, index: usize) -> HostFiles {
    let name = config.host_name(index);
    HostFiles {
        mount_dir: config.state_dir.join("mnt").join(&name),
        script: config.state_dir.join("boot").join(format!("{name}.sh")),
        log: config.state_dir.join("logs").join(format!("{name}.log")),
    }
}

/// The boot script of host `index` (PID 1 of its PID namespace until it execs sshd).
pub(crate) fn boot_script(
    config: &TestbedConfig,
    index: usize,
    rootfs: &Path,
    host_key: &Path,
    client_pub: &Path,
    etc_hosts: &Path,
) -> String {
    let q = |p: &Path| shell_quote(&p.to_string_lossy());
    let files = host_files(config, index);
    format!(
        r#"#!/bin/sh
# Boot script of testbed host {name}, written by off-testbed. Runs as PID 1 of the host's PID
# namespace, in its own mount, UTS, IPC and network namespaces.
set -eux
T={mnt}
LOWER={lower}

# The host's writable layer lives on a private tmpfs: it vanishes with the host.
mount -t tmpfs -o size={size},mode=0755 off-testbed-tmp "$T"
mkdir "$T/upper" "$T/work" "$T/root"
mount -t overlay -o "lowerdir=$LOWER,upperdir=$T/upper,workdir=$T/work" off-testbed-root "$T/root"
R="$T/root"

# A new /proc shows only the host's processes.
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t sysfs -o nosuid,nodev,noexec,ro sysfs "$R/sys"

# A minimal /dev: the machine's disks and consoles stay out of reach.
mount -t tmpfs -o mode=0755,size=1m,nosuid off-testbed-dev "$R/dev"
mknod -m 666 "$R/dev/null" c 1 3
mknod -m 666 "$R/dev/zero" c 1 5
mknod -m 666 "$R/dev/full" c 1 7
mknod -m 666 "$R/dev/random" c 1 8
mknod -m 666 "$R/dev/urandom" c 1 9
mknod -m 666 "$R/dev/tty" c 5 0
mkdir "$R/dev/pts" "$R/dev/shm" "$R/dev/mqueue"
# ssh sessions with a pty need their own devpts instance.
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
# PostgreSQL allocates its shared memory in /dev/shm.
mount -t tmpfs -o mode=1777,nosuid,nodev off-testbed-shm "$R/dev/shm"
mount -t mqueue -o nosuid,nodev,noexec mqueue "$R/dev/mqueue"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"

mount -t tmpfs -o mode=0755,nosuid,nodev off-testbed-run "$R/run"
mkdir -m 0755 "$R/run/sshd"
mkdir -m 1777 "$R/run/lock"
: > "$R/run/utmp"

echo {name} > /proc/sys/kernel/hostname
echo {name} > "$R/etc/hostname"
cp {etc_hosts} "$R/etc/hosts"

install -m 0600 {host_key} "$R/etc/ssh/ssh_host_ed25519_key"
install -m 0644 {host_pub} "$R/etc/ssh/ssh_host_ed25519_key.pub"
install -d -m 0700 "$R/root/.ssh" "$R/home/{deploy}/.ssh"
install -m 0600 {client_pub} "$R/root/.ssh/authorized_keys"
install -m 0600 {client_pub} "$R/home/{deploy}/.ssh/authorized_keys"
# The rootfs's user database, not the machine's, knows {deploy}.
chroot "$R" chown -R {deploy}:{deploy} /home/{deploy}/.ssh

# sshd becomes PID 1: it reaps orphans (daemons started over ssh), and killing it ends the host.
cd "$R"
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin chroot "$R" /usr/sbin/sshd -D -e
"#,
        name = config.host_name(index),
        mnt = q(&files.mount_dir),
        lower = q(rootfs),
        size = shell_quote(&config.tmpfs_size),
        etc_hosts = q(etc_hosts),
        host_key = q(host_key),
        host_pub = q(&pub_path(host_key)),
        client_pub = q(client_pub),
        deploy = crate::rootfs::DEPLOY_USER,
    )
}

/// Starts host `index` in its (already configured) network namespace, detached from the calling
/// process: the host outlives it, and its output goes to the host's log file.
pub(crate) fn spawn(config: &TestbedConfig, index: usize, script_text: &str) -> Result<()> {
    let ns = config.host_name(index);
    let files = host_files(config, index);
    util::create_dir(&files.mount_dir, 0o755)?;
    util::create_dir(files.script.parent().unwrap(), 0o755)?;
    util::create_dir(files.log.parent().unwrap(), 0o755)?;
    fs::write(&files.script, script_text)
        .with_context(|| format!("cannot write {}", files.script.display()))?;
    let log = fs::File::create(&files.log)
        .with_context(|| format!("cannot create {}", files.log.display()))?;
    let mut cmd = Command::new("setsid");
    // `--fork`: setsid's own child runs the host, so the host is not our child either (it would
    // otherwise linger as a zombie of a long-running test process after `down`).
    cmd.arg("--fork")
        .args(["ip", "netns", "exec", &ns])
        .args(["unshare", "--mount", "--uts", "--ipc", "--pid", "--fork"])
        .args(["--propagation", "private", "--kill-child"])
        .arg("/bin/sh")
        .arg(&files.script)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let status = cmd
        .status()
        .with_context(|| format!("cannot run `{}`", util::describe(&cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", util::describe(&cmd));
    }
    Ok(())
}

/// Waits until the sshd of every host in `indices` sends its banner. Fails early when a host's
/// processes are gone (its boot script failed), quoting the host's log.
pub(crate) fn wait_for_ssh(
    config: &TestbedConfig,
    indices: impl IntoIterator<Item = usize>,
) -> Result<()> {
    let start = Instant::now();
    let deadline = start + SSH_READY_TIMEOUT;
    let mut pending: Vec<usize> = indices.into_iter().collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for &i in &pending {
            let addr: SocketAddr = format!("{}:22", config.address(i)).parse()?;
            if ssh_banner(addr, Duration::from_millis(500)).is_ok() {
                continue;
            }
            // Give the detached `setsid --fork` a moment to enter the namespace before concluding
            // that the host died.
            let ns = config.host_name(i);
            if start.elapsed() > Duration::from_secs(2) && network::namespace_pids(&ns)?.is_empty()
            {
                bail!(
                    "host {ns} stopped during boot; end of {}:\n{}",
                    host_files(config, i).log.display(),
                    util::tail_file(&host_files(config, i).log, 12)
                );
            }
            still.push(i);
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let i = pending[0];
            bail!(
                "host {} ({}) did not accept ssh connections within {:?}; end of {}:\n{}",
                config.host_name(i),
                config.address(i),
                SSH_READY_TIMEOUT,
                host_files(config, i).log.display(),
                util::tail_file(&host_files(config, i).log, 12)
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Connects to `addr` and returns the first line the server sends if it is an SSH banner.
pub fn ssh_banner(addr: SocketAddr, timeout: Duration) -> Result<String> {
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .with_context(|| format!("no banner from {addr}"))?;
    let line = line.trim_end().to_owned();
    if !line.starts_with("SSH-") {
        bail!("{addr} sent {line:?}, not an SSH banner");
    }
    Ok(line)
}

/// The machine's pid of host `index`'s PID 1 (sshd once booted).
pub fn host_pid1(config: &TestbedConfig, index: usize) -> Result<u32> {
    let ns = config.host_name(index);
    if !Path::new("/run/netns").join(&ns).exists() {
        bail!("host {ns} is not running (no network namespace {ns})");
    }
    for pid in network::namespace_pids(&ns)? {
        // `NSpid: <pid on the machine> <pid in the host>`: the host's init has 1 as its last.
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let is_init = status.lines().any(|l| {
            l.strip_prefix("NSpid:").is_some_and(|v| {
                let ids: Vec<&str> = v.split_whitespace().collect();
                ids.len() >= 2 && ids.last() == Some(&"1")
            })
        });
        if is_init {
            return Ok(pid);
        }
    }
    Err(anyhow!("host {ns} has no PID 1 (its sshd is not running)"))
}

/// Runs `sh -c cmd` inside host `index` as root, entering its namespaces and root directly
/// (no ssh), with a clean environment.
pub fn exec_in_host(config: &TestbedConfig, index: usize, cmd: &str) -> Result<Output> {
    let pid = host_pid1(config, index)?;
    let mut c = Command::new("nsenter");
    c.arg(format!("--target={pid}"))
        .args([
            "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd",
        ])
        .args(["--", "/bin/sh", "-c", cmd])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root")
        .env("USER", "root")
        .env("LOGNAME", "root");
    util::output(&mut c).with_context(|| format!("cannot enter host {}", config.host_name(index)))
}
