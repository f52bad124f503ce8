//! `--check`: verifies hosts against the spec the recipe derives from its
//! own code.
//!
//! The recipe first runs as a dry run ([`crate::dry_run`]) with each host's
//! kwargs, touching nothing. What it would leave behind becomes the spec: the
//! files it writes, with the sha256 of exactly what these kwargs render (and
//! their mode and owner when the recipe sets them), the services it leaves
//! running, stopped, enabled or disabled, and the packages it installs. The
//! `#[recipe(check(...))]` annotations are added, their `{param}` placeholders
//! filled with the kwargs' values, and `--manifest off.yaml` merges the
//! manifest's `overrides` over the result (its generated block, a static
//! approximation of the same spec, is not used). The check engine then
//! gathers everything on each host in one round trip.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::{CheckAnnotations, Prepared, RawArgs, RecipeSpec, run_steps};
use crate::Secret;
use crate::check::{
    CheckOptions, CheckSpec, FileCheck, FileKind, PackageCheck, ServiceCheck, ServiceState,
};
use crate::dry_run::{DryRun, HostEffects, WrittenFile};
use crate::error::exit_code;
use crate::executor::Executor;
use crate::manifest::Manifest;
use crate::ops::ServiceAction;
use crate::report::Console;

/// `--check`: derives each host's spec from a dry run of the recipe with
/// its kwargs and verifies the hosts against it.
pub(super) fn check_hosts(
    spec: &'static RecipeSpec,
    mut prepared: Prepared,
    sudo_password: Option<Secret>,
) -> ExitCode {
    // With `--events -` standard output carries the report: the events go to the sinks only.
    let ndjson = match prepared.options.events.as_deref() {
        Some("-") => None,
        _ => prepared
            .events
            .take()
            .map(|e| e as Box<dyn std::io::Write + Send>),
    };
    prepared.events = None;
    if prepared.targets.is_empty() {
        eprintln!("{}", super::local_target_line(spec, "checking"));
    }
    let flags = prepared.options.check.clone().expect("--check was given");
    let dry_run = DryRun::new();
    let derivation = Executor::new(prepared.targets.clone())
        .observer(Arc::new(Console::new(false)))
        .dry_run(dry_run.clone())
        .run(|| run_steps(spec, &prepared, &|_, _| {}));
    let names: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
    let mut jobs = Vec::new();
    for host in &derivation.hosts {
        let target = &host.target;
        let derived = host
            .result
            .as_ref()
            .map_err(|e| format!("cannot derive the check spec of the recipe: {e}"))
            .and_then(|()| {
                let raw = prepared
                    .raw_per_host
                    .get(target)
                    .or(prepared.raw.as_ref())
                    .ok_or_else(|| format!("[{target}] no kwargs for this host"))?;
                let value = |name: &str| raw.text(name);
                let mut derived = derive_spec(&spec.checks, &dry_run.effects(target), &value)?;
                if let Some(path) = &flags.manifest {
                    derived = with_manifest(&derived, path, raw, &names)?;
                }
                derived
                    .validate()
                    .map_err(|(field, reason)| format!("derived check spec, {field}: {reason}"))?;
                Ok(derived)
            });
        match derived {
            Ok(derived) => jobs.push((target.clone(), derived)),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(exit_code::USAGE);
            }
        }
    }
    let options = CheckOptions {
        ssh: prepared.ssh.clone(),
        sudo_password: sudo_password.clone(),
        parallel: prepared.options.parallel,
        retry: flags.retry,
        ..Default::default()
    };
    let publisher = crate::metrics::Publisher::new(
        spec.name,
        ndjson,
        crate::metrics::Metrics::start(
            &prepared.options.metrics,
            crate::metrics::pipeline::stderr_warn(),
        ),
        Box::new(crate::transport::values_to_redact),
    );
    let run = crate::check::run(jobs, &options);
    for event in crate::check::events::check_events(&run) {
        publisher.publish(event);
    }
    super::stdout_text(&run.render(flags.format));
    for host in &run.hosts {
        if let Some(e) = &host.error {
            eprintln!("error: {e}");
        }
    }
    // A file that differs from what the recipe writes: show how.
    let drifted: Vec<crate::Target> = run
        .hosts
        .iter()
        .filter(|h| h.error.is_none())
        .filter(|h| h.items.iter().any(|i| i.resource == "config" && !i.ok))
        .map(|h| h.target.clone())
        .collect();
    super::diff::diff_drifted(spec, &prepared, &drifted, sudo_password);
    publisher.finish();
    ExitCode::from(run.exit_code())
}

/// The spec for one host: its recorded `effects`, then the annotations with
/// placeholders looked up in `value` ([`CheckSpec::add_annotations`]).
/// Errors name the annotation.
fn derive_spec(
    annotations: &CheckAnnotations,
    effects: &HostEffects,
    value: &dyn Fn(&str) -> Option<String>,
) -> Result<CheckSpec, String> {
    let mut spec = CheckSpec {
        config: effects.files.iter().map(file_check).collect(),
        service: effects
            .services
            .iter()
            .map(|(name, action)| ServiceCheck {
                name: name.clone(),
                state: state_after(*action),
            })
            .collect(),
        package: effects
            .packages
            .iter()
            .map(|p| PackageCheck::pinned(p))
            .collect::<Result<_, _>>()?,
        ..CheckSpec::default()
    };

    spec.add_annotations(annotations, value)?;
    Ok(spec)
}

/// What the check expects of a path the recipe manages: a removed one
/// absent; a directory with its mode and owner; a file with its content's
/// checksum (unless a secret's) or the lines `append` adds.
fn file_check(f: &WrittenFile) -> FileCheck {
    if !f.exists {
        return FileCheck {
            path: f.path.clone(),
            exists: false,
            ..FileCheck::default()
        };
    }
    let kind = if f.directory {
        Some(FileKind::Directory)
    } else if f.sha256.is_some() || !f.lines.is_empty() {
        Some(FileKind::File)
    } else {
        None
    };
    FileCheck {
        path: f.path.clone(),
        sha256: f.sha256.clone(),
        mode: f.mode,
        owner: f.owner.clone(),
        group: f.group.clone(),
        kind,
        contains: f.lines.clone(),
        ..FileCheck::default()
    }
}

/// The state a service is left in by the last action on it.
fn state_after(action: ServiceAction) -> ServiceState {
    ServiceState::after_action(action.verb()).expect("every action's verb leaves a state")
}

/// `derived` with the `overrides` of the manifest at `path` merged over it
/// (matched by path, name or value, as over the manifest's own generated
/// block), placeholders filled from `raw`.
fn with_manifest(
    derived: &CheckSpec,
    path: &Path,
    raw: &RawArgs,
    names: &[&str],
) -> Result<CheckSpec, String> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --manifest {origin}: {e}"))?;
    let manifest = Manifest::parse(&text, &origin).map_err(|e| e.to_string())?;
    let values: HashMap<String, String> = names
        .iter()
        .filter_map(|n| Some((n.to_string(), raw.text(n)?)))
        .collect();
    let base = serde_json::to_value(derived).map_err(|e| e.to_string())?;
    let (merged, warnings) = manifest
        .check_spec_over(&base, &values)
        .map_err(|e| e.to_string())?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    CheckSpec::from_value(&merged, &origin).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use off_input::annotations::{AliveAnnotation, ServiceAnnotation, VersionAnnotation};
    use std::borrow::Cow;
    use std::time::Duration;

    static ANNOTATIONS: CheckAnnotations = CheckAnnotations {
        version: Some(VersionAnnotation::new(
            "psql --version",
            Some(r"(\d+\.\d+)"),
            Some("{version}"),
        )),
        alive: Cow::Borrowed(&[AliveAnnotation::new(
            "/bin/sh",
            "pg_isready -p {port}",
            0,
            Some(Duration::from_millis(5000)),
        )]),
        os: Cow::Borrowed(&[Cow::Borrowed("Debian 12")]),
        services: Cow::Borrowed(&[ServiceAnnotation::new("postgresql", ServiceState::Running)]),
        ports: Cow::Borrowed(&[5432]),
        packages: Cow::Borrowed(&[Cow::Borrowed("postgresql-{version}")]),
    };

    fn values(name: &str) -> Option<String> {
        match name {
            "version" => Some("15".into()),
            "port" => Some("5433".into()),
            _ => None,
        }
    }

    #[test]
    fn effects_and_annotations_make_the_spec() {
        let effects = HostEffects {
            files: vec![WrittenFile {
                mode: Some(0o640),
                owner: Some("postgres".into()),
                ..WrittenFile::new("/etc/pg.conf", b"port = 5433\n")
            }],
            services: vec![("postgresql".into(), ServiceAction::Stop)],
            packages: vec!["postgresql-15".into(), "curl=7.88".into()],
            ..HostEffects::default()
        };
        let spec = derive_spec(&ANNOTATIONS, &effects, &values).unwrap();
        assert_eq!(spec.config.len(), 1);
        assert_eq!(spec.config[0].mode, Some(0o640));
        assert_eq!(
            spec.config[0].sha256,
            WrittenFile::new("", b"port = 5433\n").sha256
        );
        // The annotation wins over the state the last action implies.
        assert_eq!(
            spec.service,
            [ServiceCheck {
                name: "postgresql".into(),
                state: ServiceState::Running
            }]
        );
        let packages: Vec<&str> = spec.package.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(packages, ["postgresql-15", "curl"]);
        assert!(spec.package[1].version.is_some());
        assert_eq!(spec.alive_script[0].cmd, "pg_isready -p 5433");
        assert_eq!(spec.alive_script[0].timeout, Duration::from_secs(5));
        let version = spec.version.as_ref().unwrap();
        assert!(version.expected.matches("15.8"));
        assert!(!version.expected.matches("16.1"));
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn appended_lines_directories_and_removed_paths_are_checked() {
        let dry = DryRun::new();
        let t = crate::Target::Local;
        dry.line(&t, "/srv/stages", "configured");
        dry.line(&t, "/srv/stages", "done");
        dry.directory(&t, "/srv/www", Some(0o750), Some("www".into()), None);
        dry.path_exists(&t, "/srv/www/index.html", false);
        let spec = derive_spec(&CheckAnnotations::NONE, &dry.effects(&t), &values).unwrap();
        let [stages, www, index] = &spec.config[..] else {
            panic!("{:?}", spec.config);
        };
        assert_eq!(stages.contains, ["configured", "done"]);
        assert_eq!(
            (stages.kind, stages.sha256.as_ref()),
            (Some(FileKind::File), None)
        );
        assert_eq!(
            (www.kind, www.mode),
            (Some(FileKind::Directory), Some(0o750))
        );
        assert_eq!(www.owner.as_deref(), Some("www"));
        assert!(!index.exists);
    }

    /// A kwarg's value in a command is one shell word, whatever it holds;
    /// in the expected version it is text.
    #[test]
    fn kwargs_in_commands_are_quoted() {
        let hostile = |name: &str| match name {
            "version" => Some("15".into()),
            "port" => Some("5433; touch /tmp/x".into()),
            _ => None,
        };
        let spec = derive_spec(&ANNOTATIONS, &HostEffects::default(), &hostile).unwrap();
        assert_eq!(
            spec.alive_script[0].cmd,
            "pg_isready -p '5433; touch /tmp/x'"
        );
        assert!(spec.version.unwrap().expected.matches("15.2"));

        static QUOTED: CheckAnnotations = CheckAnnotations {
            alive: Cow::Borrowed(&[AliveAnnotation::new(
                "/bin/sh",
                "pg_isready -p '{port}'",
                0,
                None,
            )]),
            ..CheckAnnotations::NONE
        };
        let err = derive_spec(&QUOTED, &HostEffects::default(), &values).unwrap_err();
        assert!(err.starts_with("#[recipe(check(alive))]"), "{err}");
        assert!(err.contains("`{port}` is inside single quotes"), "{err}");
    }

    #[test]
    fn a_placeholder_without_a_value_is_an_error_naming_it() {
        let none = |_: &str| None;
        let err = derive_spec(&ANNOTATIONS, &HostEffects::default(), &none).unwrap_err();
        assert!(err.contains("#[recipe(check(version))]"), "{err}");
        assert!(err.contains("no value for `{version}`"), "{err}");
    }
}
