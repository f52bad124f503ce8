//! The operations: Fabric's verbs as free functions acting on the current host.
//!
//! Every operation goes through [`operation`], which reports it to the run's
//! observer, counts it and times it; commands go through [`Scope::exec`],
//! which applies `cd`, `shell_env`, `sudo` and timeouts the same way on every
//! transport.

mod command;
mod directory;
mod files;
mod guards;
mod remote_file;
mod system;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use crate::service_action::ServiceAction;
pub use command::{
    CommandExt, ShellCommand, local, run, run_with_input, sudo, sudo_as, sudo_as_with_input,
    sudo_with_input,
};
pub use directory::mkdir;
pub use files::{
    RemotePath, Source, append, contains, exists, get, put, remote_path, upload_template,
};
pub use guards::{Guard, cd, lcd, settings, shell_env};
pub use system::{package, service};

use crate::connection::Connection;
use crate::context::{Effective, OpCounters, RunShared, current};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::report::{LineSplitter, OpEvent, OpStatus};
use crate::shell::{self, quote};
use crate::transport::{ExecRequest, FailedCommand, Stream, sudo_refused};

/// Extra time the control machine waits past a command's timeout before it
/// gives up on the connection: the target's `timeout` should act first.
const TIMEOUT_GRACE: Duration = Duration::from_secs(10);

/// Exit codes of coreutils `timeout` when it had to stop the command.
const TIMEOUT_CODES: [i32; 2] = [124, 137];

/// A snapshot of the current host's state for one operation, so no
/// thread-local borrow is held while the operation does I/O.
pub(crate) struct Scope {
    pub conn: Arc<Connection>,
    pub shared: Arc<RunShared>,
    counters: Arc<OpCounters>,
    pub cwd: Option<String>,
    pub lcwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub settings: Effective,
}

impl Scope {
    fn current() -> Scope {
        current(|c| Scope {
            conn: c.conn.clone(),
            shared: c.shared.clone(),
            counters: c.counters.clone(),
            cwd: guards::remote_cwd(c),
            lcwd: c.lcwd.last().cloned(),
            env: c.env.clone(),
            settings: c.effective(),
        })
    }

    pub fn host(&self) -> &str {
        &self.conn.label
    }

    /// Resolves a local path against `lcd`, for operation `op`; refused
    /// when the recipe runs on the host itself (`--push`), where the
    /// control machine's files are out of reach.
    pub fn local_path(&self, op: &'static str, path: &std::path::Path) -> Result<PathBuf> {
        self.needs_control_machine(op, || format!("reads the local file {}", path.display()))?;
        Ok(match &self.lcwd {
            Some(dir) => dir.join(path),
            None => path.to_path_buf(),
        })
    }

    /// Fails when operation `op` (doing `what`) needs the control machine
    /// and the recipe runs on the host itself (`--push`).
    pub fn needs_control_machine(
        &self,
        op: &'static str,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        if !self.shared.pushed {
            return Ok(());
        }
        Err(Error::ControlMachine {
            host: self.host().to_string(),
            op,
            what: what(),
        })
    }

    /// Resolves a remote path against `cd`.
    pub fn remote_path(&self, path: &str) -> String {
        match &self.cwd {
            Some(dir) if !path.starts_with('/') => format!("{}/{path}", dir.trim_end_matches('/')),
            _ => path.to_string(),
        }
    }
}

/// Who a command runs as.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RunAs<'a> {
    /// The login user (`run`).
    Login,
    /// Another user through sudo (`sudo`, `sudo_as`).
    Sudo(&'a str),
}

/// One command to run for an operation.
pub(crate) struct Command<'a> {
    pub op: &'static str,
    /// What errors and the console show: the user's command, or a short
    /// description of internal plumbing.
    pub display: &'a str,
    pub script: &'a str,
    /// The command's standard input; `None` is empty. Never shown anywhere.
    pub input: Option<&'a [u8]>,
    pub run_as: RunAs<'a>,
    /// Echo the command's output lines.
    pub echo: bool,
    /// Apply `cd` and `shell_env` (user commands do; plumbing uses absolute paths).
    pub in_context: bool,
    /// Where standard output goes as it arrives, instead of being kept in
    /// memory (a download written straight to disk).
    pub stdout_to: Option<&'a mut StdoutSink<'a>>,
    /// The command only reads the host, so a dry run that reads hosts
    /// (`--diff`) runs it; every other command is only assumed to succeed.
    pub read_only: bool,
}

/// Takes a command's standard output chunk by chunk.
pub(crate) type StdoutSink<'a> = dyn FnMut(&[u8]) + Send + 'a;

impl<'a> Command<'a> {
    /// Internal plumbing: no echo, and absolute paths instead of `cd`/`shell_env`.
    pub fn plumbing(
        op: &'static str,
        display: &'a str,
        script: &'a str,
        run_as: RunAs<'a>,
    ) -> Self {
        Command {
            op,
            display,
            script,
            input: None,
            run_as,
            echo: false,
            in_context: false,
            stdout_to: None,
            read_only: false,
        }
    }

    /// [`Command::plumbing`] that only reads the host (a file's state, a
    /// package's): `--diff` runs it.
    pub fn read(op: &'static str, display: &'a str, script: &'a str, run_as: RunAs<'a>) -> Self {
        Command {
            read_only: true,
            ..Command::plumbing(op, display, script, run_as)
        }
    }
}

impl Scope {
    /// Runs `cmd` and returns its output whatever its exit code; errors are
    /// the failures of running it at all (timeout, lost connection, sudo
    /// refusing the password).
    pub fn exec(&self, cmd: Command<'_>) -> Result<Output> {
        let (out, _) = self.exec_bytes(cmd)?;
        Ok(out)
    }

    /// [`Scope::exec`], also returning standard output as the exact bytes.
    pub fn exec_bytes(&self, mut cmd: Command<'_>) -> Result<(Output, Vec<u8>)> {
        if let Some(dry_run) = &self.shared.dry_run
            && !(cmd.read_only && dry_run.reads_hosts())
        {
            // Assumed: the command succeeds with empty output.
            return Ok((Output::default(), Vec::new()));
        }
        // No shell can carry a NUL byte in a command line; a shell that
        // reads the line would drop it silently and run something else.
        let env_nul = self
            .env
            .iter()
            .any(|(n, v)| n.contains('\0') || v.contains('\0'));
        if cmd.script.contains('\0') || (cmd.in_context && env_nul) {
            return Err(Error::Invalid {
                host: self.host().to_string(),
                op: cmd.op,
                reason: format!(
                    "`{}` contains a NUL byte, which no shell command can carry (pass binary data as the command's input)",
                    cmd.display.replace('\0', "\\0")
                ),
            });
        }
        let started = Instant::now();
        let timeout = self.settings.timeout;
        let facts = &self.conn.facts;
        let script = if cmd.in_context {
            for (name, _) in &self.env {
                if !shell::is_env_name(name) {
                    return Err(Error::Invalid {
                        host: self.host().to_string(),
                        op: cmd.op,
                        reason: format!(
                            "shell_env: `{name}` is not a valid environment variable name"
                        ),
                    });
                }
            }
            shell::script(cmd.script, self.cwd.as_deref(), &self.env)
        } else {
            cmd.script.to_string()
        };
        // Every transport runs the line with /bin/sh, each command in a
        // shell or subshell of its own (the SSH transport's persistent shell
        // runs it in a subshell, which saves starting another shell).
        let mut line = script;
        // A local command of the login user is killed with its process
        // group by the transport at the deadline: `timeout` and the shell
        // it starts would cost two more processes per command (what a
        // pushed run's operations are made of).
        let transport_kills =
            matches!(cmd.run_as, RunAs::Login) && self.conn.transport.kills_at_deadline();
        if let (Some(t), true, false) = (timeout, facts.has_timeout, transport_kills) {
            // `timeout` runs the command in its own process group and kills
            // the whole group, so nothing the command started survives.
            line = format!(
                "timeout -k 5 {:.3} /bin/sh -c {}",
                t.as_secs_f64(),
                quote(&line)
            );
        }
        // Through sudo: the transport runs the command as root (the SSH
        // transport in one root shell per host, opened once with the
        // password); another user is reached from root with `su`, which
        // needs no password there.
        let mut through_sudo = false;
        if let RunAs::Sudo(user) = cmd.run_as {
            if facts.uid != 0 && !facts.has_sudo {
                return Err(Error::Invalid {
                    host: self.host().to_string(),
                    op: cmd.op,
                    reason: format!(
                        "`{}` needs sudo, which is not installed on the host (and the login user is not root)",
                        cmd.display
                    ),
                });
            }
            through_sudo = facts.uid != 0;
            if user != "root" {
                line = format!("su -s /bin/sh -c {} {}", quote(&line), quote(user));
            }
        }

        let observer = self.shared.observer.clone();
        let host = self.host().to_string();
        let mut splitter = LineSplitter::new();
        let echo = cmd.echo && !self.settings.quiet;
        let keep_stdout = cmd.stdout_to.is_none();
        let mut stdout_to = cmd.stdout_to.take();
        let mut on_output = |stream, chunk: &[u8]| {
            if let (Stream::Stdout, Some(sink)) = (stream, stdout_to.as_mut()) {
                sink(chunk);
            }
            if echo {
                splitter.push(stream, chunk, |s, l| observer.output_line(&host, s, l));
            }
        };
        let request = ExecRequest {
            command: &line,
            stdin: cmd.input,
            deadline: timeout.map(|t| {
                if transport_kills {
                    t
                } else {
                    t + TIMEOUT_GRACE
                }
            }),
            on_output: &mut on_output,
            keep_stdout,
        };
        let transport = &self.conn.transport;
        let result = if through_sudo {
            transport.exec_sudo(request, self.shared.sudo_password.as_ref())
        } else {
            transport.exec(request)
        };
        if let Some(warning) = transport.take_warning() {
            self.shared
                .observer
                .message(&format!("[{}] warning: {warning}", self.host()));
        }
        if echo {
            splitter.finish(|s, l| self.shared.observer.output_line(self.host(), s, l));
        }
        let duration = started.elapsed();
        let failed = FailedCommand {
            host: self.host(),
            op: cmd.op,
            command: cmd.display,
            user: &facts.user,
            timeout: timeout.unwrap_or_default(),
        };
        let raw = result.map_err(|e| failed.error(e))?;
        let code = raw.code.unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&raw.stderr).into_owned();
        if let Some(t) = timeout
            && TIMEOUT_CODES.contains(&code)
            && duration >= t
        {
            return Err(failed.timed_out());
        }
        // A transport that wraps each command in sudo reports a refused
        // password as the command's failure.
        if through_sudo && sudo_refused(code, &stderr) {
            return Err(failed.sudo_refused(stderr));
        }
        let out = Output {
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr,
            code,
            changed: true,
            duration,
        };
        Ok((out, raw.stdout))
    }

    /// Runs internal plumbing that only reads the host (no echo, no `cd`)
    /// and fails on a non-zero exit.
    pub fn read(
        &self,
        op: &'static str,
        display: &str,
        script: &str,
        run_as: RunAs<'_>,
    ) -> Result<Output> {
        let out = self.exec(Command::read(op, display, script, run_as))?;
        if out.code != 0 {
            return Err(self.command_failed(op, display, &out));
        }
        Ok(out)
    }

    pub fn command_failed(&self, op: &'static str, display: &str, out: &Output) -> Error {
        Error::Command {
            host: self.host().to_string(),
            op,
            command: display.to_string(),
            code: out.code,
            stderr: out.stderr.clone(),
        }
    }
}

/// Runs one operation: reports it, times it and counts it on the host.
/// `body` returns the operation's value and whether it changed the host.
pub(crate) fn operation<T>(
    op: &'static str,
    display: &str,
    body: impl FnOnce(&Scope) -> Result<(T, bool)>,
) -> Result<T> {
    let scope = Scope::current();
    if scope.shared.cancelled.load(Ordering::Relaxed) {
        return Err(Error::Cancelled {
            host: scope.host().to_string(),
        });
    }
    // What a recipe put into a command by hand from a `Secret` is never shown (echo, events).
    let display = crate::transport::redact_secrets(display);
    let event = OpEvent {
        host: scope.host(),
        op,
        command: &display,
        quiet: scope.settings.quiet,
    };
    scope.shared.observer.op_started(&event);
    let started = Instant::now();
    let result = body(&scope);
    let status = match &result {
        Ok((_, changed)) => OpStatus::Ok { changed: *changed },
        Err(_) => OpStatus::Failed,
    };
    scope.counters.count(status);
    scope
        .shared
        .observer
        .op_finished(&event, status, started.elapsed());
    result.map(|(value, _)| value).map_err(redacted)
}

/// `error` with the value of every [`Secret`](crate::Secret) made in this
/// process replaced by `***` in its text: a recipe may have put one into a
/// command by hand, and a failing command's stderr may repeat it. Every
/// operation's error passes through here, so the summary, the events and a
/// pushed run's report never show one.
fn redacted(error: Error) -> Error {
    let r = |text: String| crate::transport::redact_secrets(&text).into_owned();
    match error {
        Error::Command {
            host,
            op,
            command,
            code,
            stderr,
        } => Error::Command {
            host,
            op,
            command: r(command),
            code,
            stderr: r(stderr),
        },
        Error::Timeout {
            host,
            op,
            command,
            after,
        } => Error::Timeout {
            host,
            op,
            command: r(command),
            after,
        },
        Error::SudoPassword {
            host,
            op,
            command,
            user,
            stderr,
        } => Error::SudoPassword {
            host,
            op,
            command: r(command),
            user,
            stderr: r(stderr),
        },
        Error::Disconnected {
            host,
            op,
            command,
            reason,
        } => Error::Disconnected {
            host,
            op,
            command: r(command),
            reason: r(reason),
        },
        Error::File {
            host,
            op,
            path,
            reason,
        } => Error::File {
            host,
            op,
            path: r(path),
            reason: r(reason),
        },
        Error::Invalid { host, op, reason } => Error::Invalid {
            host,
            op,
            reason: r(reason),
        },
        Error::Template { name, reason } => Error::Template {
            name,
            reason: r(reason),
        },
        Error::Other(text) => Error::Other(r(text)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operations_error_never_shows_a_secret() {
        let secret = crate::Secret::new("s3cr3t-in-a-command");
        let report = crate::Executor::new(vec![crate::Target::Local])
            .observer(std::sync::Arc::new(crate::report::Console::new(false)))
            .run(|| {
                crate::ops::run(format!("echo {} >&2; exit 3", secret.expose()))?;
                Ok(())
            });
        let error = report.hosts[0].result.as_ref().unwrap_err().to_string();
        assert!(error.contains("exited with code 3"), "{error}");
        assert!(!error.contains(secret.expose()), "{error}");
        assert!(error.contains("echo *** >&2"), "{error}");
    }

    #[test]
    fn recognises_sudo_refusals_only_from_sudo() {
        assert!(sudo_refused(1, "sudo: 1 incorrect password attempt\n"));
        assert!(sudo_refused(1, "sudo: a password is required\n"));
        assert!(!sudo_refused(1, "grep: incorrect password\n"));
        assert!(!sudo_refused(2, "sudo: a password is required\n"));
    }
}
