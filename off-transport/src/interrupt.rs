//! Nothing off starts outlives it: the local commands that are running and
//! the SSH master connections are tracked here while they live, so that
//! SIGINT and SIGTERM can end them.
//!
//! A binary calls [`install`] before it starts anything. At the first
//! signal, every run is cancelled (operations not yet started fail), the
//! running local commands are ended (their process groups, and the groups
//! their children made, get SIGTERM, then SIGKILL), and the SSH masters are
//! stopped and their control directories removed, which ends the remote
//! commands' channels and so the operations waiting on them. The run then
//! unwinds as after any failure, and the binary exits 130 ([`exit_code`]).
//! When it has not unwound [`UNWIND`] later, or at a second signal, the
//! process exits 130 at once, after the same cleanup.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, Weak};
use std::time::{Duration, Instant};

use off_error::exit_code;

/// How long a run may take to unwind after a signal.
const UNWIND: Duration = Duration::from_secs(5);

/// How long a local command may take to end after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(1);

/// The number of the signal that interrupted the process; 0 while none has.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

static LIVE: Mutex<Live> = Mutex::new(Live {
    next: 0,
    entries: Vec::new(),
});

struct Live {
    next: u64,
    entries: Vec<(u64, Entry)>,
}

enum Entry {
    /// The process that leads a local command's process group.
    Command(i32),
    Master(Master),
    Run(Weak<dyn Cancel>),
}

/// A run of operations that a signal cancels: the operations not yet
/// started fail.
pub trait Cancel: Send + Sync {
    fn cancel(&self);
}

/// An SSH master connection: its `ssh -M` process and control directory.
#[derive(Debug, Clone)]
pub(crate) struct Master {
    pub pid: u32,
    /// The control socket, inside `control_dir`.
    pub socket: PathBuf,
    /// A directory of this connection's own, removed with it.
    pub control_dir: PathBuf,
}

impl Master {
    /// Stops the master and removes its control directory.
    pub(crate) fn end(&self) {
        if self.is_running() {
            // SAFETY: kill(2) on a pid whose command line names our control
            // socket: the master we started.
            unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        }
        let _ = std::fs::remove_dir_all(&self.control_dir);
    }

    /// Whether `pid` is still our master (and not a process that reused
    /// its pid): its command line names our control socket.
    fn is_running(&self) -> bool {
        match std::fs::read(format!("/proc/{}/cmdline", self.pid)) {
            Ok(cmdline) => {
                let socket = self.socket.as_os_str().as_encoded_bytes();
                cmdline.split(|&b| b == 0).any(|arg| arg == socket)
            }
            // Without /proc, the pid cannot be checked: trust it.
            Err(_) => !std::path::Path::new("/proc/self").exists(),
        }
    }
}

/// Tracks something while it lives; dropping it stops tracking (and ends
/// nothing).
#[must_use]
pub struct Tracked(u64);

impl Drop for Tracked {
    fn drop(&mut self) {
        live().entries.retain(|(id, _)| *id != self.0);
    }
}

fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

fn track(entry: Entry) -> Tracked {
    let mut live = live();
    // A signal came while this was starting: end it now, as the cleanup
    // (which holds the same lock) did for everything before it.
    if interrupted() {
        match &entry {
            Entry::Command(pid) => end_commands(&[*pid]),
            Entry::Master(master) => master.end(),
            Entry::Run(run) => cancel(run),
        }
    }
    live.next += 1;
    let id = live.next;
    live.entries.push((id, entry));
    Tracked(id)
}

/// Tracks a local command whose process `pid` leads a process group of its own.
pub(crate) fn track_command(pid: u32) -> Tracked {
    track(Entry::Command(pid as i32))
}

pub(crate) fn track_master(master: Master) -> Tracked {
    track(Entry::Master(master))
}

/// Tracks a run, cancelled at the first signal (at once if one came).
pub fn track_run<R: Cancel + 'static>(run: &Arc<R>) -> Tracked {
    let run: Weak<R> = Arc::downgrade(run);
    track(Entry::Run(run))
}

fn cancel(run: &Weak<dyn Cancel>) {
    if let Some(run) = run.upgrade() {
        run.cancel();
    }
}

/// Whether SIGINT or SIGTERM came.
pub fn interrupted() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// The signal's name, for messages: `SIGINT` or `SIGTERM`.
pub fn signal_name() -> &'static str {
    match SIGNAL.load(Ordering::SeqCst) {
        libc::SIGTERM => "SIGTERM",
        _ => "SIGINT",
    }
}

/// `code`, or 130 when the process was interrupted.
pub fn exit_code(code: u8) -> u8 {
    if interrupted() {
        exit_code::INTERRUPTED
    } else {
        code
    }
}

/// Handles SIGINT and SIGTERM from now on, as the module docs say. Call
/// it once, first thing in a binary's `main`; later calls do nothing.
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered here, not on the thread, so that no signal between
        // this call and the thread's start takes the default action.
        let _runtime = crate::runtime::enter();
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("off-signals".into())
            .spawn(move || {
                let next = async {
                    tokio::select! {
                        _ = int.recv() => libc::SIGINT,
                        _ = term.recv() => libc::SIGTERM,
                    }
                };
                let first = crate::runtime::block_on(next);
                SIGNAL.store(first, Ordering::SeqCst);
                end_everything();
                // The run unwinds; give up on it after UNWIND, or at once
                // when the user insists.
                let next = async {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                        _ = tokio::time::sleep(UNWIND) => {}
                    }
                };
                crate::runtime::block_on(next);
                end_everything();
                std::process::exit(exit_code::INTERRUPTED.into());
            });
        if spawned.is_err() {
            eprintln!("warning: cannot watch for Ctrl-C; it will not clean up");
        }
    });
}

/// Cancels every run, ends every local command and stops every SSH master.
fn end_everything() {
    let live = live();
    let mut commands = Vec::new();
    for (_, entry) in &live.entries {
        match entry {
            Entry::Command(pid) => commands.push(*pid),
            Entry::Master(master) => master.end(),
            Entry::Run(run) => cancel(run),
        }
    }
    end_commands(&commands);
}

/// Ends the local commands led by `pids`: SIGTERM to their process groups
/// and to the groups their descendants made (coreutils `timeout` makes one),
/// then, for what is left after [`TERM_GRACE`], SIGKILL.
pub(crate) fn end_commands(pids: &[i32]) {
    let groups = command_groups(pids);
    signal_groups(&groups, libc::SIGTERM);
    let until = Instant::now() + TERM_GRACE;
    while Instant::now() < until && groups.iter().any(|&g| group_exists(g)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_groups(&groups, libc::SIGKILL);
}

/// Kills the local commands led by `pids` at once, with the groups their
/// descendants made.
pub(crate) fn kill_commands(pids: &[i32]) {
    signal_groups(&command_groups(pids), libc::SIGKILL);
}

fn signal_groups(groups: &[i32], signal: i32) {
    for &group in groups {
        // SAFETY: kill(2) with a negative pid signals a process group:
        // one of a command we started (never our own, see command_groups).
        unsafe { libc::kill(-group, signal) };
    }
}

fn group_exists(group: i32) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::kill(-group, 0) == 0 }
}

/// The process groups of the commands led by `pids` and of all their
/// descendants, never the group of this process.
fn command_groups(pids: &[i32]) -> Vec<i32> {
    // SAFETY: getpgrp(2) cannot fail.
    let own = unsafe { libc::getpgrp() };
    let mut groups: Vec<i32> = pids.to_vec();
    // (pid, parent, group) of every process, from /proc (Linux).
    let table: Vec<(i32, i32, i32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The command name may hold anything, up to the last ')'.
            let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
            let parent = fields.nth(1)?.parse().ok()?;
            let group = fields.next()?.parse().ok()?;
            Some((pid, parent, group))
        })
        .collect();
    let mut family: Vec<i32> = pids.to_vec();
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        for &(pid, ppid, group) in &table {
            if ppid == parent && !family.contains(&pid) {
                family.push(pid);
                if !groups.contains(&group) {
                    groups.push(group);
                }
            }
        }
        i += 1;
    }
    groups.retain(|&g| g != own && g > 1);
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn ends_a_command_and_the_groups_its_children_made() {
        use std::os::unix::process::CommandExt;
        // `timeout` moves itself and the command into a group of its own.
        let mut child = Command::new("/bin/sh")
            .args(["-c", "timeout 60 sleep 60; echo unreachable"])
            .process_group(0)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let started = Instant::now();
        let mut groups = Vec::new();
        while groups.len() < 2 && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
            groups = command_groups(&[pid]);
        }
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(groups[0], pid);
        end_commands(&[pid]);
        let status = child.wait().unwrap();
        assert!(!status.success());
        // Processes that lost their parent are reaped by init, in its time.
        let ended = Instant::now();
        while groups.iter().any(|&g| group_exists(g)) && ended.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for group in groups {
            assert!(!group_exists(group), "group {group} survived");
        }
    }
}
