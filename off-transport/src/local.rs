//! The control machine as a target (the default when no host is given).

use std::os::unix::process::CommandExt;
use std::process::Stdio;

use super::channel::{Channel, LocalChild};
use super::io::{Collect, Drain, Pipes, run_to_exit, with_deadline};
use super::{ExecOutput, ExecRequest, Transport, TransportError};
use crate::runtime::block_on;

/// Runs commands with `/bin/sh -c` on this machine.
#[derive(Debug, Default)]
pub struct LocalTransport;

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

    fn open_channel(&self, command: &str) -> Result<Channel, TransportError> {
        let failed = |e: std::io::Error| TransportError::Io(format!("cannot start /bin/sh: {e}"));
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(failed)?;
        let stdin = child.stdin.take().expect("piped").into();
        let stdout = child.stdout.take().expect("piped").into();
        let stderr = child.stderr.take().expect("piped").into();
        Channel::new(stdin, stdout, stderr, Box::new(LocalChild(child)))
    }
}
