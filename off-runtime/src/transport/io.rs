//! Driving a child process's pipes, shared by the local and SSH transports.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Stream, TransportError};

/// Feeds `input` to `stdin` and closes it, while collecting `stdout` and
/// `stderr` and handing every chunk to `on_output` as it arrives. Reading both
/// pipes concurrently keeps a command that fills one pipe from blocking.
pub(super) async fn pump(
    stdin: Option<impl AsyncWrite + Unpin>,
    input: Option<&[u8]>,
    mut stdout: impl AsyncRead + Unpin,
    mut stderr: impl AsyncRead + Unpin,
    on_output: &mut (dyn FnMut(Stream, &[u8]) + Send),
) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let feed = async {
        if let Some(mut stdin) = stdin {
            if let Some(input) = input {
                // A command that exits without reading its input closes the
                // pipe; that is not an error of ours.
                let _ = stdin.write_all(input).await;
            }
            let _ = stdin.shutdown().await;
        }
    };
    let collect = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (mut out_buf, mut err_buf) = ([0u8; 8192], [0u8; 8192]);
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            tokio::select! {
                n = stdout.read(&mut out_buf), if out_open => {
                    let n = n?;
                    if n == 0 { out_open = false } else {
                        on_output(Stream::Stdout, &out_buf[..n]);
                        out.extend_from_slice(&out_buf[..n]);
                    }
                }
                n = stderr.read(&mut err_buf), if err_open => {
                    let n = n?;
                    if n == 0 { err_open = false } else {
                        on_output(Stream::Stderr, &err_buf[..n]);
                        err.extend_from_slice(&err_buf[..n]);
                    }
                }
            }
        }
        Ok::<_, std::io::Error>((out, err))
    };
    let ((), collected) = tokio::join!(feed, collect);
    collected
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
