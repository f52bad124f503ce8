//! `cargo xtask bench metrics`: what pushing events costs a deploy. A recipe of 200 operations
//! (`run("true")`, the cheapest there is, so the events' share is largest) on one test host,
//! with all three sinks (syslog over TCP, InfluxDB, the pushgateway, real servers on loopback)
//! against the same run without any, in the same rounds. Target: ≤ 1.05×.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use off_testbed::Inventory;
use off_testbed::servers::{InfluxDb, Pushgateway, Rsyslog, loopback};

use super::{build_example, report_ratio};

/// The test host the recipe runs on (the metrics tests' host).
const HOST: usize = 24;
const ROUNDS: usize = 10;

#[derive(clap::Args)]
pub struct MetricsBench {
    /// Operations per run.
    #[arg(long, default_value_t = 200)]
    ops: u32,
}

pub fn exec(args: MetricsBench) -> Result<()> {
    let inv = Inventory::load().context("test hosts are not up: run `cargo xtask testbed up`")?;
    let host = inv.host(HOST)?;
    let recipe = build_example("offregister_example", "offregister_repeat")?;
    let rsyslog = Rsyslog::start(loopback())?;
    let influx = InfluxDb::start(loopback())?;
    influx.create_database("bench")?;
    let gateway = Pushgateway::start(loopback())?;
    let work = tempfile::tempdir()?;
    let ssh_config = inv.write_ssh_config(&work.path().join("ssh_config"), "")?;

    let command = |sinks: &[String]| {
        let mut cmd = Command::new(&recipe);
        cmd.env("OFF_STATE_DIR", work.path())
            .args(["-H", &format!("root@{}", host.address), "-i"])
            .arg(&inv.key)
            .arg("--ssh-config")
            .arg(&ssh_config)
            .args(["--count", &args.ops.to_string(), "-q", "--progress", "none"]);
        for sink in sinks {
            cmd.args(["--metrics", sink]);
        }
        cmd
    };
    let sinks = [
        rsyslog.tcp_url(),
        influx.sink_url("bench"),
        gateway.sink_url(),
    ];
    let mut with = command(&sinks);
    let mut without = command(&[]);

    // Warm up, and make sure the sinks take every event: a sink that drops them would
    // measure nothing.
    timed(&mut without)?;
    let before = rsyslog.lines()?.len();
    timed(&mut with)?;
    let arrived = rsyslog.wait_for_lines(before + args.ops as usize)?.len() - before;
    ensure!(
        arrived >= args.ops as usize,
        "rsyslog got {arrived} of {} events",
        args.ops
    );

    let (mut ours, mut floor) = (Duration::MAX, Duration::MAX);
    // Each goes first in every other round, so neither always runs on a machine the other
    // just warmed up.
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            floor = floor.min(timed(&mut without)?);
            ours = ours.min(timed(&mut with)?);
        } else {
            ours = ours.min(timed(&mut with)?);
            floor = floor.min(timed(&mut without)?);
        }
    }
    println!(
        "metrics: {} x run(\"true\") on {} with syslog+tcp, influxdb and pushgateway sinks vs none, best of {ROUNDS}",
        args.ops, host.address
    );
    report_ratio(
        "--metrics (3 sinks) vs none",
        ours.as_secs_f64(),
        floor.as_secs_f64(),
        "<= 1.05x",
        ours.as_secs_f64() <= 1.05 * floor.as_secs_f64(),
    );
    Ok(())
}

fn timed(cmd: &mut Command) -> Result<Duration> {
    let started = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
    let elapsed = started.elapsed();
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        !String::from_utf8_lossy(&out.stderr).contains("warning: --metrics"),
        "a sink dropped events: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(elapsed)
}
