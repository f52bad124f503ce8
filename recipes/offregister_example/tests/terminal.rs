//! What the binary shows on a terminal and in a pipe, on test host 27: the
//! live bars in a real pseudo-terminal (tmux), one line per operation when
//! redirected, a closed pipe, `-v --dry-run` and `--help`.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HOST: usize = 27;
const EXAMPLE: &str = env!("CARGO_BIN_EXE_offregister_example");

/// A tmux server of this test's own, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(name: &str) -> Tmux {
        Tmux {
            socket: format!("off-test-{name}-{}", std::process::id()),
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux is installed (cargo xtask ci installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `command` in a `columns`-wide terminal until it prints
    /// `EXIT=<code>`; the screen, one string per row.
    fn run(&self, columns: u16, command: &str) -> String {
        self.run_capturing(columns, command, &[])
    }

    /// [`Tmux::run`], passing `capture` to `capture-pane` (`-e`: with the
    /// escape codes of colors).
    fn run_capturing(&self, columns: u16, command: &str, capture: &[&str]) -> String {
        let shell = format!("{command}; echo EXIT=$?; sleep 60");
        let width = columns.to_string();
        self.tmux(&["new-session", "-d", "-x", &width, "-y", "50", &shell]);
        let start = Instant::now();
        loop {
            let mut args = vec!["capture-pane", "-p"];
            args.extend_from_slice(capture);
            let screen = self.tmux(&args);
            if screen.contains("EXIT=") || start.elapsed() > Duration::from_secs(60) {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

/// Host 27 twice (as `root@addr` and `root@addr:22`): two targets, each
/// deploying under a root of its own (`<root>-1`, `<root>-2`) through an
/// inventory, so that the two runs never write the same files.
fn two_targets(dir: &std::path::Path, root: &str) -> Vec<String> {
    let mut flags = common::ssh_flags(HOST);
    let one = flags[1].clone();
    let address = one.trim_start_matches("root@");
    let inventory = dir.join("inventory.yaml");
    std::fs::write(
        &inventory,
        format!(
            "hosts:\n- {{host: \"{one}\", vars: {{root: \"{root}-1\"}}}}\n- {{host: \"root@{address}:22\", vars: {{root: \"{root}-2\"}}}}\n"
        ),
    )
    .unwrap();
    flags.splice(
        0..2,
        ["--inventory".to_string(), inventory.display().to_string()],
    );
    flags
}

#[test]
fn bars_fit_the_terminal_end_above_the_summary_with_an_overall_line() {
    let root = format!("/tmp/example-bars-{}", std::process::id());
    let state = tempfile::tempdir().unwrap();
    let columns = 50;
    let mut command = format!("OFF_STATE_DIR={} {EXAMPLE}", state.path().display());
    for flag in two_targets(state.path(), &root)
        .iter()
        .chain(&["--progress".into(), "bar".into()])
    {
        command.push(' ');
        command.push_str(flag);
    }
    let screen = Tmux::new("bars").run(columns, &command);
    assert!(screen.contains("EXIT=0"), "{screen}");
    let lines: Vec<&str> = screen.lines().collect();
    let summary = lines
        .iter()
        .position(|l| l.trim_end() == "Summary:")
        .expect(&screen);
    let first_bar = lines
        .iter()
        .position(|l| l.contains("] [") && l.contains("total] ("))
        .expect(&screen);
    assert!(
        first_bar < summary,
        "the bars are drawn under the summary: {screen}"
    );
    // Two hosts and the overall line, one row each: a bar wider than the
    // terminal would wrap onto a row of its own.
    let rows = &lines[first_bar..summary];
    assert_eq!(rows.len(), 3, "{screen}");
    assert!(
        rows[0].starts_with("[root@") && rows[1].starts_with("[root@"),
        "{screen}"
    );
    assert!(
        rows[2].starts_with("[2 hosts] [") && rows[2].contains("[14/14 total]"),
        "{screen}"
    );
    common::on_host(HOST, &format!("rm -rf {root}-1 {root}-2"));
}

#[test]
fn redirected_output_has_one_progress_line_per_operation() {
    let root = format!("/tmp/example-lines-{}", std::process::id());
    let state = tempfile::tempdir().unwrap();
    let out = common::recipe_on(
        HOST,
        &["--root", &root, "--progress", "lines"],
        state.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let per_op: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" operations]"))
        .collect();
    assert_eq!(per_op.len(), 7, "{stdout}");
    for line in &per_op {
        assert!(
            line.contains(" operations] [") && line.contains(" total] ("),
            "{line}"
        );
    }
    assert!(
        stdout.contains("[1/2 append operations] [5/8 total] (62.50%)\n"),
        "{stdout}"
    );
    common::on_host(HOST, &format!("rm -rf {root}"));
}

#[test]
fn runs_into_a_closed_pipe_exit_quietly_and_v_prints_the_plan_first() {
    // The dry run exits 0; `--check` and `--diff` of a host never deployed
    // find differences (1). None of them panics on the closed pipe.
    for (mode, code) in [("--dry-run", 0), ("--check", 1), ("--diff", 1)] {
        let (reader, writer) = std::io::pipe().unwrap();
        // The reader is gone before the binary writes: every write fails.
        drop(reader);
        let mut child = Command::new(EXAMPLE)
            .args(common::ssh_flags(HOST))
            .args(["--root", "/tmp/example-pipe", mode])
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "{mode}: {stderr}");
        assert!(!stderr.contains("panicked"), "{mode}: {stderr}");
    }

    let out =
        off_testbed::deadline::output(Command::new(EXAMPLE).args(common::ssh_flags(HOST)).args([
            "--root",
            "/tmp/example-pipe",
            "--dry-run",
            "-v",
        ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let second = stdout.lines().nth(1).unwrap_or_default();
    assert_eq!(
        second,
        "offregister_example: steps prepare, configure; planned 2 mkdir, 1 run, 1 put, 1 upload_template, 2 append",
        "{stdout}"
    );
}

#[test]
fn help_shows_value_names_and_defaults_as_typed() {
    let out = off_testbed::deadline::output(Command::new(EXAMPLE).arg("--help"));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--root <ROOT>"), "{help}");
    assert!(help.contains("[default: /srv/example]"), "{help}");
    assert!(help.contains("--lines <LINES>"), "{help}");
    assert!(
        !help.contains("<String>") && !help.contains("\"hello\""),
        "{help}"
    );
}

/// The example on host 27 with the bars, as a tmux command line.
fn bar_run_command(state: &std::path::Path, root: &str, env: &str, extra: &[&str]) -> String {
    let mut command = format!("{env} OFF_STATE_DIR={} {EXAMPLE}", state.display());
    let flags = common::ssh_flags(HOST);
    let rest = ["--root", root, "--progress", "bar", "-q"];
    for flag in flags
        .iter()
        .map(String::as_str)
        .chain(rest)
        .chain(extra.iter().copied())
    {
        command.push(' ');
        command.push_str(flag);
    }
    command
}

#[test]
fn color_on_a_terminal_unless_no_color_or_color_never() {
    let root = format!("/tmp/example-color-{}", std::process::id());
    let state = tempfile::tempdir().unwrap();
    const GREEN: &str = "\x1b[32m";
    let screen = |name: &str, env: &str, extra: &[&str]| {
        let command = bar_run_command(state.path(), &root, env, extra);
        let screen = Tmux::new(name).run_capturing(80, &command, &["-e"]);
        assert!(screen.contains("EXIT=0"), "{screen}");
        screen
    };
    let colored = screen("color-auto", "", &[]);
    assert!(colored.contains(&format!("{GREEN}ok")), "{colored:?}");
    for (name, env, extra) in [
        ("color-no-color", "NO_COLOR=1", &[][..]),
        ("color-never", "", &["--color", "never"][..]),
    ] {
        let plain = screen(name, env, extra);
        assert!(!plain.contains(GREEN), "{name}: {plain:?}");
        assert!(plain.contains("Summary:"), "{name}: {plain:?}");
    }

    // Redirected: no color, unless asked for.
    let out = common::recipe_on(HOST, &["--root", &root, "-q"], state.path());
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
    let out = common::recipe_on(
        HOST,
        &["--root", &root, "-q", "--color", "always"],
        state.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{GREEN}ok")), "{stdout:?}");

    // clap's help follows the same choice.
    let help = |env: Option<&str>, args: &[&str]| {
        let mut cmd = Command::new(EXAMPLE);
        cmd.arg("--help").args(args);
        if let Some(var) = env {
            cmd.env(var, "1");
        }
        String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned()
    };
    assert!(help(None, &["--color", "always"]).contains('\x1b'));
    assert!(!help(None, &["--color", "never"]).contains('\x1b'));
    assert!(help(None, &[]).contains("--color <WHEN>"));
    common::on_host(HOST, &format!("rm -rf {root}"));
}
