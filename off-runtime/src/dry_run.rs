//! Dry runs: a task executed without changing any host.
//!
//! In a dry run every command "succeeds" with empty output and no file is
//! written or read, so a recipe runs through all its operations without
//! touching anything. What the recipe would leave on each host — files with
//! their exact content, the lines `append` adds, directories, paths its
//! commands create or remove, services and their last action, packages — is
//! recorded: `--dry-run` prints the operations, and `--check` derives the
//! spec it verifies from the recording.
//!
//! A dry run that [reads the host](DryRun::reading_hosts) (`--diff`) connects
//! to it and runs what only reads it (a file's content, whether a package is
//! installed, whether a path exists), but still no command of the recipe and
//! no write: every operation then reports whether it *would* change the host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::connection::{Connection, HostFacts, PackageManager};
use crate::service_action::ServiceAction;
use crate::target::Target;
use crate::transport::{ExecOutput, ExecRequest, Transport, TransportError};

/// The effects recorded during a dry run, per target.
#[derive(Debug, Default)]
pub struct DryRun {
    effects: Mutex<HashMap<Target, HostEffects>>,
    reads_hosts: bool,
    /// What the run would have written so far, by host and path, so a later
    /// operation on the same file (a second `append`) starts from it.
    pending: Mutex<HashMap<(Target, String), PendingFile>>,
}

/// A file's bytes and attributes as the run would leave them (`--diff`).
#[derive(Debug, Clone)]
pub(crate) struct PendingFile {
    pub content: Vec<u8>,
    pub mode: u32,
    pub owner: String,
    pub group: String,
}

/// What a task would leave on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostEffects {
    /// Paths the task manages, in first-use order: files written by `put`,
    /// `upload_template` and `append`, directories made by `mkdir`, paths a
    /// command creates or removes. A later write to the same path replaces
    /// the earlier one (an `append` adds its line to it).
    pub files: Vec<WrittenFile>,
    /// Services and the last action applied to each, in first-use order.
    pub services: Vec<(String, ServiceAction)>,
    /// Packages installed, deduplicated, in order.
    pub packages: Vec<String>,
    /// The commands that would run, as `(operation, command)` (`--diff`).
    pub commands: Vec<(&'static str, String)>,
}

/// A path as the task would leave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub path: String,
    /// `false`: the task removes it.
    pub exists: bool,
    /// A directory (`mkdir`), not a file.
    pub directory: bool,
    /// Hex sha256 of the content; `None` for a secret's, for a file whose
    /// content depends on the host (`append`'s), and for a path a command
    /// creates.
    pub sha256: Option<String>,
    /// Lines the file must contain (`append`'s).
    pub lines: Vec<String>,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl WrittenFile {
    pub fn new(path: impl Into<String>, content: &[u8]) -> Self {
        WrittenFile {
            sha256: Some(
                Sha256::digest(content)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
            ..WrittenFile::at(path)
        }
    }

    /// A path that exists, nothing more known of it.
    pub fn at(path: impl Into<String>) -> Self {
        WrittenFile {
            path: path.into(),
            exists: true,
            directory: false,
            sha256: None,
            lines: Vec::new(),
            mode: None,
            owner: None,
            group: None,
        }
    }
}

impl DryRun {
    pub fn new() -> Arc<DryRun> {
        Arc::new(DryRun::default())
    }

    /// A dry run that connects to each host and reads it (`--diff`).
    pub fn reading_hosts() -> Arc<DryRun> {
        Arc::new(DryRun {
            reads_hosts: true,
            ..DryRun::default()
        })
    }

    /// Whether operations read the hosts (see [`DryRun::reading_hosts`]).
    pub fn reads_hosts(&self) -> bool {
        self.reads_hosts
    }

    /// The effects recorded for `target` (empty when it ran no operation).
    pub fn effects(&self, target: &Target) -> HostEffects {
        self.lock().get(target).cloned().unwrap_or_default()
    }

    pub(crate) fn file(&self, target: &Target, file: WrittenFile) {
        let mut all = self.lock();
        let files = &mut all.entry(target.clone()).or_default().files;
        match files.iter_mut().find(|f| f.path == file.path) {
            Some(old) => *old = file,
            None => files.push(file),
        }
    }

    /// The file at `path` as the run would have left it so far (`--diff`).
    pub(crate) fn pending(&self, target: &Target, path: &str) -> Option<PendingFile> {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.get(&(target.clone(), path.to_string())).cloned()
    }

    pub(crate) fn set_pending(&self, target: &Target, path: &str, file: PendingFile) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.insert((target.clone(), path.to_string()), file);
    }

    /// `append` adds `line` to the file at `path`.
    pub(crate) fn line(&self, target: &Target, path: &str, line: &str) {
        let mut all = self.lock();
        let files = &mut all.entry(target.clone()).or_default().files;
        match files.iter_mut().find(|f| f.path == path) {
            Some(file) => {
                // The file's content now depends on what the host had.
                file.sha256 = None;
                file.exists = true;
                file.directory = false;
                if !file.lines.iter().any(|l| l == line) {
                    file.lines.push(line.to_string());
                }
            }
            None => files.push(WrittenFile {
                lines: vec![line.to_string()],
                ..WrittenFile::at(path)
            }),
        }
    }

    /// `mkdir` makes the directory `path`.
    pub(crate) fn directory(
        &self,
        target: &Target,
        path: &str,
        mode: Option<u32>,
        owner: Option<String>,
        group: Option<String>,
    ) {
        self.file(
            target,
            WrittenFile {
                directory: true,
                mode,
                owner,
                group,
                ..WrittenFile::at(path)
            },
        );
    }

    /// A command creates (`exists`) or removes the path.
    pub(crate) fn path_exists(&self, target: &Target, path: &str, exists: bool) {
        let mut all = self.lock();
        let files = &mut all.entry(target.clone()).or_default().files;
        let file = WrittenFile {
            exists,
            ..WrittenFile::at(path)
        };
        match files.iter_mut().find(|f| f.path == path) {
            // Created again after a write: what was written is no longer known.
            Some(old) if !exists || !old.exists => *old = file,
            Some(_) => {}
            None => files.push(file),
        }
    }

    /// A command of the recipe that would run (`--diff`).
    pub(crate) fn command(&self, target: &Target, op: &'static str, command: &str) {
        let mut all = self.lock();
        let commands = &mut all.entry(target.clone()).or_default().commands;
        commands.push((op, command.to_string()));
    }

    pub(crate) fn service(&self, target: &Target, name: &str, action: ServiceAction) {
        let mut all = self.lock();
        let services = &mut all.entry(target.clone()).or_default().services;
        match services.iter_mut().find(|(n, _)| n == name) {
            Some((_, old)) => *old = action,
            None => services.push((name.to_string(), action)),
        }
    }

    pub(crate) fn packages(&self, target: &Target, names: &[String]) {
        let mut all = self.lock();
        let packages = &mut all.entry(target.clone()).or_default().packages;
        for name in names {
            if !packages.contains(name) {
                packages.push(name.clone());
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Target, HostEffects>> {
        self.effects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A connection to `target` that never reaches it: the facts are assumed
/// (apt, init scripts, sudo available) and the transport refuses every
/// request, so an operation that forgot the dry-run short cut fails loudly
/// instead of touching a host.
pub(crate) fn assumed_connection(target: &Target) -> Arc<Connection> {
    let user = match target {
        Target::Ssh(t) => t.user.clone().unwrap_or_else(|| "root".to_string()),
        Target::Local => std::env::var("USER").unwrap_or_else(|_| "root".to_string()),
    };
    let facts = HostFacts {
        uid: if user == "root" { 0 } else { 1000 },
        user: user.clone(),
        has_sudo: true,
        has_timeout: true,
        systemd: false,
        has_service: true,
        package_manager: Some(PackageManager::Apt),
    };
    Arc::new(Connection {
        target: target.clone(),
        label: crate::connection::label(target, &user),
        facts,
        transport: Box::new(Nowhere),
    })
}

/// The transport of a dry run.
struct Nowhere;

impl Nowhere {
    fn refuse<T>(&self) -> Result<T, TransportError> {
        Err(TransportError::Io(
            "a dry run does not reach the host".to_string(),
        ))
    }
}

impl Transport for Nowhere {
    fn exec(&self, _: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        self.refuse()
    }

    fn open_channel(&self, _: &str) -> Result<crate::transport::Channel, TransportError> {
        self.refuse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_writes_and_actions_replace_earlier_ones() {
        let dry = DryRun::new();
        let t = Target::Local;
        dry.file(&t, WrittenFile::new("/a", b"one"));
        dry.file(&t, WrittenFile::new("/b", b""));
        dry.file(&t, WrittenFile::new("/a", b"two"));
        dry.service(&t, "pg", ServiceAction::Start);
        dry.service(&t, "pg", ServiceAction::Restart);
        dry.packages(&t, &["a".into(), "b".into()]);
        dry.packages(&t, &["a".into()]);
        let e = dry.effects(&t);
        assert_eq!(e.files.len(), 2);
        assert_eq!(e.files[0], WrittenFile::new("/a", b"two"));
        assert_eq!(
            e.files[1].sha256.as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(e.services, vec![("pg".to_string(), ServiceAction::Restart)]);
        assert_eq!(e.packages, vec!["a", "b"]);
        assert_eq!(
            dry.effects(&"x".parse::<Target>().unwrap()),
            HostEffects::default()
        );
    }
}
