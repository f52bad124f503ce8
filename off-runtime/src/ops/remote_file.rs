//! The host-side scripts that read and replace one file, written so that a
//! user who can write to the file's directory (as `postgres` can write to
//! `/etc/postgresql/15/main`) cannot turn what root does there against
//! anything else.
//!
//! Every transport runs the same scripts, as the login user or as root; the
//! new content travels on the script's standard input, never through a file
//! that another user could open. The discipline:
//!
//! - the script pins the directory with `cd -P` and names only entries in it,
//!   and refuses a destination that is a symbolic link or not a regular file;
//! - the temporary file gets a random name and is created exclusively
//!   (`set -C`: `O_CREAT|O_EXCL`, which never follows a planted link) under
//!   `umask 077`, so no other user can open it at any moment;
//! - its owner and mode are set through the open descriptor
//!   (`/proc/self/fd/3`), never through a name another user could swap;
//! - the old file is kept as a backup by a hard link under a fresh,
//!   unguessable name (`ln` never follows the new name and fails if it
//!   exists), not copied through a predictable one;
//! - before and after the atomic rename, the name must still be the open
//!   file; if someone replaced it, the write is refused with the reason;
//! - a script stopped on the way (a timeout's SIGTERM, a hang-up) removes
//!   its temporary file.
//!
//! Reads open the file once and check that the descriptor is the file at the
//! name (not a link swapped in after the test), then read only through it.

use crate::shell::quote;

/// Where a script's own complaints start, so they can be told from a tool's.
const COMPLAINT: &str = "off: ";

/// A regular file's state on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileState {
    pub sha256: String,
    pub mode: u32,
    pub uid: u32,
    pub owner: String,
    pub gid: u32,
    pub group: String,
}

impl FileState {
    /// Whether `owner` (a name or a numeric id) is this file's owner.
    pub fn owned_by(&self, owner: &str) -> bool {
        owner == self.owner || owner.parse() == Ok(self.uid)
    }

    pub fn in_group(&self, group: &str) -> bool {
        group == self.group || group.parse() == Ok(self.gid)
    }
}

/// The directory part and the name of `path`.
fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => (".", path),
    }
}

/// Opens `$n` (in the current directory) as descriptor 4 and checks that the
/// descriptor is the regular file at that name. Prints one of `absent`,
/// `symlink`, `other`, `raced` and exits, or goes on with fd 4 open.
const OPEN_CHECKED: &str = r#"if [ -L "$n" ]; then echo symlink; exit 0; fi
if [ ! -e "$n" ]; then echo absent; exit 0; fi
if [ ! -f "$n" ]; then echo other; exit 0; fi
exec 4<"$n" || exit 1
if [ -L "$n" ] || ! [ "$n" -ef /proc/self/fd/4 ]; then echo raced; exit 0; fi
"#;

/// A script printing the state of `path` (`absent` also when its directory
/// is missing): a line `absent`, `symlink`,
/// `other` or `raced`, or `file` followed by its sha256 and a line
/// `mode uid owner gid group`; with `content`, then the file's bytes.
pub(super) fn read_script(path: &str, content: bool) -> String {
    let (dir, name) = split(path);
    let mut script = format!(
        "cd -P -- {dir} 2>/dev/null || {{ echo absent; exit 0; }}\nn={name}\n{OPEN_CHECKED}echo file\n\
         sha256sum /proc/self/fd/4 | cut -c1-64\n\
         stat -L -c '%a %u %U %g %G' /proc/self/fd/4\n",
        dir = quote(dir),
        name = quote(name),
    );
    if content {
        script.push_str("cat /proc/self/fd/4\n");
    }
    script
}

/// What [`read_script`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReadOutcome<'a> {
    Absent,
    File {
        state: FileState,
        /// The file's bytes, when asked for.
        content: &'a [u8],
    },
}

/// Parses [`read_script`]'s output; an `Err` is the reason to refuse the file.
pub(super) fn parse_read(stdout: &[u8]) -> Result<ReadOutcome<'_>, String> {
    let mut rest = stdout;
    let mut line = || -> Option<&str> {
        let end = rest.iter().position(|&b| b == b'\n')?;
        let text = std::str::from_utf8(&rest[..end]).ok();
        rest = &rest[end + 1..];
        text
    };
    let garbled = || {
        format!(
            "cannot read the file's state: {}",
            String::from_utf8_lossy(&stdout[..stdout.len().min(200)]).trim()
        )
    };
    match line() {
        Some("absent") => return Ok(ReadOutcome::Absent),
        Some("symlink") => {
            return Err("it is a symbolic link; off never writes through one \
                 (point the recipe at the link's target, or remove the link)"
                .to_string());
        }
        Some("other") => return Err("it exists but is not a regular file".to_string()),
        Some("raced") => {
            return Err(
                "it was replaced while it was read (another user can write to its directory)"
                    .to_string(),
            );
        }
        Some("file") => {}
        _ => return Err(garbled()),
    }
    let sha256 = line().ok_or_else(garbled)?.to_string();
    let meta = line().ok_or_else(garbled)?;
    let mut fields = meta.split(' ');
    let mut field = || fields.next().ok_or_else(garbled);
    let state = FileState {
        sha256,
        mode: u32::from_str_radix(field()?, 8).map_err(|_| garbled())?,
        uid: field()?.parse().map_err(|_| garbled())?,
        owner: field()?.to_string(),
        gid: field()?.parse().map_err(|_| garbled())?,
        group: field()?.to_string(),
    };
    Ok(ReadOutcome::File {
        state,
        content: rest,
    })
}

/// How [`replace_script`] writes a file.
#[derive(Debug)]
pub(super) struct Replace<'a> {
    pub path: &'a str,
    /// Permission bits of the new file.
    pub mode: u32,
    /// `owner`, `owner:group` or `:group` for chown; `None` leaves the writer's.
    pub chown: Option<String>,
    /// Keep the old file (if any) as `<path>.off-backup-<time>-<token>`.
    pub backup: bool,
    /// Random hex making the temporary file's and the backup's names unguessable.
    pub token: &'a str,
}

/// A script that replaces `r.path` with its standard input, atomically. It
/// fails (exit 1, with a line starting `off: ` on stderr) without touching
/// anything outside the directory; unless it says otherwise, the file at the
/// path is then unchanged.
pub(super) fn replace_script(r: &Replace<'_>) -> String {
    let (dir, name) = split(r.path);
    let shown = quote(r.path);
    let mut script = format!(
        r#"umask 077
cd -P -- {dir} 2>/dev/null || {{ echo '{COMPLAINT}the directory '{shown_dir}' does not exist or cannot be entered' >&2; exit 1; }}
if [ ! -d /proc/self/fd ]; then echo '{COMPLAINT}needs /proc on the host to set the owner and mode of the open file' >&2; exit 1; fi
n={name}
t={temp}
if [ -L "$n" ]; then echo '{COMPLAINT}'{shown}' is a symbolic link; off never writes through one' >&2; exit 1; fi
if [ -e "$n" ] && [ ! -f "$n" ]; then echo '{COMPLAINT}'{shown}' exists but is not a regular file' >&2; exit 1; fi
set -C
exec 3>"$t" || exit 1
set +C
trap 'rm -f -- "$t"; exit 1' HUP INT TERM
off_fail() {{ rm -f -- "$t"; echo "{COMPLAINT}$1" >&2; exit 1; }}
cat >&3 || off_fail 'writing the temporary file failed'
"#,
        dir = quote(dir),
        shown_dir = quote(dir),
        name = quote(name),
        temp = quote(&format!(".{name}.off-{}", r.token)),
    );
    if let Some(chown) = &r.chown {
        script.push_str(&format!(
            "chown -- {} /proc/self/fd/3 || off_fail 'setting the owner failed'\n",
            quote(chown)
        ));
    }
    script.push_str(&format!(
        "chmod -- {:o} /proc/self/fd/3 || off_fail 'setting the mode failed'\n\
         sync -- /proc/self/fd/3 || off_fail 'flushing the file to disk failed'\n",
        r.mode
    ));
    if r.backup {
        script.push_str(&format!(
            "if [ -f \"$n\" ]; then ln -P -- \"$n\" \"$n.off-backup-$(date +%Y%m%dT%H%M%S)-{}\" \
             || off_fail 'keeping a backup of the old file (a hard link beside it) failed'; fi\n",
            &r.token[..6.min(r.token.len())]
        ));
    }
    let replaced = format!(
        "the temporary file was replaced while it was written (another user can write to {})",
        dir
    );
    script.push_str(&format!(
        r#"if [ -L "$t" ] || ! [ "$t" -ef /proc/self/fd/3 ]; then off_fail {replaced}; fi
mv -f -T -- "$t" "$n" || off_fail 'renaming the temporary file into place failed'
if [ -L "$n" ] || ! [ "$n" -ef /proc/self/fd/3 ]; then echo '{COMPLAINT}'{shown}' was replaced while it was written (another user can write to its directory): the file there now is not the one off wrote' >&2; exit 1; fi
"#,
        replaced = quote(&replaced),
    ));
    script
}

/// The reason a script gave for failing: its own complaint, followed by
/// what the failing tool said (`writing the temporary file failed: cat:
/// write error: No space left on device`), else stderr.
pub(super) fn complaint(stderr: &str) -> String {
    let (own, tools): (Vec<&str>, Vec<&str>) = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .partition(|l| l.starts_with(COMPLAINT));
    let own: Vec<&str> = own.iter().map(|l| &l[COMPLAINT.len()..]).collect();
    match (own.is_empty(), tools.is_empty()) {
        (true, _) => tools.join("; "),
        (false, true) => own.join("; "),
        (false, false) => format!("{}: {}", own.join("; "), tools.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, symlink};

    use super::*;
    use crate::transport::{ExecRequest, LocalTransport, Transport};

    fn sh(script: &str, stdin: &[u8]) -> (i32, Vec<u8>, String) {
        let out = LocalTransport::default()
            .exec(ExecRequest {
                command: script,
                stdin: Some(stdin),
                deadline: Some(std::time::Duration::from_secs(30)),
                on_output: &mut |_, _| {},
                keep_stdout: true,
            })
            .unwrap();
        (
            out.code.unwrap_or(-1),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn replace(path: &str, backup: bool) -> Replace<'_> {
        Replace {
            path,
            mode: 0o640,
            chown: None,
            backup,
            token: "0123456789abcdef",
        }
    }

    #[test]
    fn replaces_atomically_with_the_mode_and_a_backup_link() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a b.conf");
        std::fs::write(&path, "old\n").unwrap();
        let old_inode = std::fs::metadata(&path).unwrap().ino();
        let p = path.to_str().unwrap();
        let (code, _, err) = sh(&replace_script(&replace(p, true)), b"new\n");
        assert_eq!(code, 0, "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o640);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let backup = names
            .iter()
            .find(|n| n.starts_with("a b.conf.off-backup-"))
            .unwrap_or_else(|| panic!("no backup in {names:?}"));
        assert!(backup.ends_with("-012345"), "{backup}");
        let backup = dir.path().join(backup);
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), "old\n");
        assert_eq!(std::fs::metadata(&backup).unwrap().ino(), old_inode);
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    }

    #[test]
    fn refuses_a_symlink_or_a_directory_at_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "victim").unwrap();
        let link = dir.path().join("link");
        symlink(&victim, &link).unwrap();
        let (code, _, err) = sh(
            &replace_script(&replace(link.to_str().unwrap(), true)),
            b"x",
        );
        assert_eq!(code, 1);
        assert!(
            complaint(&err).ends_with("link is a symbolic link; off never writes through one"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let (code, _, err) = sh(
            &replace_script(&replace(sub.to_str().unwrap(), false)),
            b"x",
        );
        assert_eq!(code, 1);
        assert!(complaint(&err).contains("is not a regular file"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn a_complaint_carries_the_cause_the_tool_gave() {
        assert_eq!(
            complaint(
                "cat: write error: No space left on device\noff: writing the temporary file failed\n"
            ),
            "writing the temporary file failed: cat: write error: No space left on device"
        );
        assert_eq!(complaint("off: a\n"), "a");
        assert_eq!(complaint("sh: 1: x\n\n"), "sh: 1: x");
    }

    #[test]
    fn never_reuses_a_planted_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "victim").unwrap();
        symlink(&victim, dir.path().join(".f.off-0123456789abcdef")).unwrap();
        let path = dir.path().join("f");
        let (code, _, _) = sh(
            &replace_script(&replace(path.to_str().unwrap(), false)),
            b"x",
        );
        assert_ne!(code, 0);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim");
        assert!(!path.exists());
    }

    #[test]
    fn a_terminated_write_leaves_no_temporary_file() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Standard input stays open, so the script waits in `cat` with its
        // temporary file created, until its process group is terminated.
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(replace_script(&replace(path.to_str().unwrap(), false)))
            .stdin(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let entries = || std::fs::read_dir(dir.path()).unwrap().count();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while entries() == 0 && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(entries(), 1, "the temporary file was never created");
        unsafe { libc::kill(-(child.id() as i32), libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert_eq!(entries(), 0, "the temporary file was left behind");
    }

    #[test]
    fn reads_state_and_content_through_one_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"data\n\0bin").unwrap();
        let p = path.to_str().unwrap();
        let (code, out, err) = sh(&read_script(p, true), b"");
        assert_eq!(code, 0, "{err}");
        let ReadOutcome::File { state, content } = parse_read(&out).unwrap() else {
            panic!("{out:?}");
        };
        assert_eq!(content, b"data\n\0bin");
        use sha2::Digest;
        let sha: String = sha2::Sha256::digest(b"data\n\0bin")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(state.sha256, sha);
        let uid = unsafe { libc::getuid() };
        assert!(state.owned_by(&uid.to_string()) && state.owned_by(&state.owner));
        assert!(!state.owned_by("no-such-user"));
        let link = dir.path().join("link");
        symlink(&path, &link).unwrap();
        let (_, out, _) = sh(&read_script(link.to_str().unwrap(), false), b"");
        assert!(parse_read(&out).unwrap_err().contains("symbolic link"));
        let (_, out, _) = sh(
            &read_script(dir.path().join("none").to_str().unwrap(), false),
            b"",
        );
        assert_eq!(parse_read(&out), Ok(ReadOutcome::Absent));
    }
}
