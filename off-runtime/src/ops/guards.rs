//! Fabric's context managers as RAII guards: `cd`, `lcd`, `shell_env`,
//! `settings`. Each pushes onto the current host's state and pops when the
//! guard is dropped at the end of its block.
//!
//! ```no_run
//! use off_runtime::prelude::*;
//! # fn main() -> Result<()> {
//! let _dir = cd("/var/lib/postgresql");
//! let _env = shell_env([("PGCONNECT_TIMEOUT", "5")]);
//! sudo_as("postgres", "psql -c 'select 1'")?;
//! # Ok(()) }
//! ```

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use crate::context::{HostContext, Settings, current};

/// Restores one piece of the host's state when dropped. Not `Send`: the
/// state it guards belongs to the thread that created it.
#[must_use = "the guard undoes its change when dropped: bind it with `let _guard = ...`"]
pub struct Guard {
    restore: fn(&mut HostContext, usize),
    depth: usize,
    _not_send: PhantomData<*const ()>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let (restore, depth) = (self.restore, self.depth);
        current(|c| restore(c, depth));
    }
}

fn guard(restore: fn(&mut HostContext, usize), depth: usize) -> Guard {
    Guard {
        restore,
        depth,
        _not_send: PhantomData,
    }
}

/// Joins `path` onto `base` the way `cd` in a shell would.
fn join(base: Option<&str>, path: &str) -> String {
    match base {
        Some(base) if !path.starts_with('/') && !path.starts_with('~') => {
            format!("{}/{path}", base.trim_end_matches('/'))
        }
        _ => path.to_string(),
    }
}

/// Runs the block's remote commands (`run`, `sudo`) in `path`; relative
/// paths nest inside an enclosing `cd`.
pub fn cd(path: impl AsRef<str>) -> Guard {
    current(|c| {
        let depth = c.cwd.len();
        let dir = join(c.cwd.last().map(String::as_str), path.as_ref());
        c.cwd.push(dir);
        guard(|c, depth| c.cwd.truncate(depth), depth)
    })
}

/// Runs the block's `local` commands in `path` (and resolves `put`/`get`
/// local paths against it).
pub fn lcd(path: impl AsRef<Path>) -> Guard {
    current(|c| {
        let depth = c.lcwd.len();
        let dir = match c.lcwd.last() {
            Some(base) => base.join(path.as_ref()),
            None => PathBuf::from(path.as_ref()),
        };
        c.lcwd.push(dir);
        guard(|c, depth| c.lcwd.truncate(depth), depth)
    })
}

/// Exports environment variables to the block's commands, `sudo` included.
/// A later `shell_env` of the same name wins.
pub fn shell_env<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Guard
where
    K: Into<String>,
    V: Into<String>,
{
    current(|c| {
        let depth = c.env.len();
        c.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        guard(|c, depth| c.env.truncate(depth), depth)
    })
}

/// Changes how the block's operations behave; see [`Settings`].
pub fn settings(settings: Settings) -> Guard {
    current(|c| {
        let depth = c.settings.len();
        c.settings.push(settings);
        guard(|c, depth| c.settings.truncate(depth), depth)
    })
}

/// The remote directory `cd` set, if any.
pub(crate) fn remote_cwd(c: &HostContext) -> Option<String> {
    c.cwd.last().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cd_nests_relative_paths_and_restores() {
        let outer = cd("/srv");
        {
            let _inner = cd("app");
            assert_eq!(current(|c| remote_cwd(c)).as_deref(), Some("/srv/app"));
            let _abs = cd("/etc");
            assert_eq!(current(|c| remote_cwd(c)).as_deref(), Some("/etc"));
        }
        assert_eq!(current(|c| remote_cwd(c)).as_deref(), Some("/srv"));
        drop(outer);
        assert_eq!(current(|c| remote_cwd(c)), None);
    }

    #[test]
    fn settings_inherit_unset_fields() {
        let _a = settings(Settings::new().warn_only(true));
        let _b = settings(Settings::new().quiet(true));
        let e = current(|c| c.effective());
        assert!(e.warn_only && e.quiet && e.timeout.is_none());
    }
}
