//! The pushed binary's side: `<recipe> --push-child` on the host, started
//! by the control machine over SSH.
//!
//! It reads its run from standard input (never from its command line, which
//! every user of the host can read), runs the steps on this machine with
//! the local transport, and writes each thing that happens to standard
//! output as a [`Report`]. Standard input stays open for the whole run, and
//! the control machine writes to it every [`wire::HEARTBEAT`]: when it ends,
//! or stays silent for [`wire::SILENCE`], the connection to the control
//! machine is gone, and the process ends at once the way Ctrl-C ends a run
//! (its running commands killed), so nothing of the recipe is left running
//! on a host nobody watches.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::wire::{self, Control, Failure, Report, Request};
use crate::Secret;
use crate::driver::{ParseKwargs, RawArgs, RecipeSpec};
use crate::error::exit_code;
use crate::executor::Executor;
use crate::report::{OpEvent, OpStatus, RunObserver};
use crate::target::Target;
use crate::transport::Stream;

/// Runs the pushed run described on standard input; the exit code.
pub(crate) fn serve(spec: &'static RecipeSpec, parse: ParseKwargs) -> ExitCode {
    let out = Arc::new(Relay::default());
    let mut input = std::io::stdin().lock();
    let mut first = String::new();
    let request = match input.read_line(&mut first) {
        Ok(0) => Err("no request on standard input".to_string()),
        Ok(_) => serde_json::from_str::<Request>(&first).map_err(|e| format!("bad request: {e}")),
        Err(e) => Err(format!("cannot read standard input: {e}")),
    };
    drop(input);
    let request = match request {
        Ok(r) if r.protocol == wire::PROTOCOL => r,
        Ok(r) => {
            return out.fail(
                exit_code::USAGE,
                format!(
                    "--push-child: protocol {} asked, this binary speaks {}",
                    r.protocol,
                    wire::PROTOCOL
                ),
            );
        }
        Err(e) => return out.fail(exit_code::USAGE, format!("--push-child: {e}")),
    };
    let raw = RawArgs::from_inputs(spec, request.inputs);
    let kwargs = match parse(&raw) {
        Ok(kwargs) => kwargs,
        Err(errors) => {
            return out.fail(
                exit_code::USAGE,
                format!("[{}] {}", request.label, errors.to_string().trim_end()),
            );
        }
    };
    let mut steps = Vec::new();
    for name in &request.steps {
        match spec.steps.iter().position(|s| s.name == *name) {
            Some(i) => steps.push(i),
            None => return out.fail(exit_code::USAGE, format!("--push-child: no step `{name}`")),
        }
    }
    let executor = Executor::new(vec![Target::Local])
        .label(request.label)
        .pushed(true)
        .timeout(request.timeout_ms.map(Duration::from_millis))
        .sudo_password(request.sudo_password.map(Secret::new))
        .observer(out.clone());
    let report = executor.run(|| {
        watch_control(crate::context::current(|c| c.shared.clone()));
        for &i in &steps {
            let name = spec.steps[i].name.to_string();
            out.send(&Report::Step { name: name.clone() });
            kwargs.run_step(i)?;
            out.send(&Report::StepDone { name });
        }
        Ok(())
    });
    let host = &report.hosts[0];
    let error = host.result.as_ref().err().map(|e| Failure {
        message: e.to_string(),
        exit_code: e.exit_code(),
    });
    out.send(&Report::Finished { error });
    ExitCode::from(report.exit_code())
}

/// Reads the control machine's messages after the request, for the whole
/// run: a cancel stops the run at its next operation; the end of standard
/// input, or silence longer than [`wire::SILENCE`], means the connection is
/// gone, and ends this process as a signal would (see `crate::interrupt`:
/// running commands are killed).
fn watch_control(shared: Arc<crate::context::RunShared>) {
    let heard = Arc::new(Mutex::new(Instant::now()));
    let reader_heard = heard.clone();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            *reader_heard.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
            if matches!(serde_json::from_str(&line), Ok(Control::Cancel)) {
                shared
                    .cancelled
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        end_the_run();
    });
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let silent = heard.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
            if silent > wire::SILENCE {
                end_the_run();
            }
        }
    });
}

/// Ends this process's run as SIGTERM does: the control machine is gone.
fn end_the_run() {
    // SAFETY: raising a signal this process handles (crate::interrupt).
    unsafe { libc::raise(libc::SIGTERM) };
}

/// Writes the run's observer calls to standard output, one report a line.
#[derive(Default)]
struct Relay {
    out: Mutex<()>,
}

impl Relay {
    fn send(&self, report: &Report) {
        let _guard = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::io::stdout().lock();
        // A closed pipe means the control machine is gone: the watcher ends
        // the process.
        let _ = out
            .write_all(wire::line(report).as_bytes())
            .and_then(|()| out.flush());
    }

    /// Reports a run that could not start, and its exit code.
    fn fail(&self, code: u8, message: String) -> ExitCode {
        self.send(&Report::Finished {
            error: Some(Failure {
                message,
                exit_code: code,
            }),
        });
        ExitCode::from(code)
    }
}

impl RunObserver for Relay {
    fn op_started(&self, event: &OpEvent<'_>) {
        self.send(&Report::OpStarted {
            op: event.op.to_string(),
            command: event.command.to_string(),
            quiet: event.quiet,
        });
    }

    fn output_line(&self, _host: &str, stream: Stream, line: &str) {
        self.send(&Report::Output {
            stderr: wire::is_stderr(stream),
            line: line.to_string(),
        });
    }

    fn op_finished(&self, event: &OpEvent<'_>, status: OpStatus, duration: Duration) {
        self.send(&Report::OpFinished {
            op: event.op.to_string(),
            command: event.command.to_string(),
            quiet: event.quiet,
            status: status.into(),
            micros: duration.as_micros().try_into().unwrap_or(u64::MAX),
        });
    }

    fn message(&self, text: &str) {
        self.send(&Report::Message {
            text: text.to_string(),
        });
    }
}
