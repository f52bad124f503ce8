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
