//! `offcheck`: checks hosts against a spec, locally or over SSH.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use off_check::flags::CheckRunFlags;
use off_check::{self as check, CheckOptions, CheckSpec, SpecFormat, inventory};
use off_cli::SelfDescriptionFlags;
use off_error::{CliError, exit_code};
use off_manifest::{Manifest, scalar_text};
use off_metrics::{MetricsFlags, Publisher};
use off_transport::flags::{ParallelFlags, SshFlags, SudoFlags, TargetFlags};
use off_transport::{Secret, Target, interrupt, sudo_password, take_sudo_password_env};

const AFTER_HELP: &str = "\
Spec (YAML, or JSON for .json files; see docs/check.md):
  version: {cmd: \"psql --version\", expected: \">=15, <16\"}
  os: [Debian 12, Ubuntu 22.04]
  config:
  - {path: /etc/postgresql/15/main/postgresql.conf, sha256: 2100…, size: 22K, mode: \"0644\", owner: postgres}
  - {path: /etc/old.conf, exists: false}
  service:
  - postgresql: running            # running | stopped | enabled | disabled
  alive_script:
  - {shell: /bin/sh, cmd: pg_isready, exit_code: 0, timeout: 5s}
  port: [5432]
  package: [postgresql-15, {name: libpq5, version: \">=15\"}]
  command:
  - {cmd: \"id postgres\", exit_code: 0, stdout_contains: [postgres]}

Everything for one host is gathered by one script in one SSH round trip; as a
login user other than root it runs through sudo.

Examples:
  offcheck -c spec.yaml                           check this machine
  offcheck -c spec.yaml -H root@db1,deploy@db2:2222 --format junit > report.xml
  offcheck -c spec.yaml -H db1 --retry-timeout 2m --sleep 5s   wait for a deploy to settle

Exit codes: 0 every item passed; 1 drift, or a host not bootstrapped (none of
the spec's files, packages or services present); 2 bad spec or flags (nothing
was run); 3 a host unreachable or sudo refused; 4 --retry-timeout passed;
130 interrupted (Ctrl-C).";

/// Check hosts against a spec: files (checksum, size, mode, owner), services,
/// listening ports, packages, versions, OS and commands.
#[derive(Parser, Debug)]
#[command(name = "offcheck", version, after_help = AFTER_HELP)]
struct Args {
    /// The spec to check (YAML, or JSON for a .json file), or a recipe's off.yaml
    #[arg(
        short = 'c',
        long = "config",
        value_name = "SPEC",
        required_unless_present_any = ["completions", "man"]
    )]
    spec: Option<PathBuf>,
    #[command(flatten)]
    targets: TargetFlags,
    #[command(flatten)]
    ssh: SshFlags,
    #[command(flatten)]
    check: CheckRunFlags,
    #[command(flatten)]
    parallel: ParallelFlags,
    #[command(flatten)]
    sudo: SudoFlags,
    #[command(flatten)]
    metrics: MetricsFlags,
    #[command(flatten)]
    describe: SelfDescriptionFlags,
}

fn main() -> ExitCode {
    // SAFETY: first thing in `main`, before any thread has started.
    let env_password = unsafe { take_sudo_password_env() };
    interrupt::install();
    let code = check(env_password).unwrap_or_else(CliError::report);
    if interrupt::interrupted() {
        return ExitCode::from(exit_code::INTERRUPTED);
    }
    code
}

fn check(env_password: Option<Secret>) -> Result<ExitCode, CliError> {
    let args = Args::parse();
    if args
        .describe
        .print(<Args as clap::CommandFactory>::command())
        .map_err(CliError::failed)?
    {
        return Ok(ExitCode::SUCCESS);
    }
    let jobs = jobs(&args).map_err(CliError::usage)?;
    let ssh = args.ssh.options().map_err(CliError::usage)?;
    let sudo_password =
        sudo_password(args.sudo.sudo_password_stdin, env_password).map_err(CliError::usage)?;
    let options = CheckOptions {
        ssh,
        sudo_password,
        parallel: args.parallel.parallel,
        retry: args.check.retry(),
        ..CheckOptions::default()
    };
    let publisher = Publisher::new(
        "offcheck",
        None,
        args.metrics.start(),
        Box::new(off_transport::values_to_redact),
    );
    let run = check::run(jobs, &options);
    for event in check::events::check_events(&run) {
        publisher.publish(event);
    }
    print!("{}", run.render(args.check.report_format()));
    for host in &run.hosts {
        if let Some(e) = &host.error {
            eprintln!("error: {e}");
        }
    }
    publisher.finish();
    Ok(ExitCode::from(run.exit_code()))
}

/// The `-c` file, read and parsed once: a plain spec, or a recipe's
/// `off.yaml` manifest (its generated block with the overrides merged).
enum SpecSource {
    Plain(CheckSpec),
    Manifest { manifest: Manifest, origin: String },
}

impl SpecSource {
    fn load(path: &Path) -> Result<SpecSource, String> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{origin}: cannot read the spec: {e}"))?;
        if !Manifest::is_manifest(&text) {
            let spec = CheckSpec::from_str(&text, SpecFormat::of_path(path), &origin)
                .map_err(|e| e.to_string())?;
            return Ok(SpecSource::Plain(spec));
        }
        let manifest = Manifest::parse(&text, &origin).map_err(|e| e.to_string())?;
        for warning in manifest.warnings() {
            eprintln!("warning: {warning}");
        }
        Ok(SpecSource::Manifest { manifest, origin })
    }

    /// The spec for a host with inventory `vars`: its `{name}`
    /// placeholders filled from them (for a manifest, else from the
    /// kwargs' defaults).
    fn spec(&self, vars: &serde_json::Map<String, serde_json::Value>) -> Result<CheckSpec, String> {
        match self {
            SpecSource::Plain(spec) => {
                let mut spec = spec.clone();
                spec.resolve(&|name| vars.get(name).map(scalar_text))
                    .map_err(|(field, message)| format!("{field}: {message}"))?;
                Ok(spec)
            }
            SpecSource::Manifest { manifest, origin } => {
                let values: HashMap<String, String> = vars
                    .iter()
                    .map(|(k, v)| (k.clone(), scalar_text(v)))
                    .collect();
                let value = manifest
                    .check_spec_value(&values)
                    .map_err(|e| e.to_string())?;
                CheckSpec::from_value(&value, &format!("{origin} (merged)"))
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Every target with its spec, or the first input error.
fn jobs(args: &Args) -> Result<Vec<(Target, CheckSpec)>, String> {
    let spec = args.spec.as_deref().expect("clap requires -c");
    let source = SpecSource::load(spec)?;
    let no_vars = serde_json::Map::new();
    let mut jobs: Vec<(Target, CheckSpec)> = Vec::new();
    if let Some(hosts) = &args.targets.hosts {
        let targets = Target::parse_list(hosts).map_err(|e| format!("-H: {e}"))?;
        let spec = source.spec(&no_vars)?;
        jobs.extend(targets.into_iter().map(|t| (t, spec.clone())));
    }
    if let Some(path) = &args.targets.inventory {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --inventory {shown}: {e}"))?;
        let hosts = inventory::parse(path, &text).map_err(|errors| errors.join("\nerror: "))?;
        for host in hosts {
            let in_host =
                |message: String| format!("--inventory {shown} host `{}`: {message}", host.name);
            let spec = source.spec(&host.vars).map_err(in_host)?;
            spec.validate()
                .map_err(|(field, message)| in_host(format!("{field}: {message}")))?;
            jobs.push((host.target, spec));
        }
    }
    if jobs.is_empty() {
        jobs.push((Target::Local, source.spec(&no_vars)?));
    }
    Ok(jobs)
}
