//! `--diff`: what a run would change on each host, changing nothing.
//!
//! The recipe runs as a dry run that reads the hosts
//! ([`DryRun::reading_hosts`]): every file operation reads the file it would
//! write and shows a unified diff of its content (a secret's only as
//! `<secret: changed>`), its mode and owner; packages, services, directories
//! and the paths commands create or remove are looked up; no command of the
//! recipe runs and nothing is written. The commands that would run are
//! listed at the end. Exit 0 when nothing would change, 1 when something
//! would.

use std::process::ExitCode;
use std::sync::Arc;

use super::{Prepared, RecipeSpec, run_steps};
use crate::Secret;
use crate::dry_run::DryRun;
use crate::error::exit_code;
use crate::executor::{Executor, RunReport};
use crate::report::{Console, RunObserver};
use crate::target::Target;

/// `--diff` on every target.
pub(super) fn diff_hosts(
    spec: &'static RecipeSpec,
    mut prepared: Prepared,
    sudo_password: Option<Secret>,
) -> ExitCode {
    super::stdout_line(&format!(
        "{} --diff: each host is read, nothing is changed; the recipe's commands do not run (their output is assumed empty).",
        spec.name
    ));
    prepared.events = None;
    let console = Arc::new(Console::new(!prepared.options.quiet));
    let dry_run = DryRun::reading_hosts();
    let report = read_hosts(
        &prepared,
        &prepared.targets,
        console.clone(),
        dry_run.clone(),
        sudo_password,
        |host, step| console.message(&format!("[{host}] step `{step}`")),
        spec,
    );
    let mut would_change = false;
    for host in &report.hosts {
        let commands = dry_run.effects(&host.target).commands;
        if !commands.is_empty() {
            super::stdout_line(&format!("[{}] commands that would run:", host.label));
            for (op, command) in commands {
                super::stdout_line(&format!("[{}]   {op}: {command}", host.label));
            }
        }
        match &host.result {
            Ok(()) => super::stdout_line(&format!(
                "[{}] {} operations would change the host, {} would not",
                host.label,
                host.changed,
                host.ok - host.changed
            )),
            Err(e) => eprintln!("error: {e}"),
        }
        would_change |= host.changed > 0;
    }
    match report.exit_code() {
        exit_code::OK if would_change => ExitCode::from(exit_code::FAILED),
        code => ExitCode::from(code),
    }
}

/// Runs the selected steps on `targets` as a dry run reading the hosts,
/// one host at a time so each host's lines stay together.
fn read_hosts(
    prepared: &Prepared,
    targets: &[Target],
    observer: Arc<dyn RunObserver>,
    dry_run: Arc<DryRun>,
    sudo_password: Option<Secret>,
    on_step: impl Fn(&str, &'static str) + Sync,
    spec: &'static RecipeSpec,
) -> RunReport {
    Executor::new(targets.to_vec())
        .parallel(1)
        .timeout(prepared.options.timeout)
        .ssh_options(prepared.ssh.clone())
        .sudo_password(sudo_password)
        .observer(observer)
        .dry_run(dry_run)
        .run(|| run_steps(spec, prepared, &on_step))
}

/// After a failing `--check`: the diff of what this run would write on the
/// `targets` whose files drifted, on standard error (standard output carries
/// the report).
pub(super) fn diff_drifted(
    spec: &'static RecipeSpec,
    prepared: &Prepared,
    targets: &[Target],
    sudo_password: Option<Secret>,
) {
    if targets.is_empty() {
        return;
    }
    eprintln!("What --diff shows on the hosts whose files differ:");
    read_hosts(
        prepared,
        targets,
        Arc::new(MessagesToStderr),
        DryRun::reading_hosts(),
        sudo_password,
        |_, _| {},
        spec,
    );
}

/// Shows only the messages of a run (the diffs), on standard error.
struct MessagesToStderr;

impl RunObserver for MessagesToStderr {
    fn message(&self, text: &str) {
        eprintln!("{text}");
    }
}
