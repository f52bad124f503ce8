//! File operations: `put`, `get`, `upload_template`, and Fabric's contrib
//! helpers `exists`, `append`, `contains`.
//!
//! Writes are atomic: the new content goes to a temporary file beside the
//! destination, which is renamed over it only when complete, so a full disk
//! or a dropped connection leaves the old file as it was. A destination that
//! already has the content (same sha256, mode and owner) is left alone and
//! reported unchanged. How the host-side scripts keep another user of the
//! host from redirecting those writes is in [`super::remote_file`].

use std::path::{Path, PathBuf};

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::Secret;
use crate::diff::{FileView, file_diff};
use crate::dry_run::{PendingFile, WrittenFile};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::shell::quote;
use crate::template::Template;
use off_input::Mode;

use super::remote_file::{self, FileState, ReadOutcome, Replace};
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
    /// replaces, else 0644): `0o640`, or a [`Mode`] read from `"0640"` or
    /// `"u=rw,g=r"` (a kwarg of type `Mode`).
    pub fn mode(mut self, mode: impl Into<Mode>) -> Self {
        self.mode = Some(mode.into().bits());
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
                let path = scope.local_path("put", path)?;
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
/// `<path>.off-backup-<YYYYmmddTHHMMSS>-<random>` (a hard link, so it keeps
/// its owner and mode).
pub fn upload_template(
    template: impl Into<Template>,
    dest: impl Into<RemotePath>,
    context: impl serde::Serialize,
) -> Result<Output> {
    let (template, dest) = (template.into(), dest.into());
    operation("upload_template", &dest.path.clone(), |scope| {
        let rendered =
            template.render(|path| scope.local_path("upload_template", path), &context)?;
        let how = Install {
            backup: true,
            secret: false,
        };
        install(scope, "upload_template", rendered.as_bytes(), &dest, how)
    })
}

/// Downloads `remote` to `local`; `{host}` in the local path becomes the
/// host's name, so one call can fetch a file from many hosts. The content is
/// written to disk as it arrives (never held in memory whole) and renamed
/// into place when complete; the local copy keeps the remote file's
/// permission bits (a 0600 secret stays 0600). Reported as a change when the
/// local file's content changed.
pub fn get(remote: impl Into<RemotePath>, local: impl AsRef<Path>) -> Result<Output> {
    let remote = remote.into();
    operation("get", &remote.path.clone(), |scope| {
        scope.needs_control_machine("get", || {
            format!("writes the local file {}", local.as_ref().display())
        })?;
        if scope.shared.dry_run.is_some() {
            return Ok((Output::default(), false));
        }
        let path = scope.remote_path(&remote.path);
        let host_name = match &scope.conn.target {
            crate::Target::Local => "local".to_string(),
            crate::Target::Ssh(t) => t.host.clone(),
        };
        let local = scope.local_path(
            "get",
            Path::new(
                &local
                    .as_ref()
                    .to_string_lossy()
                    .replace("{host}", &host_name),
            ),
        )?;
        let local_error = |e: std::io::Error| {
            file_error(scope, "get", &local.display().to_string(), e.to_string())
        };
        let mut download = Download::begin(&local).map_err(local_error)?;
        let script = remote_file::read_script(&path, true);
        let out = scope.exec(super::Command {
            stdout_to: Some(&mut |chunk| download.push(chunk)),
            ..super::Command::plumbing("get", &path, &script, remote.run_as())
        })?;
        if out.code != 0 {
            return Err(scope.command_failed("get", &path, &out));
        }
        let state = match remote_file::parse_read(&download.header) {
            Ok(ReadOutcome::File { state, .. }) => state,
            Ok(ReadOutcome::Absent) => {
                return Err(file_error(scope, "get", &path, "no such file".into()));
            }
            Err(reason) => return Err(file_error(scope, "get", &path, reason)),
        };
        if download.sha256() != state.sha256 {
            return Err(file_error(
                scope,
                "get",
                &path,
                "the file changed while it was read; nothing was written locally".into(),
            ));
        }
        let changed = download
            .finish(&local, state.mode & 0o777)
            .map_err(local_error)?;
        Ok((
            Output {
                changed,
                ..Output::default()
            },
            changed,
        ))
    })
}

/// A download written to a fresh temporary file beside its destination as
/// it arrives: [`read_script`](remote_file::read_script)'s header lines,
/// then the file's bytes. Dropped unfinished, it removes the file.
struct Download {
    header: Vec<u8>,
    /// Lines the header still needs (`None` until its first line is in).
    header_lines_left: Option<usize>,
    temp: std::path::PathBuf,
    file: Option<std::fs::File>,
    hasher: Sha256,
    /// The first local write error; later bytes are dropped.
    error: Option<std::io::Error>,
}

impl Download {
    fn begin(local: &Path) -> std::io::Result<Download> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = match local.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                dir
            }
            None => Path::new("."),
        };
        let name = local.file_name().unwrap_or_default().to_string_lossy();
        let token: u64 = rand::rng().random();
        let temp = dir.join(format!(".{name}.off-{token:016x}"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        Ok(Download {
            header: Vec::new(),
            header_lines_left: None,
            temp,
            file: Some(file),
            hasher: Sha256::new(),
            error: None,
        })
    }

    fn push(&mut self, mut chunk: &[u8]) {
        use std::io::Write;
        while self.header_lines_left != Some(0) {
            let Some(at) = memchr::memchr(b'\n', chunk) else {
                self.header.extend_from_slice(chunk);
                return;
            };
            self.header.extend_from_slice(&chunk[..=at]);
            chunk = &chunk[at + 1..];
            let left = match self.header_lines_left {
                // A regular file's state takes two more lines; any other
                // answer is one line and nothing follows.
                None if self.header == b"file\n" => 2,
                None => 0,
                Some(n) => n - 1,
            };
            self.header_lines_left = Some(left);
        }
        self.hasher.update(chunk);
        if let (Some(file), None) = (&mut self.file, &self.error)
            && let Err(e) = file.write_all(chunk)
        {
            self.error = Some(e);
        }
    }

    fn sha256(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }

    /// Moves the download to `local` with permission bits `mode`, unless
    /// `local` already holds the same bytes; returns whether it changed.
    fn finish(mut self, local: &Path, mode: u32) -> std::io::Result<bool> {
        use std::os::unix::fs::PermissionsExt;
        let file = self.file.take().expect("finished once");
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let same = std::fs::File::open(local)
            .and_then(|mut f| {
                let mut hasher = Sha256::new();
                std::io::copy(&mut f, &mut hasher)?;
                Ok(hex(&hasher.finalize()))
            })
            .is_ok_and(|sha| sha == self.sha256());
        if same {
            return Ok(false);
        }
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        std::fs::rename(&self.temp, local)?;
        self.temp.clear();
        Ok(true)
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Whether `path` exists on the host.
pub fn exists(path: impl Into<RemotePath>) -> Result<bool> {
    let path = path.into();
    operation("exists", &path.path.clone(), |scope| {
        let p = scope.remote_path(&path.path);
        let out = scope.exec(super::Command::read(
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
        let out = scope.exec(super::Command::read("contains", &p, &script, path.run_as()))?;
        match out.code {
            0 => Ok((true, false)),
            1 => Ok((false, false)),
            _ => Err(scope.command_failed("contains", &p, &out)),
        }
    })
}

/// Appends `line` to the file at `path` unless a line equal to it is already
/// there (creating the file if needed). Unchanged when the line was present.
/// The file is replaced as [`put`] replaces one (atomically, keeping its
/// mode and owner), never appended to through a name another user could
/// have swapped for a link.
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
        let remote = scope.remote_path(&path.path);
        if let Some(dry_run) = &scope.shared.dry_run {
            dry_run.line(&scope.conn.target, &remote, line);
            if !dry_run.reads_hosts() {
                return Ok((Output::default(), true));
            }
        }
        let existing = read(scope, "append", &remote, path.run_as(), true)?;
        let mut content = match &existing {
            Some((_, old)) if old.split(|&b| b == b'\n').any(|l| l == line.as_bytes()) => {
                return Ok((Output::default(), false));
            }
            Some((_, old)) => old.clone(),
            None => Vec::new(),
        };
        // Start a new line first when the file does not end with one.
        if content.last().is_some_and(|&b| b != b'\n') {
            content.push(b'\n');
        }
        content.extend_from_slice(line.as_bytes());
        content.push(b'\n');
        let how = Install {
            backup: false,
            secret: false,
        };
        if scope.shared.dry_run.is_some() {
            return Ok(would_install(
                scope,
                &content,
                &path,
                &how,
                existing.as_ref(),
            ));
        }
        let before = existing.map(|(state, _)| state);
        install_over(scope, "append", &content, &path, how, before)
    })
}

/// Reads the file at `path` (its state, and its bytes when `content`);
/// `None` when there is none. A path that is a symbolic link, not a regular
/// file, or swapped while read is an error naming it.
fn read(
    scope: &Scope,
    op: &'static str,
    path: &str,
    run_as: RunAs<'_>,
    content: bool,
) -> Result<Option<(FileState, Vec<u8>)>> {
    if let Some(dry_run) = &scope.shared.dry_run
        && let Some(pending) = dry_run.pending(&scope.conn.target, path)
    {
        // `--diff`: what an earlier operation of this run would have written.
        let state = FileState {
            sha256: hex(&Sha256::digest(&pending.content)),
            mode: pending.mode,
            uid: u32::MAX,
            owner: pending.owner,
            gid: u32::MAX,
            group: pending.group,
        };
        return Ok(Some((state, pending.content)));
    }
    let script = remote_file::read_script(path, content);
    let (out, stdout) = scope.exec_bytes(super::Command::read(op, path, &script, run_as))?;
    if out.code != 0 {
        return Err(scope.command_failed(op, path, &out));
    }
    match remote_file::parse_read(&stdout) {
        Ok(ReadOutcome::Absent) => Ok(None),
        Ok(ReadOutcome::File { state, content }) => Ok(Some((state, content.to_vec()))),
        Err(reason) => Err(file_error(scope, op, path, reason)),
    }
}

fn file_error(scope: &Scope, op: &'static str, path: &str, reason: String) -> Error {
    Error::File {
        host: scope.host().to_string(),
        op,
        path: path.to_string(),
        reason,
    }
}

/// How [`install`] writes a file.
struct Install {
    /// Keep the old file beside the new one when the content changes.
    backup: bool,
    /// The content is a secret: a dry run records the file, not its checksum.
    secret: bool,
}

/// Writes `data` to `dest` atomically unless it already holds it. Shared by
/// `put` and `upload_template`.
fn install(
    scope: &Scope,
    op: &'static str,
    data: &[u8],
    dest: &RemotePath,
    how: Install,
) -> Result<(Output, bool)> {
    let path = scope.remote_path(&dest.path);
    if let Some(dry_run) = &scope.shared.dry_run {
        let mut file = WrittenFile {
            mode: dest.mode,
            owner: dest.owner.clone(),
            group: dest.group.clone(),
            ..WrittenFile::new(path.clone(), data)
        };
        if how.secret {
            file.sha256 = None;
        }
        dry_run.file(&scope.conn.target, file);
        if !dry_run.reads_hosts() {
            return Ok((Output::default(), true));
        }
        let before = read(scope, op, &path, dest.run_as(), true)?;
        return Ok(would_install(scope, data, dest, &how, before.as_ref()));
    }
    let before = read(scope, op, &path, dest.run_as(), false)?.map(|(state, _)| state);
    install_over(scope, op, data, dest, how, before)
}

/// `--diff`: whether writing `data` to `dest` over `before` (its state and
/// content) would change it, shown as a diff; nothing is written.
fn would_install(
    scope: &Scope,
    data: &[u8],
    dest: &RemotePath,
    how: &Install,
    before: Option<&(FileState, Vec<u8>)>,
) -> (Output, bool) {
    let path = scope.remote_path(&dest.path);
    // An attribute is shown only where the write would change it: an owner
    // given as a number matches the name the host reports.
    let state = before.map(|(state, _)| state);
    let mode = dest.mode.filter(|m| state.is_none_or(|s| s.mode != *m));
    let owner = dest
        .owner
        .as_deref()
        .filter(|o| state.is_none_or(|s| !s.owned_by(o)));
    let group = dest
        .group
        .as_deref()
        .filter(|g| state.is_none_or(|s| !s.in_group(g)));
    let old = before.map(|(state, content)| FileView {
        content,
        mode: Some(state.mode),
        owner: Some(&state.owner),
        group: Some(&state.group),
    });
    let new = FileView {
        content: data,
        mode,
        owner,
        group,
    };
    let diff = file_diff(scope.host(), &path, old.as_ref(), &new, how.secret);
    let changed = diff.is_some();
    if let Some(dry_run) = &scope.shared.dry_run {
        let writer = if dest.sudo {
            "root"
        } else {
            &scope.conn.facts.user
        };
        let owner = dest
            .owner
            .clone()
            .or(state.map(|s| s.owner.clone()))
            .unwrap_or_else(|| writer.to_string());
        let pending = PendingFile {
            content: data.to_vec(),
            mode: dest.mode.or(state.map(|s| s.mode)).unwrap_or(0o644),
            group: dest
                .group
                .clone()
                .or(state.map(|s| s.group.clone()))
                .unwrap_or_else(|| owner.clone()),
            owner,
        };
        dry_run.set_pending(&scope.conn.target, &path, pending);
    }
    if let Some(diff) = diff {
        scope.shared.observer.message(diff.trim_end());
    }
    (
        Output {
            changed,
            ..Output::default()
        },
        changed,
    )
}

/// [`install`] once the destination's current state (`before`) is known.
fn install_over(
    scope: &Scope,
    op: &'static str,
    data: &[u8],
    dest: &RemotePath,
    how: Install,
    before: Option<FileState>,
) -> Result<(Output, bool)> {
    let started = std::time::Instant::now();
    let path = scope.remote_path(&dest.path);
    let sha256 = hex(&Sha256::digest(data));
    let content_same = before.as_ref().is_some_and(|b| b.sha256 == sha256);
    let meta_same = before.as_ref().is_some_and(|b| {
        dest.mode.is_none_or(|m| m == b.mode)
            && dest.owner.as_ref().is_none_or(|o| b.owned_by(o))
            && dest.group.as_ref().is_none_or(|g| b.in_group(g))
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
    let mode = dest
        .mode
        .or(before.as_ref().map(|b| b.mode))
        .unwrap_or(0o644);
    let chown = match (&dest.owner, &dest.group) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        // Root keeps the replaced file's owner; a login user can only
        // write files of its own anyway.
        (None, None) => before
            .as_ref()
            .filter(|_| dest.sudo)
            .map(|b| format!("{}:{}", b.uid, b.gid)),
    };
    let token = format!("{:016x}", rand::rng().random::<u64>());
    let script = remote_file::replace_script(&Replace {
        path: &path,
        mode,
        chown,
        backup: how.backup && before.is_some(),
        token: &token,
    });
    let out = scope.exec(super::Command {
        input: Some(data),
        ..super::Command::plumbing(op, &path, &script, dest.run_as())
    })?;
    if out.code != 0 {
        let reason = remote_file::complaint(&out.stderr);
        let reason = if reason.contains("the file there now is not the one off wrote") {
            reason
        } else {
            format!("{reason}; the file on the host is unchanged")
        };
        return Err(file_error(scope, op, &path, reason));
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
