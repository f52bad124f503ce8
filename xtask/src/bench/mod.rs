//! `cargo xtask bench <name>`: performance targets as ratios against a floor
//! measured in the same run.
//!
//! These machines are shared and noisy, so no benchmark compares against an
//! absolute time: each one measures its own baseline (a plain `ssh` loop, a
//! plain function build, …) right before or after the thing it measures and
//! prints the ratio next to the target.

mod check;
mod compile;
mod metrics;
mod ops;
mod postgres;
mod push;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Result, bail, ensure};

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Incremental rebuild after editing a step: #[recipe] vs plain functions (target <= 1.3x).
    Compile(compile::CompileArgs),
    /// offcheck on 1000 files + 5 services + 3 commands vs one `ssh sha256sum` of the files (target <= 1.5x).
    Check(check::CheckBench),
    /// offregister_postgres: a single-node deploy against the same commands
    /// as a shell script over one ssh session (target <= 1.2x), and the time
    /// until a three-node cluster streams. Resets test hosts 11-13 and 15.
    Postgres(postgres::PostgresArgs),
    /// Operations over SSH: one host's round trip against plain `ssh host sh`
    /// and an OpenSSH ControlMaster loop; 20 hosts in parallel against one.
    Ops(ops::OpsArgs),
    /// 200 operations on one host with syslog, InfluxDB and pushgateway sinks vs none (target <= 1.05x).
    Metrics(metrics::MetricsBench),
    /// `--push` against the persistent shell and against the binary run on the host,
    /// directly and through a simulated 20 ms round trip (targets: <= 1.5x the on-host
    /// run per operation; at 20 ms, >= 10x cheaper per operation, >= 8x faster in all).
    Push(push::PushArgs),
    /// The parallel workload of `bench ops`, in a process of its own so its
    /// peak memory can be measured.
    #[command(hide = true)]
    OpsWorker(ops::WorkerArgs),
}

pub fn exec(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Compile(args) => compile::exec(args),
        BenchCommand::Check(args) => check::exec(args),
        BenchCommand::Postgres(args) => postgres::exec(args),
        BenchCommand::Ops(args) => ops::exec(args),
        BenchCommand::Metrics(args) => metrics::exec(args),
        BenchCommand::Push(args) => push::exec(args),
        BenchCommand::OpsWorker(args) => ops::worker_exec(args),
    }
}

/// Prints one result line: `name: ratio (target)`, and whether it is met.
pub fn report_ratio(name: &str, ours: f64, floor: f64, target: &str, met: bool) {
    println!(
        "{name}: {ours:.3} s vs {floor:.3} s = {:.2}x ({} target {target})",
        ours / floor,
        verdict(met)
    );
}

/// [`report_ratio`] for times too short to show in seconds (one operation's cost).
pub fn report_ratio_ms(name: &str, ours_ms: f64, floor_ms: f64, target: &str, met: bool) {
    println!(
        "{name}: {ours_ms:.3} ms vs {floor_ms:.3} ms = {:.2}x ({} target {target})",
        ours_ms / floor_ms,
        verdict(met)
    );
}

/// Prints one result line for a target on a speed-up: `name: theirs vs ours =
/// ours is Nx faster (target)`, and whether it is met. `unit` is the values'.
pub fn report_speedup(name: &str, theirs: f64, ours: f64, unit: &str, target: &str, met: bool) {
    println!(
        "{name}: {theirs:.3} {unit} vs {ours:.3} {unit} = {:.1}x faster ({} target {target})",
        theirs / ours,
        verdict(met)
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "meets" } else { "MISSES" }
}

/// Builds `example` of `package` in release mode; the executable's path.
fn build_example(package: &str, example: &str) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "-p", package, "--example", example])
        .args(["--message-format", "json"])
        .stderr(Stdio::inherit())
        .output()?;
    ensure!(out.status.success(), "building {example} failed");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["target"]["name"] == example
            && let Some(path) = message["executable"].as_str()
        {
            return Ok(PathBuf::from(path));
        }
    }
    bail!("cargo did not say where {example} is")
}
