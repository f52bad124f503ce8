//! The machine this process runs on as a target: the control machine (the
//! default when no host is given), or a host a pushed binary runs on.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use super::channel::{Channel, LocalChild};
use super::io::{Collect, Drain, Pipes, run_to_exit, with_deadline};
use super::shell_session::{
    RunError, ShellPipes, ShellPool, ShellSession, StartError, session_line, start_as_root,
};
use super::{ExecOutput, ExecRequest, Transport, TransportError};
use crate::Secret;
use crate::runtime::block_on;

/// Runs commands with `/bin/sh -c` on this machine; commands as root
/// through sudo run in a persistent root shell, opened with the password
/// once (as the SSH transport does on a host), not in a sudo each.
#[derive(Default)]
pub struct LocalTransport {
    /// Idle root shells.
    root: ShellPool,
}

/// How long a root shell may take to start (sudo's authentication included).
const ROOT_SHELL_START: Duration = Duration::from_secs(30);

impl LocalTransport {
    fn start_root_shell(&self, password: Option<&Secret>) -> Result<ShellSession, TransportError> {
        let start = |line: &str, password: Option<&str>| {
            let (child, [stdin, stdout, stderr]) = spawn_sh(line, false)
                .map_err(|e| StartError::Failed(format!("cannot start /bin/sh: {e}")))?;
            let pipes = ShellPipes {
                stdin,
                stdout,
                stderr,
                _owner: Box::new(RootShell(Some(child))),
            };
            ShellSession::start(pipes, password, ROOT_SHELL_START)
        };
        start_as_root(&session_line("/bin/sh"), password, start).map_err(|e| match e {
            StartError::SudoRefused(complaint) => TransportError::SudoRefused(complaint),
            StartError::Failed(reason) => {
                TransportError::Io(format!("cannot start a root shell: {reason}"))
            }
        })
    }
}

/// `/bin/sh -c line` started with its standard input, output and error
/// taken as pipes, in a process group of its own when `own_group`.
fn spawn_sh(line: &str, own_group: bool) -> std::io::Result<(std::process::Child, [OwnedFd; 3])> {
    let mut command = std::process::Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(line)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if own_group {
        command.process_group(0);
    }
    let mut child = command.spawn()?;
    let pipes = [
        child.stdin.take().expect("piped").into(),
        child.stdout.take().expect("piped").into(),
        child.stderr.take().expect("piped").into(),
    ];
    Ok((child, pipes))
}

/// A root shell's process, reaped once its standard input has closed (it
/// may not be signalled: it runs as root).
struct RootShell(Option<std::process::Child>);

impl Drop for RootShell {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            // The shell ends at end-of-file, after the command it may be
            // running (which `timeout` ends): reap it without waiting here.
            std::thread::spawn(move || child.wait());
        }
    }
}

impl Transport for LocalTransport {
    fn exec(&self, request: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        let ExecRequest {
            command,
            stdin,
            deadline,
            on_output,
            keep_stdout,
        } = request;
        block_on(async move {
            let mut child = tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(command)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                // Its own process group, so a timeout kills everything the
                // command started, not just the shell.
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| TransportError::Io(format!("cannot start /bin/sh: {e}")))?;
            let pid = child.id();
            // Ended by Ctrl-C (see crate::interrupt) while it runs.
            let _tracked = pid.map(crate::interrupt::track_command);
            let pipes = Pipes {
                stdin: child.stdin.take(),
                stdout: child.stdout.take(),
                stderr: child.stderr.take(),
            };
            // The command is over when its shell exits, even if a background
            // process it started still holds the pipes (`daemon &`), as over
            // SSH.
            let collect = Collect {
                keep_stdout,
                drain: Drain::LOCAL,
            };
            let result = with_deadline(
                deadline,
                run_to_exit(
                    pipes,
                    stdin,
                    on_output,
                    collect,
                    child.wait(),
                    TransportError::Io,
                ),
            )
            .await;
            if let (Err(TransportError::DeadlineExceeded), Some(pid)) = (&result, pid) {
                crate::interrupt::kill_commands(&[pid as i32]);
            }
            result
        })
    }

    fn exec_sudo(
        &self,
        request: ExecRequest<'_>,
        password: Option<&Secret>,
    ) -> Result<ExecOutput, TransportError> {
        let failed = |e: RunError| match e {
            RunError::NotSent(reason) | RunError::Ended(reason) => {
                TransportError::Io(format!("the root shell ended: {reason}"))
            }
            RunError::DeadlineExceeded => TransportError::DeadlineExceeded,
        };
        self.root
            .run(|| self.start_root_shell(password), failed, request)
    }

    /// The deadline kills the command's process group (the command runs as
    /// this process's user, whose processes it may signal).
    fn kills_at_deadline(&self) -> bool {
        true
    }

    fn open_channel(&self, command: &str) -> Result<Channel, TransportError> {
        let (child, [stdin, stdout, stderr]) = spawn_sh(command, true)
            .map_err(|e| TransportError::Io(format!("cannot start /bin/sh: {e}")))?;
        Channel::new(stdin, stdout, stderr, Box::new(LocalChild(child)))
    }
}
