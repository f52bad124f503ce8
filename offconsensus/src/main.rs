//! `offconsensus`: run one command at boot on every node of a cluster-to-be; the nodes find each
//! other, agree on one membership list and a master, and run the command — the master first,
//! the others once it has succeeded (DESIGN §7).
//!
//! ```text
//! offconsensus --serve --host node0.example --port 8426 --run 'offregister_postgres -c cfg.yaml' \
//!              --discovery_mode static --discovery_file peers.json --role master
//! offconsensus --serve node1.example:8426 --run '...' \
//!              --discovery_stop 'n>=3' --role slave --kv etcd://10.0.0.5:2379/off
//! ```

use std::process::{Command, ExitCode};

use clap::{CommandFactory, FromArgMatches, Parser};
use off_cli::SelfDescriptionFlags;
use off_discovery::run::Phase;
use off_discovery::static_mode::{HostPort, parse_port};
use off_discovery::token::TOKEN_ENV;
use off_discovery::{Membership, PeerFlags, run_in_order};
use off_error::{CliError, exit_code};
use off_metrics::event::{Body, PeerPhase, Phase as PhaseEvent};
use off_metrics::{MetricsFlags, Publisher};

/// The port of the seed's examples, when a bare `--serve` has no `--port`.
const DEFAULT_PORT: u16 = 8426;

const EXAMPLES: &str = "\
Examples:
  # Static mode: the nodes are listed in peers.json (the same file on every node).
  offconsensus --serve --host node0.example --port 8426 --run 'offregister_postgres -c cfg.yaml' \\
               --discovery_mode static --discovery_file peers.json --role master

  # Dynamic mode: the first 3 nodes to register in etcd are the cluster.
  offconsensus --serve node1.example:8426 --run 'offregister_postgres -c cfg.yaml' \\
               --discovery_stop 'n>=3' --role slave --kv etcd://10.0.0.5:2379/off

The command runs through /bin/sh -c with, in its environment:
  OFF_PEERS         the members as JSON: [{id, host, port, role, index}, ...], the same on every node
  OFF_ROLE          master or slave
  OFF_MASTER        the master's host
  OFF_INDEX         this node's place in the list, from 0
  OFF_CLUSTER_SIZE  the number of members

The cluster token comes from --token-file or OFF_TOKEN (never the command line) and is
not passed on to the command.

Exit codes: the command's; 1 \"cluster full\" or \"master <host> failed\" (nothing ran);
2 bad input (nothing bound); 3 a peer or the store unreachable, or another token;
4 --discovery-timeout passed.";

/// Runs a command on every node of a cluster once the nodes have found each other and agreed
/// on one membership list and a master: the master first, the others once it has succeeded.
#[derive(Parser, Debug)]
#[command(name = "offconsensus", version, after_long_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    peer: PeerFlags,
    #[command(flatten)]
    metrics: MetricsFlags,
    /// With a bare --serve: the name or address this node serves on and the others reach it by
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// With a bare --serve: the port to serve on [default: 8426]
    #[arg(long, value_name = "PORT", value_parser = parse_port)]
    port: Option<u16>,
    /// The command to run once the cluster has agreed, through /bin/sh -c, with OFF_PEERS,
    /// OFF_ROLE, OFF_MASTER, OFF_INDEX and OFF_CLUSTER_SIZE set (see --help)
    #[arg(long, value_name = "COMMAND")]
    run: String,
    /// Print the phases and the plan; bind, register and run nothing
    #[arg(long = "dry-run", visible_alias = "dry_run")]
    dry_run: bool,
    #[command(flatten)]
    describe: SelfDescriptionFlags,
}

fn main() -> ExitCode {
    match offconsensus() {
        Ok(code) => ExitCode::from(code),
        Err(e) => e.report(),
    }
}

fn command() -> clap::Command {
    // A cluster member serves: --serve is what makes this node one.
    Cli::command().mut_arg("serve", |a| a.required(true))
}

/// The command line, or `None` once `--completions` or `--man` has printed
/// what it asked for.
fn parse_cli() -> Result<Option<Cli>, CliError> {
    let matches = command().get_matches();
    // Before the whole `Cli`: with these, --run and --serve may be missing.
    let describe = SelfDescriptionFlags::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if describe.print(command()).map_err(CliError::failed)? {
        return Ok(None);
    }
    Ok(Some(
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()),
    ))
}

fn offconsensus() -> Result<u8, CliError> {
    let Some(cli) = parse_cli()? else {
        return Ok(exit_code::OK);
    };
    let serve = serve_addr(&cli).map_err(CliError::usage)?;
    let env = |name: &str| std::env::var(name).ok();
    let plan = cli
        .peer
        .plan(serve, &env)
        .map_err(|errors| CliError::many(exit_code::USAGE, errors))?;
    if cli.dry_run {
        println!("offconsensus --dry-run: binds, registers and runs nothing.");
        for line in plan.phases() {
            println!("{line}");
        }
        println!(
            "the command, on each member: /bin/sh -c {:?} with OFF_PEERS, OFF_ROLE, OFF_MASTER, OFF_INDEX, OFF_CLUSTER_SIZE",
            cli.run
        );
        return Ok(exit_code::OK);
    }
    let coordinator = plan.coordinator()?;
    // Phases go to the --metrics sinks as peer-mode events (no secret is in them: the token
    // never leaves the coordinator).
    let events = Publisher::new(
        "offconsensus",
        None,
        cli.metrics.start(),
        Box::new(Vec::new),
    );
    let host = plan.me().host;
    let code = run_in_order(
        coordinator.as_ref(),
        &plan.me(),
        plan.order,
        plan.timeout,
        &mut |membership| run_command(&cli.run, membership),
        &|phase| {
            eprintln!("offconsensus: {}", phase.describe());
            if let Some(event) = phase_event(phase, &host) {
                events.publish(Body::Phase(event));
            }
        },
    );
    events.finish();
    Ok(code?)
}

/// The metrics event of a phase, for the phases the event schema names.
fn phase_event(phase: &Phase, host: &str) -> Option<PhaseEvent> {
    let (phase, detail) = match phase {
        Phase::Joining => (PeerPhase::Registered, None),
        Phase::Joined(_) => (PeerPhase::Frozen, Some(phase.describe())),
        Phase::WaitingForMaster { host } => (PeerPhase::WaitingForMaster, Some(host.clone())),
        Phase::Running | Phase::Ran(_) => return None,
    };
    Some(PhaseEvent {
        host: host.to_string(),
        phase,
        detail,
    })
}

/// `--serve HOST:PORT`, or a bare `--serve` with `--host` and `--port`.
fn serve_addr(cli: &Cli) -> Result<HostPort, String> {
    match cli.peer.serve.as_deref() {
        Some("") | None => match &cli.host {
            Some(host) => HostPort::parse(
                &HostPort {
                    host: host.clone(),
                    port: cli.port.unwrap_or(DEFAULT_PORT),
                }
                .to_string(),
            )
            .map_err(|e| format!("--host {e}")),
            None => Err(
                "--serve needs an address: --serve HOST:PORT, or --serve --host HOST [--port PORT]"
                    .into(),
            ),
        },
        Some(_) if cli.host.is_some() || cli.port.is_some() => {
            Err("--serve HOST:PORT and --host/--port both give the address: use one".into())
        }
        Some(_) => cli.peer.serve_addr().expect("--serve was given"),
    }
}

/// Runs `command` through `/bin/sh -c` with the membership in its environment (and without the
/// token); its exit code, or 128 + the signal that ended it.
fn run_command(command: &str, membership: &Membership) -> u8 {
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .envs(membership.env())
        .env_remove(TOKEN_ENV)
        .status();
    match status {
        Ok(status) => match status.code() {
            Some(code) => u8::try_from(code).unwrap_or(exit_code::FAILED),
            None => {
                use std::os::unix::process::ExitStatusExt;
                let signal = status.signal().unwrap_or(0);
                u8::try_from(128 + signal).unwrap_or(exit_code::FAILED)
            }
        },
        Err(e) => {
            eprintln!("error: cannot start /bin/sh: {e}");
            exit_code::FAILED
        }
    }
}
