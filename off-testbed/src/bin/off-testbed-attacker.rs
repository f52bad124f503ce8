//! An unprivileged user's attacks on the files a deploy writes, for the file-safety tests.
//!
//! It runs on a test host (or the control machine) as a non-root uid, watches directories with
//! inotify and reacts to what a deploy creates within microseconds, which a shell loop could not:
//!
//! - `swap DIR TARGET`: every entry created in DIR is at once replaced (rename(2) of a prepared
//!   symlink over it) by a symlink to TARGET, so a root process that then chmods, chowns or writes
//!   that name reaches TARGET instead;
//! - `plant FILE TARGET SECONDS`: symlinks to TARGET at `FILE.off-backup-<time>` for every second
//!   of the next SECONDS (the backup names a deploy would predictably use), logging every entry
//!   created in FILE's directory afterwards;
//! - `snoop DIR...`: opens every file created in the DIRs read-only at once and keeps the handle;
//!   at the end reads each one from its start, so content written later (after a chmod that came
//!   too late) is still seen.
//!
//! Usage: `off-testbed-attacker MODE ARGS... --log FILE`. It writes `FILE.ready` once its watches
//! are in place, runs until SIGTERM, then writes its log (one `what<TAB>path[<TAB>hex]` line per
//! event) and `FILE.done`.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Names this program creates itself, never attacked.
const OWN_PREFIX: &str = ".off-attacker-";

enum Mode {
    Swap { target: PathBuf },
    Watch,
    Snoop,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(at) = args.iter().position(|a| a == "--log") else {
        usage();
    };
    let log = PathBuf::from(args.get(at + 1).unwrap_or_else(|| usage()));
    let rest = &args[..at];
    // SAFETY: installs an async-signal-safe handler that only stores to an atomic.
    unsafe { libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t) };

    let mut events = Vec::new();
    let (mode, dirs) = match rest {
        [m, dir, target] if m == "swap" => (
            Mode::Swap {
                target: target.into(),
            },
            vec![PathBuf::from(dir)],
        ),
        [m, file, target, seconds] if m == "plant" => {
            let file = PathBuf::from(file);
            let seconds: i64 = seconds.parse().unwrap_or_else(|_| usage());
            let planted = plant_backup_links(&file, Path::new(target), seconds);
            events.push(format!("planted\t{planted}"));
            let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
            (Mode::Watch, vec![dir])
        }
        [m, dirs @ ..] if m == "snoop" && !dirs.is_empty() => {
            (Mode::Snoop, dirs.iter().map(PathBuf::from).collect())
        }
        _ => usage(),
    };

    let mut opened: Vec<(PathBuf, File)> = Vec::new();
    let inotify = Inotify::watch(&dirs);
    write_file(&with_suffix(&log, ".ready"), b"");
    let mut swaps = 0u64;
    while !STOP.load(Ordering::SeqCst) {
        for path in inotify.created(100) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with(OWN_PREFIX) {
                continue;
            }
            match &mode {
                Mode::Swap { target } => {
                    swaps += 1;
                    let link = path.with_file_name(format!("{OWN_PREFIX}{swaps}"));
                    let swapped = std::os::unix::fs::symlink(target, &link).is_ok()
                        && std::fs::rename(&link, &path).is_ok();
                    let what = if swapped { "swapped" } else { "swap-failed" };
                    events.push(format!("{what}\t{}", path.display()));
                }
                Mode::Watch => events.push(format!("created\t{}", path.display())),
                Mode::Snoop => match std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(&path)
                {
                    Ok(file) => {
                        events.push(format!("opened\t{}", path.display()));
                        opened.push((path, file));
                    }
                    Err(e) => events.push(format!("denied\t{}\t{e}", path.display())),
                },
            }
        }
    }
    for (path, mut file) in opened {
        let mut content = Vec::new();
        let _ = file.rewind();
        let _ = file.read_to_end(&mut content);
        let hex: String = content.iter().map(|b| format!("{b:02x}")).collect();
        events.push(format!("read\t{}\t{hex}", path.display()));
    }
    let mut text = events.join("\n");
    text.push('\n');
    write_file(&log, text.as_bytes());
    write_file(&with_suffix(&log, ".done"), b"");
}

fn usage() -> ! {
    eprintln!(
        "usage: off-testbed-attacker swap DIR TARGET | plant FILE TARGET SECONDS | snoop DIR... --log FILE"
    );
    std::process::exit(2);
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

fn write_file(path: &Path, data: &[u8]) {
    let mut f = File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(data).unwrap();
}

/// Symlinks at every backup name `FILE.off-backup-%Y%m%dT%H%M%S` of the next `seconds` seconds.
fn plant_backup_links(file: &Path, target: &Path, seconds: i64) -> usize {
    let mut planted = 0;
    // SAFETY: time(2) with a null pointer only returns the time.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    for t in now..now + seconds {
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: localtime_r writes into the tm we own.
        unsafe { libc::localtime_r(&t, &mut tm) };
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        );
        let link = with_suffix(file, &format!(".off-backup-{stamp}"));
        if std::os::unix::fs::symlink(target, link).is_ok() {
            planted += 1;
        }
    }
    planted
}

/// An inotify instance watching directories for new entries.
struct Inotify {
    fd: libc::c_int,
    dirs: HashMap<libc::c_int, PathBuf>,
}

impl Inotify {
    fn watch(dirs: &[PathBuf]) -> Inotify {
        // SAFETY: plain syscalls on a descriptor this struct owns.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(
            fd >= 0,
            "inotify_init1: {}",
            std::io::Error::last_os_error()
        );
        let mut watches = HashMap::new();
        for dir in dirs {
            let c = CString::new(dir.as_os_str().as_bytes()).unwrap();
            let wd = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_CREATE) };
            assert!(
                wd >= 0,
                "watching {}: {}",
                dir.display(),
                std::io::Error::last_os_error()
            );
            watches.insert(wd, dir.clone());
        }
        Inotify { fd, dirs: watches }
    }

    /// Paths created since the last call, waiting up to `timeout_ms` for the first.
    fn created(&self, timeout_ms: i32) -> Vec<PathBuf> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, timeout_ms) } <= 0 {
            return Vec::new();
        }
        let mut buf = [0u8; 64 * 1024];
        // SAFETY: reads into a buffer we own, of the length we pass.
        let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return Vec::new();
        }
        let mut paths = Vec::new();
        let header = std::mem::size_of::<libc::inotify_event>();
        let mut at = 0usize;
        while at + header <= n as usize {
            // SAFETY: the kernel wrote whole events; read_unaligned copes with the byte buffer.
            let event: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let name = &buf[at + header..at + header + event.len as usize];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if let Some(dir) = self.dirs.get(&event.wd) {
                paths.push(dir.join(OsStr::from_bytes(name)));
            }
            at += header + event.len as usize;
        }
        paths
    }
}
