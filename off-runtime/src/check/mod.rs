//! Checking hosts against a spec: files, services, ports, packages, versions,
//! commands — locally or over SSH, one round trip per host.
//!
//! ```no_run
//! use off_runtime::Target;
//! use off_runtime::check::{self, CheckOptions, CheckSpec, ReportFormat, SpecFormat};
//!
//! let spec = CheckSpec::from_str("port: [22]\nservice:\n- ssh: running\n", SpecFormat::Yaml, "spec.yaml")?;
//! let run = check::run(vec![(Target::Local, spec)], &CheckOptions::default());
//! print!("{}", run.render(ReportFormat::Yaml));
//! std::process::exit(run.exit_code().into());
//! # Ok::<(), off_runtime::check::SpecError>(())
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

mod engine;
mod evaluate;
mod report;
mod script;
mod serialize;
mod size;
mod spec;
mod version;

pub use engine::{CheckOptions, CheckRun, HostCheck, Retry, run};
pub use evaluate::ItemResult;
pub use report::ReportFormat;
pub use size::{Size, SizeError};
pub use spec::{
    AliveScript, CheckSpec, CommandCheck, FileCheck, PackageCheck, Pattern, PortCheck,
    ServiceCheck, ServiceState, SpecError, SpecFormat, VersionCheck, parse_duration,
};
pub use version::{ConstraintError, VersionConstraint};
