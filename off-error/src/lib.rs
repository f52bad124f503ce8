//! Errors of operations and runs, and the exit codes they map to.
//!
//! The lowest crate of off (it depends on nothing of off), so that the
//! transports, the check engine and the runtime fail with one [`Error`]
//! and every binary maps it to the same exit codes.

use std::fmt::Display;
use std::process::ExitCode;
use std::time::Duration;

/// The documented exit codes of every off binary (DESIGN §9).
pub mod exit_code {
    pub const OK: u8 = 0;
    /// A deploy failed on at least one host; a check found drift.
    pub const FAILED: u8 = 1;
    /// Usage or input error: nothing was run.
    pub const USAGE: u8 = 2;
    /// A host was unreachable or authentication failed.
    pub const UNREACHABLE: u8 = 3;
    /// A command, a retry loop or a discovery wait timed out.
    pub const TIMEOUT: u8 = 4;
    pub const INTERRUPTED: u8 = 130;

    /// The code of a run over many hosts, from each host's: 0 when all
    /// passed, else the most telling one: interrupted before unreachable
    /// before timed out before failed before any other.
    pub fn of_hosts(codes: impl IntoIterator<Item = u8>) -> u8 {
        let codes: Vec<u8> = codes.into_iter().collect();
        [INTERRUPTED, UNREACHABLE, TIMEOUT, FAILED]
            .into_iter()
            .find(|c| codes.contains(c))
            .or_else(|| codes.into_iter().find(|&c| c != OK))
            .unwrap_or(OK)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How many bytes of standard error an error message quotes.
const STDERR_TAIL: usize = 600;

/// Everything an operation can fail with. Each variant names the host and the
/// operation, so a message read alone in a log of fifty hosts says where and what.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("[{host}] {op} `{command}` exited with code {code}{}", tail_suffix(.stderr))]
    Command {
        host: String,
        op: &'static str,
        command: String,
        code: i32,
        stderr: String,
    },
    #[error("[{host}] {op} `{command}` timed out after {} (--timeout or settings(timeout)); its process group was killed", human(.after))]
    Timeout {
        host: String,
        op: &'static str,
        command: String,
        after: Duration,
    },
    #[error("[{host}] unreachable: {reason}")]
    Unreachable { host: String, reason: String },
    #[error(
        "[{host}] host key verification failed (the host's key differs from the known_hosts entry; if the change is expected, remove the old entry with `ssh-keygen -R`): {reason}"
    )]
    HostKey { host: String, reason: String },
    #[error(
        "[{host}] host key unknown: the host is not in known_hosts, and --host-key-policy strict refuses such hosts (add its key there once its fingerprint is checked, or use accept-new): {reason}"
    )]
    UnknownHostKey { host: String, reason: String },
    #[error("[{host}] {op} `{command}`: sudo refused the password for {user}{}", tail_suffix(.stderr))]
    SudoPassword {
        host: String,
        op: &'static str,
        command: String,
        user: String,
        stderr: String,
    },
    #[error("[{host}] {op} `{command}`: lost the connection: {reason}")]
    Disconnected {
        host: String,
        op: &'static str,
        command: String,
        reason: String,
    },
    #[error("[{host}] {op} {path}: {reason}")]
    File {
        host: String,
        op: &'static str,
        path: String,
        reason: String,
    },
    #[error("template {name}: {reason}")]
    Template { name: String, reason: String },
    #[error("[{host}] {op}: {reason}")]
    Invalid {
        host: String,
        op: &'static str,
        reason: String,
    },
    #[error("[{host}] stopped: another host failed and --fail-fast is set")]
    Cancelled { host: String },
    /// SIGINT or SIGTERM stopped the run (see off-transport's `interrupt`).
    #[error("[{host}] interrupted by {signal}; its running command was stopped")]
    Interrupted { host: String, signal: &'static str },
    /// An operation of a pushed run (`--push`) needs the control machine,
    /// which the binary running on the host cannot reach.
    #[error(
        "[{host}] {op} {what}: --push runs the recipe on the host itself, which cannot reach the control machine; embed it in the binary (a literal template path, put(include_bytes!(..))) or run without --push"
    )]
    ControlMachine {
        host: String,
        op: &'static str,
        what: String,
    },
    /// A host's failure as the recipe binary that ran there (`--push`)
    /// reported it: its message and exit code, as they were.
    #[error("{message}")]
    Relayed { message: String, exit_code: u8 },
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The exit code a run that ends with this error returns. A host lost
    /// mid-run is unreachable (3) as one that never answered is, in a deploy
    /// as in a check.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Unreachable { .. }
            | Error::HostKey { .. }
            | Error::UnknownHostKey { .. }
            | Error::SudoPassword { .. }
            | Error::Disconnected { .. } => exit_code::UNREACHABLE,
            Error::Timeout { .. } => exit_code::TIMEOUT,
            Error::Interrupted { .. } => exit_code::INTERRUPTED,
            Error::Relayed { exit_code, .. } => *exit_code,
            _ => exit_code::FAILED,
        }
    }

    /// A free-form error, for recipe code (`Err(Error::msg("no primary"))`).
    pub fn msg(message: impl Into<String>) -> Self {
        Error::Other(message.into())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Other(e.to_string())
    }
}

impl From<String> for Error {
    fn from(e: String) -> Self {
        Error::Other(e)
    }
}

impl From<&str> for Error {
    fn from(e: &str) -> Self {
        Error::Other(e.to_string())
    }
}

/// What a binary's `main` ends with when it stops on an error: the lines it
/// prints as `error: …` and the documented exit code (DESIGN §9). Every off
/// binary reports through it, so the same failure reads and exits the same
/// in a recipe binary, `offcheck` and `cargo off`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub errors: Vec<String>,
    pub exit_code: u8,
}

impl CliError {
    pub fn new(exit_code: u8, message: impl Display) -> Self {
        CliError::many(exit_code, [message])
    }

    /// Several errors reported together, one line each.
    pub fn many<M: Display>(exit_code: u8, messages: impl IntoIterator<Item = M>) -> Self {
        CliError {
            errors: messages.into_iter().map(|m| m.to_string()).collect(),
            exit_code,
        }
    }

    /// Bad flags, config or spec: nothing was run (exit 2).
    pub fn usage(message: impl Display) -> Self {
        CliError::new(exit_code::USAGE, message)
    }

    /// The work was done and found wanting, e.g. stale generated files (exit 1).
    pub fn failed(message: impl Display) -> Self {
        CliError::new(exit_code::FAILED, message)
    }

    /// Prints each error on standard error as `error: …` and returns the
    /// exit code for `main`.
    pub fn report(self) -> ExitCode {
        for error in &self.errors {
            eprintln!("error: {error}");
        }
        ExitCode::from(self.exit_code)
    }
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        CliError::new(error.exit_code(), error)
    }
}

/// The last `STDERR_TAIL` bytes of standard error, on a line of their own.
fn tail_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim_end();
    if trimmed.is_empty() {
        return String::new();
    }
    let mut start = trimmed.len().saturating_sub(STDERR_TAIL);
    while !trimmed.is_char_boundary(start) {
        start += 1;
    }
    let ellipsis = if start > 0 { "…" } else { "" };
    format!("; stderr: {ellipsis}{}", &trimmed[start..])
}

fn human(d: &Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_error_names_host_op_command_code_and_tail() {
        let e = Error::Command {
            host: "root@db1".into(),
            op: "sudo",
            command: "false".into(),
            code: 3,
            stderr: format!("{}the end\n", "x".repeat(2000)),
        };
        let msg = e.to_string();
        assert!(msg.starts_with("[root@db1] sudo `false` exited with code 3; stderr: …"));
        assert!(msg.ends_with("the end"));
        assert!(msg.len() < 800);
        assert_eq!(e.exit_code(), exit_code::FAILED);
    }

    #[test]
    fn a_cli_error_keeps_its_messages_and_the_documented_code() {
        assert_eq!(
            CliError::usage("--parallel must be at least 1"),
            CliError {
                errors: vec!["--parallel must be at least 1".into()],
                exit_code: 2
            }
        );
        assert_eq!(CliError::failed("stale").exit_code, 1);
        assert_eq!(CliError::many(2, ["a", "b"]).errors, ["a", "b"]);
        let unreachable = CliError::from(Error::Unreachable {
            host: "db1".into(),
            reason: "connection refused".into(),
        });
        assert_eq!(unreachable.exit_code, exit_code::UNREACHABLE);
        assert_eq!(
            unreachable.errors,
            ["[db1] unreachable: connection refused"]
        );
        assert_eq!(CliError::new(4, "late").report(), ExitCode::from(4));
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        let host = || "h".to_string();
        assert_eq!(
            Error::Unreachable {
                host: host(),
                reason: "x".into()
            }
            .exit_code(),
            3
        );
        let timeout = Error::Timeout {
            host: host(),
            op: "run",
            command: "sleep 9".into(),
            after: Duration::from_millis(1500),
        };
        assert_eq!(timeout.exit_code(), 4);
        assert!(timeout.to_string().contains("after 1.5s"));
    }
}
