//! The framing protocol between off and a persistent remote shell.
//!
//! One `/bin/sh` per host reads requests from its standard input. A request
//! is a small script: it runs the command in a subshell (so `exit`, `exec`
//! and `cd` stay inside it) whose standard input is `/dev/null` or the
//! request's own bytes, and then prints an end marker on stderr and one with
//! the exit code on stdout. The command is written in place when it is plain
//! literal words ([`is_plain`]); anything else is stored in a variable and
//! run with `eval`, so no command text can upset the session's own parsing.
//!
//! Output is not encoded: the command's bytes go straight through, and the
//! markers carry a random per-session nonce that no command can guess, so
//! finding the marker in the stream is enough to know where the output ends.
//! (A background process that an earlier command left writing to its output
//! shows up in a later command's output, as it would in a terminal; a
//! begin marker could drop it, at the price of two more packets per command.)

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use off_shell::quote;

/// The line a freshly started shell prints when it is ready for requests.
pub(super) const READY: &[u8] = b"off-shell-ready\n";

/// The markers of one session.
#[derive(Debug, Clone)]
pub(super) struct Markers {
    nonce: String,
}

impl Markers {
    /// Markers with a fresh random nonce (128 bits, hex).
    pub fn random() -> Markers {
        let bytes: [u8; 16] = rand::random();
        let nonce = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Markers { nonce }
    }

    fn end(&self) -> String {
        format!("off-end-{}", self.nonce)
    }

    /// The script that runs `command` with `stdin` as its standard input
    /// (`/dev/null` when `None`) and reports its exit code.
    pub fn request(&self, command: &str, stdin: Option<&[u8]>) -> Vec<u8> {
        let end = self.end();
        // A plain command goes into the frame as it is: the subshell then
        // runs it without the extra fork `eval` costs. Anything else is
        // kept in a variable and `eval`ed, so that no command text (an
        // unbalanced quote, a syntax error) can reach the session's parser.
        let (mut frame, subshell) = if is_plain(command) {
            (String::new(), format!("( {command} )"))
        } else {
            (
                format!("__off_cmd={}\n", quote(command)),
                "( eval \"$__off_cmd\" )".to_string(),
            )
        };
        match stdin {
            None => frame.push_str(&format!("{subshell} </dev/null\n")),
            Some(data) => {
                // The bytes travel in a here-document (a pipe in the shell,
                // never a command line), base64 so that any byte and any line
                // survive; the terminator cannot occur in base64 text.
                let terminator = format!("OFF_IN_{}", self.nonce);
                frame.push_str(&format!("base64 -d <<'{terminator}' | {subshell}\n"));
                let encoded = BASE64.encode(data);
                for line in encoded.as_bytes().chunks(76) {
                    frame.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
                    frame.push('\n');
                }
                frame.push_str(&terminator);
                frame.push('\n');
            }
        }
        // stderr's marker first: by the time sshd sees the stdout one, both
        // are usually there to go out together.
        frame.push_str(&format!(
            "__off_status=$?\nprintf '%s\\n' {end} >&2; printf '%s %s\\n' {end} \"$__off_status\"\n"
        ));
        frame.into_bytes()
    }

    /// A parser for one request's standard output or standard error.
    pub fn scanner(&self) -> Scanner {
        Scanner::new(&self.end())
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Passing the command's bytes on until the end marker.
    Body,
    /// Reading the rest of the end marker's line.
    Trailer,
    Done,
}

/// Finds one request's output in a stream that arrives in arbitrary pieces.
#[derive(Debug)]
pub(super) struct Scanner {
    end: Vec<u8>,
    phase: Phase,
    /// Bytes that may be the start of a marker, held back until the next
    /// piece tells whether they are.
    held: Vec<u8>,
    trailer: Vec<u8>,
}

impl Scanner {
    fn new(end: &str) -> Scanner {
        Scanner {
            end: end.as_bytes().to_vec(),
            phase: Phase::Body,
            held: Vec::new(),
            trailer: Vec::new(),
        }
    }

    /// Consumes the next piece of the stream, handing the command's output
    /// to `emit`. Returns `true` once the end marker's line is complete;
    /// anything after it is dropped.
    pub fn push(&mut self, piece: &[u8], emit: &mut dyn FnMut(&[u8])) -> bool {
        let joined;
        let mut data: &[u8] = if self.held.is_empty() {
            piece
        } else {
            let mut held = std::mem::take(&mut self.held);
            held.extend_from_slice(piece);
            joined = held;
            &joined
        };
        loop {
            match self.phase {
                Phase::Body => match memchr::memmem::find(data, &self.end) {
                    Some(at) => {
                        if at > 0 {
                            emit(&data[..at]);
                        }
                        data = &data[at + self.end.len()..];
                        self.phase = Phase::Trailer;
                    }
                    None => {
                        let tail = marker_prefix_tail(data, &self.end);
                        let body = &data[..data.len() - tail.len()];
                        if !body.is_empty() {
                            emit(body);
                        }
                        self.held = tail.to_vec();
                        return false;
                    }
                },
                Phase::Trailer => match memchr::memchr(b'\n', data) {
                    Some(at) => {
                        self.trailer.extend_from_slice(&data[..at]);
                        self.phase = Phase::Done;
                    }
                    None => {
                        self.trailer.extend_from_slice(data);
                        return false;
                    }
                },
                Phase::Done => return true,
            }
        }
    }

    /// The exit code the end marker carried (stdout's marker has one).
    pub fn exit_code(&self) -> Option<i32> {
        std::str::from_utf8(&self.trailer).ok()?.trim().parse().ok()
    }
}

/// The longest end of `data` that is a proper prefix of `marker`: bytes that
/// may turn into the marker with the next piece.
fn marker_prefix_tail<'d>(data: &'d [u8], marker: &[u8]) -> &'d [u8] {
    let longest = (marker.len() - 1).min(data.len());
    (1..=longest)
        .rev()
        .map(|n| &data[data.len() - n..])
        .find(|tail| marker.starts_with(tail))
        .unwrap_or(&[])
}

/// Whether `command` is one simple command of literal words (unquoted safe
/// characters and single-quoted strings), which the session's shell can
/// parse in place without any risk: no operators, redirections, expansions,
/// comments or reserved words.
fn is_plain(command: &str) -> bool {
    const RESERVED: [&str; 13] = [
        "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then", "until",
        "while",
    ];
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    let mut words = 0;
    // The unquoted characters of the current word, to spot reserved words.
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    loop {
        let c = chars.next();
        match c {
            None | Some(' ') => {
                if in_word {
                    if RESERVED.contains(&word.as_str()) {
                        return false;
                    }
                    words += 1;
                    word.clear();
                    in_word = false;
                }
                if c.is_none() {
                    return words > 0;
                }
            }
            // A quoted part runs to the next quote; anything but `'` is data.
            Some('\'') => {
                if !chars.by_ref().any(|c| c == '\'') {
                    return false;
                }
                in_word = true;
                word.push('\'');
            }
            Some(c) if safe(c) => {
                word.push(c);
                in_word = true;
            }
            Some(_) => return false,
        }
    }
}

/// Watches a starting shell's standard output for [`READY`].
#[derive(Debug, Default)]
pub(super) struct ReadyScanner {
    seen: Vec<u8>,
}

impl ReadyScanner {
    /// Consumes a piece of output; `true` once the ready line was seen.
    /// Whatever a login script prints before it is ignored.
    pub fn push(&mut self, piece: &[u8]) -> bool {
        self.seen.extend_from_slice(piece);
        if memchr::memmem::find(&self.seen, READY).is_some() {
            return true;
        }
        let keep = marker_prefix_tail(&self.seen, READY).len();
        self.seen.drain(..self.seen.len() - keep);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn markers() -> Markers {
        Markers {
            nonce: "0123abcd".into(),
        }
    }

    /// Feeds `stream` to a scanner in pieces of `size` bytes.
    fn scan(stream: &[u8], size: usize) -> (Vec<u8>, bool, Option<i32>) {
        let mut scanner = markers().scanner();
        let mut out = Vec::new();
        let mut done = false;
        for piece in stream.chunks(size) {
            done = scanner.push(piece, &mut |b| out.extend_from_slice(b));
            if done {
                break;
            }
        }
        (out, done, scanner.exit_code())
    }

    #[test]
    fn finds_output_between_markers_whatever_the_split() {
        let body = b"bin\0ary off-end-0123ab and no newline";
        let mut stream = body.to_vec();
        stream.extend_from_slice(b"off-end-0123abcd 42\nleftover");
        for size in 1..=stream.len() {
            let (out, done, code) = scan(&stream, size);
            assert!(done, "split {size}");
            assert_eq!(
                out, b"bin\0ary off-end-0123ab and no newline",
                "split {size}"
            );
            assert_eq!(code, Some(42), "split {size}");
        }
    }

    #[test]
    fn unfinished_stream_is_not_done() {
        let (out, done, code) = scan(b"partial off-end-01", 3);
        assert!(!done);
        assert_eq!(out, b"partial ");
        assert_eq!(code, None);
    }

    #[test]
    fn request_quotes_the_command_and_hides_stdin_in_base64() {
        let frame =
            String::from_utf8(markers().request("echo 'x'; cat", Some(b"secret\0"))).unwrap();
        assert!(
            frame.contains(r#"__off_cmd='echo '\''x'\''; cat'"#),
            "{frame}"
        );
        assert!(frame.contains("| ( eval \"$__off_cmd\" )\n"), "{frame}");
        assert!(frame.contains("base64 -d <<'OFF_IN_0123abcd'"), "{frame}");
        assert!(frame.contains(&format!("\n{}\n", BASE64.encode(b"secret\0"))));
        assert!(!frame.contains("secret"));
        let frame = String::from_utf8(markers().request("true && false", None)).unwrap();
        assert!(
            frame.contains("( eval \"$__off_cmd\" ) </dev/null"),
            "{frame}"
        );
    }

    #[test]
    fn plain_commands_are_literal_words_only() {
        for plain in [
            "/bin/true",
            "systemctl restart 'my unit'",
            "printf %s 'a;b|c$(d)'",
            "A=1 env",
            "'quoted' command",
            "echo ''",
        ] {
            assert!(is_plain(plain), "{plain}");
        }
        for not_plain in [
            "",
            "a; b",
            "a && b",
            "echo $HOME",
            "echo 'unbalanced",
            "echo \"x\"",
            "if",
            "echo a\nb",
            "echo *",
            "echo ~",
            "cat <x",
            "echo a  # comment",
            "( x )",
            "echo a\\ b",
        ] {
            assert!(!is_plain(not_plain), "{not_plain}");
        }
        // An unbalanced quote spanning words is not plain either.
        assert!(!is_plain("echo 'a b"));
        let frame = String::from_utf8(markers().request("/bin/true", None)).unwrap();
        assert!(frame.starts_with("( /bin/true ) </dev/null\n"), "{frame}");
    }

    #[test]
    fn ready_line_after_login_noise() {
        let mut ready = ReadyScanner::default();
        assert!(!ready.push(b"welcome\noff-shell"));
        assert!(ready.push(b"-ready\n"));
    }
}
