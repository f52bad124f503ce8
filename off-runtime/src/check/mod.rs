//! Checking hosts against a spec (placeholder while the engine lands).

mod size;
mod spec;
mod version;

pub use size::{Size, SizeError};
pub use spec::*;
pub use version::{ConstraintError, VersionConstraint};
