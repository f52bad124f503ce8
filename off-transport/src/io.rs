//! Driving a child process's pipes, shared by the local and SSH transports.

use std::pin::pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{ExecOutput, Stream, TransportError};

/// A spawned command's standard streams, as both transports get them from
/// their child handle.
pub(crate) struct Pipes<W, O, E> {
    pub stdin: Option<W>,
    pub stdout: Option<O>,
    pub stderr: Option<E>,
}

/// Runs a spawned command to its end, the same way on every transport:
/// `input` fed to it, its output handed to `on_output` and collected as
/// `collect` says, its exit status from `exited`. `lost` names what an I/O
/// error on the pipes or the status means on this transport (a local I/O
/// error, a lost SSH connection).
pub(super) async fn run_to_exit<W, O, E, X>(
    pipes: Pipes<W, O, E>,
    input: Option<&[u8]>,
    on_output: &mut (dyn FnMut(Stream, &[u8]) + Send),
    collect: Collect,
    exited: impl Future<Output = Result<std::process::ExitStatus, X>>,
    lost: fn(String) -> TransportError,
) -> Result<ExecOutput, TransportError>
where
    W: AsyncWrite + Unpin,
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
    X: std::fmt::Display,
{
    let (stdout, stderr, status) = pump_until_exit(
        pipes.stdin,
        input,
        pipes.stdout.expect("stdout is piped"),
        pipes.stderr.expect("stderr is piped"),
        on_output,
        collect,
        exited,
    )
    .await
    .map_err(|e| lost(e.to_string()))?;
    let status = status.map_err(|e| lost(e.to_string()))?;
    Ok(ExecOutput {
        stdout,
        stderr,
        code: status.code(),
    })
}

/// What [`pump_until_exit`] keeps of a command's output, and how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Collect {
    /// Standard output is returned too (else only handed to `on_output`).
    pub keep_stdout: bool,
    pub drain: Drain,
}

/// How long, once a command has exited, its pipes are still read: until
/// they stay silent for `idle`, and at most `max` (only a background process
/// it started, `daemon &`, keeps them open, and its output belongs to no
/// command).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drain {
    pub idle: Duration,
    pub max: Duration,
}

impl Drain {
    /// A local command: what it wrote before it exited is already in the
    /// pipes.
    pub const LOCAL: Drain = Drain {
        idle: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };
    /// A command in an SSH channel of its own: sshd may send the exit status
    /// before the last output it still has to read from the command's pipes,
    /// which then follows on the connection, later on a busy host.
    pub const CHANNEL: Drain = Drain {
        idle: Duration::from_secs(1),
        max: Duration::from_secs(5),
    };
}

/// Feeds `input` to `stdin` and closes it, while collecting `stdout` and
/// `stderr` and handing every chunk to `on_output` as it arrives (reading
/// both pipes at once keeps a command that fills one from blocking), until
/// the command's end, which `exited` tells: once it resolves, what is left in
/// the pipes is read and the pipes are given up, whoever still holds them
/// open (a background process the command started), and so is the rest of
/// `input`, keeping of the output what `collect` says. Returns the output and
/// what `exited` resolved to (awaited to the end if the pipes closed first).
async fn pump_until_exit<T>(
    stdin: Option<impl AsyncWrite + Unpin>,
    input: Option<&[u8]>,
    mut stdout: impl AsyncRead + Unpin,
    mut stderr: impl AsyncRead + Unpin,
    on_output: &mut (dyn FnMut(Stream, &[u8]) + Send),
    collect: Collect,
    exited: impl Future<Output = T>,
) -> std::io::Result<(Vec<u8>, Vec<u8>, T)> {
    let mut feed = pin!(async {
        if let Some(mut stdin) = stdin {
            if let Some(input) = input {
                // A command that exits without reading its input closes the
                // pipe; that is not an error of ours.
                let _ = stdin.write_all(input).await;
            }
            let _ = stdin.shutdown().await;
        }
    });
    let mut exited = pin!(exited);
    let mut exit = None;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (mut out_buf, mut err_buf) = ([0u8; 8192], [0u8; 8192]);
    let (mut out_open, mut err_open) = (true, true);
    let (mut feeding, mut running) = (true, true);
    let mut drain_end: Option<tokio::time::Instant> = None;
    while out_open || err_open {
        // After the exit, pipes that stay silent are taken as done.
        let idle = async {
            match drain_end {
                None => std::future::pending::<()>().await,
                Some(end) => {
                    let left = end.saturating_duration_since(tokio::time::Instant::now());
                    tokio::time::sleep(collect.drain.idle.min(left)).await;
                }
            }
        };
        tokio::select! {
            () = &mut feed, if feeding => feeding = false,
            status = &mut exited, if running => {
                exit = Some(status);
                running = false;
                drain_end = Some(tokio::time::Instant::now() + collect.drain.max);
                // Dropping the feed closes the command's standard input.
                feeding = false;
            }
            n = stdout.read(&mut out_buf), if out_open => {
                let n = n?;
                if n == 0 { out_open = false } else {
                    on_output(Stream::Stdout, &out_buf[..n]);
                    if collect.keep_stdout {
                        out.extend_from_slice(&out_buf[..n]);
                    }
                }
            }
            n = stderr.read(&mut err_buf), if err_open => {
                let n = n?;
                if n == 0 { err_open = false } else {
                    on_output(Stream::Stderr, &err_buf[..n]);
                    err.extend_from_slice(&err_buf[..n]);
                }
            }
            () = idle => break,
        }
    }
    // A command that closed both pipes may still be reading its input.
    if feeding && running {
        tokio::select! {
            () = &mut feed => {}
            status = &mut exited => exit = Some(status),
        }
    }
    let exit = match exit {
        Some(status) => status,
        None => exited.await,
    };
    Ok((out, err, exit))
}

/// Runs `future` under an optional deadline.
pub(super) async fn with_deadline<T>(
    deadline: Option<Duration>,
    future: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    match deadline {
        None => future.await,
        Some(d) => tokio::time::timeout(d, future)
            .await
            .unwrap_or(Err(TransportError::DeadlineExceeded)),
    }
}
