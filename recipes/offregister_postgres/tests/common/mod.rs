//! The recipe as a user runs it against the test hosts (10–15), each reset
//! to a fresh Debian root first, so nothing of an earlier run remains.

#![allow(dead_code)] // each test file uses a part

use std::path::PathBuf;
use std::process::{Command, Output};

use off_testbed::{Inventory, TestbedConfig, exec_in_host, reset_host};

pub fn inventory() -> Inventory {
    Inventory::load().expect("test hosts are not up: run `cargo xtask testbed up`")
}

pub fn address(host: usize) -> String {
    inventory().host(host).unwrap().address.clone()
}

pub use off_testbed::lock_hosts;

/// Restarts `host` from a fresh root (no PostgreSQL, no files of earlier runs).
pub fn fresh(host: usize) {
    reset_host(&TestbedConfig::default(), host)
        .unwrap_or_else(|e| panic!("cannot reset test host {host}: {e:#}"));
}

/// A scratch directory on the control machine for config files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("off-pg-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` to `<scratch>/<file>` and returns its path.
pub fn write_config(dir: &std::path::Path, file: &str, text: &str) -> String {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs the recipe against `host` as root over SSH.
pub fn recipe(host: usize, args: &[&str]) -> Output {
    recipe_with_env(host, args, &[])
}

/// [`recipe`] with `env` added to its environment (how secrets such as
/// `OFF_REPLICATION_PASSWORD` reach it without a flag).
pub fn recipe_with_env(host: usize, args: &[&str], env: &[(&str, &str)]) -> Output {
    let inv = inventory();
    let target = inv.host(host).unwrap();
    let ssh_config = inv
        .write_ssh_config(&scratch("ssh").join("config"), "")
        .unwrap();
    run(Command::new(env!("CARGO_BIN_EXE_offregister_postgres"))
        .args(["-H", &format!("root@{}", target.address), "-i"])
        .arg(&inv.key)
        .arg("--ssh-config")
        .arg(&ssh_config)
        .args(["--progress", "lines"])
        .args(args)
        .envs(env.iter().copied()))
}

/// Runs a binary under test to its end, killed (and the test failed with
/// its output) should it hang past the deadline.
pub fn run(cmd: &mut Command) -> Output {
    off_testbed::deadline::output(cmd)
}

/// `offcheck <args>` against `host` as root, through an inventory whose
/// host has `vars` (a YAML flow map) when given. offcheck is another
/// package's binary: it is built first (a no-op when it is up to date), into
/// the directory the recipe binary was built in.
pub fn offcheck(host: usize, args: &[&str], vars: Option<&str>) -> Output {
    let recipe = std::path::Path::new(env!("CARGO_BIN_EXE_offregister_postgres"));
    let build = run(Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "off-check", "--bin", "offcheck"])
        .current_dir(env!("CARGO_MANIFEST_DIR")));
    assert_ok(&build);
    let inv = inventory();
    let dir = scratch("offcheck");
    let ssh_config = inv.write_ssh_config(&dir.join("config"), "").unwrap();
    let mut entry = format!("hosts:\n- host: root@{}\n", inv.host(host).unwrap().address);
    if let Some(vars) = vars {
        entry.push_str(&format!("  vars: {vars}\n"));
    }
    let hosts = write_config(&dir, "hosts.yaml", &entry);
    run(Command::new(recipe.with_file_name("offcheck"))
        .args(args)
        .args(["--inventory", &hosts, "-i"])
        .arg(&inv.key)
        .arg("--ssh-config")
        .arg(&ssh_config))
}

/// Panics with the recipe's output unless it succeeded.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sh -c cmd` as root inside `host`: (exit code, stdout, stderr).
pub fn on_host(host: usize, cmd: &str) -> (i32, String, String) {
    let out = exec_in_host(&TestbedConfig::default(), host, cmd).unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `sql` run by psql as the postgres superuser on `host` (over its socket);
/// panics on an error; returns the unaligned, tuples-only output.
pub fn psql(host: usize, db: &str, sql: &str) -> String {
    let cmd = format!(
        "su postgres -c {} <<'OFF_SQL'\n{sql}\nOFF_SQL",
        shell_quote(&format!("psql -X -At -v ON_ERROR_STOP=1 -d {db}"))
    );
    let (code, stdout, stderr) = on_host(host, &cmd);
    assert_eq!(code, 0, "{sql}: {stderr}");
    stdout
}

pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Whether a user can log in over TCP with a password (PGPASSWORD in the
/// environment of psql inside `host`) and run `sql`; returns psql's output.
pub fn login(
    host: usize,
    addr: &str,
    user: &str,
    password: &str,
    db: &str,
    sql: &str,
) -> (i32, String, String) {
    let cmd = format!(
        "PGPASSWORD={} PGCONNECT_TIMEOUT=5 psql -X -At -h {} -U {} -d {} -c {}",
        shell_quote(password),
        shell_quote(addr),
        shell_quote(user),
        shell_quote(db),
        shell_quote(sql)
    );
    on_host(host, &cmd)
}
