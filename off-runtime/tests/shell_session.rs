//! The persistent shell behind the SSH transport, on a test host: commands
//! that try to take it down, output of any size and content, standard input,
//! timeouts, the root shell of sudo, and the fallback to a channel per command.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use off_runtime::prelude::*;
use off_runtime::report::RunObserver;
use off_runtime::transport::{
    ExecOutput, ExecRequest, SshTransport, Stream, Transport, TransportError,
};

/// A transport connected to the test host as `user`, and the user's sudo password.
fn connect(user: &str) -> (SshTransport, Option<Secret>) {
    let fx = Fixture::host(OPS_HOST, user);
    let Target::Ssh(target) = &fx.target else {
        unreachable!()
    };
    (
        SshTransport::connect(target, &fx.ssh).unwrap(),
        fx.sudo_password,
    )
}

fn request<'a>(
    command: &'a str,
    stdin: Option<&'a [u8]>,
    on_output: &'a mut (dyn FnMut(Stream, &[u8]) + Send),
) -> ExecRequest<'a> {
    ExecRequest {
        command,
        stdin,
        deadline: Some(Duration::from_secs(60)),
        on_output,
        keep_stdout: true,
    }
}

fn exec(t: &SshTransport, command: &str) -> Result<ExecOutput, TransportError> {
    t.exec(request(command, None, &mut |_, _| {}))
}

/// The process id of the persistent shell a command runs in (`$$` in the
/// command's subshell is its shell's).
fn shell_pid(t: &SshTransport) -> String {
    String::from_utf8(exec(t, "echo $$").unwrap().stdout).unwrap()
}

#[test]
fn commands_share_one_shell_that_survives_exit_and_exec() {
    let (t, _) = connect("root");
    let pid = shell_pid(&t);
    assert_eq!(exec(&t, "exit 7").unwrap().code, Some(7));
    assert_eq!(
        exec(&t, "exec echo replaced").unwrap().stdout,
        b"replaced\n"
    );
    assert_eq!(exec(&t, "cd /tmp; export GONE=1").unwrap().code, Some(0));
    let out = exec(&t, "pwd; echo \"[$GONE]\"").unwrap();
    assert_ne!(out.stdout, b"/tmp\n[1]\n", "cd and env leaked");
    assert_eq!(shell_pid(&t), pid, "the shell was replaced");
}

#[test]
fn a_command_that_kills_its_shell_fails_and_the_next_gets_a_new_one() {
    let (t, _) = connect("root");
    let pid = shell_pid(&t);
    let err = exec(&t, "kill -9 $$").unwrap_err();
    assert!(
        matches!(&err, TransportError::Disconnected(m) if m.contains("remote shell ended")),
        "{err:?}"
    );
    let next = shell_pid(&t);
    assert_ne!(next, pid);
    assert_eq!(exec(&t, "echo back").unwrap().stdout, b"back\n");
    assert_eq!(shell_pid(&t), next);
}

#[test]
fn operations_contain_exit_exec_and_a_killed_shell() {
    let fx = Fixture::host(OPS_HOST, "root");
    let (exit, exec, killed, after) = fx.on(|| {
        let _s = settings(Settings::new().warn_only(true));
        Ok((
            run("exit 3")?.code,
            run("exec sh -c 'exit 4'")?.code,
            run("kill -9 $$").unwrap_err(),
            run("echo after")?.stdout,
        ))
    });
    assert_eq!((exit, exec), (3, 4));
    assert!(matches!(killed, Error::Disconnected { .. }), "{killed}");
    assert!(
        killed
            .to_string()
            .contains("run `kill -9 $$`: lost the connection: the remote shell ended"),
        "{killed}"
    );
    assert_eq!(after, "after\n");
}

#[test]
fn commands_at_the_same_time_get_shells_of_their_own() {
    let (t, _) = connect("root");
    // Each command waits until all four run, so none can reuse another's shell.
    let dir = format!("/tmp/off-test-together-{}", std::process::id());
    exec(&t, &format!("rm -rf {dir} && mkdir {dir}")).unwrap();
    let command = format!(
        "touch {dir}/$$; while [ $(ls {dir} | wc -l) -lt 4 ]; do sleep 0.05; done; echo $$"
    );
    let pids: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| String::from_utf8(exec(&t, &command).unwrap().stdout).unwrap()))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut distinct = pids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{pids:?}");
    // They were put back: the next command reuses one of them.
    assert!(pids.contains(&shell_pid(&t)));
}

#[test]
fn binary_output_keeps_every_byte() {
    let (t, _) = connect("root");
    let out = exec(&t, "printf 'a\\000b\\377\\n\\nend'; printf 'e\\000' >&2").unwrap();
    assert_eq!(out.stdout, b"a\0b\xff\n\nend");
    assert_eq!(out.stderr, b"e\0");
}

#[test]
fn stdout_and_stderr_stay_apart() {
    let (t, _) = connect("root");
    let mut seen = Vec::new();
    let out = t
        .exec(request(
            "echo out; echo err >&2; printf x; printf y >&2",
            None,
            &mut |stream, chunk| seen.push((stream, chunk.to_vec())),
        ))
        .unwrap();
    assert_eq!(out.stdout, b"out\nx");
    assert_eq!(out.stderr, b"err\ny");
    let streamed = |s| {
        seen.iter()
            .filter(|(stream, _)| *stream == s)
            .flat_map(|(_, c)| c.clone())
            .collect::<Vec<u8>>()
    };
    assert_eq!(streamed(Stream::Stdout), out.stdout);
    assert_eq!(streamed(Stream::Stderr), out.stderr);
}

#[test]
fn large_output_is_streamed_in_pieces() {
    let (t, _) = connect("root");
    const SIZE: usize = 50_000_000;
    let line = b"0123456789abcdef\n";
    let (mut pieces, mut largest, mut total) = (0usize, 0usize, 0usize);
    let mut intact = true;
    let out = t
        .exec(request(
            &format!("yes 0123456789abcdef | head -c {SIZE}"),
            None,
            &mut |_, chunk| {
                for (i, b) in chunk.iter().enumerate() {
                    intact &= *b == line[(total + i) % line.len()];
                }
                pieces += 1;
                largest = largest.max(chunk.len());
                total += chunk.len();
            },
        ))
        .unwrap();
    assert_eq!(total, SIZE);
    assert!(intact, "the output was altered");
    assert_eq!(out.stdout.len(), SIZE);
    assert!(
        pieces > 100 && largest <= 1 << 20,
        "{pieces} pieces, largest {largest}"
    );
}

#[test]
fn stdin_is_empty_or_the_requests_bytes_never_argv() {
    let (t, _) = connect("root");
    let started = Instant::now();
    let out = exec(&t, "cat; read line; echo \"read: $?\"").unwrap();
    assert_eq!(out.stdout, b"read: 1\n");
    assert!(started.elapsed() < Duration::from_secs(10));

    let secret = format!("s3cret-{}\0\n", std::process::id());
    let out = t
        .exec(request(
            "cat; ps -eo args",
            Some(secret.as_bytes()),
            &mut |_, _| {},
        ))
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (echoed, listing) = text.split_at(secret.len());
    assert_eq!(echoed, secret);
    assert!(listing.contains("ps -eo args"), "{listing}");
    assert!(
        !listing.contains(secret.trim_end_matches(['\0', '\n'])),
        "stdin visible in argv"
    );
}

#[test]
fn host_timeout_kills_the_process_group_and_the_shell_goes_on() {
    let (t, _) = connect("root");
    let pid = shell_pid(&t);
    let marker = 200_000 + std::process::id();
    let out = exec(
        &t,
        &format!("timeout -k 5 1 /bin/sh -c 'sleep {marker}1 & sleep {marker}2'"),
    )
    .unwrap();
    assert_eq!(out.code, Some(124));
    let left = exec(&t, &format!("pgrep -f 'slee[p] {marker}' || true")).unwrap();
    assert_eq!(
        left.stdout, b"",
        "processes of the timed-out command survived"
    );
    assert_eq!(shell_pid(&t), pid, "the shell was replaced");

    // Through the operations: the timeout is an error, the next command runs.
    let fx = Fixture::host(OPS_HOST, "root");
    let (err, next) = fx.on(|| {
        let err = {
            let _s = settings(Settings::new().timeout(Duration::from_secs(1)));
            run("sleep 30").unwrap_err()
        };
        Ok((err, run("echo next")?.stdout))
    });
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(next, "next\n");
}

#[test]
fn a_missed_deadline_drops_the_shell_not_the_connection() {
    let (t, _) = connect("root");
    let pid = shell_pid(&t);
    let err = t
        .exec(ExecRequest {
            command: "sleep 5",
            stdin: None,
            deadline: Some(Duration::from_millis(300)),
            on_output: &mut |_, _| {},
            keep_stdout: true,
        })
        .unwrap_err();
    assert_eq!(err, TransportError::DeadlineExceeded);
    assert_ne!(shell_pid(&t), pid);
}

#[test]
fn sudo_runs_in_one_root_shell_opened_once() {
    let (t, password) = connect("deploy");
    assert!(password.is_some(), "deploy needs a sudo password");
    let sudo = |command: &str, stdin: Option<&[u8]>| {
        t.exec_sudo(request(command, stdin, &mut |_, _| {}), password.as_ref())
            .unwrap()
    };
    let first = sudo("echo $$; id -u", None).stdout;
    let second = sudo("echo $$; id -u", None).stdout;
    assert_eq!(first, second, "a new root shell for each command");
    assert!(first.ends_with(b"\n0\n"), "{first:?}");
    assert_eq!(sudo("cat", Some(b"as root\0")).stdout, b"as root\0");
    // The login shell is another one, not root.
    assert_eq!(exec(&t, "id -un").unwrap().stdout, b"deploy\n");

    let (t, _) = connect("deploy");
    let wrong = Secret::new("not-the-password");
    let err = t
        .exec_sudo(request("id -u", None, &mut |_, _| {}), Some(&wrong))
        .unwrap_err();
    assert!(matches!(err, TransportError::SudoRefused(_)), "{err:?}");
    assert!(!format!("{err:?}").contains("not-the-password"));
}

#[test]
fn sudo_as_another_user_from_the_root_shell() {
    let fx = Fixture::host(OPS_HOST, "deploy");
    let (who, home) = fx.on(|| {
        Ok((
            sudo_as("nobody", "id -un")?.text().to_string(),
            sudo_as("root", "echo $HOME")?.text().to_string(),
        ))
    });
    assert_eq!((who.as_str(), home.as_str()), ("nobody", "/root"));
}

/// Collects the run's messages (warnings).
#[derive(Default)]
struct Messages(Mutex<Vec<String>>);

impl RunObserver for Messages {
    fn message(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_string());
    }
}

#[test]
fn without_a_persistent_shell_commands_take_a_channel_each_with_one_warning() {
    let mut fx = Fixture::host(OPS_HOST, "deploy");
    fx.ssh.session_shell = "/nonexistent/sh".to_string();
    let messages = Arc::new(Messages::default());
    let outputs = Mutex::new(Vec::new());
    let report = fx.executor().observer(messages.clone()).run(|| {
        let mut outputs = outputs.lock().unwrap();
        outputs.push(run("printf 'a\\000b'")?.stdout);
        outputs.push(run("cat")?.stdout);
        outputs.push(sudo("id -u")?.stdout);
        outputs.push(sudo("id -un")?.stdout);
        Ok(())
    });
    assert_eq!(report.exit_code(), 0, "{}", report.summary());
    assert_eq!(outputs.into_inner().unwrap(), ["a\0b", "", "0\n", "root\n"]);
    let messages = messages.0.lock().unwrap();
    let warnings: Vec<_> = messages.iter().filter(|m| m.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{messages:?}");
    assert!(
        warnings[0].contains("cannot start a persistent shell")
            && warnings[0].contains("/nonexistent/sh")
            && warnings[0].contains("own SSH channel"),
        "{}",
        warnings[0]
    );
}
