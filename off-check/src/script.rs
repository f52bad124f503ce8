//! The one script that gathers everything a spec asks about a host, and the
//! parser of what it prints.
//!
//! The script is plain POSIX `sh` (every spec value shell-quoted), sent on
//! standard input so its size is not limited by the command line. It only
//! *collects* facts (stat lines, checksums, command outputs, /proc/net/tcp);
//! every comparison happens on the control machine, so the report can show
//! the actual value of everything.
//!
//! Output protocol, parsed by [`Facts::parse`]:
//! - `@@SECTION` lines start a section whose plain lines follow
//!   (`@@stat`, `@@sha256`, `@@pkg`);
//! - `@@blob KEY LEN` is followed by exactly LEN bytes and a newline;
//! - `@@code KEY N`, `@@svc NAME EXISTS RUNNING ENABLED` are one-line facts;
//! - `@@end` says the script ran to its end.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::spec::{CheckSpec, ServiceState};
use off_shell::quote;

/// How many paths one `stat` or `sha256sum` invocation gets.
const PATHS_PER_CALL: usize = 200;
/// How much of a command's output the report can show.
const MAX_STDOUT: usize = 64 * 1024;
const MAX_STDERR: usize = 8 * 1024;
/// Timeout of the version command.
const VERSION_TIMEOUT_SECS: u64 = 30;

// The temporary directory has an unpredictable name made by mktemp (the
// script runs as root; a fixed name could be planted in /tmp beforehand) and
// is removed however the script ends. A blob is framed from one copy of its
// file: a file that changes while it is read (/proc/net/tcp) then cannot
// disagree with its own length.
const PRELUDE: &str = r#"set +e
umask 077
T=$(mktemp -d) || { echo 'off-check: mktemp -d cannot create a temporary directory' >&2; exit 90; }
trap 'rm -rf "$T"' EXIT
trap 'exit 129' HUP INT TERM
off_blob() {
  cat "$2" >"$T/$1.snap"
  printf '@@blob %s %s\n' "$1" "$(wc -c < "$T/$1.snap" | tr -d ' ')"
  cat "$T/$1.snap"
  echo
}
off_run() {
  k=$1; t=$2; shift 2
  if command -v timeout >/dev/null 2>&1; then
    (cd / && exec timeout -k 2 "$t" "$@") </dev/null >"$T/$k.o" 2>"$T/$k.e"
  else
    (cd / && exec "$@") </dev/null >"$T/$k.o" 2>"$T/$k.e"
  fi
  c=$?
  head -c MAX_STDOUT "$T/$k.o" >"$T/$k.o2"; head -c MAX_STDERR "$T/$k.e" >"$T/$k.e2"
  off_blob "$k.out" "$T/$k.o2"
  off_blob "$k.err" "$T/$k.e2"
  printf '@@code %s %s\n' "$k" "$c"
}
off_svc() {
  s=$1; status=$2; exists=0; running=0; enabled=0
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    if [ "$(systemctl show -p LoadState --value -- "$s" 2>/dev/null)" = loaded ]; then exists=1; fi
    systemctl is-active --quiet -- "$s" 2>/dev/null && running=1
    systemctl is-enabled --quiet -- "$s" 2>/dev/null && enabled=1
  elif [ -x "/etc/init.d/$s" ]; then
    exists=1
    [ "$status" = 1 ] && "/etc/init.d/$s" status </dev/null >/dev/null 2>&1 && running=1
    for l in /etc/rc[2345].d/S[0-9][0-9]"$s"; do [ -e "$l" ] && enabled=1; done
  else
    short=$(printf %.15s "$s")
    for f in /proc/[0-9]*/comm; do
      { IFS= read -r p < "$f"; } 2>/dev/null || continue
      if [ "$p" = "$short" ]; then exists=1; running=1; break; fi
    done
  fi
  printf '@@svc %s %s %s %s\n' "$s" "$exists" "$running" "$enabled"
}
echo '@@off-check 1'
"#;

/// The script for `spec`. Independent parts run as background jobs (the
/// files' stat, their checksums, each service, the commands), each writing to
/// its own file; the outputs are printed in a fixed order once all are done.
pub(crate) fn build(spec: &CheckSpec) -> String {
    let mut jobs: Vec<String> = Vec::new();
    let mut commands = String::new();
    if let Some(v) = &spec.version {
        let _ = writeln!(
            commands,
            "off_run v {VERSION_TIMEOUT_SECS} /bin/sh -c {}",
            quote(&v.cmd)
        );
    }
    for (i, a) in spec.alive_script.iter().enumerate() {
        let _ = writeln!(
            commands,
            "off_run a{i} {:.3} {} -c {}",
            a.timeout.as_secs_f64(),
            quote(&a.shell),
            quote(&a.cmd)
        );
    }
    for (i, c) in spec.command.iter().enumerate() {
        let _ = writeln!(
            commands,
            "off_run c{i} {:.3} /bin/sh -c {}",
            c.timeout.as_secs_f64(),
            quote(&c.cmd)
        );
    }
    if !commands.is_empty() {
        jobs.push(commands);
    }
    let mut quick = String::new();
    if !spec.os.is_empty() {
        quick.push_str(
            "if [ -r /etc/os-release ]; then off_blob os /etc/os-release; \
             elif [ -r /usr/lib/os-release ]; then off_blob os /usr/lib/os-release; fi\n",
        );
    }
    if !spec.port.is_empty() {
        quick.push_str(
            "for p in tcp tcp6; do [ -r /proc/net/$p ] && off_blob $p /proc/net/$p; done\n",
        );
    }
    if !spec.package.is_empty() {
        let mut names = String::new();
        for p in &spec.package {
            names.push(' ');
            names.push_str(&quote(&p.name));
        }
        let _ = writeln!(
            quick,
            "echo @@pkg\n\
             if command -v dpkg-query >/dev/null 2>&1; then echo dpkg; \
             dpkg-query -W -f='${{Package}}\\t${{Status}}\\t${{Version}}\\n' --{names} 2>/dev/null; \
             elif command -v rpm >/dev/null 2>&1; then echo rpm; \
             rpm -q --qf '%{{NAME}}\\tinstall ok installed\\t%{{VERSION}}-%{{RELEASE}}\\n' --{names} 2>/dev/null | grep '\t'; \
             else echo none; fi"
        );
    }
    if !quick.is_empty() {
        jobs.push(quick);
    }
    let paths: Vec<&str> = spec.config.iter().map(|f| f.path.as_str()).collect();
    if !paths.is_empty() {
        // -L: a config file that is a symlink is checked by its target, as
        // sha256sum reads it.
        jobs.push(path_calls(
            "@@stat",
            "stat -L -c '%s\t%a\t%u\t%U\t%g\t%G\t%F\t%n' --",
            &paths,
        ));
    }
    let hashed: Vec<&str> = spec
        .config
        .iter()
        .filter(|f| f.sha256.is_some())
        .map(|f| f.path.as_str())
        .collect();
    if !hashed.is_empty() {
        jobs.push(path_calls("@@sha256", "sha256sum --", &hashed));
    }
    // Whole lines a file must hold: `@@line I J 1` when config[I] has its
    // J-th line (fixed text, never a pattern).
    let mut lines = String::new();
    for (i, f) in spec.config.iter().enumerate() {
        for (j, wanted) in f.contains.iter().enumerate() {
            let _ = writeln!(
                lines,
                "if grep -qxF -e {} -- {} 2>/dev/null; then echo '@@line {i} {j} 1'; else echo '@@line {i} {j} 0'; fi",
                quote(wanted),
                quote(&f.path)
            );
        }
    }
    if !lines.is_empty() {
        jobs.push(lines);
    }
    // Each service once, asking its init script for its status only when a
    // running/stopped state is expected (Debian's scripts are slow to load).
    let mut services: Vec<(&str, bool)> = Vec::new();
    for svc in &spec.service {
        let status = matches!(svc.state, ServiceState::Running | ServiceState::Stopped);
        match services.iter_mut().find(|(n, _)| *n == svc.name) {
            Some((_, s)) => *s |= status,
            None => services.push((&svc.name, status)),
        }
    }
    for (name, status) in services {
        jobs.push(format!("off_svc {} {}\n", quote(name), u8::from(status)));
    }

    let mut s = PRELUDE
        .replace("MAX_STDOUT", &MAX_STDOUT.to_string())
        .replace("MAX_STDERR", &MAX_STDERR.to_string());
    for (i, job) in jobs.iter().enumerate() {
        let _ = write!(s, "{{\n{job}}} >\"$T/job{i}\" 2>/dev/null &\n");
    }
    s.push_str("wait\n");
    for i in 0..jobs.len() {
        let _ = writeln!(s, "cat \"$T/job{i}\"");
    }
    s.push_str("echo @@end\n");
    s
}

/// `header`, then `command` on every path, at most PATHS_PER_CALL per call.
fn path_calls(header: &str, command: &str, paths: &[&str]) -> String {
    let mut s = format!("echo {header}\n");
    for chunk in paths.chunks(PATHS_PER_CALL) {
        s.push_str(command);
        for p in chunk {
            s.push(' ');
            s.push_str(&quote(p));
        }
        s.push_str(" 2>/dev/null\n");
    }
    s
}

/// `stat` of one existing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileFacts {
    pub size: u64,
    pub mode: u32,
    pub uid: String,
    pub user: String,
    pub gid: String,
    pub group: String,
    /// `regular file`, `directory`, ...
    pub kind: String,
}

/// A command's outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Captured {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ServiceFacts {
    pub exists: bool,
    pub running: bool,
    pub enabled: bool,
}

/// What the script found.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// The script printed `@@end`.
    pub complete: bool,
    pub files: HashMap<String, FileFacts>,
    pub sha256: HashMap<String, String>,
    /// By service name.
    pub services: HashMap<String, ServiceFacts>,
    /// `(config index, line index)`: whether the file holds that line.
    pub lines: HashMap<(usize, usize), bool>,
    /// `dpkg`, `rpm` or `none`.
    pub package_manager: Option<String>,
    /// Installed packages and their versions.
    pub packages: HashMap<String, Vec<String>>,
    /// The first place where the output breaks its own framing (a blob
    /// whose length does not match what follows it): the facts cannot be
    /// trusted then, even with `@@end`.
    pub malformed: Option<String>,
    blobs: HashMap<String, String>,
    codes: HashMap<String, i32>,
}

impl Facts {
    pub fn parse(output: &[u8]) -> Facts {
        let mut facts = Facts::default();
        let mut section = "";
        let mut rest = output;
        while !rest.is_empty() {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let line = String::from_utf8_lossy(&rest[..end]).into_owned();
            rest = &rest[(end + 1).min(rest.len())..];
            if let Some(header) = line.strip_prefix("@@blob ") {
                let mut words = header.split(' ');
                let (Some(key), Some(Ok(len)), None) = (
                    words.next(),
                    words.next().map(str::parse::<usize>),
                    words.next(),
                ) else {
                    facts.malformed_at(format!(
                        "a blob header without a key and a length: `{line}`"
                    ));
                    continue;
                };
                if len > rest.len() {
                    facts.malformed_at(format!(
                        "the output ends inside blob `{key}` ({} of its {len} bytes)",
                        rest.len()
                    ));
                }
                let len = len.min(rest.len());
                facts.blobs.insert(
                    key.to_string(),
                    String::from_utf8_lossy(&rest[..len]).into(),
                );
                rest = &rest[len..];
                match rest.strip_prefix(b"\n") {
                    Some(after) => rest = after,
                    None if rest.is_empty() => {}
                    None => facts.malformed_at(format!(
                        "blob `{key}` is not followed by a newline after its {len} bytes: its length does not match its content"
                    )),
                }
                continue;
            }
            if let Some(header) = line.strip_prefix("@@") {
                let words: Vec<&str> = header.split(' ').collect();
                match words.as_slice() {
                    ["code", key, code] => {
                        if let Ok(code) = code.parse() {
                            facts.codes.insert(key.to_string(), code);
                        }
                    }
                    ["svc", name, exists, running, enabled] => {
                        facts.services.insert(
                            name.to_string(),
                            ServiceFacts {
                                exists: *exists == "1",
                                running: *running == "1",
                                enabled: *enabled == "1",
                            },
                        );
                    }
                    ["line", i, j, found] => {
                        if let (Ok(i), Ok(j)) = (i.parse(), j.parse()) {
                            facts.lines.insert((i, j), *found == "1");
                        }
                    }
                    ["end"] => facts.complete = true,
                    ["stat"] => section = "stat",
                    ["sha256"] => section = "sha256",
                    ["pkg"] => section = "pkg",
                    _ => section = "",
                }
                continue;
            }
            match section {
                "stat" => facts.parse_stat(&line),
                "sha256" => facts.parse_sha256(&line),
                "pkg" if facts.package_manager.is_none() => {
                    facts.package_manager = Some(line.trim().to_string())
                }
                "pkg" => {
                    let fields: Vec<&str> = line.split('\t').collect();
                    if let [name, status, version] = fields.as_slice()
                        && status.ends_with(" installed")
                    {
                        // dpkg shows multi-arch packages as `name:arch` only with
                        // ${binary:Package}; ${Package} is the plain name.
                        facts
                            .packages
                            .entry(name.to_string())
                            .or_default()
                            .push(version.to_string());
                    }
                }
                _ => {}
            }
        }
        facts
    }

    fn malformed_at(&mut self, what: String) {
        self.malformed.get_or_insert(what);
    }

    fn parse_stat(&mut self, line: &str) {
        let fields: Vec<&str> = line.splitn(8, '\t').collect();
        if let [size, mode, uid, user, gid, group, kind, path] = fields.as_slice()
            && let (Ok(size), Ok(mode)) = (size.parse(), u32::from_str_radix(mode, 8))
        {
            self.files.insert(
                path.to_string(),
                FileFacts {
                    size,
                    mode,
                    uid: uid.to_string(),
                    user: user.to_string(),
                    gid: gid.to_string(),
                    group: group.to_string(),
                    kind: kind.to_string(),
                },
            );
        }
    }

    /// `HASH  PATH`; GNU sha256sum writes `\HASH  PATH` with `\\` and `\n`
    /// escaped when the path has a backslash or newline.
    fn parse_sha256(&mut self, line: &str) {
        let (escaped, line) = match line.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let Some((hash, path)) = line.split_once("  ").or_else(|| line.split_once(" *")) else {
            return;
        };
        let path = if escaped {
            path.replace("\\n", "\n").replace("\\\\", "\\")
        } else {
            path.to_string()
        };
        self.sha256.insert(path, hash.to_ascii_lowercase());
    }

    pub fn blob(&self, key: &str) -> Option<&str> {
        self.blobs.get(key).map(String::as_str)
    }

    /// The outcome of the command run under `key` (`v`, `a0`, `c1`).
    pub fn captured(&self, key: &str) -> Option<Captured> {
        let code = self.codes.get(key).copied();
        let stdout = self.blobs.get(&format!("{key}.out"));
        if code.is_none() && stdout.is_none() {
            return None;
        }
        Some(Captured {
            stdout: stdout.cloned().unwrap_or_default(),
            stderr: self
                .blobs
                .get(&format!("{key}.err"))
                .cloned()
                .unwrap_or_default(),
            code,
        })
    }

    /// Ports in state LISTEN in /proc/net/tcp and tcp6.
    pub fn listening_ports(&self) -> Option<Vec<u16>> {
        let tables: Vec<&str> = ["tcp", "tcp6"]
            .iter()
            .filter_map(|k| self.blob(k))
            .collect();
        if tables.is_empty() {
            return None;
        }
        let mut ports = Vec::new();
        for table in tables {
            for line in table.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // sl local_address rem_address st ...; 0A is TCP_LISTEN.
                if fields.len() > 3
                    && fields[3] == "0A"
                    && let Some((_, port)) = fields[1].rsplit_once(':')
                    && let Ok(port) = u16::from_str_radix(port, 16)
                {
                    ports.push(port);
                }
            }
        }
        ports.sort_unstable();
        ports.dedup();
        Some(ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::spec::{
        AliveScript, CommandCheck, FileCheck, PortCheck, ServiceCheck, VersionCheck,
    };

    #[test]
    fn parses_every_kind_of_record() {
        let tcp = "  sl  local_address rem_address   st tx_queue\n   0: 00000000:1538 00000000:0000 0A 0\n";
        let out = format!(
            "@@off-check 1\n\
            @@blob v.out 13\npsql (x) 15.4\n\
            @@blob v.err 0\n\n@@code v 0\n\
            @@stat\n22\t644\t0\troot\t0\troot\tregular file\t/etc/a b\n\
            @@sha256\nABCD  /etc/a b\n\\ef01  /etc/x\\\\y\n\
            @@svc postgresql 1 1 0\n\
            @@pkg\ndpkg\npostgresql-15\tinstall ok installed\t15.4-1\ngone\tdeinstall ok config-files\t1\n\
            @@blob tcp {}\n{tcp}\n\
            @@end\n",
            tcp.len()
        );
        let facts = Facts::parse(out.as_bytes());
        assert!(facts.complete);
        let v = facts.captured("v").unwrap();
        assert_eq!(v.stdout, "psql (x) 15.4");
        assert_eq!(v.code, Some(0));
        let f = &facts.files["/etc/a b"];
        assert_eq!((f.size, f.mode, f.user.as_str()), (22, 0o644, "root"));
        assert_eq!(facts.sha256["/etc/a b"], "abcd");
        assert_eq!(facts.sha256["/etc/x\\y"], "ef01");
        assert_eq!(
            facts.services["postgresql"],
            ServiceFacts {
                exists: true,
                running: true,
                enabled: false
            }
        );
        assert_eq!(facts.package_manager.as_deref(), Some("dpkg"));
        assert_eq!(facts.packages["postgresql-15"], ["15.4-1"]);
        assert!(!facts.packages.contains_key("gone"));
        assert_eq!(facts.listening_ports(), Some(vec![0x1538]));
        assert!(facts.captured("c0").is_none());
    }

    #[test]
    fn a_truncated_output_is_not_complete() {
        let facts = Facts::parse(b"@@off-check 1\n@@blob v.out 100\nshort");
        assert!(!facts.complete);
        assert_eq!(facts.blob("v.out"), Some("short"));
        let malformed = facts.malformed.unwrap();
        assert!(
            malformed.contains("ends inside blob `v.out`"),
            "{malformed}"
        );
    }

    /// A table that grew or shrank between the read that measured it and
    /// the read that sent it: the framing no longer holds, even when an
    /// `@@end` follows.
    #[test]
    fn a_blob_whose_length_disagrees_with_its_content_is_malformed() {
        let longer = Facts::parse(b"@@blob tcp 3\nabcd\n@@code v 0\n@@end\n");
        assert!(longer.complete);
        let malformed = longer.malformed.unwrap();
        assert!(
            malformed.contains("blob `tcp` is not followed by a newline after its 3 bytes"),
            "{malformed}"
        );
        let shorter = Facts::parse(b"@@blob tcp 9\nabcd\n@@blob tcp6 1\nx\n@@end\n");
        assert!(shorter.malformed.is_some());
        let header = Facts::parse(b"@@blob tcp\n@@end\n");
        assert!(header.malformed.unwrap().contains("`@@blob tcp`"));
        let fine = Facts::parse(b"@@blob tcp 4\nabcd\n@@blob e 0\n\n@@end\n");
        assert_eq!(fine.malformed, None);
        assert_eq!((fine.blob("tcp"), fine.blob("e")), (Some("abcd"), Some("")));
    }

    /// `/proc/self/cmdline` is different for every program that reads it,
    /// as /proc/net/tcp differs between two reads while connections come and
    /// go: measured by one read and sent by another, its length would not
    /// match what follows.
    #[test]
    fn a_blob_is_framed_from_one_read_of_its_file() {
        let script = format!("{PRELUDE}off_blob cmdline /proc/self/cmdline\necho @@end\n");
        let out = run_locally(&script);
        let facts = Facts::parse(&out);
        assert_eq!(facts.malformed, None, "{}", String::from_utf8_lossy(&out));
        assert!(facts.complete);
        assert_eq!(facts.blob("cmdline"), Some("cat\0/proc/self/cmdline\0"));
    }

    #[test]
    fn the_temporary_directory_is_made_by_mktemp_and_removed() {
        // The command's output goes to a file in the directory.
        let script = build(&CheckSpec {
            command: vec![CommandCheck {
                cmd: "readlink /proc/self/fd/1".into(),
                ..CommandCheck::default()
            }],
            ..CheckSpec::default()
        });
        let facts = Facts::parse(&run_locally(&script));
        let stdout = facts.captured("c0").unwrap().stdout;
        let dir = Path::new(stdout.trim()).parent().unwrap().to_path_buf();
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("tmp."), "mktemp's name: {stdout}");
        assert!(!dir.exists(), "{} removed at exit", dir.display());
    }

    /// Without mktemp's directory the script stops: no fallback to a name
    /// that could be planted in advance.
    #[test]
    fn no_temporary_directory_stops_the_script() {
        let script = build(&CheckSpec {
            port: vec![PortCheck {
                port: 1,
                listening: true,
            }],
            ..CheckSpec::default()
        });
        let out = run_with(&script, &[("TMPDIR", "/nonexistent/off-check")]);
        assert_eq!(out.status.code(), Some(90));
        assert!(!Facts::parse(&out.stdout).complete);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("mktemp -d cannot create"), "{stderr}");
    }

    /// Runs `script` with the local /bin/sh as the engine does (on standard
    /// input) and returns what it printed.
    fn run_locally(script: &str) -> Vec<u8> {
        run_with(script, &[]).stdout
    }

    fn run_with(script: &str, env: &[(&str, &str)]) -> std::process::Output {
        std::process::Command::new("/bin/sh")
            .arg("-s")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(script.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap()
    }

    /// The generated script, run by the local /bin/sh, with hostile values.
    #[test]
    fn the_script_runs_and_quotes_every_value() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("it's $(id) a\\file");
        std::fs::write(&odd, "hello\n").unwrap();
        let odd = odd.to_str().unwrap().to_string();
        let missing = dir.path().join("missing").to_str().unwrap().to_string();
        let spec = CheckSpec {
            version: Some(VersionCheck {
                cmd: "echo 'v 1.2.3' >&2".into(),
                regex: None,
                expected: "1".parse().unwrap(),
            }),
            config: vec![
                FileCheck {
                    path: odd.clone(),
                    sha256: Some("0".repeat(64)),
                    ..FileCheck::default()
                },
                FileCheck {
                    path: missing.clone(),
                    sha256: Some("0".repeat(64)),
                    ..FileCheck::default()
                },
            ],
            service: vec![ServiceCheck {
                name: "no-such-service".into(),
                state: Default::default(),
            }],
            alive_script: vec![AliveScript {
                cmd: "exit 3".into(),
                ..AliveScript::default()
            }],
            port: vec![PortCheck {
                port: 1,
                listening: true,
            }],
            command: vec![CommandCheck {
                cmd: "printf 'a\\n@@end\\nb'; echo err >&2; exit 4".into(),
                ..CommandCheck::default()
            }],
            ..CheckSpec::default()
        };
        let out = run_locally(&build(&spec));
        let facts = Facts::parse(&out);
        assert!(facts.complete, "{}", String::from_utf8_lossy(&out));
        assert_eq!(facts.malformed, None);
        assert_eq!(facts.captured("v").unwrap().stderr, "v 1.2.3\n");
        assert_eq!(facts.files[&odd].size, 6);
        assert!(!facts.files.contains_key(&missing));
        assert_eq!(
            facts.sha256[&odd],
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert!(!facts.services["no-such-service"].exists);
        assert_eq!(facts.captured("a0").unwrap().code, Some(3));
        let c = facts.captured("c0").unwrap();
        assert_eq!(c.stdout, "a\n@@end\nb");
        assert_eq!(c.stderr, "err\n");
        assert_eq!(c.code, Some(4));
        assert!(facts.listening_ports().is_some());
    }

    #[test]
    fn lines_kinds_and_symbolic_modes_are_checked() {
        use crate::spec::SpecFormat;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::write(dir.path().join("stages"), "configured\ndone-ish\n").unwrap();
        std::fs::create_dir(dir.path().join("www")).unwrap();
        let chmod = |path: &str, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        chmod(&format!("{d}/www"), 0o750);
        let text = format!(
            "config:\n- path: {d}/stages\n  kind: file\n  contains: [configured, done]\n\
             - path: {d}/www\n  kind: directory\n  mode: u=rwx,g=rx\n\
             - path: {d}/stages\n  kind: directory\n- path: {d}/www\n  mode: 0o755\n"
        );
        let spec = CheckSpec::from_str(&text, SpecFormat::Yaml, "t").unwrap();
        assert_eq!(spec.config[1].mode, Some(0o750));
        assert_eq!(spec.config[3].mode, Some(0o755), "YAML's 0o755 is octal");
        let facts = Facts::parse(&run_locally(&build(&spec)));
        let (items, _) = crate::evaluate::evaluate(&spec, &facts);
        let verdicts: Vec<(bool, Option<&str>)> =
            items.iter().map(|i| (i.ok, i.message.as_deref())).collect();
        assert!(!verdicts[0].0, "{verdicts:?}");
        assert!(
            verdicts[0].1.unwrap().ends_with("lacks the line `done`"),
            "{verdicts:?}"
        );
        assert!(verdicts[1].0, "{verdicts:?}");
        assert!(
            verdicts[2]
                .1
                .unwrap()
                .contains("kind is file, expected directory")
        );
        assert!(
            verdicts[3]
                .1
                .unwrap()
                .contains("mode is 0750, expected 0755")
        );
    }
}
