//! The control machine as a target (the default when no host is given).

use std::process::Stdio;

use super::io::{pump, with_deadline};
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
            let (child_in, child_out, child_err) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take());
            let result = with_deadline(deadline, async {
                let (stdout, stderr) = pump(
                    child_in,
                    stdin,
                    child_out.expect("piped"),
                    child_err.expect("piped"),
                    on_output,
                )
                .await
                .map_err(|e| TransportError::Io(e.to_string()))?;
                let status = child
                    .wait()
                    .await
                    .map_err(|e| TransportError::Io(e.to_string()))?;
                Ok(ExecOutput {
                    stdout,
                    stderr,
                    code: status.code(),
                })
            })
            .await;
            if let (Err(TransportError::DeadlineExceeded), Some(pid)) = (&result, pid) {
                // SAFETY: kill(2) with a negative pid signals that process
                // group; the group is the one created for this command.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            }
            result
        })
    }
}
