//! Checking hosts against a spec: files, services, ports, packages, versions,
//! commands — locally or over SSH, one round trip per host.
//!
//! ```no_run
//! use off_check::{CheckOptions, CheckSpec, ReportFormat, SpecFormat};
//! use off_transport::Target;
//!
//! let spec = CheckSpec::from_str("port: [22]\nservice:\n- ssh: running\n", SpecFormat::Yaml, "spec.yaml")?;
//! let run = off_check::run(vec![(Target::Local, spec)], &CheckOptions::default());
//! print!("{}", run.render(ReportFormat::Yaml));
//! std::process::exit(run.exit_code().into());
//! # Ok::<(), off_check::SpecError>(())
//! ```
//!
//! The layers: [`CheckSpec`] (what to check, from YAML/JSON or built in code),
//! a generated POSIX `sh` script that collects every fact in one go
//! (run through sudo for a login user that is not root), the comparison of
//! facts with the spec on the control machine ([`ItemResult`]), and the report
//! ([`CheckRun::render`]).
//!
//! Exit codes ([`CheckRun::exit_code`]): 0 every item passed, 1 drift or host
//! not bootstrapped, 3 unreachable (or sudo refused), 4 `--retry-timeout`
//! passed; a bad spec is exit 2 before anything runs.
//!
//! Also here: [`inventory`] files (the hosts of a run with their vars, read
//! by `offcheck` and the recipe binaries alike) and the
//! `offcheck` binary. off-runtime re-exports the crate as
//! `off_runtime::check` (and `off_runtime::inventory`); a recipe's `--check`
//! runs this engine on the spec its recipe derives.

mod engine;
mod evaluate;
pub mod flags;
pub mod inventory;
mod report;
mod script;
mod serialize;
mod size;
mod spec;
mod version;

pub use engine::{CheckOptions, CheckRun, HostCheck, Retry, run};
pub use evaluate::ItemResult;
/// Durations on the command line and in a spec, by the rule every input shares.
pub use off_input::parse_duration;
pub use report::ReportFormat;
pub use size::{Size, SizeError};
pub use spec::{
    AliveScript, CheckSpec, CommandCheck, FileCheck, FileKind, PackageCheck, Pattern, PortCheck,
    ServiceCheck, ServiceState, SpecError, SpecFormat, VersionCheck,
};
pub use version::{ConstraintError, VersionConstraint};
