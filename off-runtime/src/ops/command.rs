//! `run`, `sudo`, `sudo_as` and `local`, and the [`ShellCommand`] they take:
//! a command line with what it creates or removes and how to tell whether
//! it changed the host (Ansible's `creates`, `removes`, `changed_when`).

use std::fmt;
use std::sync::Arc;

use crate::connection::Connection;
use crate::error::Result;
use crate::output::Output;
use crate::shell::quote;

use super::{Command, RunAs, Scope, operation};

/// A command line for [`run`], [`sudo`], [`sudo_as`] and [`local`], with
/// what off cannot know by itself: whether running it changed anything.
///
/// A plain string is a command that always counts as a change. The
/// [`CommandExt`] methods, on a string or on a `ShellCommand`, say more:
///
/// ```no_run
/// use off_runtime::prelude::*;
/// # fn f(version: u32, root: &str) -> Result<()> {
/// let conf = format!("/etc/postgresql/{version}/main/postgresql.conf");
/// sudo(sh!("pg_createcluster {version} main").creates(&conf))?; // skipped once conf exists
/// let index = format!("{root}/index.html");
/// run(sh!("rm -f {index}").removes(&index))?; // skipped when already gone
/// run("pg_isready -q".query())?; // reads, never changes
/// sudo("apt-get autoremove -y".changed_if(|out| out.stdout.contains("Removing")))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ShellCommand {
    pub(crate) text: String,
    /// The path the command creates: skipped when it exists.
    pub(crate) creates: Option<String>,
    /// The path the command removes: skipped when it is absent.
    pub(crate) removes: Option<String>,
    changed: Changed,
}

/// How a command that ran is judged.
#[derive(Clone)]
enum Changed {
    Always,
    Never,
    If(Arc<dyn Fn(&Output) -> bool + Send + Sync>),
}

impl ShellCommand {
    pub fn new(text: impl Into<String>) -> ShellCommand {
        ShellCommand {
            text: text.into(),
            creates: None,
            removes: None,
            changed: Changed::Always,
        }
    }

    /// The command line as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the command never changes the host ([`CommandExt::query`]).
    pub fn is_query(&self) -> bool {
        matches!(self.changed, Changed::Never)
    }

    /// Whether `out`, the output of the command having run, is a change.
    fn changed(&self, out: &Output) -> bool {
        match &self.changed {
            Changed::Always => true,
            Changed::Never => false,
            Changed::If(judge) => judge(out),
        }
    }
}

impl fmt::Debug for ShellCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changed = match self.changed {
            Changed::Always => "always",
            Changed::Never => "never",
            Changed::If(_) => "judged by its output",
        };
        f.debug_struct("ShellCommand")
            .field("text", &self.text)
            .field("creates", &self.creates)
            .field("removes", &self.removes)
            .field("changed", &changed)
            .finish()
    }
}

impl From<&str> for ShellCommand {
    fn from(text: &str) -> Self {
        ShellCommand::new(text)
    }
}
impl From<&&str> for ShellCommand {
    fn from(text: &&str) -> Self {
        ShellCommand::new(*text)
    }
}
impl From<String> for ShellCommand {
    fn from(text: String) -> Self {
        ShellCommand::new(text)
    }
}
impl From<&String> for ShellCommand {
    fn from(text: &String) -> Self {
        ShellCommand::new(text.as_str())
    }
}
impl From<std::borrow::Cow<'_, str>> for ShellCommand {
    fn from(text: std::borrow::Cow<'_, str>) -> Self {
        ShellCommand::new(text.into_owned())
    }
}
impl From<&ShellCommand> for ShellCommand {
    fn from(command: &ShellCommand) -> Self {
        command.clone()
    }
}

/// What a command creates, removes or changes, said on the command itself:
/// `sh!("…").creates(path)`, `"pg_isready".query()`.
pub trait CommandExt: Into<ShellCommand> {
    /// The command creates `path` (relative to [`cd`](super::cd)): it is
    /// skipped, unchanged, when `path` exists, and `--check` expects `path`
    /// to exist.
    fn creates(self, path: impl Into<String>) -> ShellCommand {
        ShellCommand {
            creates: Some(path.into()),
            ..self.into()
        }
    }

    /// The command removes `path`: it is skipped, unchanged, when `path` is
    /// absent, and `--check` expects `path` to be absent.
    fn removes(self, path: impl Into<String>) -> ShellCommand {
        ShellCommand {
            removes: Some(path.into()),
            ..self.into()
        }
    }

    /// The command only reads: it never counts as a change.
    fn query(self) -> ShellCommand {
        ShellCommand {
            changed: Changed::Never,
            ..self.into()
        }
    }

    /// The command changed the host when `judge` says so of its output.
    fn changed_if(self, judge: impl Fn(&Output) -> bool + Send + Sync + 'static) -> ShellCommand {
        ShellCommand {
            changed: Changed::If(Arc::new(judge)),
            ..self.into()
        }
    }

    /// The command changed the host unless `judge` says so of its output.
    fn unchanged_if(self, judge: impl Fn(&Output) -> bool + Send + Sync + 'static) -> ShellCommand {
        self.changed_if(move |out| !judge(out))
    }
}

impl<T: Into<ShellCommand>> CommandExt for T {}

/// Runs a command through `/bin/sh -c` as the login user on the current host,
/// in the directory of the enclosing [`cd`](super::cd). A non-zero exit is an
/// error naming host, command, exit code and the end of stderr (unless
/// `settings(warn_only)`). It counts as a change unless the command says
/// otherwise ([`CommandExt`]).
pub fn run(command: impl Into<ShellCommand>) -> Result<Output> {
    user_command("run", command.into(), None, RunAs::Login, false)
}

/// [`run`] with `input` as the command's standard input.
///
/// This is how secrets reach a command: `input` never appears on a command
/// line, in the echo, in events or in logs (`run_with_input("psql -f -",
/// sql)` rather than `psql -c '…PASSWORD…'`). Counted as a `run` operation.
pub fn run_with_input(command: impl Into<ShellCommand>, input: impl AsRef<[u8]>) -> Result<Output> {
    let input = Some(input.as_ref());
    user_command("run", command.into(), input, RunAs::Login, false)
}

/// Runs a command as root through `sudo`. The password, if the host needs
/// one, goes to sudo's standard input, never onto a command line. On a host
/// without sudo where the login user is root, the command runs directly.
pub fn sudo(command: impl Into<ShellCommand>) -> Result<Output> {
    user_command("sudo", command.into(), None, RunAs::Sudo("root"), false)
}

/// [`sudo`] with `input` as the command's standard input (see
/// [`run_with_input`]). Counted as a `sudo` operation.
pub fn sudo_with_input(
    command: impl Into<ShellCommand>,
    input: impl AsRef<[u8]>,
) -> Result<Output> {
    let input = Some(input.as_ref());
    user_command("sudo", command.into(), input, RunAs::Sudo("root"), false)
}

/// Runs a command as `user`: `su` from root, which is reached through sudo
/// when the login user is not root (so only root's sudo rule is needed).
pub fn sudo_as(user: impl AsRef<str>, command: impl Into<ShellCommand>) -> Result<Output> {
    let run_as = RunAs::Sudo(user.as_ref());
    user_command("sudo_as", command.into(), None, run_as, false)
}

/// [`sudo_as`] with `input` as the command's standard input (see
/// [`run_with_input`]). Counted as a `sudo_as` operation.
pub fn sudo_as_with_input(
    user: impl AsRef<str>,
    command: impl Into<ShellCommand>,
    input: impl AsRef<[u8]>,
) -> Result<Output> {
    let input = Some(input.as_ref());
    let run_as = RunAs::Sudo(user.as_ref());
    user_command("sudo_as", command.into(), input, run_as, false)
}

/// Runs a command on the control machine, in the directory of the enclosing
/// [`lcd`](super::lcd).
pub fn local(command: impl Into<ShellCommand>) -> Result<Output> {
    user_command("local", command.into(), None, RunAs::Login, true)
}

fn user_command(
    op: &'static str,
    command: ShellCommand,
    input: Option<&[u8]>,
    run_as: RunAs<'_>,
    on_control_machine: bool,
) -> Result<Output> {
    operation(op, &command.text.clone(), |scope| {
        let local_scope;
        let scope = if on_control_machine {
            scope.needs_control_machine(op, || {
                "runs a command on the control machine".to_string()
            })?;
            local_scope = Scope {
                conn: Connection::control_machine(),
                cwd: scope.lcwd.as_ref().map(|p| p.display().to_string()),
                shared: scope.shared.clone(),
                counters: scope.counters.clone(),
                lcwd: scope.lcwd.clone(),
                env: scope.env.clone(),
                settings: scope.settings,
            };
            &local_scope
        } else {
            scope
        };
        let dry_run = scope.shared.dry_run.as_ref();
        // A plain dry run tests nothing: the command is taken to run.
        if dry_run.is_none_or(|d| d.reads_hosts())
            && let Some(skip) = skip_reason(scope, op, &command, run_as)?
        {
            scope
                .shared
                .observer
                .message(&format!("[{}] skipped: {skip}", scope.host()));
            return Ok((Output::default(), false));
        }
        let text = command.text.as_str();
        if let Some(dry_run) = dry_run {
            // What the command says it creates or removes, it leaves so.
            let target = &scope.conn.target;
            if let Some(path) = &command.creates {
                dry_run.path_exists(target, &scope.remote_path(path), true);
            }
            if let Some(path) = &command.removes {
                dry_run.path_exists(target, &scope.remote_path(path), false);
            }
            if dry_run.reads_hosts() && !command.is_query() {
                dry_run.command(target, op, text);
            }
        }
        let mut out = scope.exec(Command {
            op,
            display: text,
            script: text,
            input,
            run_as,
            echo: true,
            in_context: true,
            stdout_to: None,
            read_only: false,
        })?;
        if out.code != 0 && !scope.settings.warn_only {
            return Err(scope.command_failed(op, text, &out));
        }
        // A dry run's output is assumed, so only a query is known not to change.
        out.changed = match scope.shared.dry_run {
            Some(_) => !command.is_query(),
            None => command.changed(&out),
        };
        let changed = out.changed;
        Ok((out, changed))
    })
}

/// Why `command` need not run: the path it creates exists, or the path it
/// removes is absent. Tested as the user the command runs as.
fn skip_reason(
    scope: &Scope,
    op: &'static str,
    command: &ShellCommand,
    run_as: RunAs<'_>,
) -> Result<Option<String>> {
    let tests = [(&command.creates, true), (&command.removes, false)];
    for (path, skip_if_exists) in tests {
        let Some(path) = path else { continue };
        let path = scope.remote_path(path);
        let test = format!("test -e {0} || test -L {0}", quote(&path));
        let out = scope.exec(Command::read(op, &path, &test, run_as))?;
        let exists = match out.code {
            0 => true,
            1 => false,
            _ => return Err(scope.command_failed(op, &test, &out)),
        };
        if exists == skip_if_exists {
            let state = if exists { "exists" } else { "is absent" };
            return Ok(Some(format!("{path} {state}")));
        }
    }
    Ok(None)
}
