//! File operations: `put`, `get`, `upload_template`, and Fabric's contrib
//! helpers `exists`, `append`, `contains`.
//!
//! Writes are atomic: the new content goes to a temporary file beside the
//! destination, which is renamed over it only when complete, so a full disk
//! or a dropped connection leaves the old file as it was. A destination that
//! already has the content (same sha256, mode and owner) is left alone and
//! reported unchanged.

use std::path::{Path, PathBuf};

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::dry_run::WrittenFile;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::secret::Secret;
use crate::shell::quote;
use crate::template::Template;

use super::{RunAs, Scope, operation};

/// What `put` uploads: a local file (a path, resolved against `lcd`), bytes,
/// or a [`Secret`] (a `.pgpass`, a key): uploaded like bytes, but never
/// shown, and `--check` checks only that the file is there, not its content.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    Bytes(Vec<u8>),
    Secret(Secret),
}

impl From<Secret> for Source {
    fn from(secret: Secret) -> Self {
        Source::Secret(secret)
    }
}
impl From<&Secret> for Source {
    fn from(secret: &Secret) -> Self {
        Source::Secret(secret.clone())
    }
}

impl From<&str> for Source {
    fn from(path: &str) -> Self {
        Source::File(path.into())
    }
}
impl From<String> for Source {
    fn from(path: String) -> Self {
        Source::File(path.into())
    }
}
impl From<&Path> for Source {
    fn from(path: &Path) -> Self {
        Source::File(path.into())
    }
}
impl From<PathBuf> for Source {
    fn from(path: PathBuf) -> Self {
        Source::File(path)
    }
}
impl From<Vec<u8>> for Source {
    fn from(bytes: Vec<u8>) -> Self {
        Source::Bytes(bytes)
    }
}
impl From<&[u8]> for Source {
    fn from(bytes: &[u8]) -> Self {
        Source::Bytes(bytes.to_vec())
    }
}
impl<const N: usize> From<&[u8; N]> for Source {
    fn from(bytes: &[u8; N]) -> Self {
        Source::Bytes(bytes.to_vec())
    }
}

/// A remote file with the options Fabric's `put(..., use_sudo, mode)` had:
/// `remote_path("/etc/x.conf").mode(0o640).owner("postgres").sudo()`.
/// A plain `&str` or `String` converts into one with no options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemotePath {
    pub path: String,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Read and write the file as root, through sudo.
    pub sudo: bool,
}

/// A remote file to write, read or test; see [`RemotePath`].
pub fn remote_path(path: impl Into<String>) -> RemotePath {
    RemotePath {
        path: path.into(),
        ..RemotePath::default()
    }
}

impl RemotePath {
    /// Permission bits of the written file (default: those of the file it
    /// replaces, else 0644).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }
    pub fn sudo(mut self) -> Self {
        self.sudo = true;
        self
    }

    fn run_as(&self) -> RunAs<'static> {
        if self.sudo {
            RunAs::Sudo("root")
        } else {
            RunAs::Login
        }
    }
}

impl From<&str> for RemotePath {
    fn from(path: &str) -> Self {
        remote_path(path)
    }
}
impl From<String> for RemotePath {
    fn from(path: String) -> Self {
        remote_path(path)
    }
}
impl From<&String> for RemotePath {
    fn from(path: &String) -> Self {
        remote_path(path.as_str())
    }
}

/// Uploads `source` to `dest` atomically; unchanged (and reported so) when
/// the remote file already has the same content, mode and owner.
pub fn put(source: impl Into<Source>, dest: impl Into<RemotePath>) -> Result<Output> {
    let (source, dest) = (source.into(), dest.into());
    operation("put", &dest.path.clone(), |scope| {
        let data = match &source {
            Source::Bytes(b) => b.clone(),
            Source::Secret(s) => s.expose().as_bytes().to_vec(),
            Source::File(path) => {
                let path = scope.local_path(path);
                std::fs::read(&path).map_err(|e| Error::File {
                    host: scope.host().to_string(),
                    op: "put",
                    path: path.display().to_string(),
                    reason: format!("cannot read the local file: {e}"),
                })?
            }
        };
        let secret = matches!(source, Source::Secret(_));
        install(
            scope,
            "put",
            &data,
            &dest,
            Install {
                backup: false,
                secret,
            },
        )
    })
}

/// Renders the MiniJinja template with `context` and uploads the result like
/// [`put`]; an undefined variable is an error and nothing is written. When
/// the file changes, the old one is kept beside it as
/// `<path>.off-backup-<timestamp>`.
pub fn upload_template(
    template: impl Into<Template>,
    dest: impl Into<RemotePath>,
    context: impl serde::Serialize,
) -> Result<Output> {
    let (template, dest) = (template.into(), dest.into());
    operation("upload_template", &dest.path.clone(), |scope| {
        let rendered = template.render(scope, &context)?;
        let how = Install {
            backup: true,
            secret: false,
        };
        install(scope, "upload_template", rendered.as_bytes(), &dest, how)
    })
}

/// Downloads `remote` to `local`; `{host}` in the local path becomes the
/// host's name, so one call can fetch a file from many hosts. Reported as a
/// change when the local file's content changed.
pub fn get(remote: impl Into<RemotePath>, local: impl AsRef<Path>) -> Result<Output> {
    let remote = remote.into();
    operation("get", &remote.path.clone(), |scope| {
        if scope.shared.dry_run.is_some() {
            return Ok((Output::default(), false));
        }
        let path = scope.remote_path(&remote.path);
        let data = if remote.sudo {
            let script = format!("cat -- {}", quote(&path));
            let (out, bytes) = scope.exec_bytes(super::Command::plumbing(
                "get",
                &path,
                &script,
                RunAs::Sudo("root"),
            ))?;
            if out.code != 0 {
                return Err(scope.command_failed("get", &path, &out));
            }
            bytes
        } else {
            scope
                .conn
                .transport
                .read_file(&path)
                .map_err(|e| file_error(scope, "get", &path, e.to_string()))?
        };
        let host_name = match &scope.conn.target {
            crate::Target::Local => "local".to_string(),
            crate::Target::Ssh(t) => t.host.clone(),
        };
        let local = scope.local_path(Path::new(
            &local
                .as_ref()
                .to_string_lossy()
                .replace("{host}", &host_name),
        ));
        let unchanged = std::fs::read(&local).is_ok_and(|old| old == data);
        if !unchanged {
            if let Some(parent) = local.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&local, &data).map_err(|e| {
                file_error(scope, "get", &local.display().to_string(), e.to_string())
            })?;
        }
        Ok((
            Output {
                changed: !unchanged,
                ..Output::default()
            },
            !unchanged,
        ))
    })
}

/// Whether `path` exists on the host.
pub fn exists(path: impl Into<RemotePath>) -> Result<bool> {
    let path = path.into();
    operation("exists", &path.path.clone(), |scope| {
        let p = scope.remote_path(&path.path);
        let out = scope.exec(super::Command::plumbing(
            "exists",
            &p,
            &format!("test -e {}", quote(&p)),
            path.run_as(),
        ))?;
        match out.code {
            0 => Ok((true, false)),
            1 => Ok((false, false)),
            _ => Err(scope.command_failed("exists", &p, &out)),
        }
    })
}

/// Whether the file at `path` contains `text` (a fixed string, not a
/// pattern). A missing file contains nothing.
pub fn contains(path: impl Into<RemotePath>, text: impl AsRef<str>) -> Result<bool> {
    let path = path.into();
    let text = text.as_ref();
    operation("contains", &path.path.clone(), |scope| {
        let p = scope.remote_path(&path.path);
        let script = format!(
            "test -f {p} || exit 1; grep -qF -e {} -- {p}",
            quote(text),
            p = quote(&p)
        );
        let out = scope.exec(super::Command::plumbing(
            "contains",
            &p,
            &script,
            path.run_as(),
        ))?;
        match out.code {
            0 => Ok((true, false)),
            1 => Ok((false, false)),
            _ => Err(scope.command_failed("contains", &p, &out)),
        }
    })
}

/// Appends `line` to the file at `path` unless a line equal to it is already
/// there (creating the file if needed). Unchanged when the line was present.
pub fn append(path: impl Into<RemotePath>, line: impl AsRef<str>) -> Result<Output> {
    let path = path.into();
    let line = line.as_ref();
    operation("append", &path.path.clone(), |scope| {
        if line.contains('\n') {
            return Err(Error::Invalid {
                host: scope.host().to_string(),
                op: "append",
                reason: format!(
                    "append to {}: the line must not contain a newline",
                    path.path
                ),
            });
        }
        let p = quote(&scope.remote_path(&path.path)).into_owned();
        let l = quote(line).into_owned();
        // Start a new line first when the file does not end with one.
        let script = format!(
            "if grep -qxF -e {l} -- {p} 2>/dev/null; then echo unchanged; else \
             if [ -s {p} ] && [ -n \"$(tail -c1 {p})\" ]; then echo >> {p}; fi; \
             printf '%s\\n' {l} >> {p} && echo appended; fi"
        );
        let out = scope.plumbing("append", &path.path, &script, path.run_as())?;
        let changed = out.stdout.trim() == "appended";
        Ok((Output { changed, ..out }, changed))
    })
}

fn file_error(scope: &Scope, op: &'static str, path: &str, reason: String) -> Error {
    Error::File {
        host: scope.host().to_string(),
        op,
        path: path.to_string(),
        reason,
    }
}

/// The remote file's current state, read in one round trip.
#[derive(Debug, PartialEq, Eq)]
struct RemoteState {
    sha256: String,
    mode: u32,
    owner: String,
    group: String,
}

fn remote_state(
    scope: &Scope,
    op: &'static str,
    path: &str,
    run_as: RunAs<'_>,
) -> Result<Option<RemoteState>> {
    let p = quote(path);
    let script = format!(
        "if [ -f {p} ]; then sha256sum < {p} | cut -c1-64 && stat -c '%a %U %G' -- {p}; else echo absent; fi"
    );
    let out = scope.plumbing(op, path, &script, run_as)?;
    let mut lines = out.stdout.lines();
    let first = lines.next().unwrap_or_default();
    if first == "absent" {
        return Ok(None);
    }
    let mut meta = lines.next().unwrap_or_default().split(' ');
    let parsed = (|| {
        Some(RemoteState {
            sha256: first.to_string(),
            mode: u32::from_str_radix(meta.next()?, 8).ok()?,
            owner: meta.next()?.to_string(),
            group: meta.next()?.to_string(),
        })
    })();
    parsed.map(Some).ok_or_else(|| {
        file_error(
            scope,
            op,
            path,
            format!("cannot read the file's state: {}", out.stdout.trim()),
        )
    })
}

/// Writes `data` to `dest` atomically unless it already holds it. Shared by
/// `put` and `upload_template`.
/// How [`install`] writes a file.
struct Install {
    /// Keep the old file beside the new one when the content changes.
    backup: bool,
    /// The content is a secret: a dry run records the file, not its checksum.
    secret: bool,
}

fn install(
    scope: &Scope,
    op: &'static str,
    data: &[u8],
    dest: &RemotePath,
    how: Install,
) -> Result<(Output, bool)> {
    let backup = how.backup;
    let started = std::time::Instant::now();
    let path = scope.remote_path(&dest.path);
    if let Some(dry_run) = &scope.shared.dry_run {
        let mut file = WrittenFile {
            mode: dest.mode,
            owner: dest.owner.clone(),
            group: dest.group.clone(),
            ..WrittenFile::new(path, data)
        };
        if how.secret {
            file.sha256 = None;
        }
        dry_run.file(&scope.conn.target, file);
        return Ok((Output::default(), true));
    }
    let run_as = dest.run_as();
    let before = remote_state(scope, op, &path, run_as)?;
    let sha256 = hex(&Sha256::digest(data));
    let content_same = before.as_ref().is_some_and(|b| b.sha256 == sha256);
    let meta_same = before.as_ref().is_some_and(|b| {
        dest.mode.is_none_or(|m| m == b.mode)
            && dest.owner.as_ref().is_none_or(|o| *o == b.owner)
            && dest.group.as_ref().is_none_or(|g| *g == b.group)
    });
    if content_same && meta_same {
        return Ok((
            Output {
                changed: false,
                duration: started.elapsed(),
                ..Output::default()
            },
            false,
        ));
    }

    let (dir, name) = match path.rsplit_once('/') {
        Some(("", name)) => ("/".to_string(), name.to_string()),
        Some((dir, name)) => (dir.to_string(), name.to_string()),
        None => (".".to_string(), path.clone()),
    };
    let suffix: u64 = rand::rng().random();
    let temp = format!("{}/.{name}.off-{suffix:016x}", dir.trim_end_matches('/'));
    let mode = dest
        .mode
        .or(before.as_ref().map(|b| b.mode))
        .unwrap_or(0o644);
    let chown = match (&dest.owner, &dest.group) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => before
            .as_ref()
            .filter(|_| dest.sudo)
            .map(|b| format!("{}:{}", b.owner, b.group)),
    };
    let backup_cmd = if backup && before.is_some() {
        format!(
            "cp -p -- {p} {p}.off-backup-\"$(date +%Y%m%dT%H%M%S)\" && ",
            p = quote(&path)
        )
    } else {
        String::new()
    };
    let unchanged_note = "the file on the host is unchanged";

    if dest.sudo {
        // Upload as the login user to a private temporary file, then let
        // root copy it beside the destination and rename it into place.
        let upload = format!("/tmp/.off-upload-{suffix:016x}");
        scope
            .conn
            .transport
            .write_file(&upload, data, 0o600)
            .map_err(|e| {
                let _ = scope.conn.transport.remove_file(&upload);
                file_error(
                    scope,
                    op,
                    &path,
                    format!("uploading failed ({e}); {unchanged_note}"),
                )
            })?;
        let t = quote(&temp);
        let chown_cmd = chown
            .map(|c| format!("chown -- {} {t} && ", quote(&c)))
            .unwrap_or_default();
        let script = format!(
            "if cp -- {u} {t} && chmod {mode:o} {t} && {chown_cmd}{backup_cmd}mv -f -- {t} {p}; \
             then rm -f -- {u}; else rc=$?; rm -f -- {t} {u}; exit $rc; fi",
            u = quote(&upload),
            p = quote(&path),
        );
        let out = scope.exec(super::Command::plumbing(
            op,
            &path,
            &script,
            RunAs::Sudo("root"),
        ))?;
        if out.code != 0 {
            let _ = scope.conn.transport.remove_file(&upload);
            return Err(file_error(
                scope,
                op,
                &path,
                format!(
                    "installing the file failed: {}; {unchanged_note}",
                    out.stderr.trim()
                ),
            ));
        }
    } else {
        let transport = &scope.conn.transport;
        let cleanup = |reason: String| {
            let _ = transport.remove_file(&temp);
            file_error(scope, op, &path, format!("{reason}; {unchanged_note}"))
        };
        transport
            .write_file(&temp, data, mode)
            .map_err(|e| cleanup(format!("writing the temporary file failed: {e}")))?;
        if chown.is_some() || !backup_cmd.is_empty() {
            let chown_cmd = chown
                .map(|c| format!("chown -- {} {} && ", quote(&c), quote(&temp)))
                .unwrap_or_default();
            let script = format!("{chown_cmd}{backup_cmd}true");
            let out = scope.exec(super::Command::plumbing(op, &path, &script, RunAs::Login))?;
            if out.code != 0 {
                return Err(cleanup(out.stderr.trim().to_string()));
            }
        }
        transport
            .rename(&temp, &path)
            .map_err(|e| cleanup(format!("renaming into place failed: {e}")))?;
    }
    Ok((
        Output {
            changed: true,
            duration: started.elapsed(),
            ..Output::default()
        },
        true,
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
