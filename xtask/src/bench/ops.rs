//! `cargo xtask bench ops`: the cost of one operation over SSH.
//!
//! 1. `run("/bin/true")` many times on one test host through the executor,
//!    against (a) the floor, a plain `ssh host sh` fed the same framed
//!    commands by a small driver (and, for information, the barest frame),
//!    and (b) an OpenSSH ControlMaster loop of `ssh host /bin/true`, one
//!    multiplexed channel per command. Each is measured three times in turn
//!    and keeps its best round.
//! 2. 20 test hosts × 50 operations in parallel against one host's 50: wall
//!    time of the operations, and the peak RSS of the control process (the
//!    workload runs in a child process, `bench ops-worker`, which reports its
//!    own VmHWM).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use off_runtime::prelude::*;
use off_runtime::report::RunObserver;
use off_runtime::transport::{HostKeyPolicy, SshOptions};
use off_testbed::{Inventory, TestHost, TestbedConfig};

use super::report_ratio;

/// The single-host measurements use the last of the 20 bench hosts (other
/// suites run tests on the lower ones).
const SINGLE_HOST: usize = 19;

/// Rounds of each measurement (the best one counts).
const ROUNDS: usize = 3;

/// A worker that takes longer has hung: the bench fails instead.
const WORKER_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(clap::Args)]
pub struct OpsArgs {
    /// Operations in the single-host comparison.
    #[arg(long, default_value_t = 200)]
    ops: usize,
    /// Hosts in the parallel run (test hosts 0..hosts).
    #[arg(long, default_value_t = 20)]
    hosts: usize,
    /// Operations per host in the parallel run.
    #[arg(long, default_value_t = 50)]
    ops_per_host: usize,
}

/// The parallel workload, run in a child process so its peak RSS is its own.
#[derive(clap::Args)]
pub struct WorkerArgs {
    /// Test host indices to run on.
    #[arg(long, value_delimiter = ',', required = true)]
    hosts: Vec<usize>,
    #[arg(long)]
    ops: usize,
}

pub fn exec(args: OpsArgs) -> Result<()> {
    ensure!(
        args.ops > 0 && args.ops_per_host > 0,
        "--ops must be at least 1"
    );
    ensure!(
        args.hosts > SINGLE_HOST,
        "--hosts must be at least {}",
        SINGLE_HOST + 1
    );
    let inv = ensure_hosts(args.hosts)?;
    let host = inv.host(SINGLE_HOST)?;

    println!(
        "{} x run(\"/bin/true\") on {} (root):",
        args.ops, host.address
    );
    // The machine is shared: the three are measured in turn, ROUNDS times,
    // and each keeps its best round.
    let (mut ours_best, mut floor_best, mut bare_best, mut control_master_best) =
        (Duration::MAX, Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        ours_best = ours_best.min(ours(&inv, host, args.ops)?);
        floor_best = floor_best.min(plain_ssh_sh(&inv, host, args.ops, Frame::Protocol)?);
        bare_best = bare_best.min(plain_ssh_sh(&inv, host, args.ops, Frame::Bare)?);
        control_master_best = control_master_best.min(control_master_loop(&inv, host, args.ops)?);
    }
    let (ours, floor, bare, control_master) =
        (ours_best, floor_best, bare_best, control_master_best);
    println!(
        "  off executor            {:8.3} s  ({:.2} ms/op)",
        secs(ours),
        per_op_ms(ours, args.ops)
    );
    println!(
        "  (a) ssh host sh, framed {:8.3} s  ({:.2} ms/op)",
        secs(floor),
        per_op_ms(floor, args.ops)
    );
    println!(
        "      ssh host sh, bare   {:8.3} s  ({:.2} ms/op, for information: stdout marker only)",
        secs(bare),
        per_op_ms(bare, args.ops)
    );
    println!(
        "  (b) ControlMaster loop  {:8.3} s  ({:.2} ms/op)",
        secs(control_master),
        per_op_ms(control_master, args.ops)
    );
    report_ratio(
        "off vs (a) the floor",
        secs(ours),
        secs(floor),
        "<= 1.5x",
        secs(ours) <= 1.5 * secs(floor),
    );
    println!(
        "off vs the bare frame (for information): {:.2}x",
        secs(ours) / secs(bare)
    );
    let speedup = secs(control_master) / secs(ours);
    println!(
        "(b) vs off: {:.3} s vs {:.3} s = off is {speedup:.1}x faster ({} target >= 20x)",
        secs(control_master),
        secs(ours),
        if speedup >= 20.0 { "meets" } else { "MISSES" }
    );

    println!(
        "\n{} hosts x {} ops in parallel vs 1 host x {} ops:",
        args.hosts, args.ops_per_host, args.ops_per_host
    );
    let all: Vec<usize> = (0..args.hosts).collect();
    let (mut one, mut many) = (
        worker(&[SINGLE_HOST], args.ops_per_host)?,
        worker(&all, args.ops_per_host)?,
    );
    let mut floor_one = plain_ssh_sh(&inv, host, args.ops_per_host, Frame::Protocol)?;
    let mut floor_many = parallel_floor(&inv, &all, args.ops_per_host)?;
    for _ in 1..ROUNDS {
        one = one.best(worker(&[SINGLE_HOST], args.ops_per_host)?);
        many = many.best(worker(&all, args.ops_per_host)?);
        floor_one = floor_one.min(plain_ssh_sh(
            &inv,
            host,
            args.ops_per_host,
            Frame::Protocol,
        )?);
        floor_many = floor_many.min(parallel_floor(&inv, &all, args.ops_per_host)?);
    }
    println!(
        "  1 host:   ops {:.3} s, with connecting {:.3} s, peak RSS {:.1} MB",
        one.ops_secs,
        one.total_secs,
        one.peak_rss_kb as f64 / 1024.0
    );
    println!(
        "  {} hosts: ops {:.3} s, with connecting {:.3} s, peak RSS {:.1} MB",
        args.hosts,
        many.ops_secs,
        many.total_secs,
        many.peak_rss_kb as f64 / 1024.0
    );
    println!(
        "  plain `ssh host sh` drivers: 1 host {:.3} s, {} hosts {:.3} s \
         ({:.2}x: what this machine allows)",
        secs(floor_one),
        args.hosts,
        floor_many,
        floor_many / secs(floor_one)
    );
    report_ratio(
        &format!("{} hosts vs 1 host, operations", args.hosts),
        many.ops_secs,
        one.ops_secs,
        "<= 4x",
        many.ops_secs <= 4.0 * one.ops_secs,
    );
    info_ratio(
        &format!("{} hosts, off vs plain ssh drivers", args.hosts),
        many.ops_secs,
        floor_many,
    );
    info_ratio(
        &format!("{} hosts vs 1 host, with connecting", args.hosts),
        many.total_secs,
        one.total_secs,
    );
    let peak_mb = many.peak_rss_kb as f64 / 1024.0;
    println!(
        "peak RSS of the control process with {} hosts: {peak_mb:.1} MB ({} target <= 50 MB)",
        args.hosts,
        if peak_mb <= 50.0 { "meets" } else { "MISSES" }
    );
    Ok(())
}

/// Makes sure `hosts` test hosts run. Bringing the testbed up replaces it
/// (and so disturbs whoever is testing on it), so that only happens when
/// hosts are missing altogether; a host whose sshd is slow to answer on a
/// busy machine is still counted as running.
fn ensure_hosts(hosts: usize) -> Result<Inventory> {
    let config = TestbedConfig::default();
    let status = off_testbed::status(&config)?;
    let running = status
        .hosts
        .iter()
        .filter(|h| h.index < hosts && h.pid1.is_some())
        .count();
    if running < hosts || status.inventory.is_none() {
        println!("only {running} of {hosts} test hosts run: bringing the testbed up to {hosts}");
        off_testbed::up(&config, hosts)?;
    }
    let inv = Inventory::load()?;
    ensure!(
        inv.hosts.len() >= hosts,
        "the testbed has {} hosts, the bench needs {hosts}",
        inv.hosts.len()
    );
    Ok(inv)
}

fn ssh_options(inv: &Inventory) -> SshOptions {
    SshOptions {
        identity: Some(inv.key.clone()),
        known_hosts: Some(inv.known_hosts.clone()),
        host_key_policy: HostKeyPolicy::Strict,
        ..SshOptions::default()
    }
}

fn target(host: &TestHost) -> Result<Target> {
    Ok(format!("root@{}:{}", host.address, host.port).parse()?)
}

/// Shows nothing: the bench measures operations, not the console.
struct Silent;
impl RunObserver for Silent {}

/// `n` operations through the executor, timed after connecting.
fn ours(inv: &Inventory, host: &TestHost, n: usize) -> Result<Duration> {
    let elapsed = Mutex::new(None);
    let report = Executor::new(vec![target(host)?])
        .ssh_options(ssh_options(inv))
        .observer(Arc::new(Silent))
        .run(|| {
            run("/bin/true")?;
            let started = Instant::now();
            for _ in 0..n {
                run("/bin/true")?;
            }
            *elapsed.lock().unwrap() = Some(started.elapsed());
            Ok(())
        });
    ensure!(report.exit_code() == 0, "{}", report.summary());
    Ok(elapsed.into_inner().unwrap().expect("the task ran"))
}

/// The `ssh` client's arguments for `host` as root, without the command.
pub(super) fn ssh_args(inv: &Inventory, host: &TestHost) -> Vec<String> {
    vec![
        "-i".into(),
        inv.key.display().to_string(),
        "-o".into(),
        format!("UserKnownHostsFile={}", inv.known_hosts.display()),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-p".into(),
        host.port.to_string(),
        format!("root@{}", host.address),
    ]
}

/// Which frames the floor's driver writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// What off's persistent shell receives for `run("/bin/true")`: the
    /// command in a subshell with an empty stdin, then an end marker on
    /// stderr and one with the exit code on stdout (so the two streams stay
    /// apart).
    Protocol,
    /// The least a framed round trip can be: the command in a subshell and
    /// an end line on stdout.
    Bare,
}

/// The floor: one `ssh host sh`, fed `n` framed commands, each written after
/// the previous one's end markers came back.
fn plain_ssh_sh(inv: &Inventory, host: &TestHost, n: usize, frame: Frame) -> Result<Duration> {
    let (started, ended) = plain_ssh_sh_together(inv, host, n, frame, None)?;
    Ok(ended - started)
}

/// [`plain_ssh_sh`], starting the timed commands when every driver waiting
/// on `together` is connected. Returns when the commands started and ended.
fn plain_ssh_sh_together(
    inv: &Inventory,
    host: &TestHost,
    n: usize,
    frame: Frame,
    together: Option<&Gate>,
) -> Result<(Instant, Instant)> {
    // Arrives at the gate even when this driver fails before it, so the
    // others do not wait for it.
    let arrival = together.map(Gate::arrival);
    let mut child = Command::new("ssh")
        .args(ssh_args(inv, host))
        .arg("sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run ssh")?;
    let mut input = child.stdin.take().expect("piped");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let read_to = |stream: &mut dyn BufRead, end: &str| -> Result<()> {
        let mut line = String::new();
        loop {
            line.clear();
            if stream.read_line(&mut line)? == 0 {
                bail!("ssh {} sh ended early", host.address);
            }
            if line.trim_end() == end {
                return Ok(());
            }
        }
    };
    let mut round_trip = |i: usize| -> Result<()> {
        let end = format!("bench-end-{i}");
        let text = match frame {
            Frame::Protocol => format!(
                "( /bin/true ) </dev/null\n__s=$?\n\
                 printf '%s\\n' {end} >&2; printf '%s %s\\n' {end} \"$__s\"\n"
            ),
            Frame::Bare => format!("( /bin/true ) </dev/null; printf '%s %s\\n' {end} $?\n"),
        };
        input.write_all(text.as_bytes())?;
        input.flush()?;
        // The outputs are a line each: reading one stream, then the other,
        // cannot block the shell.
        read_to(&mut stdout, &format!("{end} 0"))?;
        if frame == Frame::Protocol {
            read_to(&mut stderr, &end)?;
        }
        Ok(())
    };
    round_trip(0)?;
    if let Some(arrival) = arrival {
        arrival.wait();
    }
    let started = Instant::now();
    for i in 1..=n {
        round_trip(i)?;
    }
    let ended = Instant::now();
    drop(input);
    child.wait()?;
    Ok((started, ended))
}

/// The floor of the parallel run: one plain `ssh host sh` driver per host,
/// all at once. Returns the seconds from the first start to the last end.
fn parallel_floor(inv: &Inventory, hosts: &[usize], n: usize) -> Result<f64> {
    let gate = Gate::new(hosts.len());
    let spans = std::thread::scope(|s| {
        let drivers: Vec<_> = hosts
            .iter()
            .map(|&i| {
                let gate = &gate;
                s.spawn(move || {
                    plain_ssh_sh_together(inv, inv.host(i)?, n, Frame::Protocol, Some(gate))
                })
            })
            .collect();
        drivers
            .into_iter()
            .map(|d| d.join().expect("driver panicked"))
            .collect::<Result<Vec<_>>>()
    })?;
    let first = spans.iter().map(|s| s.0).min().expect("hosts ran");
    let last = spans.iter().map(|s| s.1).max().expect("hosts ran");
    Ok((last - first).as_secs_f64())
}

/// OpenSSH's own multiplexing: a ControlMaster, then `ssh host /bin/true`
/// through it `n` times.
fn control_master_loop(inv: &Inventory, host: &TestHost, n: usize) -> Result<Duration> {
    let control_path = std::env::temp_dir().join(format!("off-bench-cm-{}", std::process::id()));
    let control = format!("ControlPath={}", control_path.display());
    let ssh = |extra: &[&str]| {
        let mut cmd = Command::new("ssh");
        cmd.args(["-o", &control])
            .args(extra)
            .args(ssh_args(inv, host));
        cmd
    };
    let status = ssh(&["-o", "ControlMaster=yes", "-o", "ControlPersist=60", "-fN"]).status()?;
    ensure!(status.success(), "cannot start the ControlMaster");
    let run_true = || -> Result<()> {
        let status = ssh(&["-o", "ControlMaster=no"]).arg("/bin/true").status()?;
        ensure!(status.success(), "ssh {} /bin/true failed", host.address);
        Ok(())
    };
    let result = (|| {
        run_true()?;
        let started = Instant::now();
        for _ in 0..n {
            run_true()?;
        }
        Ok(started.elapsed())
    })();
    let _ = ssh(&["-O", "exit"]).stderr(Stdio::null()).status();
    result
}

/// Lets parties start together: each waits until all have arrived (or a
/// minute has passed, so a party that never comes does not hang the bench).
struct Gate {
    arrived: Mutex<usize>,
    all_in: Condvar,
    parties: usize,
}

/// One party's place at a [`Gate`]; dropping it without waiting still
/// counts as arriving.
struct Arrival<'g> {
    gate: &'g Gate,
    arrived: bool,
}

impl Gate {
    fn new(parties: usize) -> Gate {
        Gate {
            arrived: Mutex::new(0),
            all_in: Condvar::new(),
            parties,
        }
    }

    fn arrival(&self) -> Arrival<'_> {
        Arrival {
            gate: self,
            arrived: false,
        }
    }
}

impl Arrival<'_> {
    fn arrive(&mut self) {
        if !self.arrived {
            self.arrived = true;
            *self.gate.arrived.lock().unwrap() += 1;
            self.gate.all_in.notify_all();
        }
    }

    fn wait(mut self) {
        self.arrive();
        let arrived = self.gate.arrived.lock().unwrap();
        let _ = self
            .gate
            .all_in
            .wait_timeout_while(arrived, Duration::from_secs(60), |n| *n < self.gate.parties)
            .unwrap();
    }
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        self.arrive();
    }
}

/// What a worker measured.
struct WorkerResult {
    /// From every host connected to the last operation's end.
    ops_secs: f64,
    /// The whole run, connecting included.
    total_secs: f64,
    peak_rss_kb: u64,
}

impl WorkerResult {
    /// The better times of two rounds, and the higher peak memory.
    fn best(self, other: WorkerResult) -> WorkerResult {
        WorkerResult {
            ops_secs: self.ops_secs.min(other.ops_secs),
            total_secs: self.total_secs.min(other.total_secs),
            peak_rss_kb: self.peak_rss_kb.max(other.peak_rss_kb),
        }
    }
}

/// Runs `bench ops-worker` in a child process and reads its one result line.
fn worker(hosts: &[usize], ops: usize) -> Result<WorkerResult> {
    let list = hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "bench",
            "ops-worker",
            "--hosts",
            &list,
            "--ops",
            &ops.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start the bench worker")?;
    // Its one line of output fits in the pipe: wait first, read after.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > WORKER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the bench worker on hosts {list} did not finish within {WORKER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("piped"), &mut text)?;
    ensure!(status.success(), "the bench worker failed: {text}");
    let field = |name: &str| -> Result<f64> {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .with_context(|| format!("no {name} in the worker's output: {text}"))?
            .parse::<f64>()
            .with_context(|| format!("bad {name} in the worker's output: {text}"))
    };
    Ok(WorkerResult {
        ops_secs: field("ops_secs")?,
        total_secs: field("total_secs")?,
        peak_rss_kb: field("peak_rss_kb")? as u64,
    })
}

/// The worker: connects to every host, waits until all are connected, runs
/// `ops` operations on each at once, and prints its timings and VmHWM.
pub fn worker_exec(args: WorkerArgs) -> Result<()> {
    let inv = Inventory::load()?;
    let targets = args
        .hosts
        .iter()
        .map(|&i| target(inv.host(i)?))
        .collect::<Result<Vec<_>>>()?;
    let hosts = targets.len();
    let gate = Gate::new(hosts);
    let spans = Mutex::new(Vec::new());
    let started = Instant::now();
    let report = Executor::new(targets)
        .parallel(hosts)
        .ssh_options(ssh_options(&inv))
        .observer(Arc::new(Silent))
        .run(|| {
            // Start the operations together, once every host is connected.
            gate.arrival().wait();
            let begun = Instant::now();
            for _ in 0..args.ops {
                run("/bin/true")?;
            }
            spans.lock().unwrap().push((begun, Instant::now()));
            Ok(())
        });
    let total = started.elapsed();
    ensure!(report.exit_code() == 0, "{}", report.summary());
    let spans = spans.into_inner().unwrap();
    let first = spans.iter().map(|s| s.0).min().expect("hosts ran");
    let last = spans.iter().map(|s| s.1).max().expect("hosts ran");
    println!(
        "ops_secs={:.6} total_secs={:.6} peak_rss_kb={}",
        (last - first).as_secs_f64(),
        total.as_secs_f64(),
        peak_rss_kb()?
    );
    Ok(())
}

/// This process's peak resident set size (VmHWM), in KiB.
fn peak_rss_kb() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")
}

/// A ratio printed for information, next to the ones with targets.
fn info_ratio(name: &str, ours: f64, floor: f64) {
    println!(
        "{name}: {ours:.3} s vs {floor:.3} s = {:.2}x (for information)",
        ours / floor
    );
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn per_op_ms(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1000.0 / n as f64
}
