//! Running checks: one connection and one script per host and attempt, hosts
//! in parallel, attempts repeated until everything passes when asked to.

use std::time::{Duration, Instant};

use super::evaluate::{ItemResult, evaluate};
use super::script::{self, Facts};
use super::spec::CheckSpec;
use off_error::{Error, exit_code};
use off_transport::connection::Connection;
use off_transport::target::Target;
use off_transport::{ExecRequest, FailedCommand, Secret, SshOptions, sudo_refused};

/// How to reach the hosts and how long to keep trying.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub ssh: SshOptions,
    /// For a login user that is not root: sudo's password, when it asks for one.
    pub sudo_password: Option<Secret>,
    /// At most this many hosts at a time.
    pub parallel: usize,
    /// Re-check until every item passes (`--retry-timeout`, `--sleep`).
    pub retry: Option<Retry>,
    /// Extra time one run of the script may take on top of the timeouts of
    /// its commands (stat, checksums and reading /proc).
    pub gather_timeout: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            ssh: SshOptions::default(),
            sudo_password: None,
            parallel: 10,
            retry: None,
            gather_timeout: Duration::from_secs(120),
        }
    }
}

/// Re-check every `sleep` until every item passes or `timeout` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub timeout: Duration,
    pub sleep: Duration,
}

/// The outcome of checking one host.
#[derive(Debug)]
pub struct HostCheck {
    pub target: Target,
    /// `user@host`, or `local`.
    pub host: String,
    /// Why the host could not be checked (unreachable, sudo refused, the
    /// script did not finish); `items` is empty then.
    pub error: Option<Error>,
    /// Whether the host shows any trace of the deployment: one of the spec's
    /// files (those expected to exist), packages or services is present.
    /// Always true for a spec that names none of them.
    pub bootstrapped: bool,
    pub items: Vec<ItemResult>,
    /// How many times the host was checked.
    pub attempts: u32,
    /// `--retry-timeout` passed before every item passed.
    pub timed_out: bool,
    pub duration: Duration,
}

impl HostCheck {
    /// Every item passed and the host is bootstrapped.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.bootstrapped && self.items.iter().all(|i| i.ok)
    }

    /// 0 pass; 1 drift or not bootstrapped; 3 unreachable; 4 retry timeout.
    pub fn exit_code(&self) -> u8 {
        match &self.error {
            Some(e) => e.exit_code(),
            None if self.ok() => exit_code::OK,
            None if self.timed_out => exit_code::TIMEOUT,
            None => exit_code::FAILED,
        }
    }
}

/// The outcome of checking every host, in the order the jobs were given.
#[derive(Debug)]
pub struct CheckRun {
    pub hosts: Vec<HostCheck>,
}

impl CheckRun {
    /// 0 when every host passed; else the most telling of the hosts' codes:
    /// unreachable (3) before retry timeout (4) before drift (1).
    pub fn exit_code(&self) -> u8 {
        exit_code::of_hosts(self.hosts.iter().map(HostCheck::exit_code))
    }
}

/// Checks every `(target, spec)` pair, hosts in parallel, and waits for all.
/// Specs should be valid ([`CheckSpec::validate`]); placeholders resolved.
pub fn run(jobs: Vec<(Target, CheckSpec)>, options: &CheckOptions) -> CheckRun {
    let hosts = off_transport::pool::run_bounded(&jobs, options.parallel, |(target, spec)| {
        check_host(target, spec, options)
    });
    CheckRun { hosts }
}

fn check_host(target: &Target, spec: &CheckSpec, options: &CheckOptions) -> HostCheck {
    let started = Instant::now();
    let mut result = HostCheck {
        target: target.clone(),
        host: target.to_string(),
        error: None,
        bootstrapped: false,
        items: Vec::new(),
        attempts: 0,
        timed_out: false,
        duration: Duration::ZERO,
    };
    // With --retry-timeout, a host that does not answer yet (rebooting,
    // sshd starting) is tried again like a check that does not pass yet;
    // a changed host key is not something waiting mends.
    let conn = loop {
        match Connection::open(target, &options.ssh) {
            Ok(conn) => break conn,
            Err(e) => {
                result.attempts += 1;
                let unreachable = matches!(e, Error::Unreachable { .. });
                let time_left = options
                    .retry
                    .is_some_and(|r| started.elapsed() + r.sleep < r.timeout);
                if !(unreachable && time_left) {
                    result.timed_out = unreachable && options.retry.is_some();
                    result.error = Some(e);
                    result.duration = started.elapsed();
                    return result;
                }
                std::thread::sleep(options.retry.map(|r| r.sleep).unwrap_or_default());
            }
        }
    };
    result.host = conn.label.clone();
    let script = script::build(spec);
    let deadline = options.gather_timeout + command_timeouts(spec);
    loop {
        result.attempts += 1;
        let worth_retrying = match gather(&conn, &script, options.sudo_password.as_ref(), deadline)
        {
            Ok(facts) => {
                (result.items, result.bootstrapped) = evaluate(spec, &facts);
                result.error = None;
                true
            }
            Err(e) => {
                // A script that failed, timed out or answered garbage may do
                // better on the next attempt, like a failing item; a refused
                // password or a lost connection will not.
                let worth_retrying =
                    !matches!(e, Error::SudoPassword { .. } | Error::Disconnected { .. });
                result.error = Some(e);
                result.items.clear();
                result.bootstrapped = false;
                worth_retrying
            }
        };
        let Some(retry) = options.retry else {
            break;
        };
        if result.ok() || !worth_retrying {
            break;
        }
        if started.elapsed() + retry.sleep >= retry.timeout {
            result.timed_out = true;
            break;
        }
        std::thread::sleep(retry.sleep);
    }
    result.duration = started.elapsed();
    result
}

/// The longest the script's own commands may take.
fn command_timeouts(spec: &CheckSpec) -> Duration {
    let version = if spec.version.is_some() {
        Duration::from_secs(30)
    } else {
        Duration::ZERO
    };
    version
        + spec
            .alive_script
            .iter()
            .map(|a| a.timeout)
            .sum::<Duration>()
        + spec.command.iter().map(|c| c.timeout).sum::<Duration>()
}

/// Runs the script on `conn` in one round trip and parses what it printed.
fn gather(
    conn: &Connection,
    script: &str,
    password: Option<&Secret>,
    deadline: Duration,
) -> Result<Facts, Error> {
    let facts = &conn.facts;
    // As a login user other than root, the checks run as root through the
    // transport's sudo (over SSH: the host's one root shell); a user without
    // sudo checks with its own rights.
    let use_sudo = facts.uid != 0 && facts.has_sudo;
    let request = ExecRequest {
        command: "/bin/sh -s",
        stdin: Some(script.as_bytes()),
        deadline: Some(deadline),
        on_output: &mut |_, _| {},
        keep_stdout: true,
    };
    let result = if use_sudo {
        conn.transport.exec_sudo(request, password)
    } else {
        conn.transport.exec(request)
    };
    let failed = FailedCommand {
        host: &conn.label,
        op: "check",
        command: "the check script",
        user: &facts.user,
        timeout: deadline,
    };
    let output = result.map_err(|e| failed.error(e))?;
    let parsed = Facts::parse(&output.stdout);
    let invalid = |reason: String| Error::Invalid {
        host: conn.label.clone(),
        op: "check",
        reason,
    };
    if let Some(what) = parsed.malformed {
        return Err(invalid(format!(
            "the check script's output is malformed, its facts are not used: {what}"
        )));
    }
    if parsed.complete {
        return Ok(parsed);
    }
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output.code.unwrap_or(-1);
    if use_sudo && sudo_refused(code, &stderr) {
        return Err(failed.sudo_refused(stderr));
    }
    if code == 0 {
        return Err(invalid(
            "the check script exited with code 0 before its last line: its output is cut short"
                .into(),
        ));
    }
    Err(Error::Command {
        host: conn.label.clone(),
        op: "check",
        command: "the check script".into(),
        code,
        stderr,
    })
}
