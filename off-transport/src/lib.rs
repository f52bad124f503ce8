//! Transports: how commands and files reach a target.
//!
//! A [`Transport`] only moves bytes: it runs an already-built command line with
//! the bytes of its standard input. Everything Fabric users think of as
//! semantics (`cd`, `sudo`, timeouts, idempotent `put`) is built on top of it in
//! off-runtime's `ops`, once, for every transport. Files travel as commands'
//! input and output too (see off-runtime's `ops::files`), so every write on a
//! host goes through one script whose safety does not depend on the transport.
//!
//! Around the transports: the [`target`]s they reach, the [`connection`] that
//! probes a target once, the SSH [`flags`] every binary shares, [`Secret`], the [`pool`] that
//! reaches many hosts at most `--parallel` at a time,
//! and the tracking of what they start, so that Ctrl-C ends it
//! ([`interrupt`]). This is the only crate of off with openssh and tokio
//! (whose runtime, private to it, serves the blocking API); off-runtime
//! re-exports it as `off_runtime::transport` and its modules under their
//! old paths.

pub mod channel;
pub mod connection;
pub mod flags;
mod frame;
pub mod interrupt;
mod io;
pub mod local;
pub mod pool;
mod runtime;
mod secret;
mod shell_session;
pub mod ssh;
pub mod target;

use std::time::Duration;

use off_error::Error;
use off_shell::quote;

pub use channel::Channel;
pub use connection::{Connection, HostFacts, PackageManager};
pub use local::LocalTransport;
pub use secret::{
    SUDO_PASSWORD_ENV, Secret, redact_secrets, sudo_password, take_sudo_password_env,
    values_to_redact,
};
pub use ssh::{HostKeyPolicy, SshOptions, SshTransport};
pub use target::{SshTarget, Target};

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One command to run on a target.
pub struct ExecRequest<'a> {
    /// The full command line, interpreted by `/bin/sh` on the target, in a
    /// shell or subshell of its own (its `cd`, `exit` and `exec` do not
    /// reach other commands).
    pub command: &'a str,
    /// Written to the command's standard input, which is then closed. `None`
    /// gives the command an empty standard input, so it can never wait for
    /// input that will not come.
    pub stdin: Option<&'a [u8]>,
    /// Give up (and kill what runs) when the command has not finished by then.
    pub deadline: Option<Duration>,
    /// Called with each chunk of output as it arrives.
    pub on_output: &'a mut (dyn FnMut(Stream, &[u8]) + Send),
    /// Keep standard output in [`ExecOutput::stdout`]. `false` when
    /// `on_output` consumes it (a download written to disk as it arrives),
    /// so that it is never held in memory whole.
    pub keep_stdout: bool,
}

/// What a command left behind.
#[derive(Debug, Default)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit code; `None` when the command was killed by a signal and
    /// the transport can tell (a shell reports such a command as 128 + the
    /// signal's number, as the SSH transport's persistent shell does).
    pub code: Option<i32>,
}

/// Transport-level failures; [`FailedCommand::error`] turns them into errors
/// that name the host, the operation and the command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The target could not be reached or refused authentication.
    #[error("{0}")]
    Connect(String),
    /// The target presented a host key different from the known one.
    #[error("{0}")]
    HostKey(String),
    /// The target's host key is not known, and the policy is strict.
    #[error("{0}")]
    UnknownHostKey(String),
    /// The connection broke while an operation ran.
    #[error("{0}")]
    Disconnected(String),
    /// sudo wants a password it was not given, or refused the one it got.
    /// Holds sudo's complaint (never the password).
    #[error("{0}")]
    SudoRefused(String),
    /// The request's deadline passed.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// Any other failure (a file that cannot be written, ...).
    #[error("{0}")]
    Io(String),
}

/// The command a [`TransportError`] (or sudo's refusal) came from: turns it
/// into the [`Error`] that names the host, the operation and the command,
/// by one mapping for off-runtime's operations and off-check's engine.
#[derive(Debug, Clone, Copy)]
pub struct FailedCommand<'a> {
    /// `user@host`.
    pub host: &'a str,
    pub op: &'static str,
    /// The command as errors show it.
    pub command: &'a str,
    /// The login user, named when sudo refuses it.
    pub user: &'a str,
    /// The command's timeout, named when it passed.
    pub timeout: Duration,
}

impl FailedCommand<'_> {
    /// A deadline that passed: [`Error::Timeout`] (exit 4).
    pub fn timed_out(&self) -> Error {
        Error::Timeout {
            host: self.host.to_string(),
            op: self.op,
            command: self.command.to_string(),
            after: self.timeout,
        }
    }

    /// sudo wanted a password it was not given, or refused the one it got:
    /// [`Error::SudoPassword`] with sudo's complaint.
    pub fn sudo_refused(&self, stderr: String) -> Error {
        Error::SudoPassword {
            host: self.host.to_string(),
            op: self.op,
            command: self.command.to_string(),
            user: self.user.to_string(),
            stderr,
        }
    }

    /// What `error` means for the run: a timeout, sudo's refusal, or else a
    /// lost connection (exit 3).
    pub fn error(&self, error: TransportError) -> Error {
        match error {
            TransportError::DeadlineExceeded => self.timed_out(),
            TransportError::SudoRefused(stderr) => self.sudo_refused(stderr),
            other => Error::Disconnected {
                host: self.host.to_string(),
                op: self.op,
                command: self.command.to_string(),
                reason: other.to_string(),
            },
        }
    }
}

/// The bytes-moving interface every target implements. Implementations are
/// shared by the operations of one host, possibly from several threads.
pub trait Transport: Send + Sync {
    fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError>;
    /// Runs `request` as root through sudo, with `password` (if any) for
    /// sudo's prompt. The default wraps each command in `sudo -S` and writes
    /// the password to its standard input ahead of the request's own input;
    /// the SSH transport instead keeps one root shell per host.
    fn exec_sudo(
        &self,
        request: ExecRequest<'_>,
        password: Option<&Secret>,
    ) -> Result<ExecOutput, TransportError> {
        let (command, stdin) = sudo_wrapped(request.command, request.stdin, password);
        self.exec(ExecRequest {
            command: &command,
            stdin: stdin.as_deref(),
            deadline: request.deadline,
            on_output: request.on_output,
            keep_stdout: request.keep_stdout,
        })
    }
    /// A warning about how the transport works (a fallback it had to take),
    /// handed out once for the run to show.
    fn take_warning(&self) -> Option<String> {
        None
    }
    /// Starts `command` (a `/bin/sh` command line, as the login user) in a
    /// channel of its own whose pipes the caller keeps: see [`Channel`].
    fn open_channel(&self, command: &str) -> Result<Channel, TransportError>;
    /// Whether [`Transport::exec`]'s deadline kills the command's whole
    /// process group (as coreutils `timeout` would), so that a command run
    /// as the login user needs no `timeout` of the target's around it.
    fn kills_at_deadline(&self) -> bool {
        false
    }
}

/// Whether sudo itself (not the command) failed for want of the right
/// password, as a command run by [`Transport::exec_sudo`] reports it.
pub fn sudo_refused(code: i32, stderr: &str) -> bool {
    code == 1
        && stderr.lines().any(|l| {
            l.starts_with("sudo:")
                && (l.contains("incorrect password")
                    || l.contains("a password is required")
                    || l.contains("no password was provided"))
        })
}

/// `command` as root through sudo, one sudo per command: the command line and
/// its standard input. Without a password, `-n` fails at once instead of
/// waiting for a prompt. With one, the password is the first line of the
/// standard input (never argv): `sudo -S` reads it when it asks for a
/// password, and when it does not (`NOPASSWD`), the line is read away first,
/// so the command never sees the password. Both sudos ignore cached
/// credentials (`-k`): the test and the real run have different parents, so
/// one could find a ticket the other does not, and a sudo that skips its
/// prompt would hand the password line to the command.
pub(crate) fn sudo_wrapped(
    command: &str,
    stdin: Option<&[u8]>,
    password: Option<&Secret>,
) -> (String, Option<Vec<u8>>) {
    let run_as_root =
        |mode: &str| format!("sudo {mode} -H -u root -- /bin/sh -c {}", quote(command));
    let Some(password) = password else {
        return (run_as_root("-n"), stdin.map(<[u8]>::to_vec));
    };
    let line = format!(
        "if sudo -n -k true 2>/dev/null; then IFS= read -r _; exec {}; else exec {}; fi",
        run_as_root("-n"),
        run_as_root("-S -k -p ''")
    );
    // sudo and `read` take the password line byte by byte, so the command
    // gets exactly the bytes after it.
    let mut input = format!("{}\n", password.expose()).into_bytes();
    input.extend_from_slice(stdin.unwrap_or_default());
    (line, Some(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_wrapped(command: &str, stdin: &[u8], password: Option<&Secret>) -> ExecOutput {
        let (line, input) = sudo_wrapped(command, Some(stdin), password);
        LocalTransport::default()
            .exec(ExecRequest {
                command: &line,
                stdin: input.as_deref(),
                deadline: Some(Duration::from_secs(30)),
                on_output: &mut |_, _| {},
                keep_stdout: true,
            })
            .unwrap()
    }

    #[test]
    fn transport_errors_become_errors_naming_the_command() {
        let failed = FailedCommand {
            host: "deploy@db1",
            op: "run",
            command: "sleep 9",
            user: "deploy",
            timeout: Duration::from_millis(1500),
        };
        let timeout = failed.error(TransportError::DeadlineExceeded);
        assert_eq!(timeout.exit_code(), 4);
        assert_eq!(
            timeout.to_string(),
            failed.timed_out().to_string(),
            "a passed deadline is the command's timeout"
        );
        assert!(timeout.to_string().contains("after 1.5s"), "{timeout}");
        let refused = failed.error(TransportError::SudoRefused(
            "sudo: a password is required".into(),
        ));
        assert!(
            matches!(&refused, Error::SudoPassword { user, stderr, .. }
                if user == "deploy" && stderr == "sudo: a password is required"),
            "{refused:?}"
        );
        assert_eq!(refused.exit_code(), 3);
        let lost = failed.error(TransportError::Disconnected("broken pipe".into()));
        assert_eq!(
            lost.to_string(),
            "[deploy@db1] run `sleep 9`: lost the connection: broken pipe"
        );
        assert_eq!(lost.exit_code(), 3);
        let io = failed.error(TransportError::Io("disk full".into()));
        assert!(matches!(io, Error::Disconnected { .. }), "{io:?}");
    }

    #[test]
    fn sudo_per_command_hands_the_command_only_its_own_input() {
        // Root needs no password for sudo: the password line must be read
        // away before the command runs.
        let password = Secret::new("pw-never-seen");
        let out = run_wrapped("id -u; cat", b"data\0", Some(&password));
        assert_eq!(
            out.stdout,
            b"0\ndata\0",
            "{:?}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run_wrapped("cat", b"data", None);
        assert_eq!(out.stdout, b"data");
    }
}
