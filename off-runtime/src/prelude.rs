//! Everything a recipe uses: `use off_runtime::prelude::*;`.

pub use crate::Secret;
pub use crate::context::{Settings, current_host};
pub use crate::discovery::Membership;
pub use crate::driver::PeerKwargs;
pub use crate::error::{Error, Result};
pub use crate::executor::{Executor, RunReport};
pub use crate::ops::ServiceAction::{self, Disable, Enable, Reload, Restart, Start, Stop};
pub use crate::ops::{
    CommandExt, RemotePath, ShellCommand, append, cd, contains, exists, get, lcd, local, mkdir,
    package, put, remote_path, run, run_with_input, service, settings, shell_env, sudo, sudo_as,
    sudo_as_with_input, sudo_with_input, upload_template,
};
pub use crate::output::Output;
pub use crate::target::Target;
pub use crate::template::Template;
pub use crate::{sh, template};
pub use minijinja::context;
pub use off_input::Mode;
pub use off_macros::{recipe, step};
pub use std::time::Duration;
