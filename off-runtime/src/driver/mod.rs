//! The recipe driver, the runtime half of a `#[recipe]` binary: the recipe
//! described as data ([`RecipeSpec`], written by the macro), the command
//! line built from it, the validation of every input before any host is
//! touched, and the run with its progress display. (The macro itself is
//! `off-macros`, its analysis `off-analysis`.)
//!
//! The macro generates the recipe's kwargs struct, its parser
//! (`fn(&RawArgs) -> Result<Box<dyn Kwargs>, ArgErrors>`) and the [`Kwargs`]
//! impl that runs a step with them, and hands the parser to [`recipe_main`].
//! Nothing here is generic over the kwargs type, so the driver is compiled
//! once, in this crate, rather than again in every recipe crate.

mod args;
mod check;
mod cli;
mod color;
mod diff;
mod events;
mod peer;
mod progress;
mod push;
mod resume;
mod written;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

pub use args::{ArgError, ArgErrors, RawArgs};
pub use peer::{PeerKwargs, PeerMapping};
pub use progress::ProgressMode;

use crate::Secret;
use crate::dry_run::DryRun;
use crate::error::{CliError, exit_code};
use crate::executor::Executor;
use crate::report::{Console, Observers, RunObserver};
use crate::target::Target;
use crate::transport::SshOptions;
use events::RunEvents;
use progress::Progress;

/// A recipe as its binary needs to know it. Written by `#[recipe]` as a static.
#[derive(Debug)]
pub struct RecipeSpec {
    /// The binary's (and recipe's) name.
    pub name: &'static str,
    /// The recipe's `///` docs.
    pub about: &'static str,
    /// The kwargs: the union of the steps' parameters.
    pub params: &'static [ParamSpec],
    /// The steps, in the order they run.
    pub steps: &'static [StepSpec],
    /// `#[recipe(check(...))]`.
    pub checks: CheckAnnotations,
    /// `#[recipe(peers = f)]`: how a cluster's membership maps onto the kwargs under `--serve`.
    pub peers: Option<PeerMapping>,
}

/// What `#[recipe(check(...))]` adds to the spec `--check` derives from the
/// recipe's effects, in the one model of the annotation (the macro parsed it
/// into the same type). Strings may hold `{param}` placeholders, replaced by
/// the kwargs' values at check time.
pub use off_input::annotations::CheckAnnotations;

/// One kwarg of a recipe.
#[derive(Debug)]
pub struct ParamSpec {
    /// snake_case; the flag is `--name-with-dashes` (`--name_with_underscores` is accepted too).
    pub name: &'static str,
    /// The type as written, for `--help`.
    pub ty: &'static str,
    pub kind: ParamKind,
    pub docs: &'static str,
    /// The default expression's source text, for `--help` only.
    pub default: Option<&'static str>,
    pub short: Option<char>,
    /// The environment variable, instead of `OFF_<NAME>`.
    pub env: Option<&'static str>,
    pub hide: bool,
}

pub use off_input::ParamKind;

/// One step of a recipe and its planned operations per kind (`("run", 2)`).
#[derive(Debug)]
pub struct StepSpec {
    pub name: &'static str,
    pub docs: &'static str,
    pub plan: &'static [(&'static str, u64)],
}

impl RecipeSpec {
    /// The param called `name`.
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The planned operations per kind of the steps `selected`, summed.
    pub fn plan(&self, selected: &[usize]) -> Vec<(&'static str, u64)> {
        let mut plan: Vec<(&'static str, u64)> = Vec::new();
        for &i in selected {
            for &(kind, n) in self.steps[i].plan {
                match plan.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, total)) => *total += n,
                    None => plan.push((kind, n)),
                }
            }
        }
        plan
    }
}

/// A recipe's kwargs, parsed and validated: the one thing the driver knows
/// about the type the macro generates.
pub trait Kwargs: Send + Sync {
    /// Runs step `step` (an index into [`RecipeSpec::steps`]) with these
    /// kwargs on the current host.
    fn run_step(&self, step: usize) -> crate::Result<()>;
}

/// The parser the macro generates: every kwarg from the flags, environment
/// and `-c` file, or every input error at once.
pub type ParseKwargs = fn(&RawArgs) -> Result<Box<dyn Kwargs>, ArgErrors>;

/// One "did you mean" for every input error, the check spec's included.
pub(crate) use off_input::did_you_mean;

/// The entry point of a recipe binary: parses and validates every input
/// (exit 2 on any error, with all errors listed), then runs the selected
/// steps on every target and prints the summary.
pub fn recipe_main(spec: &'static RecipeSpec, parse: ParseKwargs) -> ExitCode {
    // SAFETY: a recipe binary's `main` calls this first, before any thread
    // has started (the macro's `main` does nothing else).
    let env_password = unsafe { crate::take_sudo_password_env() };
    // SAFETY: as above. The cluster token, like the password, must not reach the commands the
    // recipe starts on this machine.
    let env_token = unsafe { take_env(off_discovery::token::TOKEN_ENV) };
    crate::interrupt::install();
    let code =
        recipe_main_inner(spec, parse, env_password, env_token).unwrap_or_else(CliError::report);
    if crate::interrupt::interrupted() {
        return ExitCode::from(exit_code::INTERRUPTED);
    }
    code
}

/// Takes `name` out of this process's environment and returns its value.
///
/// # Safety
///
/// As [`crate::take_sudo_password_env`]: no other thread may touch the environment.
unsafe fn take_env(name: &str) -> Option<String> {
    let value = std::env::var_os(name)?;
    // SAFETY: the caller promises no other thread touches the environment.
    unsafe { std::env::remove_var(name) };
    Some(value.to_string_lossy().into_owned())
}

fn recipe_main_inner(
    spec: &'static RecipeSpec,
    parse: ParseKwargs,
    env_password: Option<Secret>,
    env_token: Option<String>,
) -> Result<ExitCode, CliError> {
    let options = match cli::parse_argv(spec, std::env::args_os()) {
        Ok(options) => options,
        Err(e) => e.exit(),
    };
    if options
        .describe
        .print(cli::command(spec))
        .map_err(CliError::failed)?
    {
        return Ok(ExitCode::SUCCESS);
    }
    if options.push_child {
        return Ok(push::serve(spec, parse));
    }
    let env = |name: &str| {
        if name == off_discovery::token::TOKEN_ENV {
            return env_token.clone();
        }
        std::env::var(name).ok()
    };
    let mut prepared = prepare(spec, options, parse, &env)?;
    if let Some(serving) = prepared.serving.take() {
        if prepared.options.dry_run {
            peer::dry_run(spec, &prepared, &serving);
            return Ok(ExitCode::SUCCESS);
        }
        let sudo_password =
            crate::sudo_password(prepared.options.sudo_password_stdin, env_password)
                .map_err(CliError::usage)?;
        let code = peer::serve(spec, prepared, serving, parse, sudo_password)?;
        return Ok(ExitCode::from(code));
    }
    if prepared.options.dry_run {
        return Ok(dry_run(spec, prepared));
    }
    let sudo_password = crate::sudo_password(prepared.options.sudo_password_stdin, env_password)
        .map_err(CliError::usage)?;
    if prepared.options.check.is_some() {
        return Ok(check::check_hosts(spec, prepared, sudo_password));
    }
    if prepared.options.diff {
        return Ok(diff::diff_hosts(spec, prepared, sudo_password));
    }
    Ok(ExitCode::from(run(spec, prepared, sudo_password)))
}

/// The first line of a run with no `-H` and no `--inventory`: the machine
/// the user is on is the target, which must never be a surprise.
fn local_target_line(spec: &RecipeSpec, doing: &str) -> String {
    format!(
        "{}: no -H or --inventory: {doing} this machine (-H local says so explicitly)",
        spec.name
    )
}

/// Everything validated, ready to run.
pub(crate) struct Prepared {
    options: cli::Options,
    /// The SSH settings of the command line.
    ssh: SshOptions,
    targets: Vec<Target>,
    selected: Vec<usize>,
    /// Kwargs for every target without per-host ones.
    kwargs: Option<Box<dyn Kwargs>>,
    /// Per-host kwargs from `--inventory`.
    per_host: HashMap<Target, Box<dyn Kwargs>>,
    /// The raw inputs behind `kwargs` and `per_host`, for the placeholders
    /// of `--check`.
    raw: Option<RawArgs>,
    raw_per_host: HashMap<Target, RawArgs>,
    events: Option<Box<dyn std::io::Write + Send + Sync>>,
    /// Completed steps per host; `None` in a dry run, which completes nothing.
    record: Option<resume::StepRecord>,
    /// `--serve`: the peer-mode plan, checked.
    serving: Option<peer::Serving>,
}

fn prepare(
    spec: &'static RecipeSpec,
    options: cli::Options,
    parse: ParseKwargs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Prepared, ArgErrors> {
    let mut errors = ArgErrors::default();
    let mut targets = Vec::new();
    if let Some(hosts) = &options.hosts {
        match Target::parse_list(hosts) {
            Ok(list) => targets.extend(list),
            Err(e) => errors.push(format!("-H: {e}")),
        }
    }
    let selected = errors.take(cli::select_steps(spec, options.steps.as_deref()));
    let ssh = options.ssh.options().unwrap_or_else(|e| {
        errors.push(e);
        SshOptions::default()
    });
    let file = match &options.config {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some((path.clone(), text)),
            Err(e) => {
                errors.push(format!("cannot read -c {}: {e}", path.display()));
                None
            }
        },
    };
    let raw = errors.take(RawArgs::from_sources(
        spec,
        options.flags.clone(),
        env,
        file,
    ));
    let mut kwargs = None;
    let mut per_host = HashMap::new();
    let mut raw_per_host = HashMap::new();
    if let Some(raw) = &raw {
        let inventory = match &options.inventory {
            None => Vec::new(),
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => errors
                    .take(args::parse_inventory(spec, path, &text))
                    .unwrap_or_default(),
                Err(e) => {
                    errors.push(format!("cannot read --inventory {}: {e}", path.display()));
                    Vec::new()
                }
            },
        };
        for host in inventory {
            let layered = raw.with_host_vars(&host.source, host.vars);
            if let Some(k) = errors.take(parse(&layered)) {
                per_host.insert(host.target.clone(), k);
            }
            raw_per_host.insert(host.target.clone(), layered);
            if !targets.contains(&host.target) {
                targets.push(host.target);
            }
        }
        if let Some(path) = &options.inventory
            && options.hosts.is_none()
            && per_host.is_empty()
            && errors.is_empty()
        {
            errors.push(format!("--inventory {}: no hosts", path.display()));
        }
        // Under --serve, the kwargs depend on the membership: `peer::prepare` checks them.
        if options.peer.serve.is_none() && (options.inventory.is_none() || options.hosts.is_some())
        {
            kwargs = errors.take(parse(raw));
        }
    }
    let serving = peer::prepare(spec, &options, raw.as_ref(), parse, env, &mut errors);
    if options.push
        && errors.is_empty()
        && let Some(e) = push::target_error(&targets)
    {
        errors.push(e);
    }
    let events = match options.events.as_deref() {
        None => None,
        Some("-") => Some(Box::new(std::io::stdout()) as Box<dyn std::io::Write + Send + Sync>),
        Some(path) if errors.is_empty() => match std::fs::File::create(path) {
            Ok(f) => {
                Some(Box::new(std::io::BufWriter::new(f)) as Box<dyn std::io::Write + Send + Sync>)
            }
            Err(e) => {
                errors.push(format!("cannot create --events {path}: {e}"));
                None
            }
        },
        Some(_) => None,
    };
    // Dry runs and checks complete no step.
    let record = match (!options.dry_run && !options.diff && options.check.is_none())
        .then(|| resume::StepRecord::for_recipe(spec.name, env))
    {
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        Some(Ok(record)) => Some(record),
        None => None,
    };
    errors.finish()?;
    Ok(Prepared {
        record,
        ssh,
        raw,
        raw_per_host,
        options,
        targets,
        selected: selected.unwrap_or_default(),
        kwargs,
        per_host,
        events,
        serving,
    })
}

/// `--dry-run`: runs the steps against no host (see [`crate::dry_run`]),
/// printing each operation with its rendered command.
fn dry_run(spec: &'static RecipeSpec, mut prepared: Prepared) -> ExitCode {
    stdout_line(&format!(
        "{} --dry-run: nothing runs on any host; every command is assumed to succeed with empty output.",
        spec.name
    ));
    if prepared.targets.is_empty() {
        stdout_line(&local_target_line(spec, "planning for"));
    }
    if prepared.options.verbose > 0 {
        stdout_line(&plan_line(spec, &prepared.selected));
    }
    // A dry run runs no operation worth an event.
    prepared.events = None;
    let console = Arc::new(Console::new(true));
    // One host at a time, so each host's operations print together.
    // With --push, what a pushed run would refuse fails here as it would there.
    let executor = Executor::new(prepared.targets.clone())
        .parallel(1)
        .observer(console.clone())
        .dry_run(DryRun::new())
        .pushed(prepared.options.push);
    let report = executor.run(|| {
        run_steps(spec, &prepared, &|host, step| {
            console.message(&format!("[{host}] step `{step}`"));
        })
    });
    let total: u64 = spec.plan(&prepared.selected).iter().map(|(_, n)| n).sum();
    stdout_line(&format!(
        "{total} operations planned per host (an estimate: loops count once, both arms of a branch count)"
    ));
    for host in report.hosts.iter().filter(|h| h.result.is_err()) {
        if let Err(e) = &host.result {
            eprintln!("error: {e}");
        }
    }
    ExitCode::from(report.exit_code())
}

/// Writes one line to standard output. A closed pipe (`--dry-run | head`)
/// is no error worth a panic: the reader has all it wanted.
fn stdout_line(text: &str) {
    stdout_text(&format!("{text}\n"));
}

/// Writes `text` to standard output, as [`stdout_line`] does.
fn stdout_text(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// What `-v` prints first: `demo: steps install, configure; planned 2 run, 3 sudo`.
fn plan_line(spec: &RecipeSpec, selected: &[usize]) -> String {
    let names: Vec<&str> = selected.iter().map(|&i| spec.steps[i].name).collect();
    format!(
        "{}: steps {}; planned {}",
        spec.name,
        names.join(", "),
        cli::plan_text(&spec.plan(selected))
    )
}

/// Runs the selected steps on the current host — with `--resume`, from the
/// first one not completed there in the last run — recording each completed
/// step. `on_step(host, step)` is called as each step starts.
pub(crate) fn run_steps(
    spec: &'static RecipeSpec,
    prepared: &Prepared,
    on_step: &dyn Fn(&str, &'static str),
) -> crate::Result<()> {
    run_steps_by(spec, prepared, prepared.record.as_ref(), false, on_step)
}

/// [`run_steps`], recording in `record`, and with `pushed` by a copy of
/// this binary on the host (see [`push`]).
fn run_steps_by(
    spec: &'static RecipeSpec,
    prepared: &Prepared,
    record: Option<&resume::StepRecord>,
    pushed: bool,
    on_step: &dyn Fn(&str, &'static str),
) -> crate::Result<()> {
    let host = crate::current_host();
    let target = crate::context::current(|c| c.conn.target.clone());
    let Some(kwargs) = prepared.per_host.get(&target).or(prepared.kwargs.as_ref()) else {
        return Err(crate::Error::msg(format!(
            "[{host}] no kwargs for this host"
        )));
    };
    let raw = prepared.raw_per_host.get(&target).or(prepared.raw.as_ref());
    let record_failed = |e: std::io::Error| {
        crate::Error::msg(format!(
            "[{host}] cannot record completed steps in {}: {e}",
            record
                .map(|r| r.path(&target).display().to_string())
                .unwrap_or_default()
        ))
    };
    let mut steps = prepared.selected.clone();
    if let Some(record) = record {
        let inputs: resume::Inputs = spec
            .params
            .iter()
            .map(|p| {
                (
                    p.name,
                    raw.map(|r| r.fingerprint(p.name)).unwrap_or_default(),
                )
            })
            .collect();
        let mut start_over = !prepared.options.resume;
        if prepared.options.resume {
            let last = record.last_run(&target).map_err(record_failed)?;
            match last.changed_kwargs(&inputs) {
                Some(changed) if changed.is_empty() => {
                    let names: Vec<&str> = spec.steps.iter().map(|s| s.name).collect();
                    steps = resume::resume_from(&steps, &names, &last.completed);
                    let skipped: Vec<&str> = prepared.selected
                        [..prepared.selected.len() - steps.len()]
                        .iter()
                        .map(|&i| names[i])
                        .collect();
                    if !skipped.is_empty() {
                        note_skipped_steps(&host, &skipped);
                    }
                }
                Some(changed) => {
                    note_changed_inputs(&host, &changed);
                    start_over = true;
                }
                None if last.completed.is_empty() => start_over = true,
                None => {
                    note_message(
                        &host,
                        "--resume: starting over, the last run's record does not say which kwargs it ran with",
                    );
                    start_over = true;
                }
            }
        }
        if start_over {
            record.start(&target, &inputs).map_err(record_failed)?;
        }
    }
    let completed = |step: &'static str| match record {
        Some(record) => record.complete(&target, step).map_err(record_failed),
        None => Ok(()),
    };
    if pushed {
        let Some(raw) = raw else {
            return Err(crate::Error::msg(format!(
                "[{host}] no kwargs for this host"
            )));
        };
        return push::PushedRun {
            spec,
            raw,
            steps: &steps,
            timeout: prepared.options.timeout,
            on_step,
            on_done: &completed,
        }
        .run();
    }
    for i in steps {
        let step = spec.steps[i].name;
        on_step(&host, step);
        kwargs.run_step(i)?;
        completed(step)?;
    }
    Ok(())
}

/// Tells which steps `--resume` skips on `host`.
fn note_skipped_steps(host: &str, skipped: &[&str]) {
    note_message(
        host,
        &format!(
            "--resume: skipping {}, completed in the last run",
            skipped.join(", ")
        ),
    );
}

/// Tells that `--resume` starts over on `host` because kwargs changed.
fn note_changed_inputs(host: &str, changed: &[String]) {
    let names: Vec<String> = changed
        .iter()
        .map(|name| format!("`{}`", off_manifest::kwarg_name::flag(name)))
        .collect();
    let (list, verb) = match names.as_slice() {
        [one] => (one.clone(), "differs"),
        _ => (names.join(", "), "differ"),
    };
    note_message(
        host,
        &format!("--resume: starting over, {list} {verb} from the last run"),
    );
}

fn note_message(host: &str, message: &str) {
    let shared = crate::context::current(|c| c.shared.clone());
    shared.observer.message(&format!("[{host}] {message}"));
}

/// Runs the selected steps on every target; the run's exit code.
fn run(spec: &'static RecipeSpec, mut prepared: Prepared, sudo_password: Option<Secret>) -> u8 {
    if prepared.options.push {
        let refused = push::refusals(spec, &prepared);
        if !refused.is_empty() {
            let mut lines: Vec<&String> = refused.values().collect();
            lines.sort();
            lines.dedup();
            for line in lines {
                eprintln!("error: {line}");
            }
            return crate::error::exit_code::USAGE;
        }
    }
    let options = &prepared.options;
    let mode = options.progress.resolve();
    // `-q --progress none` prints no summary.
    let summary = !(options.quiet && mode == ProgressMode::None);
    // With `--events -`, standard output carries the events alone.
    let events_on_stdout = options.events.as_deref() == Some("-");
    let out: Box<dyn std::io::Write + Send> = if events_on_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let out_is_terminal = {
        use std::io::IsTerminal;
        if events_on_stdout {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        }
    };
    let color = options
        .color
        .enabled(out_is_terminal, &|name| std::env::var(name).ok());
    let progress = Arc::new(
        Progress::new(
            spec.plan(&prepared.selected),
            mode,
            !options.quiet,
            prepared.targets.len(),
            out,
            events_on_stdout,
        )
        .colored(color),
    );
    let events = Arc::new(RunEvents::new(
        spec.name,
        spec.plan(&prepared.selected),
        prepared
            .events
            .take()
            .map(|e| e as Box<dyn std::io::Write + Send>),
        crate::metrics::Metrics::start(&options.metrics, crate::metrics::pipeline::stderr_warn()),
    ));
    let step_names: Vec<String> = prepared
        .selected
        .iter()
        .map(|&i| spec.steps[i].name.to_string())
        .collect();
    let hosts = if prepared.targets.is_empty() {
        vec![crate::Target::Local.to_string()]
    } else {
        prepared.targets.iter().map(ToString::to_string).collect()
    };
    events.run_started(hosts, step_names);
    if prepared.targets.is_empty() && !options.quiet {
        progress.line(&local_target_line(spec, "deploying to"));
    }
    if options.verbose > 0 {
        progress.line(&plan_line(spec, &prepared.selected));
    }
    let executor = Executor::new(prepared.targets.clone())
        .parallel(options.parallel)
        .fail_fast(options.fail_fast)
        .timeout(options.timeout)
        .ssh_options(prepared.ssh.clone())
        .sudo_password(sudo_password)
        .observer(Arc::new(Observers(vec![
            Arc::new(StatusEcho {
                progress: progress.clone(),
                echo: !options.quiet,
            }),
            events.clone(),
        ])));
    let report = executor.run(|| {
        let on_step = |host: &str, step: &'static str| {
            progress.set_step(host, step);
            events.set_step(host, step);
        };
        let record = prepared.record.as_ref();
        let result = run_steps_by(spec, &prepared, record, prepared.options.push, &on_step);
        let host = crate::current_host();
        events.host_finished(&host, result.as_ref().err().map(ToString::to_string));
        match &result {
            Ok(()) => progress.host_done(&host),
            Err(e) => {
                let step = progress.step(&host);
                // Without the summary, this line is all that says why.
                let reason = if summary {
                    String::new()
                } else {
                    format!(": {e}")
                };
                // A failure before the first step (--push's copy) has no step to name.
                let at = if step.is_empty() {
                    String::new()
                } else {
                    format!(" step `{step}`")
                };
                progress.line(&format!("[{host}]{at} failed{reason}"));
            }
        }
        result
    });
    progress.finish();
    events.run_finished(&report);
    if summary {
        progress.line(color::paint_summary(report.summary().trim_end(), color).as_str());
    }
    events.finish();
    report.exit_code()
}

/// The progress display, and after each echoed operation the line saying
/// how it ended (`[root@db1] ok`, `changed`, `failed`).
struct StatusEcho {
    progress: Arc<Progress>,
    echo: bool,
}

impl RunObserver for StatusEcho {
    fn op_started(&self, event: &crate::report::OpEvent<'_>) {
        self.progress.op_started(event);
    }

    fn output_line(&self, host: &str, stream: crate::transport::Stream, line: &str) {
        self.progress.output_line(host, stream, line);
    }

    fn op_finished(
        &self,
        event: &crate::report::OpEvent<'_>,
        status: crate::report::OpStatus,
        duration: std::time::Duration,
    ) {
        if self.echo && !event.quiet {
            self.progress
                .line(&crate::report::op_finished_line(event, status));
        }
        self.progress.op_finished(event, status, duration);
    }

    fn message(&self, text: &str) {
        self.progress.message(text);
    }
}

/// Output the driver's observers write to, captured for their tests.
#[cfg(test)]
pub(crate) mod test_output {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A writer whose clones share one buffer.
    #[derive(Clone, Default)]
    pub(crate) struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Buf {
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Buf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::args::tests::SPEC;
    use crate::error::exit_code;

    struct Demo {
        version: u32,
        peers: Vec<String>,
    }

    impl Kwargs for Demo {
        fn run_step(&self, step: usize) -> crate::Result<()> {
            match step {
                0 => crate::ops::run(format!("test {} = 7", self.version)).map(drop),
                _ => Err(crate::Error::msg(format!("peers {}", self.peers.join(",")))),
            }
        }
    }

    fn parse(raw: &RawArgs) -> Result<Box<dyn Kwargs>, ArgErrors> {
        Ok(Box::new(parse_demo(raw)?))
    }

    fn parse_demo(raw: &RawArgs) -> Result<Demo, ArgErrors> {
        let mut errors = ArgErrors::default();
        let version = errors.take(raw.get::<u32>("version"));
        let peers = errors.take(raw.get_vec::<String>("peers"));
        errors.finish()?;
        Ok(Demo {
            version: version.unwrap(),
            peers: peers.unwrap(),
        })
    }

    fn options(args: &[&str]) -> cli::Options {
        cli::parse_argv(&SPEC, std::iter::once("demo").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn every_input_error_is_reported_before_anything_runs() {
        let env = |name: &str| (name == "OFF_STATE_DIR").then(|| "/nonexistent".to_string());
        let o = options(&[
            "-H",
            "a@",
            "--steps",
            "instal,configure",
            "-c",
            "/nonexistent.yaml",
        ]);
        let errors = prepare(&SPEC, o, parse, &env).err().unwrap().to_string();
        assert_eq!(errors.lines().count(), 4, "{errors}");
        assert!(errors.contains("missing required --version"), "{errors}");
        assert!(errors.contains("error: -H: invalid host `a@`"), "{errors}");
        assert!(errors.contains("unknown step `instal`"), "{errors}");
        assert!(
            errors.contains("cannot read -c /nonexistent.yaml"),
            "{errors}"
        );
        let o = options(&[]);
        let errors = prepare(&SPEC, o, parse, &env).err().unwrap().to_string();
        assert_eq!(
            errors,
            "error: missing required --version (flag, OFF_VERSION or `version` in the -c file)\n"
        );
        // No state directory for --resume: refused, unless nothing is recorded.
        let no_state = |name: &str| (name == "OFF_VERSION").then(|| "3".to_string());
        let errors = prepare(&SPEC, options(&[]), parse, &no_state)
            .err()
            .unwrap()
            .to_string();
        assert!(
            errors.contains("set OFF_STATE_DIR, XDG_STATE_HOME or HOME"),
            "{errors}"
        );
        assert!(prepare(&SPEC, options(&["--dry-run"]), parse, &no_state).is_ok());
    }

    #[test]
    fn dry_run_selects_steps_and_records_nothing() {
        let env = |name: &str| (name == "OFF_VERSION").then(|| "3".to_string());
        let o = options(&["--dry-run", "--steps", "configure"]);
        let prepared = prepare(&SPEC, o, parse, &env).ok().unwrap();
        assert!(prepared.kwargs.is_some());
        let raw = prepared.raw.as_ref().unwrap();
        assert_eq!(parse_demo(raw).ok().unwrap().version, 3);
        assert_eq!(prepared.selected, [1]);
        assert!(prepared.record.is_none());
    }

    /// Kwargs whose first step uploads a file of the control machine.
    struct UploadsALocalFile;

    impl Kwargs for UploadsALocalFile {
        fn run_step(&self, _step: usize) -> crate::Result<()> {
            crate::ops::put(b"embedded".as_slice(), "/tmp/off-embedded")?;
            crate::ops::put("Cargo.toml", "/tmp/off-local-file").map(drop)
        }
    }

    #[test]
    fn push_refuses_before_any_host_an_operation_that_needs_the_control_machine() {
        let parse: ParseKwargs = |_| Ok(Box::new(UploadsALocalFile));
        let state = tempfile::tempdir().unwrap();
        let state_dir = state.path().display().to_string();
        let env = move |name: &str| (name == "OFF_STATE_DIR").then(|| state_dir.clone());
        // An address nothing answers on: reaching for it would exit 3.
        let o = options(&["--push", "-H", "root@192.0.2.1", "--version", "1", "-q"]);
        let prepared = prepare(&SPEC, o, parse, &env).ok().unwrap();
        let refused = push::refusals(&SPEC, &prepared);
        assert_eq!(
            refused.values().collect::<Vec<_>>(),
            [&"[root@192.0.2.1] put reads the local file Cargo.toml: --push runs the recipe on the host itself, which cannot reach the control machine; embed it in the binary (a literal template path, put(include_bytes!(..))) or run without --push".to_string()]
        );
        assert_eq!(run(&SPEC, prepared, None), exit_code::USAGE);
        // Nothing was recorded for --resume either.
        assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 0);
    }

    #[test]
    fn push_needs_ssh_hosts() {
        let env = |name: &str| (name == "OFF_VERSION").then(|| "3".to_string());
        for (args, error) in [
            (&["--push"][..], "--push needs hosts (-H or --inventory)"),
            (
                &["--push", "-H", "local"][..],
                "--push: `local` is this machine",
            ),
        ] {
            let errors = prepare(&SPEC, options(args), parse, &env)
                .err()
                .unwrap()
                .to_string();
            assert!(errors.contains(error), "{args:?}: {errors}");
        }
    }

    #[test]
    fn runs_the_selected_steps_locally() {
        let state = tempfile::tempdir().unwrap();
        let state_dir = state.path().display().to_string();
        let env = move |name: &str| (name == "OFF_STATE_DIR").then(|| state_dir.clone());
        let o = options(&[
            "--version",
            "7",
            "--steps",
            "install",
            "-q",
            "--progress",
            "none",
        ]);
        let prepared = prepare(&SPEC, o, parse, &env).ok().unwrap();
        assert_eq!(run(&SPEC, prepared, None), 0);
        let o = options(&["--version", "7", "--peers", "p", "-q", "--progress", "none"]);
        let prepared = prepare(&SPEC, o, parse, &env).ok().unwrap();
        assert_eq!(run(&SPEC, prepared, None), 1);
    }
}
