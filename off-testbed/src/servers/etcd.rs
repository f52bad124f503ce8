//! etcd 3.4 from the `etcd-server` package: a one-member cluster in the foreground, with a fresh
//! data directory. Clients use its v3 API (the JSON gateway answers on the client URL).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use super::{Server, ServerDir, free_port};

/// Starts a one-member etcd on `ip` (free client and peer ports), ready when `/health` says so
/// (the client port accepts connections before the member has elected itself leader).
pub fn start(ip: IpAddr) -> Result<Server> {
    start_with(ip, &[])
}

/// [`start`] with more flags for etcd (`--auth-token-ttl=1`, ...).
pub fn start_with(ip: IpAddr, flags: &[&str]) -> Result<Server> {
    let dir = ServerDir::temp("etcd")?;
    let client_port = free_port(ip)?;
    let peer_port = free_port(ip)?;
    let client_url = format!("http://{ip}:{client_port}");
    let peer_url = format!("http://{ip}:{peer_port}");
    let mut command = Command::new("etcd");
    command
        .arg("--name=n")
        .arg(format!("--data-dir={}", dir.path().join("data").display()))
        .arg(format!("--listen-client-urls={client_url}"))
        .arg(format!("--advertise-client-urls={client_url}"))
        .arg(format!("--listen-peer-urls={peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={peer_url}"))
        .arg(format!("--initial-cluster=n={peer_url}"))
        .args(flags);
    Server::start(
        "etcd",
        SocketAddr::new(ip, client_port),
        dir,
        command,
        Some(&is_healthy),
    )
}

/// `GET /health` answers `{"health":"true"}` once the member serves requests.
fn is_healthy(addr: SocketAddr) -> Result<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.contains("\"health\":\"true\""))
}
