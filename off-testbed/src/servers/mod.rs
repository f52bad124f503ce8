//! Real servers the end-to-end tests talk to (ZooKeeper, etcd, InfluxDB, the Prometheus
//! pushgateway, rsyslog), each started from its Debian package in the foreground, as a child of
//! the test, with a data directory of its own, on an address the test chooses (loopback, or the
//! test hosts' bridge so that hosts can reach it). Dropping a [`Server`] kills it.
//!
//! One module per server builds its command line and configuration; this module holds what they
//! share: a free port, the process, waiting until it is ready, and the log quoted when it is not.

pub mod consul_fake;
pub mod etcd;
pub mod zookeeper;

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::util::{describe, tail_file};

/// How long a server may take to accept connections: ZooKeeper's JVM is the slow one.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server. Killed (and its data directory removed) when dropped.
#[derive(Debug)]
pub struct Server {
    /// What it is, for messages: `etcd`, `zookeeper`, ...
    pub name: &'static str,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its data directory (configuration, data, log).
    pub dir: PathBuf,
    child: Child,
    /// `Some` while this server owns its directory.
    _tempdir: Option<TempDir>,
}

impl Server {
    /// Starts `command` in the foreground with stdout and stderr going to `<dir>/server.log`, then
    /// waits until `addr` accepts TCP connections (or, when `ready` is given, until it returns
    /// `Ok(true)`), for at most [`READY_TIMEOUT`]. A server that exits or never gets ready is an
    /// error that quotes the end of its log.
    pub fn start(
        name: &'static str,
        addr: SocketAddr,
        dir: ServerDir,
        mut command: Command,
        ready: Option<&dyn Fn(SocketAddr) -> Result<bool>>,
    ) -> Result<Server> {
        let log_path = dir.path().join("server.log");
        let log = File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}: `{}`", describe(&command)))?;
        let mut server = Server {
            name,
            addr,
            dir: dir.path().to_path_buf(),
            child,
            _tempdir: dir.owned,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{name} exited ({status}) before it was ready; the end of {}:\n{}",
                    log_path.display(),
                    tail_file(&log_path, 20)
                );
            }
            let up = match ready {
                Some(ready) => ready(addr).unwrap_or(false),
                None => TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok(),
            };
            if up {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} did not get ready on {addr} within {READY_TIMEOUT:?}; the end of {}:\n{}",
                    log_path.display(),
                    tail_file(&log_path, 20)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pid, for tests that stop the server to simulate an outage.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server now (dropping does the same).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A server's data directory: a fresh temporary one (removed with the server) or one the test
/// keeps.
#[derive(Debug)]
pub struct ServerDir {
    path: PathBuf,
    owned: Option<TempDir>,
}

impl ServerDir {
    /// A new temporary directory named after the server.
    pub fn temp(name: &str) -> Result<ServerDir> {
        let dir = TempDir::new(name)?;
        Ok(ServerDir {
            path: dir.0.clone(),
            owned: Some(dir),
        })
    }

    /// `path`, created if missing, kept after the server ends.
    pub fn at(path: &Path) -> Result<ServerDir> {
        std::fs::create_dir_all(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(ServerDir {
            path: path.to_path_buf(),
            owned: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A directory removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Result<TempDir> {
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let path = base.join(format!("off-{name}-{}-{attempt}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()));
                }
            }
        }
        bail!(
            "cannot create a data directory for {name} in {}",
            base.display()
        )
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A TCP port on `ip` that nothing listens on now (the kernel's choice). A server started on it
/// right away gets it in practice; [`Server::start`] reports a clear error if it does not.
pub fn free_port(ip: std::net::IpAddr) -> Result<u16> {
    let listener =
        TcpListener::bind((ip, 0)).with_context(|| format!("cannot bind a port on {ip}"))?;
    Ok(listener.local_addr()?.port())
}

/// The address test hosts reach the machine on (the bridge's), for servers the hosts talk to.
pub fn bridge_ip() -> std::net::IpAddr {
    crate::TestbedConfig::default()
        .gateway()
        .parse()
        .expect("the bridge address is an IPv4 address")
}

/// The loopback address, for servers only the test itself talks to.
pub fn loopback() -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
}
