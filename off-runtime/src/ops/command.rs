//! `run`, `sudo`, `sudo_as` and `local`.

use crate::connection::Connection;
use crate::error::Result;
use crate::output::Output;

use super::{Command, RunAs, Scope, operation};

/// Runs a command through `/bin/sh -c` as the login user on the current host,
/// in the directory of the enclosing [`cd`](super::cd). A non-zero exit is an
/// error naming host, command, exit code and the end of stderr (unless
/// `settings(warn_only)`).
pub fn run(command: impl AsRef<str>) -> Result<Output> {
    user_command("run", command.as_ref(), None, RunAs::Login, false)
}

/// [`run`] with `input` as the command's standard input.
///
/// This is how secrets reach a command: `input` never appears on a command
/// line, in the echo, in events or in logs (`run_with_input("psql -f -",
/// sql)` rather than `psql -c '…PASSWORD…'`). Counted as a `run` operation.
pub fn run_with_input(command: impl AsRef<str>, input: impl AsRef<[u8]>) -> Result<Output> {
    let input = Some(input.as_ref());
    user_command("run", command.as_ref(), input, RunAs::Login, false)
}

/// Runs a command as root through `sudo`. The password, if the host needs
/// one, goes to sudo's standard input, never onto a command line. On a host
/// without sudo where the login user is root, the command runs directly.
pub fn sudo(command: impl AsRef<str>) -> Result<Output> {
    user_command("sudo", command.as_ref(), None, RunAs::Sudo("root"), false)
}

/// [`sudo`] with `input` as the command's standard input (see
/// [`run_with_input`]). Counted as a `sudo` operation.
pub fn sudo_with_input(command: impl AsRef<str>, input: impl AsRef<[u8]>) -> Result<Output> {
    let input = Some(input.as_ref());
    user_command("sudo", command.as_ref(), input, RunAs::Sudo("root"), false)
}

/// Runs a command as `user` through `sudo -u`.
pub fn sudo_as(user: impl AsRef<str>, command: impl AsRef<str>) -> Result<Output> {
    user_command(
        "sudo_as",
        command.as_ref(),
        None,
        RunAs::Sudo(user.as_ref()),
        false,
    )
}

/// [`sudo_as`] with `input` as the command's standard input (see
/// [`run_with_input`]). Counted as a `sudo_as` operation.
pub fn sudo_as_with_input(
    user: impl AsRef<str>,
    command: impl AsRef<str>,
    input: impl AsRef<[u8]>,
) -> Result<Output> {
    let input = Some(input.as_ref());
    let run_as = RunAs::Sudo(user.as_ref());
    user_command("sudo_as", command.as_ref(), input, run_as, false)
}

/// Runs a command on the control machine, in the directory of the enclosing
/// [`lcd`](super::lcd).
pub fn local(command: impl AsRef<str>) -> Result<Output> {
    user_command("local", command.as_ref(), None, RunAs::Login, true)
}

fn user_command(
    op: &'static str,
    command: &str,
    input: Option<&[u8]>,
    run_as: RunAs<'_>,
    on_control_machine: bool,
) -> Result<Output> {
    operation(op, command, |scope| {
        let local_scope;
        let scope = if on_control_machine {
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
        let out = scope.exec(Command {
            op,
            display: command,
            script: command,
            input,
            run_as,
            echo: true,
            in_context: true,
            stdout_to: None,
        })?;
        if out.code != 0 && !scope.settings.warn_only {
            return Err(scope.command_failed(op, command, &out));
        }
        Ok((out, true))
    })
}
