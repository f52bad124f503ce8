//! Running a binary under test with a deadline, so a hang fails the test
//! with what the binary printed instead of blocking the suite.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What most end-to-end runs get: far more than any of them needs, far less
/// than a hung CI job.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

/// Runs `cmd` to the end with `stdin` (none: an empty standard input) and
/// returns its output, like [`Command::output`]. The command runs in a
/// process group of its own; past `deadline` the whole group (the binary
/// and any `ssh` it started) is killed and this panics with the command
/// line and everything it printed.
pub fn output_within(cmd: &mut Command, stdin: Option<&[u8]>, deadline: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    wait_within(child, &shown, stdin, deadline)
}

/// Waits for a `child` started with piped standard output and error (and
/// input, fed `stdin`, if piped), like [`std::process::Child::wait_with_output`];
/// past `deadline` it is killed, with its process group when it leads one,
/// and this panics with `shown` (what the child is) and its output.
pub fn wait_within(
    mut child: Child,
    shown: &str,
    stdin: Option<&[u8]>,
    deadline: Duration,
) -> Output {
    let feeder = child.stdin.take().map(|mut pipe| {
        let input = stdin.map(<[u8]>::to_vec).unwrap_or_default();
        // A binary that does not read its input closes the pipe: not an error.
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        })
    });
    let drain = |from: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut from) = from {
                let _ = from.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );

    let started = Instant::now();
    let status: Option<ExitStatus> = loop {
        match child.try_wait().expect("waiting for the child") {
            Some(status) => break Some(status),
            None if started.elapsed() >= deadline => break None,
            None => thread::sleep(Duration::from_millis(20)),
        }
    };
    let killed = status.is_none();
    if killed {
        let pid = child.id() as libc::pid_t;
        // SAFETY: signals the child, and the group it leads if it leads one.
        unsafe {
            if libc::getpgid(pid) == pid {
                libc::kill(-pid, libc::SIGKILL);
            } else {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    let status = match status {
        Some(status) => status,
        None => child.wait().expect("waiting for the killed child"),
    };
    if let Some(feeder) = feeder {
        let _ = feeder.join();
    }
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    if killed {
        panic!(
            "{shown} did not finish within {deadline:?} and was killed\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    }
    Output {
        status,
        stdout,
        stderr,
    }
}

/// [`output_within`] with [`DEFAULT_DEADLINE`] and no input.
pub fn output(cmd: &mut Command) -> Output {
    output_within(cmd, None, DEFAULT_DEADLINE)
}

/// [`output`] for a command whose standard input the caller has set (a
/// pipe from another process it reads): that input is left as it is.
pub fn output_with_its_stdin(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    wait_within(child, &shown, None, DEFAULT_DEADLINE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_output_of_a_command_that_finishes() {
        let out = output_within(
            Command::new("sh").args(["-c", "cat; echo err >&2; exit 3"]),
            Some(b"in"),
            Duration::from_secs(10),
        );
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"in");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn a_command_keeps_the_input_its_caller_gave_it() {
        let mut producer = Command::new("echo")
            .arg("piped")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = producer.stdout.take().unwrap();
        let out = output_with_its_stdin(Command::new("cat").stdin(pipe));
        assert_eq!(out.stdout, b"piped\n");
        assert!(producer.wait().unwrap().success());
    }

    #[test]
    fn kills_a_hang_and_its_children_and_fails_with_its_output() {
        let started = Instant::now();
        let result = std::panic::catch_unwind(|| {
            output_within(
                Command::new("sh").args(["-c", "echo started; sleep 30 & wait"]),
                None,
                Duration::from_millis(300),
            )
        });
        let message = *result.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("did not finish within 300ms"), "{message}");
        assert!(message.contains("stdout:\nstarted\n"), "{message}");
        // The `sleep` went with the group: had it lived, it would have held
        // the output pipes open for its 30 seconds.
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
