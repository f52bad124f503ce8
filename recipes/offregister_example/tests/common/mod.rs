//! Running the example recipe's binary against a test host.
// Each test file uses its own part of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use off_testbed::{Inventory, TestbedConfig, exec_in_host};

/// The binary on test host `host` as root, with `args`, keeping the
/// completed-steps records of `--resume` in `state`.
pub fn recipe_on(host: usize, args: &[&str], state: &Path) -> Output {
    let inv = Inventory::load().expect("test hosts are not up: run `cargo xtask testbed up`");
    let address = &inv.host(host).unwrap().address;
    run(Command::new(env!("CARGO_BIN_EXE_offregister_example"))
        .env("OFF_STATE_DIR", state)
        .args(["-H", &format!("root@{address}"), "-i"])
        .arg(&inv.key)
        .arg("--ssh-config")
        .arg(ssh_config(&inv))
        .args(args))
}

/// [`run`] as a method: `cmd.run_to_end()` where a bare `.output()` would
/// wait forever.
pub trait RunToEnd {
    fn run_to_end(&mut self) -> Output;
}

impl RunToEnd for Command {
    fn run_to_end(&mut self) -> Output {
        run(self)
    }
}

/// Runs a binary under test to its end, killed (and the test failed with
/// its output) should it hang past the deadline.
pub fn run(cmd: &mut Command) -> Output {
    off_testbed::deadline::output(cmd)
}

/// The flags that reach test host `host` as root: `-H`, `-i`, `--ssh-config`.
pub fn ssh_flags(host: usize) -> Vec<String> {
    let inv = Inventory::load().expect("test hosts are not up: run `cargo xtask testbed up`");
    let address = &inv.host(host).unwrap().address;
    vec![
        "-H".into(),
        format!("root@{address}"),
        "-i".into(),
        inv.key.display().to_string(),
        "--ssh-config".into(),
        ssh_config(&inv).display().to_string(),
    ]
}

/// An ssh_config that verifies the test hosts' keys against the testbed's known_hosts.
fn ssh_config(inv: &Inventory) -> PathBuf {
    let path = std::env::temp_dir().join(format!("off-example-ssh-config-{}", std::process::id()));
    inv.write_ssh_config(&path, "").unwrap()
}

/// Runs `cmd` inside test host `host`; its standard output.
pub fn on_host(host: usize, cmd: &str) -> String {
    let out = exec_in_host(&TestbedConfig::default(), host, cmd).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The address of test host `host`.
pub fn address(host: usize) -> String {
    Inventory::load()
        .unwrap()
        .host(host)
        .unwrap()
        .address
        .clone()
}

/// A `sync` ahead of the real one on the host's PATH that hangs while the
/// marker `MARKER` exists: every file write ends with a sync, so the
/// recipe's first write (step `configure`) hangs there. Each run writes the
/// wrapper with a marker of its own (`off_testbed::unique`), so a marker an
/// aborted run left behind hangs no later write.
const HANGING_SYNC: &str = r#"#!/bin/sh
while [ -e MARKER ]; do sleep 0.2; done
exec /bin/sync "$@"
"#;

/// A deploy of the example recipe to `host` as root whose first write hangs
/// (the [`HANGING_SYNC`] wrapper), so that a test can take the host away
/// mid-deploy, and then run it again (`--resume`) with the same state.
pub struct HangingDeploy {
    pub host: usize,
    /// The wrapper's marker: the write hangs while it exists.
    pub marker: String,
    pub root: String,
    key: PathBuf,
    ssh_config: PathBuf,
    /// The completed-steps records `--resume` reads.
    state: tempfile::TempDir,
}

impl HangingDeploy {
    /// Installs the hanging `sync` on `host`, starts the deploy (into a
    /// scratch root named after `name`, with `extra` flags) and returns
    /// once its write hangs.
    pub fn start(host: usize, name: &str, extra: &[&str]) -> (HangingDeploy, std::process::Child) {
        let marker = format!("/tmp/{}", off_testbed::unique("off-hang-sync"));
        let hanging_sync = HANGING_SYNC.replace("MARKER", &marker);
        on_host(
            host,
            &format!(
                "cat > /usr/local/bin/sync.new <<'EOF'\n{hanging_sync}EOF\nchmod 755 /usr/local/bin/sync.new && \
                 touch {marker} && mv /usr/local/bin/sync.new /usr/local/bin/sync"
            ),
        );
        let inv = Inventory::load().unwrap();
        let state = tempfile::tempdir().unwrap();
        let ssh_config = inv
            .write_ssh_config(&state.path().join("ssh_config"), "")
            .unwrap();
        let deploy = HangingDeploy {
            host,
            marker,
            root: format!(
                "/tmp/{}",
                off_testbed::unique(&format!("example-fault-{name}"))
            ),
            key: inv.key.clone(),
            ssh_config,
            state,
        };
        let child = deploy.run(extra);
        let started = std::time::Instant::now();
        while on_host(host, "pgrep -f '[u]sr/local/bin/sync' || true")
            .trim()
            .is_empty()
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the write never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        (deploy, child)
    }

    /// The deploy again, with `extra` flags.
    pub fn run(&self, extra: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_offregister_example"))
            .env("OFF_STATE_DIR", self.state.path())
            .args(["-H", &format!("root@{}", address(self.host)), "-i"])
            .arg(&self.key)
            .arg("--ssh-config")
            .arg(&self.ssh_config)
            .args(["--root", &self.root, "--progress", "none"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// A run's standard output and standard error, for assertions and their messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits for a started run of the binary, with the deadline of [`run`].
pub fn wait(child: std::process::Child) -> Output {
    off_testbed::deadline::wait_within(
        child,
        "offregister_example",
        None,
        off_testbed::deadline::DEFAULT_DEADLINE,
    )
}

/// What the recipe left on `host` under `root`: its stages file, or `absent`.
pub fn stages(host: usize, root: &str) -> String {
    on_host(
        host,
        &format!("cat {root}/conf/stages 2>/dev/null || echo absent"),
    )
}
