//! A long-running process on a target with its pipes in the caller's hands:
//! what `--push` runs the recipe binary in.
//!
//! An [`ExecRequest`](crate::ExecRequest) writes its standard input whole and
//! closes it; a [`Channel`]'s standard input stays open as long as the caller
//! keeps it, so the process on the other end can read requests from it for
//! as long as it runs, and learns that the connection is gone when it reads
//! end-of-file.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::TransportError;

/// A process started on a target with [`crate::Transport::open_channel`].
pub struct Channel {
    /// The process's standard input, open until taken and dropped.
    pub stdin: Option<File>,
    pub stdout: File,
    pub stderr: File,
    /// What keeps the process attached (the SSH client's child, a local
    /// child process); dropping the channel ends it.
    pub(crate) _owner: Box<dyn Send>,
}

impl Channel {
    /// A channel over the pipes of a process owned by `owner`. The pipes
    /// are made blocking: the caller reads and writes them from threads of
    /// its own.
    pub(crate) fn new(
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
        owner: Box<dyn Send>,
    ) -> Result<Channel, TransportError> {
        let blocking = |fd: OwnedFd| {
            set_blocking(&fd).map_err(|e| TransportError::Io(format!("channel pipe: {e}")))?;
            Ok::<File, TransportError>(File::from(fd))
        };
        Ok(Channel {
            stdin: Some(blocking(stdin)?),
            stdout: blocking(stdout)?,
            stderr: blocking(stderr)?,
            _owner: owner,
        })
    }
}

fn set_blocking(fd: &OwnedFd) -> std::io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a file descriptor we own, with flag arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A local child process that is killed (with its process group) and reaped
/// when its channel is dropped.
pub(crate) struct LocalChild(pub std::process::Child);

impl Drop for LocalChild {
    fn drop(&mut self) {
        // SAFETY: signalling the process group this child leads.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}
