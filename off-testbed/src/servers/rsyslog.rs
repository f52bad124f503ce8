//! rsyslog (`rsyslogd` from the `rsyslog` package) receiving on UDP, TCP and a unix datagram
//! socket, writing every message exactly as it arrived (`%rawmsg%`), one per line, to a file.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use super::{Server, ServerDir, free_port};

/// A running `rsyslogd`.
#[derive(Debug)]
pub struct Rsyslog {
    pub server: Server,
    /// Its imudp port (on the same address as the TCP one, `server.addr`).
    pub udp: SocketAddr,
    /// Its imuxsock socket.
    pub socket: PathBuf,
    /// The file every message is appended to, as it arrived.
    pub messages: PathBuf,
    /// The file with each message's structured data as rsyslog parsed it (`%structured-data%`).
    pub structured_data: PathBuf,
}

impl Rsyslog {
    /// Starts `rsyslogd -n` listening on `ip` (UDP and TCP) and on a socket in its directory.
    pub fn start(ip: IpAddr) -> Result<Rsyslog> {
        let dir = ServerDir::temp("rsyslog")?;
        let tcp = SocketAddr::new(ip, free_port(ip)?);
        let udp = {
            let socket =
                UdpSocket::bind((ip, 0)).with_context(|| format!("cannot bind UDP on {ip}"))?;
            socket.local_addr()?
        };
        let d = dir.path().to_path_buf();
        let socket = d.join("log");
        let messages = d.join("messages");
        let structured_data = d.join("structured-data");
        let config = format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             module(load=\"imudp\")\n\
             module(load=\"imtcp\")\n\
             input(type=\"imuxsock\" Socket=\"{socket}\" CreatePath=\"on\")\n\
             input(type=\"imudp\" address=\"{ip}\" port=\"{udp_port}\")\n\
             input(type=\"imtcp\" address=\"{ip}\" port=\"{tcp_port}\")\n\
             template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
             template(name=\"sd\" type=\"string\" string=\"%structured-data%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{messages}\" template=\"raw\")\n\
             *.* action(type=\"omfile\" file=\"{structured_data}\" template=\"sd\")\n",
            d = d.display(),
            socket = socket.display(),
            messages = messages.display(),
            structured_data = structured_data.display(),
            udp_port = udp.port(),
            tcp_port = tcp.port(),
        );
        let conf = d.join("rsyslog.conf");
        std::fs::write(&conf, config)
            .with_context(|| format!("cannot write {}", conf.display()))?;
        let mut command = Command::new("rsyslogd");
        command
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(d.join("pid"));
        let server = Server::start("rsyslog", tcp, dir, command, None)?;
        Ok(Rsyslog {
            server,
            udp,
            socket,
            messages,
            structured_data,
        })
    }

    /// `syslog://ADDR` (UDP).
    pub fn udp_url(&self) -> String {
        format!("syslog://{}", self.udp)
    }

    /// `syslog+tcp://ADDR`.
    pub fn tcp_url(&self) -> String {
        format!("syslog+tcp://{}", self.server.addr)
    }

    /// `syslog://` + the unix socket's path.
    pub fn socket_url(&self) -> String {
        format!("syslog://{}", self.socket.display())
    }

    /// The messages written so far, one a line (omfile writes each as it arrives).
    pub fn lines(&self) -> Result<Vec<String>> {
        read_lines(&self.messages)
    }

    /// The structured data of the messages so far, as rsyslog parsed it, one a line.
    pub fn structured_data(&self) -> Result<Vec<String>> {
        read_lines(&self.structured_data)
    }

    /// The lines, once at least `n` have arrived (for at most 10 s: UDP and TCP delivery is
    /// asynchronous).
    pub fn wait_for_lines(&self, n: usize) -> Result<Vec<String>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let lines = self.lines()?;
            if lines.len() >= n || std::time::Instant::now() > deadline {
                return Ok(lines);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

fn read_lines(path: &std::path::Path) -> Result<Vec<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().map(str::to_string).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
