//! The rules by which off reads the words of its inputs, each defined once
//! and applied the same wherever the input is read: in a recipe's
//! attributes at compile time (off-analysis), in a check spec, `off.yaml`,
//! an inventory or on a command line at run time.
//!
//! Kept apart and free of heavy dependencies so that the macro backend and
//! the run-time crates share these rules without sharing anything else.

mod duration;
mod kwarg;
mod mode;
mod names;
mod package;
pub mod placeholder;
mod service;

pub use duration::parse_duration;
pub use kwarg::ParamKind;
pub use mode::{Mode, ModeError};
pub use names::did_you_mean;
pub use package::{is_package_name, is_package_version};
pub use service::ServiceState;
