//! The command line of a recipe binary: the kwargs of the [`RecipeSpec`],
//! added with clap's builder API since they are only known at run time, and
//! the built-in flags, one derived `Args` struct. The flags it shares with
//! `offcheck` (targets, SSH, `--parallel`, the sudo password, the check
//! flags) are the structs of [`crate::flags`] and [`crate::check::flags`],
//! flattened in, not defined again here.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, Args, Command, FromArgMatches};
use off_cli::SelfDescriptionFlags;
use off_manifest::kwarg_name;

use crate::check::flags::CheckRunFlags;
use crate::flags::{ParallelFlags, SshFlags, SudoFlags, TargetFlags};
use crate::metrics::{MetricsFlags, SinkUrl};

use super::color::{self, ColorWhen};
use super::{ArgError, ParamKind, ProgressMode, RecipeSpec, did_you_mean};

/// The built-in flags' values and the kwargs' raw flag values.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub config: Option<PathBuf>,
    pub hosts: Option<String>,
    pub inventory: Option<PathBuf>,
    pub ssh: SshFlags,
    pub parallel: usize,
    /// `--timeout`: the per-operation timeout; `None` for no limit.
    pub timeout: Option<Duration>,
    pub fail_fast: bool,
    pub steps: Option<Vec<String>>,
    pub progress: ProgressMode,
    pub color: ColorWhen,
    pub events: Option<String>,
    /// `--metrics`: where events are pushed.
    pub metrics: Vec<SinkUrl>,
    pub sudo_password_stdin: bool,
    pub quiet: bool,
    pub verbose: u8,
    pub dry_run: bool,
    /// `--diff`: show what a run would change, change nothing.
    pub diff: bool,
    pub resume: bool,
    /// `--push`: run the binary on each host itself.
    pub push: bool,
    /// `--push-child`: this process is the binary `--push` started on a
    /// host, and reads its run from standard input.
    pub push_child: bool,
    /// `--check`, with its report format, retries and manifest.
    pub check: Option<CheckFlags>,
    /// Kwarg name → the values given on the command line (empty for a set bool flag).
    pub flags: Vec<(String, Vec<String>)>,
    /// `--serve` and the other flags of peer mode.
    pub peer: off_discovery::PeerFlags,
    /// `--completions SHELL`, `--man`: print and exit.
    pub describe: SelfDescriptionFlags,
}

/// What `--check` was asked for.
#[derive(Debug, Clone)]
pub(crate) struct CheckFlags {
    pub format: crate::check::ReportFormat,
    pub retry: Option<crate::check::Retry>,
    pub manifest: Option<PathBuf>,
}

/// `--timeout` when not given: long enough for the slowest ordinary
/// operation (a large `apt-get install` on a slow mirror, a database
/// restore), short enough that a hung command ends the run the same day.
pub(crate) const DEFAULT_TIMEOUT: &str = "1h";

/// `--timeout`: a duration (`90s`, `10m`, `2h`; a bare number is seconds),
/// or `none` or `0` for no limit.
pub(crate) fn parse_timeout(text: &str) -> Result<Option<Duration>, String> {
    if text.trim() == "none" {
        return Ok(None);
    }
    let after = crate::check::parse_duration(text)?;
    Ok((!after.is_zero()).then_some(after))
}

// The built-in flags of every recipe binary, in the order --help lists
// them; the shared ones are flattened from `crate::flags` and
// `crate::check::flags`. A `//` comment, not a doc comment: that would
// become the recipe's `about`.
#[derive(clap::Args, Debug, Clone)]
struct BuiltinFlags {
    /// Kwargs from a YAML, JSON or TOML file
    #[arg(short = 'c', long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    targets: TargetFlags,
    #[command(flatten)]
    ssh: SshFlags,
    #[command(flatten)]
    parallel: ParallelFlags,
    /// Stop every host once one fails
    #[arg(long)]
    fail_fast: bool,
    /// Kill a command still running after this long, and fail with exit 4 (90s, 10m, 2h; none: no limit); settings(timeout) in the recipe overrides it
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout_flag, default_value = DEFAULT_TIMEOUT)]
    timeout: Timeout,
    /// Run only these steps (comma-separated), in recipe order
    #[arg(long, value_name = "STEPS")]
    steps: Option<String>,
    /// Progress display
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = ["auto", "bar", "lines", "none"])]
    progress: String,
    /// Color the bars, the summary and this help: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    color: String,
    /// Write one NDJSON event per operation (and per run and host) to FILE (- for stdout); see docs/metrics.md
    #[arg(long, value_name = "FILE")]
    events: Option<String>,
    #[command(flatten)]
    metrics: MetricsFlags,
    /// Print every operation with its rendered command; run nothing
    #[arg(long)]
    dry_run: bool,
    /// Read each host and show what a run would change there (a diff of every file, the commands that would run); change nothing. Exit 1 when something would change
    #[arg(long, conflicts_with_all = ["dry_run", "check"])]
    diff: bool,
    /// Start each host at the first step it did not complete in the last run
    #[arg(long)]
    resume: bool,
    /// Copy this binary to each host (once, cached by its sha256) and run it there: an operation then costs a fork on the host instead of a network round trip; see docs/push.md
    #[arg(long, conflicts_with_all = ["diff", "serve"])]
    push: bool,
    // The binary `--push` started on a host: its run comes on standard input.
    #[arg(long, hide = true)]
    push_child: bool,
    /// Verify the hosts against the spec derived from this recipe and its kwargs; change nothing
    #[arg(long, help_heading = "Checking (--check)")]
    check: bool,
    #[command(flatten, next_help_heading = "Checking (--check)")]
    check_run: CheckRunFlags,
    /// Also check the spec of this off.yaml (generated block + overrides)
    #[arg(
        long,
        value_name = "FILE",
        requires = "check",
        help_heading = "Checking (--check)"
    )]
    manifest: Option<PathBuf>,
    // Peer mode's flags, shared with offconsensus.
    #[command(flatten, next_help_heading = "Peer mode (--serve HOST:PORT)")]
    peer: off_discovery::PeerFlags,
    // Back to the main list: the heading above would carry on.
    #[command(flatten, next_help_heading = None::<&str>)]
    sudo: SudoFlags,
    #[command(flatten)]
    describe: SelfDescriptionFlags,
    /// Do not echo commands and their output
    #[arg(short, long)]
    quiet: bool,
    /// More output
    #[arg(short, long, action = ArgAction::Count)]
    verbose: u8,
}

/// `--timeout`'s value: `None` for no limit.
#[derive(Debug, Clone, Copy)]
struct Timeout(Option<Duration>);

fn parse_timeout_flag(text: &str) -> Result<Timeout, String> {
    parse_timeout(text).map(Timeout)
}

/// clap (without its `string` feature) wants `&'static str` names; the
/// command is built once per process, so leaking a few short strings is fine.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn kwarg_id(name: &str) -> String {
    format!("kwarg:{name}")
}

/// "2 run, 3 sudo".
pub(crate) fn plan_text(plan: &[(&str, u64)]) -> String {
    if plan.is_empty() {
        return "no operations".to_string();
    }
    let parts: Vec<String> = plan.iter().map(|(k, n)| format!("{n} {k}")).collect();
    parts.join(", ")
}

fn after_help(spec: &RecipeSpec) -> String {
    let width = spec.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut text = String::from("Steps (run in this order; select with --steps):\n");
    for step in spec.steps {
        let docs = step.docs.lines().next().unwrap_or("");
        text.push_str(&format!(
            "  {:width$}  {docs} [{}]\n",
            step.name,
            plan_text(step.plan)
        ));
    }
    text
}

/// A default as the user would type it on the command line, from the Rust
/// source of `#[arg(default = …)]`: `"localhost"` is `localhost`,
/// `AptSource::Distribution` is `distribution` (the kebab-case spelling
/// enums parse, as clap's `ValueEnum` does). `None` for any other
/// expression, which --help then leaves out rather than show Rust.
pub(crate) fn default_as_typed(source: &str) -> Option<String> {
    if let Some(text) = super::args::literal_text(source) {
        return Some(text);
    }
    let variant = source.trim().rsplit("::").next()?.trim();
    let is_path = source.contains("::")
        && variant.starts_with(|c: char| c.is_ascii_uppercase())
        && variant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_path {
        return None;
    }
    let mut kebab = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            kebab.push('-');
        }
        kebab.push(if c == '_' {
            '-'
        } else {
            c.to_ascii_lowercase()
        });
    }
    Some(kebab)
}

/// Said at the top of `--help`, so that nobody deploys to the machine they
/// are on by forgetting `-H`.
const LOCAL_BY_DEFAULT: &str =
    "Runs on this machine unless -H or --inventory names hosts (-H local says so explicitly).";

/// The clap command for `spec`.
pub(crate) fn command(spec: &'static RecipeSpec) -> Command {
    let mut cmd = Command::new(spec.name)
        .about(format!("{}\n\n{LOCAL_BY_DEFAULT}", spec.about.trim_end()))
        .after_help(after_help(spec))
        .next_help_heading("Recipe parameters");
    for p in spec.params {
        let long = kwarg_name::long(p.name);
        let mut help = p.docs.trim().to_string();
        if let Some(default) = p.default.and_then(default_as_typed) {
            help.push_str(&format!(" [default: {default}]"));
        }
        let env = p
            .env
            .map(str::to_string)
            .unwrap_or_else(|| kwarg_name::default_env_var(p.name));
        help.push_str(&format!(" [env: {env}]"));
        let mut arg = Arg::new(leak(kwarg_id(p.name)))
            .long(leak(long.clone()))
            .help(help.trim_start().to_string())
            .hide(p.hide);
        if long != p.name {
            arg = arg.alias(p.name);
        }
        if let Some(short) = p.short {
            arg = arg.short(short);
        }
        // What a value is, not its Rust type: `--version <VERSION>`.
        let value_name = leak(p.name.to_ascii_uppercase());
        arg = match p.kind {
            ParamKind::Bool => arg.action(ArgAction::SetTrue),
            ParamKind::Vec => arg.action(ArgAction::Append).value_name(value_name),
            ParamKind::Plain | ParamKind::Option => {
                arg.action(ArgAction::Set).value_name(value_name)
            }
        };
        cmd = cmd.arg(arg);
    }
    cmd = BuiltinFlags::augment_args(cmd.next_help_heading(None::<&'static str>))
        // Here the check flags only mean something with --check (their help
        // is offcheck's, defined once in off_check::flags).
        .mut_arg("format", |a| a.requires("check"))
        .mut_arg("retry_timeout", |a| a.requires("check"))
        // A recipe's own kwargs may be called `role` (postgres's is): peer mode's is
        // `--serve-role` here, and needs --serve.
        .mut_arg("role", |a| {
            a.long("serve-role")
                .visible_alias("serve_role")
                .help("The role this node asks for in the cluster: master, slave, or auto (the first member is the master)")
                .requires("serve")
        })
        .mut_arg("serve", |a| {
            a.help("Run this recipe on this node as a member of a cluster: serve the peer endpoint on HOST:PORT (and only there), agree with the other nodes on a membership list and a master, then run with the kwargs the membership gives (the master first)")
        });
    cmd
}

/// Parses `argv` (with the program name first). A clap error exits 0 for
/// `--help`/`--version` and 2 for usage errors when `.exit()`ed.
pub(crate) fn parse_argv(
    spec: &'static RecipeSpec,
    argv: impl IntoIterator<Item = impl Into<OsString> + Clone>,
) -> Result<Options, clap::Error> {
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let mut cmd = command(spec).color(color::from_argv(&argv).clap());
    let m = cmd.try_get_matches_from_mut(argv)?;
    let builtin = BuiltinFlags::from_arg_matches(&m)?;
    let mut flags = Vec::new();
    for p in spec.params {
        let id = kwarg_id(p.name);
        match p.kind {
            ParamKind::Bool => {
                if m.get_flag(&id) {
                    flags.push((p.name.to_string(), Vec::new()));
                }
            }
            _ => {
                if let Some(values) = m.get_many::<String>(&id) {
                    flags.push((p.name.to_string(), values.cloned().collect()));
                }
            }
        }
    }
    let progress = match builtin.progress.as_str() {
        "bar" => ProgressMode::Bar,
        "lines" => ProgressMode::Lines,
        "none" => ProgressMode::None,
        _ => ProgressMode::Auto,
    };
    Ok(Options {
        config: builtin.config,
        hosts: builtin.targets.hosts,
        inventory: builtin.targets.inventory,
        ssh: builtin.ssh,
        parallel: builtin.parallel.parallel,
        fail_fast: builtin.fail_fast,
        timeout: builtin.timeout.0,
        steps: builtin.steps.map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        }),
        progress,
        color: ColorWhen::parse(&builtin.color),
        events: builtin.events,
        metrics: builtin.metrics.metrics,
        sudo_password_stdin: builtin.sudo.sudo_password_stdin,
        describe: builtin.describe,
        quiet: builtin.quiet,
        verbose: builtin.verbose,
        dry_run: builtin.dry_run,
        diff: builtin.diff,
        resume: builtin.resume,
        push: builtin.push,
        push_child: builtin.push_child,
        check: builtin.check.then(|| CheckFlags {
            format: builtin.check_run.report_format(),
            retry: builtin.check_run.retry(),
            manifest: builtin.manifest,
        }),
        flags,
        peer: builtin.peer,
    })
}

/// The indices of the steps to run, in declaration order: all of them, or
/// those named by `--steps`.
pub(crate) fn select_steps(
    spec: &RecipeSpec,
    names: Option<&[String]>,
) -> Result<Vec<usize>, super::ArgErrors> {
    let Some(names) = names else {
        return Ok((0..spec.steps.len()).collect());
    };
    let mut errors = super::ArgErrors::default();
    for name in names {
        if spec.steps.iter().all(|s| s.name != name.as_str()) {
            let known: Vec<&str> = spec.steps.iter().map(|s| s.name).collect();
            let hint = did_you_mean(name, known.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            errors.0.push(ArgError(format!(
                "unknown step `{name}` in --steps; {hint}(steps: {})",
                known.join(", ")
            )));
        }
    }
    errors.finish()?;
    Ok((0..spec.steps.len())
        .filter(|&i| names.iter().any(|n| n == spec.steps[i].name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::args::tests::SPEC;

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        parse_argv(&SPEC, std::iter::once("demo").chain(args.iter().copied()))
    }

    #[test]
    fn kwargs_accept_dashes_and_underscores() {
        let o = parse(&[
            "--listen-addresses",
            "a",
            "--peers",
            "x",
            "--peers=y",
            "--ssl",
            "-H",
            "h1,h2",
            "--steps",
            "configure",
        ])
        .unwrap();
        assert_eq!(
            o.flags,
            [
                ("listen_addresses".to_string(), vec!["a".to_string()]),
                ("ssl".to_string(), vec![]),
                ("peers".to_string(), vec!["x".to_string(), "y".to_string()]),
            ]
        );
        assert_eq!(o.hosts.as_deref(), Some("h1,h2"));
        assert_eq!(o.parallel, 10);
        let o = parse(&[
            "--listen_addresses",
            "b",
            "-q",
            "-vv",
            "--progress",
            "lines",
        ])
        .unwrap();
        assert_eq!(o.flags[0].1, ["b"]);
        assert!(o.quiet);
        assert_eq!(o.verbose, 2);
        assert_eq!(o.progress, ProgressMode::Lines);
    }

    #[test]
    fn usage_errors_exit_2() {
        assert_eq!(parse(&["--nope"]).unwrap_err().exit_code(), 2);
        assert_eq!(parse(&["--progress", "fancy"]).unwrap_err().exit_code(), 2);
        assert_eq!(parse(&["--kv", "zk://z/off"]).unwrap_err().exit_code(), 2);
        assert!(
            parse(&["--check", "--format", "tap"])
                .unwrap()
                .check
                .is_some()
        );
        assert_eq!(parse(&["--format", "tap"]).unwrap_err().exit_code(), 2);
        assert_eq!(
            parse(&["--check", "--retry-timeout", "soon"])
                .unwrap_err()
                .exit_code(),
            2
        );
        assert!(parse(&["--resume"]).unwrap().resume);
        let help = command(&SPEC).render_long_help().to_string();
        assert!(
            help.contains("install    Install. [2 run, 3 sudo]"),
            "{help}"
        );
        assert!(help.contains("--peers <PEERS>"), "{help}");
        assert!(help.contains("--standby <STANDBY>"), "{help}");
    }

    #[test]
    fn help_shows_values_as_a_user_types_them() {
        static PARAMS: [crate::driver::ParamSpec; 3] = [
            crate::driver::ParamSpec {
                name: "apt_source",
                ty: "AptSource",
                kind: ParamKind::Plain,
                docs: "Where packages come from",
                default: Some("AptSource::Distribution"),
                short: None,
                env: None,
                hide: false,
            },
            crate::driver::ParamSpec {
                name: "version",
                ty: "u32",
                kind: ParamKind::Plain,
                docs: "Major version",
                default: Some("15"),
                short: None,
                env: None,
                hide: false,
            },
            crate::driver::ParamSpec {
                name: "wait",
                ty: "Duration",
                kind: ParamKind::Plain,
                docs: "How long",
                default: Some("Duration::from_secs(5)"),
                short: None,
                env: None,
                hide: false,
            },
        ];
        static HELP_SPEC: RecipeSpec = RecipeSpec {
            name: "demo",
            about: "A demo.",
            params: &PARAMS,
            steps: &[],
            checks: crate::driver::CheckAnnotations::NONE,
            peers: None,
        };
        let help = command(&HELP_SPEC).render_long_help().to_string();
        assert!(help.contains("--apt-source <APT_SOURCE>"), "{help}");
        assert!(help.contains("[default: distribution]"), "{help}");
        assert!(help.contains("--version <VERSION>"), "{help}");
        assert!(help.contains("[default: 15]"), "{help}");
        assert!(!help.contains("::"), "{help}");
        assert!(!help.contains("<u32>"), "{help}");
        assert_eq!(
            default_as_typed("\"localhost\"").as_deref(),
            Some("localhost")
        );
        assert_eq!(
            default_as_typed("WalLevel::HotStandby").as_deref(),
            Some("hot-standby")
        );
        assert_eq!(default_as_typed("Duration::from_secs(5)"), None);
        assert_eq!(default_as_typed("vec![1]"), None);
    }

    #[test]
    fn timeout_defaults_to_an_hour_and_none_disables_it() {
        assert_eq!(parse(&[]).unwrap().timeout, Some(Duration::from_secs(3600)));
        let timeout = |value: &str| parse(&["--timeout", value]).map(|o| o.timeout);
        assert_eq!(timeout("90s").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(timeout("10m").unwrap(), Some(Duration::from_secs(600)));
        assert_eq!(timeout("2.5").unwrap(), Some(Duration::from_millis(2500)));
        assert_eq!(timeout("none").unwrap(), None);
        assert_eq!(timeout("0").unwrap(), None);
        let e = timeout("abc").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = e.to_string();
        assert!(
            e.contains("invalid value 'abc' for '--timeout <DURATION>'"),
            "{e}"
        );
        let help = command(&SPEC).render_long_help().to_string();
        assert!(help.contains("--timeout <DURATION>"), "{help}");
        assert!(help.contains("[default: 1h]"), "{help}");
        assert!(help.contains("--host-key-policy <POLICY>"), "{help}");
        assert!(help.contains("--known-hosts <FILE>"), "{help}");
    }

    #[test]
    fn built_in_flags_reach_the_options() {
        let o = parse(&[
            "-c",
            "cfg.yaml",
            "-H",
            "db1,db2",
            "--parallel",
            "3",
            "--fail-fast",
            "--steps",
            "b, a",
            "--progress",
            "lines",
            "--events",
            "-",
            "--dry-run",
            "--resume",
            "--sudo-password-stdin",
            "-q",
            "-vv",
        ])
        .unwrap();
        assert_eq!(o.config, Some(PathBuf::from("cfg.yaml")));
        assert_eq!(o.hosts.as_deref(), Some("db1,db2"));
        assert_eq!(o.parallel, 3);
        assert!(o.fail_fast && o.dry_run && o.resume && o.sudo_password_stdin && o.quiet);
        assert_eq!(o.steps, Some(vec!["b".to_string(), "a".to_string()]));
        assert!(matches!(o.progress, ProgressMode::Lines));
        assert_eq!(o.events.as_deref(), Some("-"));
        assert_eq!(o.verbose, 2);
        assert!(o.check.is_none());
        let defaults = parse(&[]).unwrap();
        assert_eq!(defaults.parallel, 10);
        assert!(matches!(defaults.progress, ProgressMode::Auto));
        assert!(!defaults.fail_fast && !defaults.quiet && defaults.verbose == 0);
    }

    #[test]
    fn help_starts_with_the_recipe_s_about() {
        let help = command(&SPEC).render_help().to_string();
        assert!(help.starts_with("A demo.\n"), "{help}");
    }

    #[test]
    fn check_flags_need_check_and_are_listed_under_it() {
        let o = parse(&["--check", "--format", "tap", "--retry-timeout", "30s"]).unwrap();
        let check = o.check.unwrap();
        assert_eq!(check.format, crate::check::ReportFormat::Tap);
        assert_eq!(
            check.retry,
            Some(crate::check::Retry {
                timeout: Duration::from_secs(30),
                sleep: Duration::from_secs(1)
            })
        );
        for without_check in [
            &["--format", "json"][..],
            &["--retry-timeout", "1m"],
            &["--manifest", "off.yaml"],
        ] {
            let e = parse(without_check).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{without_check:?}");
            assert!(e.to_string().contains("--check"), "{e}");
        }
        let help = command(&SPEC).render_help().to_string();
        let (main, checking) = help.split_once("Checking (--check):").unwrap();
        assert!(checking.contains("Report format of the check"), "{help}");
        assert!(checking.contains("--manifest <FILE>"), "{help}");
        assert!(main.contains("--sudo-password-stdin"), "{help}");
        assert!(
            main.contains("a host's vars are its kwargs (a recipe)"),
            "{help}"
        );
    }

    #[test]
    fn steps_run_in_recipe_order_and_unknown_names_are_errors() {
        let names = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(select_steps(&SPEC, None).unwrap(), [0, 1]);
        assert_eq!(
            select_steps(&SPEC, Some(&names(&["configure", "install"]))).unwrap(),
            [0, 1]
        );
        let e = select_steps(&SPEC, Some(&names(&["instal"]))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "error: unknown step `instal` in --steps; did you mean `install`? (steps: install, configure)\n"
        );
    }
}
