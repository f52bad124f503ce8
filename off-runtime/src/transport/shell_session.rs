//! A persistent shell on a target that runs one command per framed request
//! (see [`super::frame`]), so a command costs one round trip instead of a new
//! SSH channel.
//!
//! The session only needs the shell's three pipes; the SSH transport hands it
//! a multiplexed channel running `/bin/sh` (or `sudo … /bin/sh`), and the unit
//! tests a local `/bin/sh`.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::frame::{Markers, ReadyScanner};
use super::{ExecOutput, Stream};

/// Reads are this large, so big outputs cross in few wakeups.
const READ_SIZE: usize = 64 * 1024;

/// The remote shell's pipes, and whatever owns the process or channel behind
/// them (dropping it ends the shell).
pub(super) struct ShellPipes {
    pub stdin: Box<dyn AsyncWrite + Unpin + Send>,
    pub stdout: Box<dyn AsyncRead + Unpin + Send>,
    pub stderr: Box<dyn AsyncRead + Unpin + Send>,
    pub _owner: Box<dyn Send>,
}

/// Why a shell could not be started.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum StartError {
    /// sudo wants a password it was not given, or refused the one it got.
    /// Holds sudo's complaint.
    SudoRefused(String),
    /// The shell ended, or did not announce itself in time.
    Failed(String),
}

/// Why a request did not produce a result.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RunError {
    /// The request could not be written: the shell was gone before the
    /// command could start, so it is safe to retry on a new shell.
    NotSent(String),
    /// The shell ended (or its pipes broke) while the command ran.
    Ended(String),
}

pub(super) struct ShellSession {
    pipes: ShellPipes,
    markers: Markers,
    out_buf: Vec<u8>,
    err_buf: Vec<u8>,
}

impl ShellSession {
    /// Waits until the shell behind `pipes` announces itself with
    /// [`super::frame::READY`]. `password` is written first, as one line, for
    /// `sudo -S` to read; nothing else is written before the shell is ready,
    /// so a refusing sudo never reads protocol text as a second attempt.
    pub async fn start(
        mut pipes: ShellPipes,
        password: Option<&str>,
        timeout: Duration,
    ) -> Result<ShellSession, StartError> {
        let failed = |e: std::io::Error| StartError::Failed(e.to_string());
        if let Some(password) = password {
            let mut line = Vec::with_capacity(password.len() + 1);
            line.extend_from_slice(password.as_bytes());
            line.push(b'\n');
            pipes.stdin.write_all(&line).await.map_err(failed)?;
            pipes.stdin.flush().await.map_err(failed)?;
        }
        let mut ready = ReadyScanner::default();
        let mut stderr = Vec::new();
        let (mut out_buf, mut err_buf) = (vec![0u8; READ_SIZE], vec![0u8; READ_SIZE]);
        let mut err_open = true;
        let wait = async {
            loop {
                tokio::select! {
                    n = pipes.stdout.read(&mut out_buf) => {
                        let n = n.map_err(failed)?;
                        if n == 0 {
                            return Err(ended_before_ready(&stderr));
                        }
                        if ready.push(&out_buf[..n]) {
                            return Ok(());
                        }
                    }
                    n = pipes.stderr.read(&mut err_buf), if err_open => {
                        let n = n.map_err(failed)?;
                        if n == 0 {
                            err_open = false;
                        }
                        stderr.extend_from_slice(&err_buf[..n]);
                        if let Some(complaint) = sudo_refusal(&stderr) {
                            return Err(StartError::SudoRefused(complaint));
                        }
                    }
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(StartError::Failed(format!(
                    "the shell did not start within {}s{}",
                    timeout.as_secs(),
                    stderr_suffix(&stderr)
                )));
            }
        }
        Ok(ShellSession {
            pipes,
            markers: Markers::random(),
            out_buf,
            err_buf,
        })
    }

    /// Runs `command` (with `stdin` as its standard input, `/dev/null` when
    /// `None`) and returns its output and exit code. Output is handed to
    /// `on_output` as it arrives.
    pub async fn run(
        &mut self,
        command: &str,
        stdin: Option<&[u8]>,
        on_output: &mut (dyn FnMut(Stream, &[u8]) + Send),
    ) -> Result<ExecOutput, RunError> {
        let frame = self.markers.request(command, stdin);
        let not_sent = |e: std::io::Error| RunError::NotSent(e.to_string());
        self.pipes.stdin.write_all(&frame).await.map_err(not_sent)?;
        self.pipes.stdin.flush().await.map_err(not_sent)?;

        let mut out_scanner = self.markers.stdout_scanner();
        let mut err_scanner = self.markers.stderr_scanner();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (mut out_done, mut err_done) = (false, false);
        let ShellSession {
            pipes,
            out_buf,
            err_buf,
            ..
        } = self;
        let broken = |e: std::io::Error| RunError::Ended(e.to_string());
        while !(out_done && err_done) {
            tokio::select! {
                n = pipes.stdout.read(out_buf), if !out_done => {
                    let n = n.map_err(broken)?;
                    if n == 0 {
                        return Err(ended_while_running(&err));
                    }
                    out_done = out_scanner.push(&out_buf[..n], &mut |chunk| {
                        on_output(Stream::Stdout, chunk);
                        out.extend_from_slice(chunk);
                    });
                }
                n = pipes.stderr.read(err_buf), if !err_done => {
                    let n = n.map_err(broken)?;
                    if n == 0 {
                        return Err(ended_while_running(&err));
                    }
                    err_done = err_scanner.push(&err_buf[..n], &mut |chunk| {
                        on_output(Stream::Stderr, chunk);
                        err.extend_from_slice(chunk);
                    });
                }
            }
        }
        Ok(ExecOutput {
            stdout: out,
            stderr: err,
            code: out_scanner.exit_code(),
        })
    }
}

fn ended_while_running(stderr: &[u8]) -> RunError {
    RunError::Ended(format!(
        "the remote shell ended while the command ran (did it kill its shell?){}",
        stderr_suffix(stderr)
    ))
}

fn ended_before_ready(stderr: &[u8]) -> StartError {
    match sudo_refusal(stderr) {
        Some(complaint) => StartError::SudoRefused(complaint),
        None => StartError::Failed(format!(
            "the shell ended before it was ready{}",
            stderr_suffix(stderr)
        )),
    }
}

fn stderr_suffix(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.replace('\n', " "))
    }
}

/// sudo's complaint when it refuses for want of the right password. A wrong
/// password makes sudo say "Sorry, try again." and wait for another line: we
/// stop there, so one wrong password is one failed attempt in the host's log.
fn sudo_refusal(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let refused = text.lines().any(|l| {
        l.contains("Sorry, try again")
            || (l.starts_with("sudo:")
                && (l.contains("incorrect password")
                    || l.contains("a password is required")
                    || l.contains("no password was provided")))
    });
    refused.then(|| {
        if text.contains("Sorry, try again") {
            "sudo: incorrect password".to_string()
        } else {
            text.trim().to_string()
        }
    })
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;

    use super::*;
    use crate::runtime::block_on;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// A local process as the shell behind a session.
    fn spawn(script: &str) -> ShellPipes {
        // Spawned inside the runtime, which reaps the child.
        let mut child = block_on(async {
            tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
        })
        .unwrap();
        ShellPipes {
            stdin: Box::new(child.stdin.take().unwrap()),
            stdout: Box::new(child.stdout.take().unwrap()),
            stderr: Box::new(child.stderr.take().unwrap()),
            _owner: Box::new(child),
        }
    }

    fn shell() -> ShellSession {
        let pipes = spawn("echo off-shell-ready; exec /bin/sh");
        block_on(ShellSession::start(pipes, None, TIMEOUT)).unwrap()
    }

    fn run(session: &mut ShellSession, command: &str, stdin: Option<&[u8]>) -> ExecOutput {
        block_on(session.run(command, stdin, &mut |_, _| {})).unwrap()
    }

    #[test]
    fn separates_streams_and_reports_exit_codes() {
        let mut s = shell();
        let out = run(&mut s, "printf out; printf err >&2; exit 3", None);
        assert_eq!(
            (out.stdout, out.stderr, out.code),
            (b"out".to_vec(), b"err".to_vec(), Some(3))
        );
        let out = run(&mut s, "printf 'a\\000b'", None);
        assert_eq!(out.stdout, b"a\0b");
        assert_eq!(out.code, Some(0));
    }

    #[test]
    fn exit_exec_and_cd_stay_inside_the_command() {
        let mut s = shell();
        run(&mut s, "cd /tmp; exit 1", None);
        assert_eq!(
            run(&mut s, "exec echo replaced", None).stdout,
            b"replaced\n"
        );
        assert_ne!(run(&mut s, "pwd", None).stdout, b"/tmp\n");
        assert_eq!(run(&mut s, "echo still here", None).stdout, b"still here\n");
    }

    #[test]
    fn stdin_is_the_requests_bytes_or_empty() {
        let mut s = shell();
        let data = b"line\n\0binary\xff no newline";
        assert_eq!(run(&mut s, "cat", Some(data)).stdout, data);
        assert_eq!(run(&mut s, "cat; echo done", None).stdout, b"done\n");
        // A command that ignores its input does not disturb the session.
        assert_eq!(run(&mut s, "true", Some(&[b'x'; 200_000])).code, Some(0));
        assert_eq!(run(&mut s, "echo next", None).stdout, b"next\n");
    }

    #[test]
    fn a_killed_shell_is_reported() {
        let mut s = shell();
        let err = block_on(s.run("kill -9 $$", None, &mut |_, _| {})).unwrap_err();
        assert!(matches!(err, RunError::Ended(_)), "{err:?}");
    }

    #[test]
    fn streams_output_in_pieces() {
        let mut s = shell();
        let mut pieces = 0;
        let mut largest = 0;
        let out = block_on(s.run("head -c 3000000 /dev/zero", None, &mut |_, chunk| {
            pieces += 1;
            largest = largest.max(chunk.len());
        }))
        .unwrap();
        assert_eq!(out.stdout.len(), 3_000_000);
        assert!(pieces > 10 && largest <= READ_SIZE, "{pieces} pieces");
    }

    #[test]
    fn a_refused_password_is_one_attempt() {
        let sudo_like = "read -r p; if [ \"$p\" = right ]; then echo off-shell-ready; exec /bin/sh; fi; \
                         echo 'Sorry, try again.' >&2; read -r q; echo \"second attempt: $q\" >&2";
        let err = block_on(ShellSession::start(
            spawn(sudo_like),
            Some("wrong"),
            TIMEOUT,
        ))
        .err()
        .unwrap();
        assert_eq!(
            err,
            StartError::SudoRefused("sudo: incorrect password".into())
        );
        let mut s = block_on(ShellSession::start(
            spawn(sudo_like),
            Some("right"),
            TIMEOUT,
        ))
        .unwrap();
        assert_eq!(run(&mut s, "echo in", None).stdout, b"in\n");
    }

    #[test]
    fn a_shell_that_never_starts_fails() {
        let err = block_on(ShellSession::start(
            spawn("echo nope >&2; exit 127"),
            None,
            TIMEOUT,
        ))
        .err()
        .unwrap();
        assert_eq!(
            err,
            StartError::Failed("the shell ended before it was ready: nope".into())
        );
    }
}
