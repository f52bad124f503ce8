//! The example recipe's binary and the processes around it: what its
//! commands inherit, a hung command (`--timeout`), Ctrl-C, the state
//! directory, host keys, and the SSH masters it leaves (none), locally and
//! on test host 18.
//!
//! Local runs put a `mkdir` of the test's own first in `PATH`: the recipe's
//! first operation (`mkdir(ROOT)`, which runs `mkdir -p -- ROOT`) then runs
//! whatever the test needs (print its environment, hang) with no change to
//! the recipe.

mod common;

use common::text;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::RunToEnd;

/// The test host of this suite.
const HOST: usize = 18;

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("off-example-process-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("state")).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn root(&self) -> String {
        self.path("root").display().to_string()
    }

    /// Makes the recipe's `mkdir` run `script` (sh) first.
    fn fake_mkdir(&self, script: &str) {
        let path = self.path("bin/mkdir");
        std::fs::write(
            &path,
            format!("#!/bin/sh\n{script}\nexec /bin/mkdir \"$@\"\n"),
        )
        .unwrap();
        let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&path, executable).unwrap();
    }

    /// The binary with `args`, the fake `mkdir` first in `PATH` and the
    /// state directory in the scratch directory.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_offregister_example"));
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", self.path("bin").display()))
            .env("OFF_STATE_DIR", self.path("state"))
            .env_remove("OFF_SUDO_PASSWORD")
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// [`Scratch::command`] on this machine, with the recipe's root in the
    /// scratch directory.
    fn local(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(&["--root", &self.root()]);
        cmd.args(args);
        cmd
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits for `path` to hold a line, for at most `limit`.
fn wait_for_file(path: &Path, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(
            started.elapsed() < limit,
            "{} did not appear",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `child` to exit, for at most `limit`; kills it (and fails)
/// when it does not.
fn wait_exit(child: &mut Child, limit: Duration) -> (Option<i32>, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut output = String::new();
            if let Some(mut out) = child.stdout.take() {
                let _ = out.read_to_string(&mut output);
            }
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut output);
            }
            return (status.code(), output);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether any process of process group `group` is left.
fn group_alive(group: &str) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Whether a group is gone within `limit` (init reaps orphans in its time).
fn group_ends_within(group: &str, limit: Duration) -> bool {
    let started = Instant::now();
    while group_alive(group) {
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn local_commands_do_not_inherit_the_sudo_password() {
    let scratch = Scratch::new("env");
    let env_file = scratch.path("env");
    scratch.fake_mkdir(&format!("env > '{}'", env_file.display()));
    let out = scratch
        .local(&["-q"])
        .env("OFF_SUDO_PASSWORD", "pw-must-not-leak")
        .run_to_end();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(env.contains("PATH="), "{env}");
    assert!(!env.contains("OFF_SUDO_PASSWORD"), "{env}");
    assert!(!env.contains("pw-must-not-leak"), "{env}");
}

#[test]
fn a_hung_command_ends_with_exit_4_after_the_timeout() {
    let scratch = Scratch::new("timeout");
    scratch.fake_mkdir("sleep 60");
    let started = Instant::now();
    let out = scratch.local(&["--timeout", "2s"]).run_to_end();
    let took = started.elapsed();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(
        all.contains(&format!(
            "[local] mkdir `{}` timed out after 2s",
            scratch.root()
        )),
        "{all}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");

    let out = scratch.local(&["--timeout", "abc"]).run_to_end();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("'--timeout <DURATION>'"), "{stderr}");
}

/// Starts the binary with a `mkdir` that hangs, waits until it runs, and
/// returns the binary and the hung command's process group.
fn start_hung_run(scratch: &Scratch, args: &[&str]) -> (Child, String) {
    let group_file = scratch.path("group");
    scratch.fake_mkdir(&format!(
        "ps -o pgid= $$ | tr -d ' ' > '{}'; sleep 300 & sleep 300",
        group_file.display()
    ));
    let child = scratch
        .local(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let group = wait_for_file(&group_file, Duration::from_secs(30));
    (child, group.trim().to_string())
}

fn interrupt_ends_the_run_and_its_command(signal: &str) {
    let scratch = Scratch::new(&format!("signal{signal}"));
    let (mut child, group) = start_hung_run(&scratch, &["--progress", "lines"]);
    assert!(group_alive(&group));
    let sent = Instant::now();
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    let (code, output) = wait_exit(&mut child, Duration::from_secs(20));
    let took = sent.elapsed();
    let alive = !group_ends_within(&group, Duration::from_secs(5));
    if alive {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{group}")])
            .status();
    }
    assert_eq!(code, Some(130), "{output}");
    assert!(!alive, "the command's process group {group} survived");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(
        output.contains(&format!("[local] interrupted by SIG{signal}")),
        "{output}"
    );
}

#[test]
fn ctrl_c_kills_the_running_command_and_exits_130() {
    interrupt_ends_the_run_and_its_command("INT");
}

#[test]
fn sigterm_kills_the_running_command_and_exits_130() {
    interrupt_ends_the_run_and_its_command("TERM");
}

#[test]
fn quiet_without_progress_still_says_why_a_step_failed() {
    let scratch = Scratch::new("quiet");
    // A directory where the message of the day goes makes `configure` fail.
    std::fs::create_dir_all(scratch.path("root/conf/motd/blocker")).unwrap();
    let out = scratch.local(&["-q", "--progress", "none"]).run_to_end();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let line = stdout
        .lines()
        .find(|l| l.contains("step `configure` failed"))
        .unwrap_or_else(|| panic!("no failure line in {stdout:?}"));
    let reason = line
        .split_once("step `configure` failed: ")
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no reason in {line:?}"));
    assert!(
        reason.contains("upload_template") && reason.contains("/conf/motd"),
        "{line}"
    );
}

#[test]
fn no_state_directory_is_an_input_error_not_a_tmp_fallback() {
    let scratch = Scratch::new("state");
    let out = scratch
        .local(&[])
        .env_remove("OFF_STATE_DIR")
        .env_remove("XDG_STATE_HOME")
        .env_remove("HOME")
        .run_to_end();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr.contains("set OFF_STATE_DIR, XDG_STATE_HOME or HOME"),
        "{stderr}"
    );
    assert!(
        !Path::new(&scratch.root()).exists(),
        "the recipe ran before its input was validated"
    );
    // A dry run records nothing, so it needs no state directory.
    let out = scratch
        .local(&["--dry-run"])
        .env_remove("OFF_STATE_DIR")
        .env_remove("XDG_STATE_HOME")
        .env_remove("HOME")
        .run_to_end();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_known_hosts_file_in_a_missing_directory_is_an_input_error() {
    let scratch = Scratch::new("known-hosts-dir");
    let out = scratch
        .local(&[
            "-H",
            "root@192.0.2.1",
            "--known-hosts",
            "/nonexistent/dir/known_hosts",
        ])
        .run_to_end();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "--known-hosts /nonexistent/dir/known_hosts: directory /nonexistent/dir does not exist"
        ),
        "{stderr}"
    );
    let out = scratch
        .local(&["--host-key-policy", "sometimes"])
        .run_to_end();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--host-key-policy"), "{stderr}");
}

/// The binary against test host 18 as root with `args`, its SSH control
/// directories in the scratch directory (so that its masters can be told
/// from other runs'), host keys checked strictly against the testbed's.
fn on_host_command(scratch: &Scratch, args: &[&str]) -> Command {
    let inv = off_testbed::Inventory::load().expect("test hosts are not up");
    let tmp = scratch.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = scratch.command(&["-H", &format!("root@{}", common::address(HOST))]);
    cmd.env("TMPDIR", &tmp)
        .arg("-i")
        .arg(&inv.key)
        .arg("--known-hosts")
        .arg(&inv.known_hosts)
        .args(["--host-key-policy", "strict"])
        .args(args);
    cmd
}

/// The pids of the `ssh -M` masters whose control socket is under `dir`.
fn masters_under(dir: &Path) -> Vec<u32> {
    let dir = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_master = args.iter().any(|a| *a == b"-M");
        let socket_here = args
            .windows(2)
            .any(|w| w[0] == b"-S" && w[1].starts_with(dir.as_bytes()));
        if is_master && socket_here {
            found.push(pid);
        }
    }
    found
}

/// Whether the masters under `dir` are all gone within `limit`; kills the
/// ones left (so a failing test leaves nothing either).
fn masters_end_within(dir: &Path, limit: Duration) -> Result<(), Vec<u32>> {
    let started = Instant::now();
    loop {
        let left = masters_under(dir);
        if left.is_empty() {
            return Ok(());
        }
        if started.elapsed() > limit {
            for pid in &left {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
            return Err(left);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_ssh_run_leaves_no_master_behind() {
    let scratch = Scratch::new("ssh-run");
    let root = format!("/tmp/{}", off_testbed::unique("example-process-run"));
    let out = on_host_command(&scratch, &["--root", &root, "--with-index", "-q"]).run_to_end();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        common::on_host(HOST, &format!("cat {root}/www/index.html")),
        "<h1>off</h1>\n"
    );
    let left = masters_end_within(&scratch.path("tmp"), Duration::from_secs(5));
    assert_eq!(left, Ok(()), "ssh masters outlived the binary");
}

/// A `mkdir` ahead of the real one on test host 18's PATH that hangs when
/// asked for a directory `D` beside which a marker `D.hang` exists, so the
/// recipe's first command hangs there (and only there) without a change to
/// the recipe. Each run has a root of its own (`off_testbed::unique`), so
/// its marker stops no other run, nor a later one should it be left behind;
/// the wrapper is the same for every run, so runs at once may install it.
const HANGING_MKDIR: &str = r#"#!/bin/sh
for dir in "$@"; do [ -e "$dir.hang" ] && sleep 600; done
exec /bin/mkdir "$@"
"#;

/// Starts the binary on test host 18 with a command that hangs there (see
/// [`HANGING_MKDIR`]) and waits until it hangs.
fn start_hung_ssh_run(scratch: &Scratch, name: &str, args: &[&str]) -> Child {
    let root = format!(
        "/tmp/{}",
        off_testbed::unique(&format!("example-process-hang-{name}"))
    );
    let wrapper = off_testbed::unique("/usr/local/bin/mkdir.new");
    common::on_host(
        HOST,
        &format!(
            "/bin/mkdir -p {root} && touch {root}/conf.hang && \
             cat > {wrapper} <<'EOF'\n{HANGING_MKDIR}EOF\n\
             chmod 755 {wrapper} && mv {wrapper} /usr/local/bin/mkdir"
        ),
    );
    let child = on_host_command(scratch, &[&["--root", root.as_str()], args].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let hung = format!("grep -c '[m]kdir -p -- {root}'");
    while common::on_host(HOST, &format!("ps -eo args | {hung}")).trim() == "0" {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run's first command did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(masters_under(&scratch.path("tmp")).len(), 1);
    child
}

#[test]
fn ctrl_c_over_ssh_exits_130_and_closes_the_master() {
    let scratch = Scratch::new("ssh-int");
    let mut child = start_hung_ssh_run(&scratch, "int", &[]);
    let sent = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let (code, output) = wait_exit(&mut child, Duration::from_secs(20));
    let took = sent.elapsed();
    let left = masters_end_within(&scratch.path("tmp"), Duration::from_secs(2));
    assert_eq!(code, Some(130), "{output}");
    assert!(output.contains("interrupted by SIGINT"), "{output}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(left, Ok(()), "ssh masters outlived the binary");
    let control_dirs = std::fs::read_dir(scratch.path("tmp")).unwrap().count();
    assert_eq!(control_dirs, 0, "control directories left");
}

#[test]
fn a_killed_binary_leaves_no_master_once_its_remote_command_ends() {
    let scratch = Scratch::new("ssh-kill");
    // The remote command ends at the timeout; the master's idle time
    // (10s) after that.
    let mut child = start_hung_ssh_run(&scratch, "kill", &["--timeout", "3s"]);
    child.kill().unwrap();
    child.wait().unwrap();
    let left = masters_end_within(&scratch.path("tmp"), Duration::from_secs(30));
    assert_eq!(left, Ok(()), "ssh masters outlived the killed binary");
}

#[test]
fn host_keys_strict_refuses_an_unknown_host_and_accept_new_records_it() {
    let scratch = Scratch::new("host-keys");
    let inv = off_testbed::Inventory::load().expect("test hosts are not up");
    let address = common::address(HOST);
    let root = format!("/tmp/{}", off_testbed::unique("example-process-keys"));
    let run = |known_hosts: &Path, policy: &str| {
        scratch
            .command(&["-H", &format!("root@{address}"), "--root", &root, "-q"])
            .arg("-i")
            .arg(&inv.key)
            .arg("--known-hosts")
            .arg(known_hosts)
            .args(["--host-key-policy", policy])
            .run_to_end()
    };

    let empty = scratch.path("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let out = run(&empty, "strict");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("host key unknown"), "{all}");
    assert_eq!(std::fs::read_to_string(&empty).unwrap(), "");

    let fresh = scratch.path("fresh_known_hosts");
    let out = run(&fresh, "accept-new");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let recorded = std::fs::read_to_string(&fresh).unwrap();
    let testbed = std::fs::read_to_string(&inv.known_hosts).unwrap();
    let (_, key) = testbed
        .lines()
        .find_map(|l| l.split_once(' ').filter(|(host, _)| *host == address))
        .unwrap();
    assert!(recorded.contains(key), "{recorded}");
    // Recorded for this address (ssh may hash the name).
    let found = Command::new("ssh-keygen")
        .args(["-F", &address, "-f"])
        .arg(&fresh)
        .output()
        .unwrap();
    assert!(found.status.success(), "{recorded}");
    // Once recorded, strict accepts the host.
    let out = run(&fresh, "strict");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Another host's key under this address: a changed key, refused.
    let other = testbed
        .lines()
        .find(|l| !l.starts_with(&format!("{address} ")))
        .unwrap();
    let (_, other_key) = other.split_once(' ').unwrap();
    assert_ne!(other_key, key);
    let changed = scratch.path("changed_known_hosts");
    std::fs::write(&changed, format!("{address} {other_key}\n")).unwrap();
    let recorded = std::fs::read_to_string(&changed).unwrap();
    let out = run(&changed, "accept-new");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("host key verification failed"), "{all}");
    assert_eq!(
        std::fs::read_to_string(&changed).unwrap(),
        recorded,
        "a refused key leaves known_hosts as it was"
    );
}
