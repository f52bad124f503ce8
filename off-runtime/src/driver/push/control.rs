//! The control machine's side of `--push`, for one host, on that host's
//! thread of the run: check that the host can run this binary, copy it into
//! the host's cache unless it is there, start it over the host's SSH
//! connection, hand it the run on its standard input, and replay what it
//! reports into this run's observers, so that the progress, the echo, the
//! events, the metrics and the summary are those of a run without `--push`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::binary::{self, HostFacts, Platform, ThisBinary};
use super::wire::{self, Control, Report, Request};
use crate::connection::Connection;
use crate::context::{OpCounters, RunShared};
use crate::driver::{RawArgs, RecipeSpec};
use crate::error::{Error, Result};
use crate::report::{OpEvent, OpStatus};
use crate::shell::quote;
use crate::transport::{ExecRequest, FailedCommand, Stream, TransportError};

/// How long the probe and the liveness check may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// The run of `steps` (indices into the spec's steps) on the current host,
/// by a copy of this binary there. `on_step(host, step)` is called as each
/// step starts there, `on_done(step)` as each completes.
pub(crate) struct PushedRun<'a> {
    pub spec: &'static RecipeSpec,
    pub raw: &'a RawArgs,
    pub steps: &'a [usize],
    pub timeout: Option<Duration>,
    pub on_step: &'a dyn Fn(&str, &'static str),
    pub on_done: &'a dyn Fn(&'static str) -> Result<()>,
}

impl PushedRun<'_> {
    pub fn run(&self) -> Result<()> {
        let (conn, shared, counters) =
            crate::context::current(|c| (c.conn.clone(), c.shared.clone(), c.counters.clone()));
        let host = Host {
            conn: &conn,
            label: conn.label.clone(),
        };
        let this = binary::this_binary(self.spec.name).map_err(|e| host.invalid(e))?;
        let facts = host.probe(this)?;
        if let Some(why) = facts.incompatibility(&Platform::this()) {
            return Err(host.invalid(format!(
                "{why}: this binary cannot run there (docs/push.md shows how to build a static one)"
            )));
        }
        if !facts.has(this) {
            host.copy(this, &facts.dir)?;
            shared.observer.message(&format!(
                "[{}] --push: copied {} ({:.1} MiB) to {}/{}",
                host.label,
                this.name,
                this.bytes.len() as f64 / (1024.0 * 1024.0),
                facts.dir,
                this.file_name()
            ));
        }
        let request = Request {
            protocol: wire::PROTOCOL,
            label: host.label.clone(),
            inputs: self.raw.inputs().clone(),
            steps: self
                .steps
                .iter()
                .map(|&i| self.spec.steps[i].name.to_string())
                .collect(),
            timeout_ms: self
                .timeout
                .map(|t| t.as_millis().try_into().unwrap_or(u64::MAX)),
            sudo_password: shared
                .sudo_password
                .as_ref()
                .map(|s| s.expose().to_string()),
        };
        let command = format!(
            "exec {}/{} --push-child",
            quote(&facts.dir),
            quote(&this.file_name())
        );
        let mut channel = conn
            .transport
            .open_channel(&command)
            .map_err(|e| host.failed("starting the copy", e))?;
        let mut stdin = channel.stdin.take().expect("a new channel has its stdin");
        // The request holds the kwargs and the password: it goes on the
        // channel's standard input only, never on a command line.
        if let Err(e) = stdin
            .write_all(wire::line(&request).as_bytes())
            .and_then(|()| stdin.flush())
        {
            return Err(host.failed(
                "starting the copy",
                TransportError::Disconnected(e.to_string()),
            ));
        }
        let stderr = read_in_background(channel.stderr);
        let done = Arc::new(AtomicBool::new(false));
        let keeper = keep_in_touch(stdin, shared.clone(), done.clone());
        let replayed = Replay {
            spec: self.spec,
            label: &host.label,
            shared: &shared,
            counters: &counters,
            on_step: self.on_step,
            on_done: self.on_done,
            current: None,
            started: false,
        }
        .replay(channel.stdout);
        // The keeper closes the copy's stdin within its next beat; not
        // joined, since a write into a stalled connection could hold it.
        done.store(true, Ordering::SeqCst);
        drop(keeper);
        let stderr = stderr.join().unwrap_or_default();
        match replayed {
            Ended::Finished(None) => Ok(()),
            Ended::Finished(Some(failure)) => Err(Error::Relayed {
                message: failure.message,
                exit_code: failure.exit_code,
            }),
            Ended::Failed(e) => Err(e),
            Ended::Cut {
                started: false, ..
            } if host.alive() => Err(host.invalid(format!(
                "the copy did not start on the host (is {} on a filesystem mounted noexec? XDG_CACHE_HOME can name another place): {}",
                facts.dir,
                String::from_utf8_lossy(&stderr).trim()
            ))),
            Ended::Cut { op, command, .. } => Err(host.cut(op, command, &stderr)),
        }
    }
}

/// The host being pushed to.
struct Host<'a> {
    conn: &'a Connection,
    label: String,
}

impl Host<'_> {
    fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::Invalid {
            host: self.label.clone(),
            op: "push",
            reason: reason.into(),
        }
    }

    /// `error` of the push's own command `doing`.
    fn failed(&self, doing: &str, error: TransportError) -> Error {
        FailedCommand {
            host: &self.label,
            op: "push",
            command: doing,
            user: &self.conn.facts.user,
            timeout: PROBE_TIMEOUT,
        }
        .error(error)
    }

    fn probe(&self, this: &ThisBinary) -> Result<HostFacts> {
        let out = self
            .conn
            .transport
            .exec(ExecRequest {
                command: &this.probe_script(),
                stdin: None,
                deadline: Some(PROBE_TIMEOUT),
                on_output: &mut |_, _| {},
                keep_stdout: true,
            })
            .map_err(|e| self.failed("probing the host", e))?;
        let facts = HostFacts::parse(&String::from_utf8_lossy(&out.stdout));
        if facts.dir.is_empty() || !facts.dir.starts_with('/') {
            return Err(self.invalid(format!(
                "no cache directory on the host (is HOME set there?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(facts)
    }

    /// Copies `this` into the host's cache `dir`, checked by its sum there.
    fn copy(&self, this: &ThisBinary, dir: &str) -> Result<()> {
        let copying = "copying the binary";
        let mut channel = self
            .conn
            .transport
            .open_channel(&this.store_script(dir))
            .map_err(|e| self.failed(copying, e))?;
        let stderr = read_in_background(channel.stderr);
        let stdout = read_in_background(channel.stdout);
        let mut stdin = channel.stdin.take().expect("a new channel has its stdin");
        let written = stdin.write_all(&this.bytes);
        drop(stdin);
        let (stdout, stderr) = (
            stdout.join().unwrap_or_default(),
            stderr.join().unwrap_or_default(),
        );
        if String::from_utf8_lossy(&stdout).trim() == binary::COPIED {
            return Ok(());
        }
        let complaint = String::from_utf8_lossy(&stderr).trim().to_string();
        match (written, complaint.is_empty()) {
            (Err(e), true) => {
                Err(self.failed(copying, TransportError::Disconnected(e.to_string())))
            }
            _ if !self.alive() => {
                Err(self.failed(copying, TransportError::Disconnected(complaint)))
            }
            _ => Err(self.invalid(format!("cannot store the binary in {dir}: {complaint}"))),
        }
    }

    /// Whether the connection still answers.
    fn alive(&self) -> bool {
        self.conn
            .transport
            .exec(ExecRequest {
                command: "true",
                stdin: None,
                deadline: Some(PROBE_TIMEOUT),
                on_output: &mut |_, _| {},
                keep_stdout: false,
            })
            .is_ok_and(|out| out.code == Some(0))
    }

    /// The error for a pushed run whose reports stopped before its end, at
    /// operation `op` (running `command`) if one was running: a lost
    /// connection (exit 3) when the host no longer answers, else the copy
    /// died there, with what it said on its way out.
    fn cut(&self, op: Option<&'static str>, command: Option<String>, stderr: &[u8]) -> Error {
        let said = String::from_utf8_lossy(stderr).trim().to_string();
        if !self.alive() {
            return Error::Disconnected {
                host: self.label.clone(),
                op: op.unwrap_or("push"),
                command: command.unwrap_or_else(|| "the pushed run".to_string()),
                reason: if said.is_empty() {
                    "the host stopped answering".to_string()
                } else {
                    said
                },
            };
        }
        let at = match (op, command) {
            (Some(op), Some(command)) => format!(" during {op} `{command}`"),
            _ => String::new(),
        };
        self.invalid(format!(
            "the binary running on the host ended{at} without finishing the run{}",
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ))
    }
}

/// How the replay of a pushed run ended.
enum Ended {
    /// The run's last report came, with the host's failure if it failed.
    Finished(Option<wire::Failure>),
    /// Recording a completed step failed on the control machine.
    Failed(Error),
    /// The reports stopped before the last one, during `op` if one ran;
    /// `started`: any report came at all.
    Cut {
        op: Option<&'static str>,
        command: Option<String>,
        started: bool,
    },
}

/// Replays a pushed run's reports into this run's observers.
struct Replay<'a> {
    spec: &'static RecipeSpec,
    label: &'a str,
    shared: &'a RunShared,
    counters: &'a OpCounters,
    on_step: &'a dyn Fn(&str, &'static str),
    on_done: &'a dyn Fn(&'static str) -> Result<()>,
    /// The operation running on the host, and its command.
    current: Option<(&'static str, String)>,
    /// Whether a report came: the copy started.
    started: bool,
}

impl Replay<'_> {
    fn replay(mut self, stdout: File) -> Ended {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            self.started = true;
            let Ok(report) = serde_json::from_str::<Report>(&line) else {
                // Not a report: something else wrote to the copy's output.
                self.shared
                    .observer
                    .message(&format!("[{}] {line}", self.label));
                continue;
            };
            if let Some(ended) = self.apply(report) {
                return ended;
            }
        }
        let (op, command) = self.current.take().unzip();
        Ended::Cut {
            op,
            command,
            started: self.started,
        }
    }

    /// Applies one report; `Some` when the run is over.
    fn apply(&mut self, report: Report) -> Option<Ended> {
        let observer = &self.shared.observer;
        match report {
            Report::Step { name } => (self.on_step)(self.label, self.step(&name)),
            Report::OpStarted { op, command, quiet } => {
                let op = wire::op_name(&op);
                observer.op_started(&OpEvent {
                    host: self.label,
                    op,
                    command: &command,
                    quiet,
                });
                self.current = Some((op, command));
            }
            Report::Output { stderr, line } => {
                let stream = if stderr {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                };
                observer.output_line(self.label, stream, &line);
            }
            Report::OpFinished {
                op,
                command,
                quiet,
                status,
                micros,
            } => {
                let status = OpStatus::from(status);
                self.counters.count(status);
                let event = OpEvent {
                    host: self.label,
                    op: wire::op_name(&op),
                    command: &command,
                    quiet,
                };
                observer.op_finished(&event, status, Duration::from_micros(micros));
                self.current = None;
            }
            Report::Message { text } => observer.message(&text),
            Report::StepDone { name } => {
                if let Err(e) = (self.on_done)(self.step(&name)) {
                    return Some(Ended::Failed(e));
                }
            }
            Report::Finished { error } => return Some(Ended::Finished(error)),
        }
        None
    }

    /// The spec's name of step `name` (the copy runs this very spec).
    fn step(&self, name: &str) -> &'static str {
        self.spec
            .steps
            .iter()
            .find(|s| s.name == name)
            .map_or_else(|| wire::op_name(name), |s| s.name)
    }
}

/// Reads `pipe` to its end on a thread of its own.
fn read_in_background(mut pipe: File) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut data = Vec::new();
        let _ = pipe.read_to_end(&mut data);
        data
    })
}

/// Holds the copy's standard input open until `done`: says every
/// [`wire::HEARTBEAT`] that this machine is still there, and sends a cancel
/// when this run is cancelled (`--fail-fast`). Closing it, or going silent,
/// is what tells the copy that the run is over for it.
fn keep_in_touch(
    mut stdin: File,
    shared: Arc<RunShared>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut cancelled = false;
        let mut last = std::time::Instant::now();
        while !done.load(Ordering::SeqCst) {
            let mut send = |message: &Control| {
                let _ = stdin.write_all(wire::line(message).as_bytes());
            };
            if !cancelled && shared.cancelled.load(Ordering::SeqCst) {
                send(&Control::Cancel);
                cancelled = true;
            }
            if last.elapsed() >= wire::HEARTBEAT {
                send(&Control::Alive);
                last = std::time::Instant::now();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}
