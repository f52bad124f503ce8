//! Hosts reached over SSH, through the system's OpenSSH client.
//!
//! Driving the real `ssh` (via the `openssh` crate) means `~/.ssh/config`,
//! `ProxyJump`, certificates and the agent work exactly as they do in the
//! user's shell. One ControlMaster connection per host carries everything:
//! a persistent login shell (and, for sudo, a persistent root shell) that
//! runs each command as one framed request ([`super::shell_session`]); files
//! travel as those commands' input and output. Where no persistent shell can be started,
//! each command gets a channel of its own, as plain `ssh host cmd` does.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};

use super::io::{Collect, Drain, Pipes, run_to_exit, with_deadline};
use super::shell_session::{
    RunError, ShellPipes, ShellPool, ShellSession, StartError, session_line, start_as_root,
};
use super::{Channel, ExecOutput, ExecRequest, Stream, Transport, TransportError, sudo_wrapped};
use crate::interrupt::{self, Master, Tracked};
use crate::runtime::block_on;
use crate::secret::Secret;
use crate::target::SshTarget;
use off_shell::quote;

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
    /// The shell that serves the persistent session on the host. When it
    /// cannot be started, each command gets an SSH channel of its own.
    pub session_shell: String,
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
            session_shell: "/bin/sh".to_string(),
        }
    }
}

/// How long a master connection outlives its last client. While the
/// transport lives it holds a client connection of its own (see
/// [`SshTransport::connect`]); this only matters when the control process
/// dies without closing the master (SIGKILL).
const MASTER_IDLE: std::num::NonZeroUsize = std::num::NonZeroUsize::new(10).unwrap();

/// An open, multiplexed SSH connection to one host.
pub struct SshTransport {
    /// Ends the master when the transport is dropped.
    _master: MasterGuard,
    session: Arc<Session>,
    session_shell: String,
    /// How long a new persistent shell may take to announce itself.
    start_timeout: Duration,
    /// The persistent shells of the login user, and of root.
    login: Shells,
    root: Shells,
    /// The fallback's warning, shown once per host.
    warning: Mutex<Option<String>>,
    warned: AtomicBool,
}

/// The master connection of a transport, ended when the transport goes
/// (whoever still holds the session: a channel's task, a leaked clone).
struct MasterGuard {
    master: Master,
    _client: openssh_mux_client::Connection,
    _tracked: Tracked,
}

impl Drop for MasterGuard {
    fn drop(&mut self) {
        self.master.end();
    }
}

/// The persistent shells of one user on a host.
#[derive(Default)]
struct Shells {
    idle: ShellPool,
    /// Set when no shell can be started: commands then get a channel each.
    per_channel: AtomicBool,
    /// Whether a shell was ever started: if so, a shell that fails to start
    /// later (sshd's session limit, …) is that command's failure, not a
    /// reason to give persistent shells up.
    started: AtomicBool,
}

/// Whose persistent shell runs a command.
#[derive(Clone, Copy)]
enum Who<'a> {
    Login,
    /// Root through sudo, with the password for its prompt.
    Root(Option<&'a Secret>),
}

/// Why a command did not run in a persistent shell.
enum ShellFailure {
    /// No persistent shell can be started on this host: use a channel.
    Unavailable(String),
    Transport(TransportError),
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
            .control_persist(ControlPersist::IdleFor(MASTER_IDLE))
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
        let (session, master) = block_on(async {
            let session = builder.connect_mux(&target.host).await?;
            // An idle client of the master's own: the master counts it as
            // a channel, so ControlPersist's idle timer only starts when
            // this process is gone (however it ended). It also tells the
            // master's pid, for ending it (see crate::interrupt).
            let socket = session.control_socket().to_path_buf();
            let mut client = openssh_mux_client::Connection::connect(&socket).await?;
            let pid = client.send_alive_check().await?;
            let master = Master {
                pid: pid.get(),
                control_dir: socket.parent().map(Into::into).unwrap_or_default(),
                socket,
            };
            Ok::<_, openssh::Error>((session, (master, client)))
        })
        .map_err(connect_error)?;
        let (master, client) = master;
        let tracked = interrupt::track_master(master.clone());
        Ok(SshTransport {
            _master: MasterGuard {
                master,
                _client: client,
                _tracked: tracked,
            },
            session: Arc::new(session),
            session_shell: options.session_shell.clone(),
            start_timeout: options.connect_timeout,
            login: Shells::default(),
            root: Shells::default(),
            warning: Mutex::new(None),
            warned: AtomicBool::new(false),
        })
    }

    fn shells(&self, who: Who<'_>) -> &Shells {
        match who {
            Who::Login => &self.login,
            Who::Root(_) => &self.root,
        }
    }

    /// Runs a command in a persistent shell of `who`, starting one when none
    /// is idle (see [`ShellPool::run`]).
    fn exec_in_shell(
        &self,
        who: Who<'_>,
        command: &str,
        stdin: Option<&[u8]>,
        deadline: Option<Duration>,
        keep_stdout: bool,
        on_output: &mut (dyn FnMut(Stream, &[u8]) + Send),
    ) -> Result<ExecOutput, ShellFailure> {
        let failed = |e: RunError| {
            ShellFailure::Transport(match e {
                RunError::NotSent(reason) | RunError::Ended(reason) => self.lost(reason),
                // Dropping the shell closes its channel; the host's
                // `timeout` (see ops) normally acts well before this.
                RunError::DeadlineExceeded => TransportError::DeadlineExceeded,
            })
        };
        let request = ExecRequest {
            command,
            stdin,
            deadline,
            on_output,
            keep_stdout,
        };
        self.shells(who)
            .idle
            .run(|| self.start_shell(who), failed, request)
    }

    /// Starts a persistent shell: `/bin/sh` as the login user, or as root
    /// through sudo. sudo is tried without a password first (`-n`), so a
    /// password is only ever written to a sudo that asks for one.
    fn start_shell(&self, who: Who<'_>) -> Result<ShellSession, ShellFailure> {
        let session = session_line(&self.session_shell);
        let result = match who {
            Who::Login => self.start(&format!("exec {session}"), None),
            Who::Root(password) => {
                start_as_root(&session, password, |line, pw| self.start(line, pw))
            }
        };
        match result {
            Ok(shell) => {
                self.shells(who).started.store(true, Ordering::Relaxed);
                Ok(shell)
            }
            Err(StartError::SudoRefused(complaint)) => Err(ShellFailure::Transport(
                TransportError::SudoRefused(complaint),
            )),
            Err(StartError::Failed(reason)) => match block_on(self.session.check()) {
                Err(e) => Err(ShellFailure::Transport(TransportError::Disconnected(
                    e.to_string(),
                ))),
                Ok(()) if self.shells(who).started.load(Ordering::Relaxed) => {
                    Err(ShellFailure::Transport(TransportError::Disconnected(
                        format!("cannot start another shell: {reason}"),
                    )))
                }
                Ok(()) => Err(ShellFailure::Unavailable(reason)),
            },
        }
    }

    fn start(&self, line: &str, password: Option<&str>) -> Result<ShellSession, StartError> {
        let pipes = self.spawn_piped(line).map_err(StartError::Failed)?;
        ShellSession::start(pipes, password, self.start_timeout)
    }

    /// Starts `line` in a channel of its own and hands out its pipes: they
    /// leave the async runtime, for I/O on the caller's thread.
    fn spawn_piped(&self, line: &str) -> Result<ShellPipes, String> {
        let mut child = block_on(
            Session::to_raw_command(self.session.clone(), line)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn(),
        )
        .map_err(|e| e.to_string())?;
        let fd = |r: std::io::Result<OwnedFd>| r.map_err(|e| e.to_string());
        Ok(ShellPipes {
            stdin: fd(child.stdin().take().expect("piped").into_owned_fd())?,
            stdout: fd(child.stdout().take().expect("piped").into_owned_fd())?,
            stderr: fd(child.stderr().take().expect("piped").into_owned_fd())?,
            _owner: Box::new(child),
        })
    }

    /// The error for a shell that ended mid-command: the connection's loss
    /// when the master connection is gone, else what the shell said.
    fn lost(&self, reason: String) -> TransportError {
        match block_on(self.session.check()) {
            Err(e) => TransportError::Disconnected(e.to_string()),
            Ok(()) => TransportError::Disconnected(reason),
        }
    }

    /// Remembers that `who`'s commands now take a channel each, and why.
    fn fall_back(&self, who: Who<'_>, reason: &str) {
        self.shells(who).per_channel.store(true, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            let whose = match who {
                Who::Login => "a persistent shell",
                Who::Root(_) => "a persistent root shell",
            };
            *self.warning.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                "cannot start {whose} ({reason}); each command opens its own SSH channel instead, which is slower"
            ));
        }
    }

    /// Runs `command` in an SSH channel of its own.
    async fn exec_in_channel(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        keep_stdout: bool,
        on_output: &mut (dyn FnMut(Stream, &[u8]) + Send),
    ) -> Result<ExecOutput, TransportError> {
        // sshd hands the command line to the login shell; `exec /bin/sh -c`
        // makes the semantics /bin/sh's whatever that shell is.
        let line = format!("exec /bin/sh -c {}", quote(command));
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
        let pipes = Pipes {
            stdin: child.stdin().take(),
            stdout: child.stdout().take(),
            stderr: child.stderr().take(),
        };
        // The command is over at its exit status, even if a background
        // process it started still holds the channel's pipes (`daemon &`),
        // as in the persistent shell and on the local machine.
        let collect = Collect {
            keep_stdout,
            drain: Drain::CHANNEL,
        };
        run_to_exit(
            pipes,
            stdin,
            on_output,
            collect,
            child.wait(),
            TransportError::Disconnected,
        )
        .await
    }

    /// Runs a command as `who`: in a persistent shell, or in a channel of
    /// its own once persistent shells proved impossible on this host.
    fn exec_as(
        &self,
        who: Who<'_>,
        request: ExecRequest<'_>,
    ) -> Result<ExecOutput, TransportError> {
        let ExecRequest {
            command,
            stdin,
            deadline,
            on_output,
            keep_stdout,
        } = request;
        if !self.shells(who).per_channel.load(Ordering::Relaxed) {
            match self.exec_in_shell(who, command, stdin, deadline, keep_stdout, &mut *on_output) {
                Ok(output) => return Ok(output),
                Err(ShellFailure::Transport(e)) => return Err(e),
                Err(ShellFailure::Unavailable(reason)) => self.fall_back(who, &reason),
            }
        }
        block_on(async {
            match who {
                Who::Login => {
                    with_deadline(
                        deadline,
                        self.exec_in_channel(command, stdin, keep_stdout, on_output),
                    )
                    .await
                }
                Who::Root(password) => {
                    let (line, input) = sudo_wrapped(command, stdin, password);
                    with_deadline(
                        deadline,
                        self.exec_in_channel(&line, input.as_deref(), keep_stdout, on_output),
                    )
                    .await
                }
            }
        })
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
    if message.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        TransportError::HostKey(message)
    } else if message.contains("you have requested strict checking") {
        TransportError::UnknownHostKey(message)
    } else if message.contains("Host key verification failed") {
        TransportError::HostKey(message)
    } else {
        TransportError::Connect(message)
    }
}

impl Transport for SshTransport {
    fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        self.exec_as(Who::Login, request)
    }

    fn exec_sudo(
        &self,
        request: ExecRequest<'_>,
        password: Option<&Secret>,
    ) -> Result<ExecOutput, TransportError> {
        self.exec_as(Who::Root(password), request)
    }

    fn open_channel(&self, command: &str) -> Result<Channel, TransportError> {
        let line = format!("exec /bin/sh -c {}", quote(command));
        let pipes = self
            .spawn_piped(&line)
            .map_err(TransportError::Disconnected)?;
        Channel::new(pipes.stdin, pipes.stdout, pipes.stderr, pipes._owner)
    }

    fn take_warning(&self) -> Option<String> {
        if !self.warned.load(Ordering::Relaxed) {
            return None;
        }
        self.warning
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}
