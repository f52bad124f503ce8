//! The implicit state of Fabric-style operations: which host they run on, in
//! which directory, with which environment and settings.
//!
//! Each host runs on its own thread, so the state is thread-local; guards
//! ([`cd`](crate::ops::cd), [`shell_env`](crate::ops::shell_env), ...) push
//! onto it and pop when dropped, like Fabric's context managers.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use crate::Secret;
use crate::connection::Connection;
use crate::dry_run::DryRun;
use crate::report::{Console, OpStatus, RunObserver};

/// Per-operation behaviour, set for a block with [`settings`](crate::ops::settings).
/// Unset fields inherit from the enclosing block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    warn_only: Option<bool>,
    timeout: Option<Duration>,
    quiet: Option<bool>,
}

impl Settings {
    pub fn new() -> Self {
        Settings::default()
    }

    /// A failing command returns its [`Output`](crate::Output) (with its
    /// code) instead of an error.
    pub fn warn_only(mut self, yes: bool) -> Self {
        self.warn_only = Some(yes);
        self
    }

    /// Kill a command (its whole process group) that runs longer than this.
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout = Some(after);
        self
    }

    /// Do not echo commands and their output.
    pub fn quiet(mut self, yes: bool) -> Self {
        self.quiet = Some(yes);
        self
    }

    fn merged_over(&self, base: &Effective) -> Effective {
        Effective {
            warn_only: self.warn_only.unwrap_or(base.warn_only),
            timeout: self.timeout.or(base.timeout),
            quiet: self.quiet.unwrap_or(base.quiet),
        }
    }
}

/// The settings in force for one operation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Effective {
    pub warn_only: bool,
    pub timeout: Option<Duration>,
    pub quiet: bool,
}

/// What all hosts of one run share.
pub struct RunShared {
    pub sudo_password: Option<Secret>,
    pub observer: Arc<dyn RunObserver>,
    /// Set when `--fail-fast` stops the run: operations not yet started fail.
    pub cancelled: AtomicBool,
    /// Set in a dry run: commands are not run and effects are recorded.
    pub dry_run: Option<Arc<DryRun>>,
    /// The per-operation timeout of commands not under a
    /// [`settings`](crate::ops::settings) block with a timeout of its own.
    pub timeout: Option<Duration>,
    /// The recipe runs on the host itself (`--push`), or is checked for
    /// whether it could: operations that need the control machine (a local
    /// file to upload, `local`, `get`) fail with
    /// [`Error::ControlMachine`](crate::Error::ControlMachine).
    pub pushed: bool,
}

/// Ctrl-C cancels a run as `--fail-fast` does.
impl off_transport::interrupt::Cancel for RunShared {
    fn cancel(&self) {
        self.cancelled
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Default for RunShared {
    fn default() -> Self {
        RunShared {
            sudo_password: None,
            observer: Arc::new(Console::default()),
            cancelled: AtomicBool::new(false),
            dry_run: None,
            timeout: None,
            pushed: false,
        }
    }
}

/// Operation counts of one host.
#[derive(Debug, Default)]
pub struct OpCounters {
    pub ok: AtomicU64,
    pub changed: AtomicU64,
    pub failed: AtomicU64,
}

impl OpCounters {
    /// Counts one operation that ended with `status`.
    pub fn count(&self, status: OpStatus) {
        let add = |n: &AtomicU64| n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match status {
            OpStatus::Ok { changed } => {
                add(&self.ok);
                if changed {
                    add(&self.changed);
                }
            }
            OpStatus::Failed => {
                add(&self.failed);
            }
        }
    }
}

/// Everything an operation needs to know, for the current thread's host.
pub(crate) struct HostContext {
    pub conn: Arc<Connection>,
    pub shared: Arc<RunShared>,
    pub counters: Arc<OpCounters>,
    pub cwd: Vec<String>,
    pub lcwd: Vec<PathBuf>,
    pub env: Vec<(String, String)>,
    pub settings: Vec<Settings>,
}

impl HostContext {
    pub fn new(conn: Arc<Connection>, shared: Arc<RunShared>, counters: Arc<OpCounters>) -> Self {
        HostContext {
            conn,
            shared,
            counters,
            cwd: Vec::new(),
            lcwd: Vec::new(),
            env: Vec::new(),
            settings: Vec::new(),
        }
    }

    pub fn effective(&self) -> Effective {
        let run = Effective {
            timeout: self.shared.timeout,
            ..Effective::default()
        };
        self.settings.iter().fold(run, |acc, s| s.merged_over(&acc))
    }
}

thread_local! {
    static CURRENT: RefCell<Option<HostContext>> = const { RefCell::new(None) };
}

/// Runs `f` with `context` as the current thread's host, restoring the
/// previous one afterwards (so executors can nest in tests).
pub(crate) fn with_host<R>(context: HostContext, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|c| c.replace(Some(context)));
    struct Restore(Option<HostContext>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// Calls `f` with the current host. Outside an executor, operations act on
/// the local machine, as they would with no `-H`.
pub(crate) fn current<R>(f: impl FnOnce(&mut HostContext) -> R) -> R {
    CURRENT.with(|c| {
        let mut slot = c.borrow_mut();
        let context = slot.get_or_insert_with(|| {
            HostContext::new(
                Connection::control_machine(),
                Arc::new(RunShared::default()),
                Arc::new(OpCounters::default()),
            )
        });
        f(context)
    })
}

/// The host the current thread's operations run on, as `user@host`.
pub fn current_host() -> String {
    current(|c| c.conn.label.clone())
}
