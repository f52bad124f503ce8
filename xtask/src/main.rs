//! Project automation, run as `cargo xtask <command>`.
//!
//! - `cargo xtask ci`: everything CI checks, from a fresh Debian machine.
//! - `cargo xtask man`: man pages of the installed binaries, into `man/`.
//! - `cargo xtask install`: packaging and `cargo install`, as a user gets them.
//! - `cargo xtask testbed up|down|status`: the test hosts of the end-to-end tests.
//! - `cargo xtask bench <name>`: performance targets, as ratios against a floor.

mod bench;
mod ci;
mod install;
mod man;
mod relay;
mod testbed;

use clap::Parser;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project automation for off")]
enum Command {
    /// Install what is missing, check formatting and lints, bring up the test
    /// hosts and run every test.
    Ci(ci::CiArgs),
    /// Package every crate and `cargo install` the binaries into a temporary
    /// root, then run them from / (part of `ci`).
    Install,
    /// Write man/<binary>.1 for the binaries users install.
    Man,
    /// Manage the isolated test hosts the end-to-end tests run against.
    #[command(subcommand)]
    Testbed(testbed::TestbedCommand),
    /// Run a benchmark; each prints its ratio against a floor measured in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// A TCP relay that delays each direction, as an ssh `ProxyCommand`:
    /// `bench push`'s simulated round trip.
    #[command(hide = true)]
    Relay(relay::RelayArgs),
}

/// The checkout's root directory.
fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Where cargo builds: `CARGO_TARGET_DIR`, else the checkout's `target/`.
fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Runs one step of a longer job (`ci`, `install`): says its name, and
/// fails naming it unless the command succeeds.
fn step(name: &str, cmd: &mut std::process::Command) -> anyhow::Result<()> {
    use anyhow::Context;
    println!("==> {name}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        anyhow::bail!("{name} failed ({status})");
    }
    Ok(())
}

/// `cargo`, as the one running xtask, in `dir`.
fn cargo(dir: &std::path::Path) -> std::process::Command {
    let mut cmd =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir);
    cmd
}

fn main() -> std::process::ExitCode {
    let result = match Command::parse() {
        Command::Ci(args) => ci::exec(args),
        Command::Install => install::check(&workspace_root()),
        Command::Man => man::exec(&workspace_root()),
        Command::Testbed(cmd) => testbed::exec(cmd),
        Command::Bench(cmd) => bench::exec(cmd),
        Command::Relay(args) => relay::exec(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
