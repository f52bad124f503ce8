//! Running one task on many hosts: concurrently (bounded by `--parallel`),
//! each host on its own thread with its own connection, a failing host not
//! stopping the others unless fail-fast is asked, and a summary at the end.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::Secret;
use crate::connection::Connection;
use crate::context::{HostContext, OpCounters, RunShared, with_host};
use crate::dry_run::DryRun;
use crate::error::{Error, Result, exit_code};
use crate::report::{Console, RunObserver};
use crate::target::Target;
use crate::transport::SshOptions;

/// Runs a task on a set of targets.
///
/// ```no_run
/// use off_runtime::prelude::*;
/// let report = Executor::new(vec![Target::Local]).run(|| {
///     run("uname -a")?;
///     Ok(())
/// });
/// std::process::exit(report.exit_code().into());
/// ```
pub struct Executor {
    targets: Vec<Target>,
    parallel: usize,
    fail_fast: bool,
    ssh: SshOptions,
    sudo_password: Option<Secret>,
    observer: Arc<dyn RunObserver>,
    dry_run: Option<Arc<DryRun>>,
    timeout: Option<Duration>,
    pushed: bool,
    label: Option<String>,
}

impl Executor {
    /// An executor for `targets` (the local machine when empty).
    pub fn new(targets: Vec<Target>) -> Self {
        let targets = if targets.is_empty() {
            vec![Target::Local]
        } else {
            targets
        };
        Executor {
            parallel: targets.len(),
            targets,
            fail_fast: false,
            ssh: SshOptions::default(),
            sudo_password: None,
            observer: Arc::new(Console::default()),
            dry_run: None,
            timeout: None,
            pushed: false,
            label: None,
        }
    }

    /// At most `n` hosts at a time (at least 1).
    pub fn parallel(mut self, n: usize) -> Self {
        self.parallel = n.max(1);
        self
    }

    /// Stop starting operations on every host once one host fails.
    pub fn fail_fast(mut self, yes: bool) -> Self {
        self.fail_fast = yes;
        self
    }

    pub fn ssh_options(mut self, options: SshOptions) -> Self {
        self.ssh = options;
        self
    }

    pub fn sudo_password(mut self, password: Option<Secret>) -> Self {
        self.sudo_password = password;
        self
    }

    pub fn observer(mut self, observer: Arc<dyn RunObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// The per-operation timeout of every command (none by default; a
    /// recipe binary sets its `--timeout`): a command still running then
    /// is killed with its process group and fails with
    /// [`Error::Timeout`] (exit code 4). [`settings`](crate::ops::settings)
    /// with a timeout overrides it for its block.
    pub fn timeout(mut self, after: Option<Duration>) -> Self {
        self.timeout = after;
        self
    }

    /// The run is a pushed binary's, on the host itself (see
    /// [`RunShared::pushed`]).
    pub fn pushed(mut self, yes: bool) -> Self {
        self.pushed = yes;
        self
    }

    /// Names the (single) target `label` in output and errors instead of
    /// `user@host`: a pushed binary runs as `local` on the host and reports
    /// under the name the control machine knows the host by.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Run without reaching any host, recording effects into `dry_run`
    /// (see [`crate::dry_run`]).
    pub fn dry_run(mut self, dry_run: Arc<DryRun>) -> Self {
        self.dry_run = Some(dry_run);
        self
    }

    /// Runs `task` once per target and waits for all of them.
    pub fn run<F>(&self, task: F) -> RunReport
    where
        F: Fn() -> Result<()> + Sync,
    {
        let shared = Arc::new(RunShared {
            sudo_password: self.sudo_password.clone(),
            observer: self.observer.clone(),
            cancelled: Default::default(),
            dry_run: self.dry_run.clone(),
            timeout: self.timeout,
            pushed: self.pushed,
        });
        // SIGINT cancels the run (see crate::interrupt).
        let _tracked = crate::interrupt::track_run(&shared);
        let hosts = crate::transport::pool::run_bounded(&self.targets, self.parallel, |target| {
            let report = self.run_host(target, &shared, &task);
            if report.result.is_err() && self.fail_fast {
                shared.cancelled.store(true, Ordering::SeqCst);
            }
            report
        });
        RunReport { hosts }
    }

    fn run_host<F>(&self, target: &Target, shared: &Arc<RunShared>, task: &F) -> HostReport
    where
        F: Fn() -> Result<()> + Sync,
    {
        let started = Instant::now();
        let counters = Arc::new(OpCounters::default());
        let finish = |label: String, result: Result<()>| HostReport {
            target: target.clone(),
            label,
            result,
            ok: counters.ok.load(Ordering::Relaxed),
            changed: counters.changed.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            duration: started.elapsed(),
        };
        if shared.cancelled.load(Ordering::SeqCst) {
            let host = target.to_string();
            let cancelled = Error::Cancelled { host: host.clone() };
            return finish(host.clone(), Err(interrupted_or(&host, cancelled)));
        }
        let conn = if shared.dry_run.as_ref().is_some_and(|d| !d.reads_hosts()) {
            crate::dry_run::assumed_connection(target)
        } else {
            match Connection::open(target, &self.ssh) {
                Ok(conn) => conn,
                Err(e) => {
                    let host = target.to_string();
                    return finish(host.clone(), Err(interrupted_or(&host, e)));
                }
            }
        };
        let conn = match &self.label {
            Some(label) => relabelled(conn, label),
            None => conn,
        };
        let label = conn.label.clone();
        let context = HostContext::new(conn, shared.clone(), counters.clone());
        let result = with_host(context, task).map_err(|e| interrupted_or(&label, e));
        finish(label, result)
    }
}

/// `conn` under the name `label`.
fn relabelled(conn: Arc<Connection>, label: &str) -> Arc<Connection> {
    match Arc::try_unwrap(conn) {
        Ok(mut conn) => {
            conn.label = label.to_string();
            Arc::new(conn)
        }
        // Shared already (the dry run's assumed connection): keep its name.
        Err(conn) => conn,
    }
}

/// `error`, or [`Error::Interrupted`] on `host` when a signal interrupted
/// the run: then `error` is only what the interruption caused (a killed
/// command, a closed connection).
fn interrupted_or(host: &str, error: Error) -> Error {
    if !crate::interrupt::interrupted() {
        return error;
    }
    Error::Interrupted {
        host: host.to_string(),
        signal: crate::interrupt::signal_name(),
    }
}

/// How one host's part of a run went.
#[derive(Debug)]
pub struct HostReport {
    pub target: Target,
    /// `user@host`.
    pub label: String,
    pub result: Result<()>,
    /// Operations that succeeded, of which `changed` changed the host.
    pub ok: u64,
    pub changed: u64,
    pub failed: u64,
    pub duration: Duration,
}

impl HostReport {
    pub fn exit_code(&self) -> u8 {
        match &self.result {
            Ok(()) => exit_code::OK,
            Err(e) => e.exit_code(),
        }
    }
}

/// The outcome of a run on all its hosts.
#[derive(Debug)]
pub struct RunReport {
    pub hosts: Vec<HostReport>,
}

impl RunReport {
    /// 0 when every host succeeded; otherwise the most telling of the hosts'
    /// codes: unreachable (3) before timeout (4) before failed (1).
    pub fn exit_code(&self) -> u8 {
        exit_code::of_hosts(self.hosts.iter().map(HostReport::exit_code))
    }

    /// The per-host summary: status, operation counts, duration, and for a
    /// failure its exit code and error.
    pub fn summary(&self) -> String {
        let width = self.hosts.iter().map(|h| h.label.len()).max().unwrap_or(0);
        let mut text = String::from("Summary:\n");
        for h in &self.hosts {
            let status = match &h.result {
                Ok(()) => "ok".to_string(),
                Err(_) => format!("FAILED (exit {})", h.exit_code()),
            };
            text.push_str(&format!(
                "  {:width$}  {status:<16} {} ok, {} changed, {} failed  {:.1}s\n",
                h.label,
                h.ok,
                h.changed,
                h.failed,
                h.duration.as_secs_f64(),
            ));
            if let Err(e) = &h.result {
                text.push_str(&format!("  {:width$}  {e}\n", ""));
            }
        }
        text
    }
}
