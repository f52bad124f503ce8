//! `cargo xtask bench check`: `offcheck` on 1000 files with sha256, 5
//! services and 3 commands on one test host, against the floor of one
//! `ssh host sha256sum <the 1000 files>` in the same run. Target: ≤ 1.5×.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use off_testbed::{Inventory, TestbedConfig, exec_in_host};

use super::report_ratio;

/// The test host the benchmark writes its files to.
const HOST: usize = 9;
const FILES: usize = 1000;
const DIR: &str = "/srv/offcheck-bench";
const ROUNDS: usize = 7;

#[derive(clap::Args)]
pub struct CheckBench {
    /// Use this offcheck binary instead of building it in release mode.
    #[arg(long)]
    offcheck: Option<PathBuf>,
}

pub fn exec(args: CheckBench) -> Result<()> {
    let inv = Inventory::load().context("test hosts are not up: run `cargo xtask testbed up`")?;
    let host = inv.host(HOST)?;
    let target = format!("root@{}", host.address);
    let offcheck = match args.offcheck {
        Some(path) => path,
        None => build_offcheck()?,
    };

    // The files, and their checksums as the spec expects them.
    let out = exec_in_host(
        &TestbedConfig::default(),
        HOST,
        &format!(
            "rm -rf {DIR} && mkdir -p {DIR} && cd {DIR} && \
             i=1; while [ $i -le {FILES} ]; do echo \"file $i\" > f$i.conf; i=$((i+1)); done && \
             sha256sum f*.conf"
        ),
    )?;
    ensure!(
        out.status.success(),
        "creating the files failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sums = String::from_utf8(out.stdout)?;
    let mut spec = String::from("config:\n");
    let mut paths = Vec::new();
    for line in sums.lines() {
        let (sha, name) = line.split_once("  ").context("sha256sum output")?;
        let path = format!("{DIR}/{name}");
        spec.push_str(&format!("- {{path: {path}, sha256: {sha}}}\n"));
        paths.push(path);
    }
    ensure!(paths.len() == FILES, "expected {FILES} files");
    spec.push_str(
        "service:\n- ssh: running\n- sshd: running\n- ssh: enabled\n- sudo: enabled\n- cron: stopped\n\
         command:\n- {cmd: 'true'}\n- {cmd: uname -s, stdout_contains: [Linux]}\n- {cmd: id -u, stdout_contains: ['0']}\n",
    );

    let work = std::env::temp_dir().join(format!("offcheck-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let spec_path = work.join("spec.yaml");
    std::fs::write(&spec_path, spec)?;
    let ssh_config = work.join("ssh_config");
    std::fs::write(
        &ssh_config,
        format!(
            "Host *\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
            inv.key.display(),
            inv.known_hosts.display()
        ),
    )?;

    let mut check = Command::new(&offcheck);
    check
        .arg("-c")
        .arg(&spec_path)
        .args(["-H", &target, "--ssh-config"])
        .arg(&ssh_config)
        .args(["--format", "json"]);
    let mut floor = Command::new("ssh");
    floor
        .arg("-F")
        .arg(&ssh_config)
        .arg(&target)
        .arg("sha256sum")
        .args(&paths);

    // Warm both up (page cache, known_hosts), and make sure the check passes:
    // a failing check would measure something else.
    let first = check.output()?;
    if !first.status.success() {
        bail!(
            "offcheck did not pass on the benchmark host (exit {:?}): {}{}",
            first.status.code(),
            String::from_utf8_lossy(&first.stdout),
            String::from_utf8_lossy(&first.stderr)
        );
    }
    timed(&mut floor)?;

    let mut ours = Vec::new();
    let mut floors = Vec::new();
    for _ in 0..ROUNDS {
        floors.push(timed(&mut floor)?);
        ours.push(timed(&mut check)?);
    }
    let ours = median(ours);
    let floor = median(floors);
    println!(
        "check: {FILES} files with sha256 + 5 services + 3 commands on {target}, median of {ROUNDS}"
    );
    report_ratio(
        "offcheck vs ssh sha256sum",
        ours.as_secs_f64(),
        floor.as_secs_f64(),
        "<= 1.5x",
        ours.as_secs_f64() <= 1.5 * floor.as_secs_f64(),
    );
    let _ = exec_in_host(&TestbedConfig::default(), HOST, &format!("rm -rf {DIR}"));
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn timed(cmd: &mut Command) -> Result<Duration> {
    let started = Instant::now();
    let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    let elapsed = started.elapsed();
    ensure!(status.success(), "{cmd:?} failed: {status}");
    Ok(elapsed)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Builds offcheck in release mode and returns its path.
fn build_offcheck() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "off-check", "--bin", "offcheck"])
        .status()?;
    ensure!(status.success(), "building offcheck failed");
    let target = crate::target_dir();
    Ok(target.join("release/offcheck"))
}
