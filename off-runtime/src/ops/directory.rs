//! `mkdir`: a directory the recipe manages, with its mode and owner, so
//! that a re-run knows whether it changed anything and `--check` verifies it
//! (a `run("mkdir -p …")` is neither).

use crate::error::{Error, Result};
use crate::output::Output;
use crate::shell::quote;

use super::files::RemotePath;
use super::{Command, Scope, operation};

/// Makes the directory `path` (and its missing parents, like `mkdir -p`)
/// and gives it the mode, owner and group of `path`'s options
/// (`remote_path(dir).mode(0o750).owner("postgres").sudo()`); parents get
/// the default mode and the writer's owner. Unchanged when the directory
/// already is as asked. A path that is a symbolic link or not a directory
/// is an error naming it.
pub fn mkdir(path: impl Into<RemotePath>) -> Result<Output> {
    let path = path.into();
    operation("mkdir", &path.path.clone(), |scope| {
        let dir = scope.remote_path(&path.path);
        if let Some(dry_run) = &scope.shared.dry_run {
            dry_run.directory(
                &scope.conn.target,
                &dir,
                path.mode,
                path.owner.clone(),
                path.group.clone(),
            );
        }
        let (script, changes) = match state(scope, &dir, &path)? {
            None => {
                let mut script = format!("mkdir -p -- {}", quote(&dir));
                script.push_str(&attributes(&dir, &path));
                (script, vec!["created".to_string()])
            }
            Some(state) => {
                let changes = state.changes(&path);
                if changes.is_empty() {
                    return Ok((Output::default(), false));
                }
                let script = attributes(&dir, &path);
                (script.trim_start_matches(" && ").to_string(), changes)
            }
        };
        if let Some(dry_run) = &scope.shared.dry_run {
            if dry_run.reads_hosts() {
                let shown = format!("{dir}/: {}", changes.join(", "));
                scope.shared.observer.message(&shown);
            }
            return Ok((Output::default(), true));
        }
        let out = scope.exec(Command::plumbing(
            "mkdir",
            &dir,
            &script,
            path_run_as(&path),
        ))?;
        if out.code != 0 {
            return Err(Error::File {
                host: scope.host().to_string(),
                op: "mkdir",
                path: dir,
                reason: out.stderr.trim().to_string(),
            });
        }
        Ok((
            Output {
                changed: true,
                ..Output::default()
            },
            true,
        ))
    })
}

fn path_run_as(path: &RemotePath) -> super::RunAs<'static> {
    if path.sudo {
        super::RunAs::Sudo("root")
    } else {
        super::RunAs::Login
    }
}

/// ` && chown … && chmod …` for the options `path` sets.
fn attributes(dir: &str, path: &RemotePath) -> String {
    let mut script = String::new();
    let chown = match (&path.owner, &path.group) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    };
    // -h: never through a link (the state check refused one already; this
    // holds if one is swapped in between).
    if let Some(chown) = chown {
        script.push_str(&format!(" && chown -h -- {} {}", quote(&chown), quote(dir)));
    }
    if let Some(mode) = path.mode {
        script.push_str(&format!(" && chmod -- {mode:o} {}", quote(dir)));
    }
    script
}

/// A directory's mode and owner on the host.
struct DirState {
    mode: u32,
    uid: String,
    owner: String,
    gid: String,
    group: String,
}

impl DirState {
    /// What making `path` as asked would change: `mode 0755 -> 0750`, ….
    fn changes(&self, path: &RemotePath) -> Vec<String> {
        let mut changes = Vec::new();
        if let Some(mode) = path.mode
            && mode != self.mode
        {
            changes.push(format!("mode {:04o} -> {mode:04o}", self.mode));
        }
        if let Some(owner) = &path.owner
            && *owner != self.owner
            && *owner != self.uid
        {
            changes.push(format!("owner {} -> {owner}", self.owner));
        }
        if let Some(group) = &path.group
            && *group != self.group
            && *group != self.gid
        {
            changes.push(format!("group {} -> {group}", self.group));
        }
        changes
    }
}

/// The directory at `dir`, `None` when absent; an error when something
/// else is there.
fn state(scope: &Scope, dir: &str, path: &RemotePath) -> Result<Option<DirState>> {
    let script = format!(
        "if [ -L {p} ]; then echo symlink; elif [ ! -e {p} ]; then echo absent; \
         elif [ ! -d {p} ]; then echo other; else stat -c 'dir %a %u %U %g %G' -- {p}; fi",
        p = quote(dir)
    );
    let out = scope.exec(Command::read("mkdir", dir, &script, path_run_as(path)))?;
    if out.code != 0 {
        return Err(scope.command_failed("mkdir", dir, &out));
    }
    let refuse = |reason: &str| Error::File {
        host: scope.host().to_string(),
        op: "mkdir",
        path: dir.to_string(),
        reason: reason.to_string(),
    };
    let line = out.text();
    let fields: Vec<&str> = line.split(' ').collect();
    match fields.as_slice() {
        // A plain dry run answers nothing: the directory is taken to be absent.
        [""] | ["absent"] => Ok(None),
        ["symlink"] => Err(refuse(
            "it is a symbolic link; off never changes a directory through one",
        )),
        ["other"] => Err(refuse("it exists but is not a directory")),
        ["dir", mode, uid, owner, gid, group] => Ok(Some(DirState {
            mode: u32::from_str_radix(mode, 8).map_err(|_| refuse("unreadable mode"))?,
            uid: uid.to_string(),
            owner: owner.to_string(),
            gid: gid.to_string(),
            group: group.to_string(),
        })),
        _ => Err(refuse(&format!("cannot read its state: {line}"))),
    }
}
