//! Hosts reached over SSH, through the system's OpenSSH client.
//!
//! Driving the real `ssh` (via the `openssh` crate) means `~/.ssh/config`,
//! `ProxyJump`, certificates and the agent work exactly as they do in the
//! user's shell. One ControlMaster connection per host carries every command
//! of the run as a multiplexed channel, and one SFTP channel carries the files.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use openssh_sftp_client::{Sftp, SftpOptions};
use tokio::sync::OnceCell;

use super::io::{pump, with_deadline};
use super::{ExecOutput, ExecRequest, Transport, TransportError};
use crate::runtime::block_on;
use crate::shell::quote;
use crate::target::SshTarget;

/// What to do with a host key the known_hosts file does not have yet. A key
/// that differs from a known one is always refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Record unknown hosts' keys (`StrictHostKeyChecking=accept-new`).
    #[default]
    AcceptNew,
    /// Refuse hosts that are not in known_hosts (`StrictHostKeyChecking=yes`).
    Strict,
}

/// How to connect: the `-i`, `--ssh-config` and host-key flags of a recipe binary.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Private key to authenticate with (`-i`); otherwise ssh's own defaults and agent.
    pub identity: Option<PathBuf>,
    /// known_hosts file to verify and record host keys in; otherwise ssh's default.
    pub known_hosts: Option<PathBuf>,
    pub host_key_policy: HostKeyPolicy,
    /// An ssh_config file to use instead of `~/.ssh/config`.
    pub ssh_config: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Probe the server this often when it is silent, so a dropped host is
    /// noticed (after three unanswered probes) instead of waited on forever.
    pub keepalive: Duration,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            identity: None,
            known_hosts: None,
            host_key_policy: HostKeyPolicy::AcceptNew,
            ssh_config: None,
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(5),
        }
    }
}

/// An open, multiplexed SSH connection to one host.
pub struct SshTransport {
    session: Arc<Session>,
    sftp: OnceCell<Sftp>,
}

impl SshTransport {
    /// Opens the host's master connection. Fails with
    /// [`TransportError::HostKey`] when the host's key changed, and with
    /// [`TransportError::Connect`] for anything else that keeps us out.
    pub fn connect(target: &SshTarget, options: &SshOptions) -> Result<Self, TransportError> {
        let mut builder = SessionBuilder::default();
        builder
            .known_hosts_check(match options.host_key_policy {
                HostKeyPolicy::AcceptNew => KnownHosts::Add,
                HostKeyPolicy::Strict => KnownHosts::Strict,
            })
            .connect_timeout(options.connect_timeout)
            .server_alive_interval(options.keepalive)
            .control_directory(std::env::temp_dir());
        if let Some(user) = &target.user {
            builder.user(user.clone());
        }
        if let Some(port) = target.port {
            builder.port(port);
        }
        if let Some(key) = &options.identity {
            builder.keyfile(key);
        }
        if let Some(known_hosts) = &options.known_hosts {
            builder.user_known_hosts_file(known_hosts);
        }
        if let Some(config) = &options.ssh_config {
            builder.config_file(config);
        }
        let session = block_on(builder.connect_mux(&target.host)).map_err(connect_error)?;
        Ok(SshTransport {
            session: Arc::new(session),
            sftp: OnceCell::new(),
        })
    }

    async fn sftp(&self) -> Result<&Sftp, TransportError> {
        self.sftp
            .get_or_try_init(|| async {
                Sftp::from_clonable_session(self.session.clone(), SftpOptions::default())
                    .await
                    .map_err(|e| TransportError::Io(format!("cannot open the SFTP channel: {e}")))
            })
            .await
    }
}

/// Turns the `ssh` client's complaint into the error kind the run reports.
fn connect_error(error: openssh::Error) -> TransportError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    let message = message.replace('\n', " ").trim().to_string();
    if message.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || message.contains("Host key verification failed")
    {
        TransportError::HostKey(message)
    } else {
        TransportError::Connect(message)
    }
}

fn sftp_error(path: &str, error: openssh_sftp_client::Error) -> TransportError {
    TransportError::Io(format!("{path}: {error}"))
}

impl Transport for SshTransport {
    fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        let ExecRequest {
            command,
            stdin,
            deadline,
            on_output,
        } = request;
        // sshd hands the command line to the login shell; `exec /bin/sh -c`
        // makes the semantics /bin/sh's whatever that shell is.
        let line = format!("exec /bin/sh -c {}", quote(command));
        block_on(with_deadline(deadline, async {
            let lost = |e: openssh::Error| TransportError::Disconnected(e.to_string());
            let mut child = self
                .session
                .raw_command(&line)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .await
                .map_err(lost)?;
            let (child_in, child_out, child_err) = (
                child.stdin().take(),
                child.stdout().take(),
                child.stderr().take(),
            );
            let (stdout, stderr) = pump(
                child_in,
                stdin,
                child_out.expect("piped"),
                child_err.expect("piped"),
                on_output,
            )
            .await
            .map_err(|e| TransportError::Disconnected(e.to_string()))?;
            let status = child.wait().await.map_err(lost)?;
            Ok(ExecOutput {
                stdout,
                stderr,
                code: status.code(),
            })
        }))
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, TransportError> {
        block_on(async {
            let data = self
                .sftp()
                .await?
                .fs()
                .read(path)
                .await
                .map_err(|e| sftp_error(path, e))?;
            Ok(data.to_vec())
        })
    }

    fn write_file(&self, path: &str, data: &[u8], mode: u32) -> Result<(), TransportError> {
        block_on(async {
            let sftp = self.sftp().await?;
            let mut file = sftp
                .options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .await
                .map_err(|e| sftp_error(path, e))?;
            file.set_permissions((mode as u16).into())
                .await
                .map_err(|e| sftp_error(path, e))?;
            file.write_all(data)
                .await
                .map_err(|e| sftp_error(path, e))?;
            if sftp.support_fsync() {
                file.sync_all().await.map_err(|e| sftp_error(path, e))?;
            }
            file.close().await.map_err(|e| sftp_error(path, e))
        })
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), TransportError> {
        block_on(async {
            self.sftp()
                .await?
                .fs()
                .rename(from, to)
                .await
                .map_err(|e| sftp_error(to, e))
        })
    }

    fn remove_file(&self, path: &str) -> Result<(), TransportError> {
        block_on(async {
            self.sftp()
                .await?
                .fs()
                .remove_file(path)
                .await
                .map_err(|e| sftp_error(path, e))
        })
    }
}
