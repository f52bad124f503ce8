//! ZooKeeper 3.8 from the `zookeeperd` package, standalone, in the foreground.
//!
//! `tickTime=500` and `minSessionTimeout=1000` let a test's client ask for a short session, so
//! that the ephemeral nodes of a killed client vanish within a couple of seconds.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{Server, ServerDir, free_port};

/// Where the package keeps its start script and logging configuration.
const ZK_SERVER_SH: &str = "/usr/share/zookeeper/bin/zkServer.sh";
const LOG4J_PROPERTIES: &str = "/etc/zookeeper/conf/log4j.properties";

/// The tick and the shortest session a client may ask for, in milliseconds.
pub const TICK_MS: u64 = 500;
pub const MIN_SESSION_TIMEOUT_MS: u64 = 1000;

/// Starts a standalone ZooKeeper on `ip` (a free port), ready when it serves requests.
pub fn start(ip: IpAddr) -> Result<Server> {
    let dir = ServerDir::temp("zookeeper")?;
    let port = free_port(ip)?;
    let conf = dir.path().join("conf");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&conf)?;
    std::fs::create_dir_all(&data)?;
    std::fs::copy(LOG4J_PROPERTIES, conf.join("log4j.properties"))
        .with_context(|| format!("cannot copy {LOG4J_PROPERTIES} (is zookeeperd installed?)"))?;
    let zoo_cfg = conf.join("zoo.cfg");
    std::fs::write(
        &zoo_cfg,
        format!(
            "tickTime={TICK_MS}\n\
             minSessionTimeout={MIN_SESSION_TIMEOUT_MS}\n\
             dataDir={data}\n\
             clientPort={port}\n\
             clientPortAddress={ip}\n\
             admin.enableServer=false\n\
             4lw.commands.whitelist=ruok,stat\n",
            data = data.display(),
        ),
    )?;
    let mut command = Command::new(ZK_SERVER_SH);
    command
        .arg("start-foreground")
        .arg(&zoo_cfg)
        .env("ZOOCFGDIR", &conf)
        .env("ZOO_LOG_DIR", dir.path())
        .env("ZOO_LOG4J_PROP", "INFO,CONSOLE");
    Server::start(
        "zookeeper",
        SocketAddr::new(ip, port),
        dir,
        command,
        Some(&is_serving),
    )
}

/// `stat` names the server's mode once it serves requests. (`ruok` answers `imok` as soon as the
/// process runs, before it serves anything.)
fn is_serving(addr: SocketAddr) -> Result<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(b"stat")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.contains("Mode: "))
}
