//! Every shell session of the documentation runs here, so the docs cannot
//! drift from what the binaries do (docs/testing.md, "What runs which doc").
//!
//! - ```` ```console ```` blocks of `docs/*.md` and `README.md` are trycmd
//!   cases: `$ cmd` runs, `? N` is its exit code (success when absent), the
//!   lines after it are its standard output and error, `[..]` and `...`
//!   elide what varies. `TRYCMD=overwrite` rewrites the docs from a run.
//! - ```` ```console,ignore ```` blocks are the sessions trycmd cannot run,
//!   since it has no shell: a password piped in with
//!   `printf '%s\n' "$VAR" | cmd …`. [`piped_sessions_run`] runs those.
//! - A ```` ```yaml ```` block whose first line is `# NAME.yaml` is the
//!   file NAME.yaml the sessions read: written, as shown, into the
//!   directory they run in.
//!
//! The docs name hosts `db1`, `web1` (test host 30) and `db2` (test host
//! 31): an ssh_config given through `OFF_SSH_CONFIG` maps the names onto
//! the hosts' addresses, with the testbed's key and known_hosts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use off_testbed::{Inventory, TestbedConfig};

/// The host the sessions of most docs reach (as `db1` and `web1`).
const HOST: usize = 30;
/// The host of the piped sessions (as `db2`): a deploy of its own.
const PIPED_HOST: usize = 31;
/// Host names the docs use, and the test host each stands for.
const NAMES: &[(&str, usize)] = &[("db1", HOST), ("web1", HOST), ("db2", PIPED_HOST)];
/// A real PostgreSQL deploy takes about half a minute on a test host.
const SESSION_TIMEOUT: Duration = Duration::from_secs(600);

/// Binaries the sessions may run: the name a session types, and the
/// workspace package that builds it. `cargo` stands for `cargo-off`, which
/// is what cargo runs for `cargo off …` (the guard below allows nothing
/// else after `cargo`).
const BINS: &[(&str, &str, &str)] = &[
    (
        "offregister_postgres",
        "offregister_postgres",
        "offregister_postgres",
    ),
    (
        "offregister_example",
        "offregister_example",
        "offregister_example",
    ),
    ("offcheck", "off-check", "offcheck"),
    ("offmetric", "off-metrics", "offmetric"),
    ("offconsensus", "offconsensus", "offconsensus"),
    ("cargo", "cargo-off", "cargo-off"),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .canonicalize()
        .unwrap()
}

/// The files whose sessions run: the README and every page of docs/.
fn documents() -> Vec<PathBuf> {
    let root = workspace();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    docs
}

/// One fenced block of a markdown file.
struct Block {
    path: PathBuf,
    /// 1-based line of the opening fence.
    line: usize,
    info: String,
    lines: Vec<String>,
}

fn blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match open.take() {
            None if line.starts_with("```") => {
                open = Some(Block {
                    path: path.to_path_buf(),
                    line: i + 1,
                    info: line.trim_start_matches('`').trim().to_string(),
                    lines: Vec::new(),
                });
            }
            None => {}
            Some(block) if line.starts_with("```") => out.push(block),
            Some(mut block) => {
                block.lines.push(line.to_string());
                open = Some(block);
            }
        }
    }
    assert!(
        open.is_none(),
        "{}: a code block is not closed",
        path.display()
    );
    out
}

/// `--bins` of the packages above, built if they are not (a no-op when they
/// are up to date), beside this test's own executable; name -> path.
fn binaries() -> BTreeMap<&'static str, PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--bins"]);
    for (_, package, _) in BINS {
        build.args(["-p", package]);
    }
    let built = off_testbed::deadline::output(build.current_dir(workspace()));
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    // target/<profile>/deps/<this test> -> target/<profile>/
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    BINS.iter()
        .map(|(name, _, file)| (*name, dir.join(file)))
        .collect()
}

/// The directory the sessions run in: the docs' files, an ssh_config that
/// names the test hosts as the docs do, and a state directory for
/// `--resume`'s records.
struct Scene {
    dir: tempfile::TempDir,
    inventory: Inventory,
}

impl Scene {
    fn new() -> Scene {
        let inventory = Inventory::load().expect("test hosts are not up: `cargo xtask testbed up`");
        let dir = tempfile::tempdir().unwrap();
        let mut config = String::new();
        for (name, index) in NAMES {
            let host = inventory.host(*index).unwrap();
            config.push_str(&format!(
                "Host {name}\n  HostName {}\n  Port {}\n",
                host.address, host.port
            ));
        }
        // Copied, so that no run can record anything in the testbed's own.
        let known_hosts = dir.path().join("known_hosts");
        std::fs::copy(&inventory.known_hosts, &known_hosts).unwrap();
        config.push_str(&format!(
            "Host *\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
            inventory.key.display(),
            known_hosts.display()
        ));
        std::fs::write(dir.path().join("ssh_config"), config).unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let scene = Scene { dir, inventory };
        scene.write_files();
        scene
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes every `# NAME.yaml` block of the docs as NAME.yaml.
    fn write_files(&self) {
        let mut written: BTreeMap<String, (String, String)> = BTreeMap::new();
        for doc in documents() {
            for block in blocks(&doc) {
                let first = block.lines.first().map(String::as_str).unwrap_or("");
                let Some(name) = first.strip_prefix("# ") else {
                    continue;
                };
                if block.info != "yaml" || !name.ends_with(".yaml") || name.contains(' ') {
                    continue;
                }
                let text = block.lines.join("\n") + "\n";
                let place = format!("{}:{}", block.path.display(), block.line);
                if let Some((other, before)) = written.get(name) {
                    assert_eq!(
                        &text, before,
                        "{place} and {other} show two different files named {name}"
                    );
                }
                std::fs::write(self.path().join(name), &text).unwrap();
                written.insert(name.to_string(), (place, text));
            }
        }
    }

    /// What every session's environment gets.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "OFF_SSH_CONFIG",
                self.path().join("ssh_config").display().to_string(),
            ),
            (
                "OFF_STATE_DIR",
                self.path().join("state").display().to_string(),
            ),
            // The sessions show what a terminal-less run prints.
            ("NO_COLOR", "1".into()),
        ]
    }
}

fn fresh(host: usize) {
    off_testbed::reset_host(&TestbedConfig::default(), host)
        .unwrap_or_else(|e| panic!("cannot reset test host {host}: {e:#}"));
}

/// Whether a command (its words, after any `NAME=value` assignments) runs
/// a binary the tests build: one of [`BINS`], and `cargo` only as `cargo off`.
fn runs_a_built_binary(words: &[String]) -> bool {
    let mut words = words
        .iter()
        .skip_while(|w| w.contains('='))
        .map(String::as_str);
    match words.next() {
        Some("cargo") => words.next() == Some("off"),
        Some(program) => BINS.iter().any(|(name, _, _)| *name == program),
        None => false,
    }
}

/// No session is left out: trycmd skips, without failing, a block it does
/// not read as a session and a command whose program it does not know.
#[test]
fn every_session_is_one_that_runs() {
    let mut problems = Vec::new();
    for doc in documents() {
        for block in blocks(&doc) {
            let place = format!("{}:{}", block.path.display(), block.line);
            let commands: Vec<&String> =
                block.lines.iter().filter(|l| l.starts_with("$ ")).collect();
            match block.info.as_str() {
                // trycmd reads a block without a language as a session.
                "" => problems.push(format!(
                    "{place}: a block without a language (```text, ```sh, ```console …)"
                )),
                "console" | "trycmd" => {
                    if block.lines.first().is_none_or(|l| !l.starts_with("$ ")) {
                        problems.push(format!("{place}: a session starts with `$ `"));
                    }
                    for line in commands {
                        let words: Vec<String> = shlex::Shlex::new(&line[2..]).collect();
                        if !runs_a_built_binary(&words) {
                            problems
                                .push(format!("{place}: `{line}` runs no binary the tests build"));
                        }
                    }
                }
                "console,ignore" => {
                    for line in commands {
                        if !piped(line).is_some_and(|(_, command)| runs_a_built_binary(&command)) {
                            problems.push(format!(
                                "{place}: `{line}`: an ignored session must be `$ printf '%s\\n' \"$VAR\" | cmd …`"
                            ));
                        }
                    }
                }
                // Other languages: `$ ` lines there are not sessions, and
                // nothing runs them, so none may look like one.
                _ if !commands.is_empty() => problems.push(format!(
                    "{place}: `$ ` lines in a ```{} block: make it a ```console session",
                    block.info
                )),
                _ => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The trycmd sessions, on host 30 (`db1`, `web1`).
#[test]
fn console_sessions_run() {
    let scene = Scene::new();
    fresh(HOST);
    let bins = binaries();
    // trycmd runs a markdown file's sessions in the process's working
    // directory (it has no per-file setting for .md): this test's process
    // is its own under nextest, and no other test here depends on it.
    std::env::set_current_dir(scene.path()).unwrap();
    let cases = trycmd::TestCases::new();
    cases.timeout(SESSION_TIMEOUT);
    for (name, path) in &bins {
        cases.register_bin(*name, path.as_path());
    }
    for (key, value) in scene.env() {
        cases.env(key, value);
    }
    for doc in documents() {
        cases.case(doc);
    }
    cases.run();
}

/// `printf '%s\n' WORD | PROGRAM ARGS…` -> (WORD, PROGRAM ARGS…).
fn piped(line: &str) -> Option<(String, Vec<String>)> {
    let (left, right) = line.strip_prefix("$ ")?.split_once(" | ")?;
    let left: Vec<String> = shlex::Shlex::new(left).collect();
    let [printf, format, word] = left.as_slice() else {
        return None;
    };
    if printf != "printf" || format != "%s\\n" {
        return None;
    }
    let command: Vec<String> = shlex::Shlex::new(right).collect();
    (!command.is_empty()).then(|| (word.clone(), command))
}

/// The `console,ignore` sessions, on host 31 (`db2`): each pipes one line
/// into its command, `"$SUDO_PASSWORD"` being the test user's sudo
/// password. Run with snapbox, which trycmd is built on: the same
/// wildcards, standard error merged into standard output.
#[test]
fn piped_sessions_run() {
    let scene = Scene::new();
    let sudo_password = scene
        .inventory
        .host(PIPED_HOST)
        .unwrap()
        .user("deploy")
        .unwrap()
        .sudo_password
        .clone()
        .unwrap();
    let vars = [("$SUDO_PASSWORD", sudo_password)];
    let mut sessions = Vec::new();
    for doc in documents() {
        for block in blocks(&doc) {
            if block.info != "console,ignore" {
                continue;
            }
            let mut current: Option<(usize, String, Vec<String>)> = None;
            for (i, line) in block.lines.iter().enumerate() {
                if line.starts_with("$ ") {
                    sessions.extend(current.take().map(|s| (block.path.clone(), block.line, s)));
                    current = Some((i, line.clone(), Vec::new()));
                } else if let Some((_, _, out)) = current.as_mut() {
                    out.push(line.clone());
                }
            }
            sessions.extend(current.map(|s| (block.path.clone(), block.line, s)));
        }
    }
    assert!(!sessions.is_empty(), "no piped session in the docs");
    fresh(PIPED_HOST);
    let bins = binaries();
    for (path, fence, (offset, line, expected)) in sessions {
        let place = format!("{}:{}", path.display(), fence + 1 + offset);
        let (word, command) = piped(&line).unwrap();
        let input = vars
            .iter()
            .find(|(name, _)| *name == word)
            .map_or(word.clone(), |(_, value)| value.clone());
        let (status, expected) = match expected.split_first() {
            Some((first, rest)) if first.starts_with("? ") => {
                (first[2..].trim().parse::<i32>().unwrap(), rest.to_vec())
            }
            _ => (0, expected),
        };
        let program = bins
            .get(command[0].as_str())
            .unwrap_or_else(|| panic!("{place}: no binary {}", command[0]));
        let mut cmd = snapbox::cmd::Command::new(program)
            .args(&command[1..])
            .current_dir(scene.path())
            .stdin(format!("{input}\n"))
            .stderr_to_stdout()
            .timeout(SESSION_TIMEOUT);
        for (key, value) in scene.env() {
            cmd = cmd.env(key, value);
        }
        eprintln!("running {place}: {line}");
        // As trycmd reads a session: the lines up to the next command or
        // the fence, less the last line break (the blank line before it).
        let mut expected: String = expected.iter().map(|l| format!("{l}\n")).collect();
        expected.pop();
        cmd.assert()
            .code(status)
            .stdout_eq(snapbox::Data::text(expected));
    }
}
