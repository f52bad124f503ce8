//! `cargo xtask bench compile`: what `#[recipe]` costs in an edit-build
//! cycle.
//!
//! Two crates in a scratch workspace: the example recipe as it is, and the
//! same code as plain functions calling the runtime (`plain_main.rs`). After
//! a warm-up build, each round edits one step body (a string literal) in
//! both and times the incremental `cargo build` of each. The ratio of the
//! medians is the macro's overhead; the target is ≤ 1.3.
//!
//! Before the rounds, it also times the first build of each crate once its
//! dependencies are built (`cargo clean -p` of the crate, then a build):
//! what a new recipe crate costs, and what the driver being compiled once in
//! `off-runtime` (not again per recipe, generic over its kwargs) saves.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::report_ratio;

const ROUNDS: usize = 5;
const TARGET: f64 = 1.3;
/// The step-body literal each round edits, in both crates.
const EDITED: &str = "\"configured\"";

#[derive(clap::Args)]
pub struct CompileArgs {
    /// Timed rounds (edit + rebuild of each crate).
    #[arg(long, default_value_t = ROUNDS)]
    rounds: usize,
}

pub fn exec(args: CompileArgs) -> Result<()> {
    let root = crate::workspace_root();
    let scratch = tempfile::Builder::new()
        .prefix("off-bench-compile")
        .tempdir()?;
    let dir = scratch.path();
    write_workspace(&root, dir)?;
    let target = crate::target_dir();

    println!(
        "==> warm-up build (dependencies come from {})",
        target.display()
    );
    cargo_build(dir, &target, &["-p", "bench_macro", "-p", "bench_plain"])?;

    let mut first = Vec::new();
    for name in ["bench_macro", "bench_plain"] {
        cargo(dir, &target, &["clean", "--quiet", "-p", name])?;
        let started = Instant::now();
        cargo_build(dir, &target, &["-p", name])?;
        first.push(started.elapsed().as_secs_f64());
    }
    println!(
        "first build after the dependencies: #[recipe] {:.2} s, plain functions {:.2} s",
        first[0], first[1]
    );

    let mut macro_times = Vec::new();
    let mut plain_times = Vec::new();
    for round in 0..args.rounds.max(1) {
        for (name, times) in [
            ("bench_macro", &mut macro_times),
            ("bench_plain", &mut plain_times),
        ] {
            edit_step_body(&dir.join(name).join("src/main.rs"), round)?;
            let started = Instant::now();
            cargo_build(dir, &target, &["-p", name])?;
            times.push(started.elapsed());
        }
        println!(
            "round {}: macro {:.2} s, plain {:.2} s",
            round + 1,
            macro_times[round].as_secs_f64(),
            plain_times[round].as_secs_f64()
        );
    }
    let (ours, floor) = (median(&mut macro_times), median(&mut plain_times));
    let ratio = ours / floor;
    report_ratio(
        "incremental rebuild, #[recipe] vs plain functions (median)",
        ours,
        floor,
        &format!("<= {TARGET}"),
        ratio <= TARGET,
    );
    Ok(())
}

/// A workspace with the example recipe (`bench_macro`) and its plain twin
/// (`bench_plain`), both using this checkout's runtime and lock file.
fn write_workspace(root: &Path, dir: &Path) -> Result<()> {
    let example = root.join("recipes/offregister_example");
    std::fs::write(
        dir.join("Cargo.toml"),
        "[workspace]\nmembers = [\"bench_macro\", \"bench_plain\"]\nresolver = \"3\"\n",
    )?;
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    let runtime = root.join("off-runtime");
    let macro_main = std::fs::read_to_string(example.join("src/main.rs"))?;
    let plain_main = include_str!("plain_main.rs");
    for (name, main) in [
        ("bench_macro", macro_main.as_str()),
        ("bench_plain", plain_main),
    ] {
        if !main.contains(EDITED) {
            bail!("{name}: the step body no longer contains {EDITED}; update the benchmark");
        }
        let krate = dir.join(name);
        std::fs::create_dir_all(krate.join("src"))?;
        std::fs::create_dir_all(krate.join("templates"))?;
        std::fs::copy(
            example.join("templates/motd.j2"),
            krate.join("templates/motd.j2"),
        )?;
        std::fs::write(krate.join("src/main.rs"), main)?;
        std::fs::write(
            krate.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [dependencies]\noff-runtime = {{ path = {:?} }}\n",
                runtime.display().to_string()
            ),
        )?;
    }
    Ok(())
}

/// Changes the edited command literal, as a user editing a step would.
fn edit_step_body(main: &Path, round: usize) -> Result<()> {
    let text = std::fs::read_to_string(main)?;
    let start = text.find(EDITED).context("edited literal not found")?;
    let end = start
        + 1
        + text[start + 1..]
            .find('"')
            .context("unterminated literal")?;
    let edited = format!("\"configured {round}\"");
    std::fs::write(
        main,
        format!("{}{edited}{}", &text[..start], &text[end + 1..]),
    )?;
    Ok(())
}

fn cargo_build(dir: &Path, target: &Path, args: &[&str]) -> Result<()> {
    let mut full = vec!["build", "--quiet"];
    full.extend_from_slice(args);
    cargo(dir, target, &full)
}

fn cargo(dir: &Path, target: &Path, args: &[&str]) -> Result<()> {
    let status = crate::cargo(dir)
        .env("CARGO_TARGET_DIR", target)
        .args(args)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    Ok(())
}

fn median(times: &mut [Duration]) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64()
}
