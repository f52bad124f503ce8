//! A persistent shell on a target that runs one command per framed request
//! (see [`super::frame`]), so a command costs one round trip instead of a new
//! SSH channel.
//!
//! The session only needs the shell's three pipes; the SSH transport hands it
//! a multiplexed channel running `/bin/sh` (or `sudo … /bin/sh`), and the unit
//! tests a local `/bin/sh`. Its I/O is plain non-blocking reads and writes
//! with poll(2) on the calling host's own thread: a command's round trip does
//! not hop through the async runtime's threads, which on a busy machine
//! costs more than the round trip itself.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::frame::{Markers, ReadyScanner};
use super::{ExecOutput, ExecRequest, Stream};

/// Reads are this large, so big outputs cross in few wakeups.
const READ_SIZE: usize = 64 * 1024;

/// The remote shell's pipes, and whatever owns the process or channel behind
/// them (dropping it ends the shell).
pub(super) struct ShellPipes {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
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
    /// The deadline passed; the command may still run.
    DeadlineExceeded,
}

pub(super) struct ShellSession {
    stdin: File,
    stdout: File,
    stderr: File,
    _owner: Box<dyn Send>,
    markers: Markers,
    out_buf: Vec<u8>,
    err_buf: Vec<u8>,
}

/// What waiting on the pipes can end in besides data.
enum Wait {
    Io(std::io::Error),
    Deadline,
}

impl From<std::io::Error> for Wait {
    fn from(e: std::io::Error) -> Self {
        Wait::Io(e)
    }
}

impl ShellSession {
    /// Waits until the shell behind `pipes` announces itself with
    /// [`super::frame::READY`]. `password` is written first, as one line, for
    /// `sudo -S` to read; nothing else is written before the shell is ready,
    /// so a refusing sudo never reads protocol text as a second attempt.
    pub fn start(
        pipes: ShellPipes,
        password: Option<&str>,
        timeout: Duration,
    ) -> Result<ShellSession, StartError> {
        let failed = |e: std::io::Error| StartError::Failed(e.to_string());
        for fd in [&pipes.stdin, &pipes.stdout, &pipes.stderr] {
            set_nonblocking(fd).map_err(failed)?;
        }
        let mut session = ShellSession {
            stdin: File::from(pipes.stdin),
            stdout: File::from(pipes.stdout),
            stderr: File::from(pipes.stderr),
            _owner: pipes._owner,
            markers: Markers::random(),
            out_buf: vec![0u8; READ_SIZE],
            err_buf: vec![0u8; READ_SIZE],
        };
        let until = Some(Instant::now() + timeout);
        if let Some(password) = password {
            let mut line = Vec::with_capacity(password.len() + 1);
            line.extend_from_slice(password.as_bytes());
            line.push(b'\n');
            match write_all(&mut session.stdin, &line, until) {
                Ok(()) => {}
                Err(Wait::Io(e)) => return Err(failed(e)),
                Err(Wait::Deadline) => {
                    return Err(StartError::Failed("sudo did not read the password".into()));
                }
            }
        }
        let mut ready = ReadyScanner::default();
        let mut stderr = Vec::new();
        let mut err_open = true;
        loop {
            let readable =
                match wait_readable(&session.stdout, err_open.then_some(&session.stderr), until) {
                    Ok(r) => r,
                    Err(Wait::Io(e)) => return Err(failed(e)),
                    Err(Wait::Deadline) => {
                        return Err(StartError::Failed(format!(
                            "the shell did not start within {}s{}",
                            timeout.as_secs(),
                            stderr_suffix(&stderr)
                        )));
                    }
                };
            if readable.0 {
                match read(&mut session.stdout, &mut session.out_buf).map_err(failed)? {
                    Some(0) => {
                        // Its complaint may still be on the way: read stderr
                        // to its end before telling why the shell ended.
                        while err_open {
                            match wait_readable(&session.stderr, None, until) {
                                Ok(_) => {}
                                Err(_) => break,
                            }
                            match read(&mut session.stderr, &mut session.err_buf) {
                                Ok(Some(0)) | Err(_) => err_open = false,
                                Ok(Some(n)) => stderr.extend_from_slice(&session.err_buf[..n]),
                                Ok(None) => {}
                            }
                        }
                        return Err(ended_before_ready(&stderr));
                    }
                    Some(n) if ready.push(&session.out_buf[..n]) => return Ok(session),
                    Some(_) | None => {}
                }
            }
            if readable.1 {
                match read(&mut session.stderr, &mut session.err_buf).map_err(failed)? {
                    Some(0) => err_open = false,
                    Some(n) => {
                        stderr.extend_from_slice(&session.err_buf[..n]);
                        if let Some(complaint) = sudo_refusal(&stderr) {
                            return Err(StartError::SudoRefused(complaint));
                        }
                    }
                    None => {}
                }
            }
        }
    }

    /// Runs `command` (with `stdin` as its standard input, `/dev/null` when
    /// `None`) and returns its output and exit code. Output is handed to
    /// `on_output` as it arrives.
    pub fn run(
        &mut self,
        command: &str,
        stdin: Option<&[u8]>,
        until: Option<Instant>,
        keep_stdout: bool,
        on_output: &mut (dyn FnMut(Stream, &[u8]) + Send),
    ) -> Result<ExecOutput, RunError> {
        let frame = self.markers.request(command, stdin);
        match write_all(&mut self.stdin, &frame, until) {
            Ok(()) => {}
            Err(Wait::Io(e)) => return Err(RunError::NotSent(e.to_string())),
            Err(Wait::Deadline) => return Err(RunError::DeadlineExceeded),
        }

        let mut out_scanner = self.markers.scanner();
        let mut err_scanner = self.markers.scanner();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (mut out_done, mut err_done) = (false, false);
        let broken = |e: std::io::Error| RunError::Ended(e.to_string());
        while !(out_done && err_done) {
            // Only the streams whose end marker is still to come are
            // waited on (a shell that died shows as end of file on them).
            let readable = match (out_done, err_done) {
                (false, false) => wait_readable(&self.stdout, Some(&self.stderr), until),
                (false, true) => wait_readable(&self.stdout, None, until),
                (true, _) => wait_readable(&self.stderr, None, until).map(|(e, _)| (false, e)),
            };
            let (out_ready, err_ready) = match readable {
                Ok(r) => r,
                Err(Wait::Io(e)) => return Err(broken(e)),
                Err(Wait::Deadline) => return Err(RunError::DeadlineExceeded),
            };
            if out_ready {
                match read(&mut self.stdout, &mut self.out_buf).map_err(broken)? {
                    Some(0) => return Err(ended_while_running(&err)),
                    Some(n) => {
                        out_done = out_scanner.push(&self.out_buf[..n], &mut |chunk| {
                            on_output(Stream::Stdout, chunk);
                            if keep_stdout {
                                out.extend_from_slice(chunk);
                            }
                        });
                    }
                    None => {}
                }
            }
            if err_ready {
                match read(&mut self.stderr, &mut self.err_buf).map_err(broken)? {
                    Some(0) => return Err(ended_while_running(&err)),
                    Some(n) => {
                        err_done = err_scanner.push(&self.err_buf[..n], &mut |chunk| {
                            on_output(Stream::Stderr, chunk);
                            err.extend_from_slice(chunk);
                        });
                    }
                    None => {}
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

/// Idle persistent shells of one user on one target: a command takes one
/// (or starts one) and puts it back when it is done, so that commands
/// running at the same time each have their own.
#[derive(Default)]
pub(super) struct ShellPool(Mutex<Vec<ShellSession>>);

impl ShellPool {
    /// Runs `request` in an idle shell, or in one `start` starts. A shell
    /// whose command fails to finish (it killed its shell, or the deadline
    /// passed) is dropped, and `failed` says what that means; an idle shell
    /// that died since its last command is replaced once, since the command
    /// never started.
    pub fn run<E>(
        &self,
        start: impl Fn() -> Result<ShellSession, E>,
        failed: impl Fn(RunError) -> E,
        request: ExecRequest<'_>,
    ) -> Result<ExecOutput, E> {
        let ExecRequest {
            command,
            stdin,
            deadline,
            on_output,
            keep_stdout,
        } = request;
        let until = deadline.map(|d| Instant::now() + d);
        let mut retried = false;
        loop {
            let idle = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut shell = match idle {
                Some(shell) => shell,
                None => start()?,
            };
            match shell.run(command, stdin, until, keep_stdout, &mut *on_output) {
                Ok(output) => {
                    self.0.lock().unwrap_or_else(|e| e.into_inner()).push(shell);
                    return Ok(output);
                }
                Err(RunError::NotSent(_)) if !retried => retried = true,
                Err(e) => return Err(failed(e)),
            }
        }
    }
}

/// The command line that starts `shell` (a path) as a session shell: it
/// announces itself with [`super::frame::READY`], then reads requests.
pub(super) fn session_line(shell: &str) -> String {
    let shell = off_shell::quote(shell);
    let script = format!("echo off-shell-ready; exec {shell}");
    format!("{shell} -c {}", off_shell::quote(&script))
}

/// Starts the session shell `session` (from [`session_line`]) as root
/// through sudo, with `start(command line, password)`. sudo is tried without
/// a password first (`-n`), so a password is only ever written to a sudo
/// that asks for one; the second sudo ignores cached credentials (`-k`), so
/// that it asks whenever the first one could not go without.
pub(super) fn start_as_root(
    session: &str,
    password: Option<&crate::Secret>,
    start: impl Fn(&str, Option<&str>) -> Result<ShellSession, StartError>,
) -> Result<ShellSession, StartError> {
    let without = format!("exec sudo -n -H -u root -- {session}");
    match (start(&without, None), password) {
        (Err(StartError::SudoRefused(_)), Some(password)) => {
            let with = format!("exec sudo -S -k -p '' -H -u root -- {session}");
            start(&with, Some(password.expose()))
        }
        (result, _) => result,
    }
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a file descriptor we own, with flag arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// One read; `None` when nothing is there yet.
fn read(file: &mut File, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    loop {
        match file.read(buf) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn write_all(file: &mut File, mut data: &[u8], until: Option<Instant>) -> Result<(), Wait> {
    while !data.is_empty() {
        match file.write(data) {
            Ok(0) => return Err(Wait::Io(ErrorKind::WriteZero.into())),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                poll(&mut [pollfd(file, libc::POLLOUT)], until)?;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Wait::Io(e)),
        }
    }
    Ok(())
}

fn pollfd(file: &File, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd: file.as_raw_fd(),
        events,
        revents: 0,
    }
}

/// Waits until `first` (or `second`) can be read, or has hung up.
fn wait_readable(
    first: &File,
    second: Option<&File>,
    until: Option<Instant>,
) -> Result<(bool, bool), Wait> {
    let mut fds = [
        pollfd(first, libc::POLLIN),
        pollfd(second.unwrap_or(first), libc::POLLIN),
    ];
    let count = if second.is_some() { 2 } else { 1 };
    poll(&mut fds[..count], until)?;
    let ready = |fd: &libc::pollfd| fd.revents != 0;
    Ok((ready(&fds[0]), count == 2 && ready(&fds[1])))
}

/// poll(2) until an event, or `until`.
fn poll(fds: &mut [libc::pollfd], until: Option<Instant>) -> Result<(), Wait> {
    loop {
        let timeout_ms = match until {
            None => -1,
            Some(t) => {
                let left = t.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Wait::Deadline);
                }
                // Rounded up, so a wait never ends just short of the deadline.
                left.as_millis().min(i32::MAX as u128) as i32 + 1
            }
        };
        // SAFETY: `fds` is a valid, exclusively borrowed slice of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n > 0 {
            return Ok(());
        }
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(Wait::Io(e));
            }
        }
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
    use std::process::{Command, Stdio};

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// A local process as the shell behind a session.
    fn spawn(script: &str) -> ShellPipes {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        ShellPipes {
            stdin: child.stdin.take().unwrap().into(),
            stdout: child.stdout.take().unwrap().into(),
            stderr: child.stderr.take().unwrap().into(),
            _owner: Box::new(KillOnDrop(child)),
        }
    }

    struct KillOnDrop(std::process::Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn shell() -> ShellSession {
        let pipes = spawn("echo off-shell-ready; exec /bin/sh");
        ShellSession::start(pipes, None, TIMEOUT).unwrap()
    }

    fn run(session: &mut ShellSession, command: &str, stdin: Option<&[u8]>) -> ExecOutput {
        session
            .run(command, stdin, None, true, &mut |_, _| {})
            .unwrap()
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
        let err = s
            .run("kill -9 $$", None, None, true, &mut |_, _| {})
            .unwrap_err();
        assert!(matches!(err, RunError::Ended(_)), "{err:?}");
    }

    #[test]
    fn streams_output_in_pieces() {
        let mut s = shell();
        let mut pieces = 0;
        let mut largest = 0;
        let out = s
            .run(
                "head -c 3000000 /dev/zero",
                None,
                None,
                true,
                &mut |_, chunk| {
                    pieces += 1;
                    largest = largest.max(chunk.len());
                },
            )
            .unwrap();
        assert_eq!(out.stdout.len(), 3_000_000);
        assert!(pieces > 10 && largest <= READ_SIZE, "{pieces} pieces");
    }

    #[test]
    fn a_refused_password_is_one_attempt() {
        let sudo_like = "read -r p; if [ \"$p\" = right ]; then echo off-shell-ready; exec /bin/sh; fi; \
                         echo 'Sorry, try again.' >&2; read -r q; echo \"second attempt: $q\" >&2";
        let err = ShellSession::start(spawn(sudo_like), Some("wrong"), TIMEOUT)
            .err()
            .unwrap();
        assert_eq!(
            err,
            StartError::SudoRefused("sudo: incorrect password".into())
        );
        let mut s = ShellSession::start(spawn(sudo_like), Some("right"), TIMEOUT).unwrap();
        assert_eq!(run(&mut s, "echo in", None).stdout, b"in\n");
    }

    #[test]
    fn a_complaint_after_stdout_closed_still_counts() {
        let late = "exec >&-; sleep 0.2; echo 'sudo: a password is required' >&2; exit 1";
        let err = ShellSession::start(spawn(late), None, TIMEOUT)
            .err()
            .unwrap();
        assert_eq!(
            err,
            StartError::SudoRefused("sudo: a password is required".into())
        );
    }

    #[test]
    fn a_deadline_ends_the_wait() {
        let mut s = shell();
        let until = Some(Instant::now() + Duration::from_millis(200));
        let err = s
            .run("sleep 5", None, until, true, &mut |_, _| {})
            .unwrap_err();
        assert_eq!(err, RunError::DeadlineExceeded);
    }

    #[test]
    fn a_shell_that_never_starts_fails() {
        let err = ShellSession::start(spawn("echo nope >&2; exit 127"), None, TIMEOUT)
            .err()
            .unwrap();
        assert_eq!(
            err,
            StartError::Failed("the shell ended before it was ready: nope".into())
        );
    }
}
