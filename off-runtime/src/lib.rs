//! off: deployment recipes as ordinary Rust, with Fabric's verbs.
//!
//! ```no_run
//! use off_runtime::prelude::*;
//!
//! fn install(version: u32) -> Result<()> {
//!     sudo("apt-get update -qq")?;
//!     sudo(sh!("apt-get install -y postgresql-{version}"))?;
//!     Ok(())
//! }
//! ```
//!
//! Operations act on the current host: the local machine, or each target of
//! an [`Executor`] run (one thread per host). The layers, bottom up:
//! [`transport`] moves bytes (local processes, SSH), [`connection`] probes a
//! target once, [`ops`] gives Fabric's semantics on top of any transport,
//! and [`executor`] runs a task on many hosts.
//!
//! This is the one crate a recipe depends on. What lies below it is in
//! crates of its own, re-exported here under the paths it had before:
//!
//! - [`transport`], [`target`], [`connection`], [`flags`] (the SSH flags),
//!   [`interrupt`] (what Ctrl-C ends) and [`Secret`]: `off-transport`, the
//!   only crate of off with openssh and tokio;
//! - [`check`] and [`inventory`]: `off-check`, the check engine and the
//!   `offcheck` binary;
//! - [`manifest`]: `off-manifest`, a recipe's `off.yaml`;
//! - [`metrics`]: `off-metrics`, the typed events and their sinks (`--metrics`);
//! - [`shell`]: `off-shell`, shell quoting;
//! - [`error`]: `off-error`, [`Error`] and the exit codes.
//!
//! `cargo off` depends on `off-analysis` and `off-manifest` alone, so it
//! builds without openssh and tokio.

mod context;
mod diff;
#[doc(hidden)]
pub mod driver;
pub mod dry_run;
pub mod executor;
pub mod ops;
mod output;
pub mod prelude;
pub mod report;
mod service_action;
mod template;

pub use off_check as check;
pub use off_check::inventory;
pub use off_discovery as discovery;
pub use off_error as error;
pub use off_manifest as manifest;
pub use off_metrics as metrics;
pub use off_shell as shell;
pub use off_transport as transport;
pub use off_transport::{connection, flags, interrupt, target};

pub use context::{OpCounters, Settings, current_host};
pub use error::{Error, Result, exit_code};
pub use executor::{Executor, HostReport, RunReport};
pub use off_input::Mode;
pub use off_macros::{recipe, sh, step};
pub use off_transport::{SUDO_PASSWORD_ENV, Secret, sudo_password, take_sudo_password_env};
pub use output::Output;
pub use target::{SshTarget, Target};
pub use template::{Template, render_str};

/// Paths the generated code of off's macros uses; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::driver::{
        ArgErrors, Kwargs, ParamKind, ParamSpec, PeerMapping, RawArgs, RecipeSpec, StepSpec,
        recipe_main,
    };
    pub use crate::shell::quote_display;
    pub use ::clap;
    pub use ::serde;
    /// `#[recipe(check(...))]`, in the model the macro parsed it into.
    pub use off_input::annotations;
}
