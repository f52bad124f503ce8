//! Progress in the seed's format (DESIGN §4), per host, one line per
//! operation in lines mode:
//!
//! ```text
//! [3/12 run operations] [5/20 total] (25.00%)
//! ```
//!
//! Denominators are the macro's plan for the selected steps. It is an
//! estimate, corrected as the run goes: when more operations of a kind run
//! than planned, the kind's planned count is raised to the done count (so the
//! percentage never exceeds 100% and never decreases), and a host that
//! succeeds ends with exactly 100.00%.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::{self, OpEvent, OpStatus, RunObserver};
use crate::transport::Stream;

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// `Bar` on a terminal, else `Lines`.
    Auto,
    Bar,
    Lines,
    None,
}

impl ProgressMode {
    /// `Auto` decided by whether standard output is a terminal.
    pub fn resolve(self) -> ProgressMode {
        match self {
            ProgressMode::Auto if std::io::stdout().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Lines,
            mode => mode,
        }
    }
}

/// `[3/12 run operations]`.
pub(crate) fn kind_line(kind: &str, done: u64, planned: u64) -> String {
    format!("[{done}/{planned} {kind} operations]")
}

/// `[5/20 total] (25.00%)`.
pub(crate) fn total_line(done: u64, planned: u64) -> String {
    let pct = if planned == 0 {
        100.0
    } else {
        done as f64 * 100.0 / planned as f64
    };
    format!("[{done}/{planned} total] ({pct:.2}%)")
}

/// One host's done and planned operations per kind.
#[derive(Debug, Clone)]
pub(crate) struct Counts {
    /// Kind → (done, planned), in plan order, then in order of first appearance.
    kinds: Vec<(String, u64, u64)>,
}

impl Counts {
    pub(crate) fn new(plan: &[(&str, u64)]) -> Self {
        Counts {
            kinds: plan.iter().map(|&(k, n)| (k.to_string(), 0, n)).collect(),
        }
    }

    /// Counts one finished operation of `kind`, raising its planned count
    /// when it was exceeded; returns the kind's (done, planned).
    pub(crate) fn record(&mut self, kind: &str) -> (u64, u64) {
        let i = match self.kinds.iter().position(|(k, _, _)| k == kind) {
            Some(i) => i,
            None => {
                self.kinds.push((kind.to_string(), 0, 0));
                self.kinds.len() - 1
            }
        };
        let (_, done, planned) = &mut self.kinds[i];
        *done += 1;
        *planned = (*planned).max(*done);
        (*done, *planned)
    }

    /// (done, planned) over all kinds.
    pub(crate) fn total(&self) -> (u64, u64) {
        self.kinds
            .iter()
            .fold((0, 0), |(d, p), (_, done, planned)| (d + done, p + planned))
    }

    /// The run succeeded: what was done is all there was to do.
    pub(crate) fn complete(&mut self) {
        for (_, done, planned) in &mut self.kinds {
            *planned = *done;
        }
    }
}

struct HostState {
    counts: Counts,
    step: &'static str,
    bar: Option<ProgressBar>,
}

/// The recipe binary's observer: echoes operations and their output (unless
/// `-q`) and prints progress. (`--events` is the observer of `events.rs`.)
pub(crate) struct Progress {
    plan: Vec<(&'static str, u64)>,
    mode: ProgressMode,
    echo: bool,
    /// Prefix progress lines with `[user@host] ` (several hosts).
    prefix: bool,
    hosts: Mutex<HashMap<String, HostState>>,
    /// How many hosts the run has: the overall line counts those that have
    /// not started yet at the plan's total.
    targets: usize,
    multi: Option<MultiProgress>,
    /// The bar across all hosts, under theirs (several hosts, bar mode).
    overall: Option<ProgressBar>,
    /// The bars are done: lines from now on (the summary) go below them.
    finished: AtomicBool,
    /// The terminal's width when the run started, which the bars fit in.
    columns: Option<usize>,
    /// `--color`/`NO_COLOR` allow colored bars.
    color: bool,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Progress {
    /// `mode` must be resolved (not `Auto`). Human lines go to `out`.
    pub(crate) fn new(
        plan: Vec<(&'static str, u64)>,
        mode: ProgressMode,
        echo: bool,
        targets: usize,
        out: Box<dyn Write + Send>,
        out_is_stderr: bool,
    ) -> Self {
        let multi = (mode == ProgressMode::Bar).then(|| {
            MultiProgress::with_draw_target(if out_is_stderr {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::stdout()
            })
        });
        let prefix = targets > 1;
        let columns = multi.as_ref().and_then(|_| terminal_columns(out_is_stderr));
        let overall = multi.as_ref().filter(|_| prefix).map(|multi| {
            let bar = multi.add(ProgressBar::new(0));
            let label = format!("[{targets} hosts] ");
            bar.set_style(bar_style(label.chars().count(), columns, false));
            bar.set_prefix(label);
            bar
        });
        Progress {
            plan,
            mode,
            echo,
            prefix,
            hosts: Mutex::new(HashMap::new()),
            targets,
            multi,
            overall,
            finished: AtomicBool::new(false),
            columns,
            color: false,
            out: Mutex::new(out),
        }
    }

    /// Colored bars (when `color`, the resolved `--color`).
    pub(crate) fn colored(mut self, color: bool) -> Self {
        self.color = color;
        if let Some(overall) = &self.overall {
            let label = format!("[{} hosts] ", self.targets);
            overall.set_style(bar_style(label.chars().count(), self.columns, color));
        }
        self
    }

    /// Prints one whole line (above the bars when there are bars).
    pub(crate) fn line(&self, text: &str) {
        if let Some(multi) = self
            .multi
            .as_ref()
            .filter(|m| !m.is_hidden() && !self.finished.load(Ordering::SeqCst))
        {
            let _ = multi.println(text);
            return;
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    fn host_prefix(&self, host: &str) -> String {
        if self.prefix {
            format!("[{host}] ")
        } else {
            String::new()
        }
    }

    fn with_host<R>(&self, host: &str, f: impl FnOnce(&mut HostState) -> R) -> R {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let state = hosts.entry(host.to_string()).or_insert_with(|| HostState {
            counts: Counts::new(&self.plan),
            step: "",
            bar: None,
        });
        let result = f(state);
        self.show_overall(&hosts);
        result
    }

    /// The step `host` runs (`""` before its first).
    pub(crate) fn step(&self, host: &str) -> &'static str {
        self.with_host(host, |s| s.step)
    }

    /// The step `host` runs from now on.
    pub(crate) fn set_step(&self, host: &str, step: &'static str) {
        self.with_host(host, |s| s.step = step);
    }

    fn bar(&self, state: &mut HostState, host: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let bar = state.bar.get_or_insert_with(|| {
            // Host bars above the overall one, in the order hosts start.
            let bar = match &self.overall {
                Some(overall) => multi.insert_before(overall, ProgressBar::new(0)),
                None => multi.add(ProgressBar::new(0)),
            };
            let prefix = self.host_prefix(host);
            bar.set_style(bar_style(prefix.chars().count(), self.columns, self.color));
            bar.set_prefix(prefix);
            bar
        });
        Some(bar.clone())
    }

    /// Updates the overall bar from every host's counts (`hosts` is the
    /// locked map; a host not started yet counts as its plan).
    fn show_overall(&self, hosts: &HashMap<String, HostState>) {
        let Some(overall) = &self.overall else {
            return;
        };
        let (done, planned) = self.overall_counts(hosts);
        overall.set_length(planned);
        overall.set_position(done);
        overall.set_message(total_line(done, planned));
    }

    /// (done, planned) over all hosts; a host not started yet counts as its plan.
    fn overall_counts(&self, hosts: &HashMap<String, HostState>) -> (u64, u64) {
        let per_host: u64 = self.plan.iter().map(|(_, n)| n).sum();
        let not_started = self.targets.saturating_sub(hosts.len()) as u64;
        hosts
            .values()
            .fold((0, per_host * not_started), |(d, p), s| {
                let (done, planned) = s.counts.total();
                (d + done, p + planned)
            })
    }

    fn show(&self, host: &str, state: &mut HostState, kind: Option<String>) {
        let (done, planned) = state.counts.total();
        let total = total_line(done, planned);
        match self.mode {
            ProgressMode::None | ProgressMode::Auto => {}
            ProgressMode::Lines => {
                let prefix = self.host_prefix(host);
                match kind {
                    Some(kind) => self.line(&format!("{prefix}{kind} {total}")),
                    None => self.line(&format!("{prefix}{total}")),
                }
            }
            ProgressMode::Bar => {
                if let Some(bar) = self.bar(state, host) {
                    bar.set_length(planned);
                    bar.set_position(done);
                    bar.set_message(match kind {
                        Some(kind) => format!("{kind} {total}"),
                        None => total,
                    });
                }
            }
        }
    }

    /// `host` succeeded: its progress ends at exactly 100%.
    pub(crate) fn host_done(&self, host: &str) {
        self.with_host(host, |state| {
            let before = state.counts.total();
            state.counts.complete();
            // The last operation usually printed 100% already.
            if state.counts.total() != before || before.1 == 0 {
                self.show(host, state, None);
            }
            if let Some(bar) = &state.bar {
                bar.finish();
            }
        });
    }

    /// Stops the bars, leaving their last state on screen; what is printed
    /// after (the summary) goes below them.
    pub(crate) fn finish(&self) {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        for state in hosts.values() {
            if let Some(bar) = &state.bar {
                bar.abandon();
            }
        }
        if let Some(overall) = &self.overall {
            overall.abandon();
        }
        self.finished.store(true, Ordering::SeqCst);
        // Lines mode's overall line, once: after every host's last one.
        if self.mode == ProgressMode::Lines && self.targets > 1 {
            let (done, planned) = self.overall_counts(&hosts);
            self.line(&format!(
                "[{} hosts] {}",
                self.targets,
                total_line(done, planned)
            ));
        }
    }
}

/// `[root@db1] [=====>    ] [3/12 run operations] [5/20 total] (25.00%)`,
/// fitting in `columns`: the bar narrows to leave the counts room and the
/// counts are cut at the edge, so a line never wraps (a wrapped line breaks
/// the redrawing of every bar under it).
fn bar_style(prefix_len: usize, columns: Option<usize>, color: bool) -> ProgressStyle {
    const BAR: usize = 24;
    // `[` `] ` around the bar, and room for `[5/20 total] (25.00%)`.
    const COUNTS: usize = 3 + 22;
    let bar = columns.map_or(BAR, |c| c.saturating_sub(prefix_len + COUNTS).min(BAR));
    let paint = if color { ".green" } else { "" };
    let template = if bar >= 5 {
        format!("{{prefix}}[{{bar:{bar}{paint}}}] {{wide_msg}}")
    } else {
        "{prefix}{wide_msg}".to_string()
    };
    ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The width of the terminal on standard output (or error), if it is one.
fn terminal_columns(stderr: bool) -> Option<usize> {
    let fd = if stderr {
        libc::STDERR_FILENO
    } else {
        libc::STDOUT_FILENO
    };
    // SAFETY: a zeroed winsize is a valid value, and TIOCGWINSZ only writes
    // one into the pointer it is given.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

impl RunObserver for Progress {
    fn op_started(&self, event: &OpEvent<'_>) {
        if self.echo && !event.quiet {
            self.line(&report::op_started_line(event));
        }
    }

    fn output_line(&self, host: &str, stream: Stream, line: &str) {
        if self.echo {
            self.line(&report::output_echo_line(host, stream, line));
        }
    }

    fn op_finished(&self, event: &OpEvent<'_>, _status: OpStatus, _duration: Duration) {
        self.with_host(event.host, |state| {
            let (kind_done, kind_planned) = state.counts.record(event.op);
            let kind = kind_line(event.op, kind_done, kind_planned);
            self.show(event.host, state, Some(kind));
        });
    }

    fn message(&self, text: &str) {
        self.line(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::driver::test_output::Buf;

    #[test]
    fn line_formats_match_the_seed() {
        assert_eq!(kind_line("run", 50, 500), "[50/500 run operations]");
        assert_eq!(total_line(137, 590), "[137/590 total] (23.22%)");
        assert_eq!(total_line(0, 0), "[0/0 total] (100.00%)");
    }

    #[test]
    fn estimate_is_raised_never_above_100_and_ends_at_100() {
        let mut c = Counts::new(&[("run", 1), ("sudo", 3)]);
        let mut last = 0.0;
        for kind in ["run", "run", "run", "put", "sudo"] {
            c.record(kind);
            let (done, planned) = c.total();
            assert!(done <= planned);
            let pct = done as f64 / planned as f64;
            assert!(pct >= last, "percentage decreased");
            last = pct;
        }
        assert_eq!(c.record("run"), (4, 4));
        assert_eq!(c.total(), (6, 8));
        c.complete();
        assert_eq!(c.total(), (6, 6));
    }

    fn event(host: &'static str, op: &'static str) -> OpEvent<'static> {
        OpEvent {
            host,
            op,
            command: "echo hunter2",
            quiet: false,
        }
    }

    #[test]
    fn lines_mode_prints_per_host_lines() {
        let out = Buf::default();
        let p = Progress::new(
            vec![("run", 1), ("sudo", 1)],
            ProgressMode::Lines,
            false,
            2,
            Box::new(out.clone()),
            false,
        );
        p.set_step("root@a", "install");
        let ms = Duration::from_millis(7);
        p.op_started(&event("root@a", "run"));
        p.op_finished(&event("root@a", "run"), OpStatus::Ok { changed: true }, ms);
        p.op_finished(&event("root@a", "run"), OpStatus::Failed, ms);
        p.host_done("root@a");
        p.finish();
        // Host b never started: the overall line counts its plan.
        assert_eq!(
            out.text(),
            "[root@a] [1/1 run operations] [1/2 total] (50.00%)\n\
             [root@a] [2/2 run operations] [2/3 total] (66.67%)\n\
             [root@a] [2/2 total] (100.00%)\n\
             [2 hosts] [2/4 total] (50.00%)\n"
        );
    }
}
