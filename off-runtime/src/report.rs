//! What a run shows while it works: each operation and its output, per host.
//!
//! Operations report to a [`RunObserver`]; the default [`Console`] prints
//! Fabric-style lines prefixed with `[user@host]`. Progress displays and event
//! files are further observers.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::transport::Stream;

/// One operation as observers see it. The command is the user's command
/// (never the sudo wrapper, never a password).
#[derive(Debug, Clone)]
pub struct OpEvent<'a> {
    pub host: &'a str,
    pub op: &'static str,
    pub command: &'a str,
    /// The operation runs under `settings(quiet)`: consoles should not echo it.
    pub quiet: bool,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    Ok { changed: bool },
    Failed,
}

pub trait RunObserver: Send + Sync {
    fn op_started(&self, _event: &OpEvent<'_>) {}
    /// One complete line of a command's output (without its newline).
    fn output_line(&self, _host: &str, _stream: Stream, _line: &str) {}
    fn op_finished(&self, _event: &OpEvent<'_>, _status: OpStatus, _duration: Duration) {}
    /// A message that is not an operation's output (warnings, the summary).
    fn message(&self, _text: &str) {}
}

/// Prints operations and their output to standard output, one whole line at
/// a time so the lines of parallel hosts never interleave mid-line.
pub struct Console {
    /// `false` (`-q`) prints neither commands nor their output, only messages.
    pub echo: bool,
    lock: Mutex<()>,
}

impl Console {
    pub fn new(echo: bool) -> Self {
        Console {
            echo,
            lock: Mutex::new(()),
        }
    }

    fn line(&self, text: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

impl Default for Console {
    fn default() -> Self {
        Console::new(true)
    }
}

/// The echo of an operation starting: `[root@db1] sudo: apt-get update`.
pub fn op_started_line(event: &OpEvent<'_>) -> String {
    format!("[{}] {}: {}", event.host, event.op, event.command)
}

/// The echo of an operation's end, on the line after its output:
/// `[root@db1] ok` (the host already was as asked), `[root@db1] changed`,
/// `[root@db1] failed`.
pub fn op_finished_line(event: &OpEvent<'_>, status: OpStatus) -> String {
    let status = match status {
        OpStatus::Ok { changed: false } => "ok",
        OpStatus::Ok { changed: true } => "changed",
        OpStatus::Failed => "failed",
    };
    format!("[{}] {status}", event.host)
}

/// The echo of one output line: `[root@db1] out: ...` (`err:` for stderr).
pub fn output_echo_line(host: &str, stream: Stream, line: &str) -> String {
    let tag = match stream {
        Stream::Stdout => "out",
        Stream::Stderr => "err",
    };
    format!("[{host}] {tag}: {line}")
}

impl RunObserver for Console {
    fn op_started(&self, event: &OpEvent<'_>) {
        if self.echo && !event.quiet {
            self.line(&op_started_line(event));
        }
    }

    fn output_line(&self, host: &str, stream: Stream, line: &str) {
        if self.echo {
            self.line(&output_echo_line(host, stream, line));
        }
    }

    fn op_finished(&self, event: &OpEvent<'_>, status: OpStatus, _duration: Duration) {
        if self.echo && !event.quiet {
            self.line(&op_finished_line(event, status));
        }
    }

    fn message(&self, text: &str) {
        self.line(text);
    }
}

/// The longest line the echo shows whole; a longer one is shown in pieces
/// of this size, so one line without a newline never holds more memory.
pub(crate) const MAX_ECHO_LINE: usize = 64 * 1024;

/// Splits a command's output chunks into lines for [`RunObserver::output_line`],
/// in time linear in the output (each byte is scanned once).
pub(crate) struct LineSplitter {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl LineSplitter {
    pub(crate) fn new() -> Self {
        LineSplitter {
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        stream: Stream,
        mut chunk: &[u8],
        mut emit: impl FnMut(Stream, &str),
    ) {
        let pending = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        let mut show = |line: &[u8]| {
            let text = String::from_utf8_lossy(line);
            emit(stream, text.strip_suffix('\r').unwrap_or(&text));
        };
        while !chunk.is_empty() {
            // Only the new bytes are searched: what is pending has no newline.
            let room = MAX_ECHO_LINE - pending.len();
            let window = &chunk[..chunk.len().min(room)];
            match memchr::memchr(b'\n', window) {
                Some(at) => {
                    if pending.is_empty() {
                        show(&window[..at]);
                    } else {
                        pending.extend_from_slice(&window[..at]);
                        show(pending);
                        pending.clear();
                    }
                    chunk = &chunk[at + 1..];
                }
                None => {
                    pending.extend_from_slice(window);
                    chunk = &chunk[window.len()..];
                    if pending.len() == MAX_ECHO_LINE {
                        show(pending);
                        pending.clear();
                    }
                }
            }
        }
    }

    /// Emits what is left after the last newline.
    pub(crate) fn finish(&mut self, mut emit: impl FnMut(Stream, &str)) {
        for (stream, buffer) in [
            (Stream::Stdout, &mut self.stdout),
            (Stream::Stderr, &mut self.stderr),
        ] {
            if !buffer.is_empty() {
                emit(stream, &String::from_utf8_lossy(buffer));
                buffer.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_chunks_into_lines_per_stream() {
        let mut lines = Vec::new();
        let mut splitter = LineSplitter::new();
        let mut emit = |s: Stream, l: &str| lines.push((s, l.to_string()));
        splitter.push(Stream::Stdout, b"a\nb", &mut emit);
        splitter.push(Stream::Stderr, b"e1\r\n", &mut emit);
        splitter.push(Stream::Stdout, b"c\n\nd", &mut emit);
        splitter.finish(&mut emit);
        let expected = [
            (Stream::Stdout, "a"),
            (Stream::Stderr, "e1"),
            (Stream::Stdout, "bc"),
            (Stream::Stdout, ""),
            (Stream::Stdout, "d"),
        ];
        assert_eq!(lines, expected.map(|(s, l)| (s, l.to_string())).to_vec());
    }

    #[test]
    fn a_long_line_is_shown_in_bounded_pieces_in_linear_time() {
        // 32 MB without a newline, in 1 KB chunks: the old splitter rescanned
        // the whole pending line for every chunk (hours for this input).
        let mut splitter = LineSplitter::new();
        let mut pieces = Vec::new();
        let chunk = [b'x'; 1024];
        for _ in 0..32 * 1024 {
            splitter.push(Stream::Stdout, &chunk, |_, l| pieces.push(l.len()));
        }
        splitter.push(Stream::Stdout, b"end\n", |_, l| pieces.push(l.len()));
        assert!(splitter.stdout.capacity() <= 2 * MAX_ECHO_LINE);
        assert_eq!(pieces.len(), 32 * 1024 * 1024 / MAX_ECHO_LINE + 1);
        assert!(
            pieces[..pieces.len() - 1]
                .iter()
                .all(|&n| n == MAX_ECHO_LINE)
        );
        assert_eq!(*pieces.last().unwrap(), 3, "the line's last piece: `end`");
    }
}
