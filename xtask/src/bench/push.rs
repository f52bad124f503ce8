//! `cargo xtask bench push`: what `--push` saves. `run("/bin/true")` on one
//! test host, 200 and 1000 times a run, by the `offregister_repeat` example:
//!
//! - (a) over the persistent shell (no `--push`);
//! - (b) with `--push`, the host's cache emptied first (the copy included);
//! - (c) with `--push`, the binary already cached;
//! - (d) the same binary run on the host itself, timed there (no ssh at all);
//!
//! then (a)–(c) again through a simulated 20 ms round trip: `xtask relay` as
//! the ssh `ProxyCommand`, 10 ms each way (these machines have no `netem`).
//!
//! One operation's cost is the marginal one, (T1000 − T200) / 800, so what a
//! run pays once (connecting, the copy) cancels out; the whole run's wall is
//! shown beside it. Every measurement keeps its best round. Targets: cached
//! `--push` ≤ 1.5× the on-host run per operation; at 20 ms, ≥ 10× cheaper
//! per operation than the persistent shell and ≥ 8× faster for the whole
//! run of 1000 (connecting, several round trips, is paid by both).

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use off_testbed::{Inventory, TestHost};
use sha2::{Digest, Sha256};

use super::{build_example, report_ratio_ms, report_speedup};

/// The test host (reserved for `--push`).
const HOST: usize = 34;
/// Operations per run: the marginal cost is the difference over the
/// difference.
const COUNTS: [u32; 2] = [200, 1000];
/// The relay's delay in each direction: a 20 ms round trip.
const DELAY_MS: u64 = 10;
/// The recipe, an example of the example recipe's crate.
const PACKAGE: &str = "offregister_example";
const RECIPE: &str = "offregister_repeat";
/// Its kwargs besides `--count`: the command of the target's figures.
const COMMAND: [&str; 2] = ["--command", "/bin/true"];
/// The bench's own copy of the binary on the host, for (d); apart from
/// `--push`'s cache, which (b) empties.
const HOST_DIR: &str = "/tmp/off-bench-push";
/// `--push`'s cache on the host, as the login shell spells it.
const PUSH_CACHE: &str = "\"${XDG_CACHE_HOME:-$HOME/.cache}/off/bin\"";
/// A run that takes longer has hung: the bench fails instead.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(clap::Args)]
pub struct PushArgs {
    /// Rounds of each measurement (the best one counts).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arm {
    Shell,
    PushCopied,
    PushCached,
    OnHost,
}

impl Arm {
    fn label(self) -> &'static str {
        match self {
            Arm::Shell => "(a) persistent shell",
            Arm::PushCopied => "(b) --push, copy included",
            Arm::PushCached => "(c) --push, cached",
            Arm::OnHost => "(d) on the host itself",
        }
    }

    fn pushes(self) -> bool {
        matches!(self, Arm::PushCopied | Arm::PushCached)
    }
}

/// The link between this machine and the host.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    Direct,
    /// Through the relay: a 20 ms round trip.
    Delayed,
}

/// One arm on one link, and its best wall time for each of [`COUNTS`].
struct Series {
    arm: Arm,
    link: Link,
    best: [Duration; 2],
}

impl Series {
    /// One operation's marginal cost, in milliseconds.
    fn per_op_ms(&self) -> f64 {
        (self.best[1].as_secs_f64() - self.best[0].as_secs_f64()) * 1000.0
            / f64::from(COUNTS[1] - COUNTS[0])
    }

    /// The whole run of the larger count, in seconds.
    fn whole_secs(&self) -> f64 {
        self.best[1].as_secs_f64()
    }
}

pub fn exec(args: PushArgs) -> Result<()> {
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    let inv = Inventory::load().context("test hosts are not up: run `cargo xtask testbed up`")?;
    let host = inv.host(HOST)?;
    let recipe = build_example(PACKAGE, RECIPE)?;
    let work = tempfile::tempdir()?;
    let relay = std::env::current_exe().context("where is xtask")?;
    let bench = Bench {
        inv: &inv,
        host,
        recipe,
        state: work.path().to_path_buf(),
        direct: inv.write_ssh_config(&work.path().join("ssh_config"), "")?,
        delayed: inv.write_ssh_config(
            &work.path().join("ssh_config_delayed"),
            &format!(
                "  ProxyCommand {} relay --delay {DELAY_MS}ms %h:%p\n",
                relay.display()
            ),
        )?,
    };

    bench.install_on_host()?;
    // Warms up both links, and finds out whether this build has --push.
    bench.recipe_run(Link::Direct, false, 1)?;
    bench.recipe_run(Link::Delayed, false, 1)?;
    let no_push = bench.probe_push()?;
    if let Some(why) = &no_push {
        println!("{why}: measuring the rest only");
    }

    let mut series = Vec::new();
    for link in [Link::Direct, Link::Delayed] {
        for arm in [Arm::Shell, Arm::PushCopied, Arm::PushCached, Arm::OnHost] {
            // On the host itself there is no link to delay.
            let skipped = (arm == Arm::OnHost && link == Link::Delayed)
                || (arm.pushes() && no_push.is_some());
            if !skipped {
                series.push(Series {
                    arm,
                    link,
                    best: [Duration::MAX; 2],
                });
            }
        }
    }
    for round in 0..args.rounds {
        // Every other round in the opposite order, so that no arm always
        // runs on a machine another one just warmed up. (c) finds the
        // cache filled in any order: (b) empties it only for its own run.
        let mut order: Vec<usize> = (0..series.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for (i, &n) in COUNTS.iter().enumerate() {
            for &s in &order {
                let wall = bench.measure(series[s].arm, series[s].link, n)?;
                series[s].best[i] = series[s].best[i].min(wall);
            }
        }
    }

    println!(
        "push: run(\"/bin/true\") on {} (root) by {RECIPE}, a release build; best of {} rounds",
        host.address, args.rounds
    );
    println!(
        "  {:<34} {:>9} {:>9} {:>12}",
        "", "200 ops", "1000 ops", "per op"
    );
    for (link, title) in [
        (Link::Direct, "direct".to_string()),
        (
            Link::Delayed,
            format!(
                "{} ms round trip (relay, {DELAY_MS} ms each way)",
                2 * DELAY_MS
            ),
        ),
    ] {
        println!("  {title}");
        for s in series.iter().filter(|s| s.link == link) {
            println!(
                "    {:<32} {:>7.3} s {:>7.3} s {:>9.3} ms",
                s.arm.label(),
                s.best[0].as_secs_f64(),
                s.best[1].as_secs_f64(),
                s.per_op_ms()
            );
        }
        if no_push.is_some() {
            println!("    (b), (c): not measured, no --push");
        }
    }

    let find = |arm, link| series.iter().find(|s| s.arm == arm && s.link == link);
    let on_host = find(Arm::OnHost, Link::Direct).expect("measured");
    let shell_delayed = find(Arm::Shell, Link::Delayed).expect("measured");
    if let (Some(cached), Some(cached_delayed), Some(copied_delayed)) = (
        find(Arm::PushCached, Link::Direct),
        find(Arm::PushCached, Link::Delayed),
        find(Arm::PushCopied, Link::Delayed),
    ) {
        report_ratio_ms(
            "cached --push vs on the host, per operation",
            cached.per_op_ms(),
            on_host.per_op_ms(),
            "<= 1.5x",
            cached.per_op_ms() <= 1.5 * on_host.per_op_ms(),
        );
        report_speedup(
            "20 ms round trip, per operation: cached --push vs the persistent shell",
            shell_delayed.per_op_ms(),
            cached_delayed.per_op_ms(),
            "ms",
            ">= 10x",
            shell_delayed.per_op_ms() >= 10.0 * cached_delayed.per_op_ms(),
        );
        report_speedup(
            "20 ms round trip, whole run of 1000: cached --push vs the persistent shell",
            shell_delayed.whole_secs(),
            cached_delayed.whole_secs(),
            "s",
            ">= 8x",
            shell_delayed.whole_secs() >= 8.0 * cached_delayed.whole_secs(),
        );
        println!(
            "20 ms round trip, whole run of 1000 with the copy: {:.1}x faster than the \
             persistent shell (for information)",
            shell_delayed.whole_secs() / copied_delayed.whole_secs()
        );
    }
    match no_push {
        Some(why) => bail!("the --push arms were not measured: {why}"),
        None => Ok(()),
    }
}

struct Bench<'a> {
    inv: &'a Inventory,
    host: &'a TestHost,
    recipe: PathBuf,
    /// `OFF_STATE_DIR` of the runs from this machine.
    state: PathBuf,
    /// The ssh_configs of the two links.
    direct: PathBuf,
    delayed: PathBuf,
}

impl Bench<'_> {
    /// One run of `arm` on `link` with `n` operations: its wall time.
    fn measure(&self, arm: Arm, link: Link, n: u32) -> Result<Duration> {
        match arm {
            Arm::Shell => self.recipe_run(link, false, n),
            Arm::PushCopied => {
                self.on_host(&format!("rm -rf {PUSH_CACHE}"))?;
                self.recipe_run(link, true, n)
            }
            Arm::PushCached => self.recipe_run(link, true, n),
            Arm::OnHost => self.on_host_run(n),
        }
    }

    /// Runs the recipe binary from this machine on the host; its wall time.
    fn recipe_run(&self, link: Link, push: bool, n: u32) -> Result<Duration> {
        let (wall, status, stderr) = run_timed(self.recipe_command(link, push, n))?;
        ensure!(
            status.success(),
            "{RECIPE}{} over the {} link failed: {status}: {stderr}",
            if push { " --push" } else { "" },
            if link == Link::Direct {
                "direct"
            } else {
                "delayed"
            },
        );
        Ok(wall)
    }

    fn recipe_command(&self, link: Link, push: bool, n: u32) -> Command {
        let mut cmd = Command::new(&self.recipe);
        cmd.env("OFF_STATE_DIR", &self.state)
            .arg("-H")
            .arg(format!("root@{}:{}", self.host.address, self.host.port))
            .arg("-i")
            .arg(&self.inv.key)
            .arg("--ssh-config")
            .arg(match link {
                Link::Direct => &self.direct,
                Link::Delayed => &self.delayed,
            })
            .args(["--count", &n.to_string(), "-q", "--progress", "none"])
            .args(COMMAND);
        if push {
            cmd.arg("--push");
        }
        cmd
    }

    /// One `--push` run: `None` if it worked and left the binary in the
    /// host's cache as `<name>-<sha256>`, mode 0700; why not, if the binary
    /// has no `--push`.
    fn probe_push(&self) -> Result<Option<String>> {
        let (_, status, stderr) = run_timed(self.recipe_command(Link::Direct, true, 1))?;
        if status.code() == Some(2) && stderr.contains("--push") {
            let first = stderr.lines().next().unwrap_or_default();
            return Ok(Some(format!(
                "{RECIPE} rejects --push ({first}): this build has no --push"
            )));
        }
        ensure!(
            status.success(),
            "{RECIPE} --push failed: {status}: {stderr}"
        );
        let cached = format!("{PUSH_CACHE}/{RECIPE}-{}", sha256_hex(&self.recipe)?);
        let mode = self
            .on_host(&format!("stat -c %a {cached}"))
            .with_context(|| format!("after a --push run, the host has no {cached}"))?;
        ensure!(mode.trim() == "700", "{cached} has mode {}", mode.trim());
        Ok(None)
    }

    /// Copies the binary to [`HOST_DIR`] on the host, for (d).
    fn install_on_host(&self) -> Result<()> {
        let path = format!("{HOST_DIR}/{RECIPE}");
        let status = self
            .ssh()
            .arg(format!(
                "mkdir -p {HOST_DIR} && cat > {path}.new && chmod 700 {path}.new && mv {path}.new {path}"
            ))
            .stdin(File::open(&self.recipe)?)
            .status()
            .context("cannot run ssh")?;
        ensure!(
            status.success(),
            "cannot copy {RECIPE} to {path} on the host"
        );
        Ok(())
    }

    /// (d): the binary run on the host, timed there, so that neither ssh's
    /// connection nor its round trip counts.
    fn on_host_run(&self, n: u32) -> Result<Duration> {
        let script = format!(
            "s=$(date +%s%N); OFF_STATE_DIR={HOST_DIR}/state {HOST_DIR}/{RECIPE} --count {n} \
             {} -q --progress none >/dev/null || exit $?; e=$(date +%s%N); echo $((e - s))",
            COMMAND.join(" ")
        );
        let nanos = self.on_host(&script)?;
        let nanos: u64 = nanos
            .trim()
            .parse()
            .with_context(|| format!("the host's timing is not a number: {nanos:?}"))?;
        Ok(Duration::from_nanos(nanos))
    }

    /// Runs `script` on the host over the direct link; its standard output.
    fn on_host(&self, script: &str) -> Result<String> {
        let out = self
            .ssh()
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .context("cannot run ssh")?;
        ensure!(
            out.status.success(),
            "`{script}` on the host failed: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn ssh(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(super::ops::ssh_args(self.inv, self.host));
        cmd
    }
}

/// Runs `cmd` to its end: its wall time, exit status and standard error.
/// Past [`RUN_TIMEOUT`] its process group (with any `ssh` it started) is
/// killed and the run fails.
fn run_timed(mut cmd: Command) -> Result<(Duration, ExitStatus, String)> {
    let shown = format!("{cmd:?}");
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {shown}"))?;
    let mut stderr = child.stderr.take().expect("piped");
    let drain = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // A watchdog instead of polling: waiting in this thread keeps the
    // measured time exact.
    let (done, finished) = mpsc::channel::<()>();
    let group = child.id();
    let watchdog = thread::spawn(move || {
        let hung = finished.recv_timeout(RUN_TIMEOUT).is_err();
        if hung {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
        }
        hung
    });
    let status = child.wait()?;
    let wall = started.elapsed();
    let _ = done.send(());
    let hung = watchdog.join().expect("the watchdog panicked");
    let stderr = drain.join().expect("the stderr reader panicked");
    if hung {
        bail!("{shown} did not finish within {RUN_TIMEOUT:?} and was killed: {stderr}");
    }
    Ok((wall, status, stderr))
}

fn sha256_hex(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
