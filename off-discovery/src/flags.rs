//! The flags of peer mode, defined once for `offconsensus` and every recipe binary, and their
//! validation into a [`PeerPlan`]: every input is checked (the peers file read, the token
//! loaded) before anything binds or registers. Each flag is accepted with dashes and with
//! underscores (`--discovery-mode`, `--discovery_mode`).

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::bootstrap::DynamicCoordinator;
use crate::condition::Condition;
use crate::coordinator::{Coordinator, PeerError};
use crate::member::{NodeInfo, Role};
use crate::run::Order;
use crate::static_mode::{HostPort, PeersFile, StaticCoordinator};
use crate::store::{self, StoreUrl};
use crate::token::{ClusterToken, TOKEN_ENV, hex};

/// `--discovery-timeout` when not given.
pub const DEFAULT_DISCOVERY_TIMEOUT: &str = "10m";

// Peer mode (DESIGN §7). A `//` comment, not a doc comment: that would become the `about` of
// every command the struct is flattened into.
#[derive(clap::Args, Debug, Clone)]
pub struct PeerFlags {
    /// Take part in a cluster: serve the peer endpoint on HOST:PORT (and only there), agree with
    /// the other nodes on one membership list and a master, then run
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1, default_missing_value = "")]
    pub serve: Option<String>,
    /// How nodes find each other: `static` (listed in --discovery-file) or `dynamic` (they
    /// register in the --kv store) [default: static with --discovery-file, dynamic with --kv]
    #[arg(
        long = "discovery-mode",
        visible_alias = "discovery_mode",
        value_name = "MODE",
        value_parser = ["static", "dynamic"],
        requires = "serve"
    )]
    pub discovery_mode: Option<String>,
    /// Static mode's peers: a JSON list of {"host": "node0.example", "port": 8426} objects (an
    /// optional "role": "master" marks the master) or "host:port" strings; its order is the
    /// membership order, the same file on every node
    #[arg(
        long = "discovery-file",
        visible_alias = "discovery_file",
        value_name = "FILE",
        requires = "serve"
    )]
    pub discovery_file: Option<PathBuf>,
    /// Dynamic mode: when the list freezes. `n>=3` (3 nodes registered; the first 3 are the
    /// cluster, later ones exit 1 "cluster full"), `n==5`, `t>=90s` (since this node started),
    /// joined by && and ||
    #[arg(
        long = "discovery-stop",
        visible_alias = "discovery_stop",
        value_name = "CONDITION",
        requires = "serve"
    )]
    pub discovery_stop: Option<String>,
    /// Give up (exit 4) when the peers have not all answered (static) or the stop condition
    /// does not hold (dynamic) after this long: 90s, 10m, 1h
    #[arg(
        long = "discovery-timeout",
        visible_alias = "discovery_timeout",
        value_name = "DURATION",
        default_value = DEFAULT_DISCOVERY_TIMEOUT,
        value_parser = parse_timeout
    )]
    pub discovery_timeout: Duration,
    /// Dynamic mode's key/value store: zk://h1:2181,h2:2181/prefix, etcd://h:2379/prefix or
    /// consul://h:8500/prefix (credentials from the environment, never here)
    #[arg(long, value_name = "URL", requires = "serve")]
    pub kv: Option<String>,
    /// The role this node asks for: master, slave, or auto (the first member is the master)
    #[arg(
        long,
        value_name = "ROLE",
        default_value = "auto",
        value_parser = PossibleValuesParser::new(["master", "slave", "auto"]).map(|s| role(&s))
    )]
    pub role: Role,
    /// master-first: the master runs alone first, the others once it has succeeded (if it
    /// fails, they exit 1 having run nothing); together: every node at once
    #[arg(
        long,
        value_name = "ORDER",
        default_value = "master-first",
        value_parser = PossibleValuesParser::new(["master-first", "together"]).map(|s| order(&s))
    )]
    pub order: Order,
    /// File holding the cluster token, the same on every node (else OFF_TOKEN; never on the
    /// command line): it authenticates the nodes to each other and names the cluster in the
    /// store
    #[arg(
        long = "token-file",
        visible_alias = "token_file",
        value_name = "FILE",
        requires = "serve"
    )]
    pub token_file: Option<PathBuf>,
}

fn role(name: &str) -> Role {
    match name {
        "master" => Role::Master,
        "slave" => Role::Slave,
        _ => Role::Auto,
    }
}

fn order(name: &str) -> Order {
    match name {
        "together" => Order::Together,
        _ => Order::MasterFirst,
    }
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match off_input::parse_duration(text)? {
        d if d.is_zero() => Err("the discovery timeout must be longer than 0".into()),
        d => Ok(d),
    }
}

/// How this node finds the others.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// The peers file, read and checked.
    Static(PeersFile),
    /// The store URL (its scheme checked) and the stop condition.
    Dynamic { kv: String, stop: Condition },
}

/// Peer mode's inputs, all checked: what a node does once it starts binding.
#[derive(Debug, Clone)]
pub struct PeerPlan {
    /// The address this node serves on and is known by.
    pub serve: HostPort,
    pub discovery: Discovery,
    pub role: Role,
    pub order: Order,
    pub timeout: Duration,
    pub token: ClusterToken,
}

impl PeerFlags {
    /// `--serve`'s `HOST:PORT`: `None` without `--serve`; an error for a bare `--serve` (which
    /// only `offconsensus` takes, with `--host` and `--port`) or a bad address.
    pub fn serve_addr(&self) -> Option<Result<HostPort, String>> {
        let value = self.serve.as_deref()?;
        Some(if value.is_empty() {
            Err("--serve needs the address to serve on: --serve HOST:PORT, e.g. --serve node0.example:8426".into())
        } else {
            HostPort::parse(value).map_err(|e| format!("--serve {e}"))
        })
    }

    /// Checks every peer flag against `serve`, reads the peers file and the cluster token
    /// (`env` looks up [`TOKEN_ENV`]); binds and registers nothing. All errors, one line each.
    pub fn plan(
        &self,
        serve: HostPort,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PeerPlan, Vec<String>> {
        let mut errors = Vec::new();
        let mode = match (
            self.discovery_mode.as_deref(),
            &self.discovery_file,
            &self.kv,
        ) {
            (Some(mode), _, _) => Some(mode),
            (None, Some(_), None) => Some("static"),
            (None, None, Some(_)) => Some("dynamic"),
            (None, Some(_), Some(_)) => {
                errors.push("--discovery-file (static mode) and --kv (dynamic mode) exclude each other: choose one, or say which with --discovery-mode".to_string());
                None
            }
            (None, None, None) => {
                errors.push("peer mode needs --discovery-file peers.json (static mode: the nodes listed) or --kv URL (dynamic mode: a key/value store)".to_string());
                None
            }
        };
        let discovery = if mode.is_none() {
            None
        } else if mode == Some("static") {
            for (given, flag) in [
                (self.kv.is_some(), "--kv"),
                (self.discovery_stop.is_some(), "--discovery-stop"),
            ] {
                if given {
                    errors.push(format!(
                        "{flag} is for dynamic mode; static mode's membership is --discovery-file"
                    ));
                }
            }
            match &self.discovery_file {
                None => {
                    errors.push("--discovery-mode static needs --discovery-file peers.json (the nodes, in membership order)".into());
                    None
                }
                Some(path) => match PeersFile::load(path) {
                    Ok(peers) => Some(Discovery::Static(peers)),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                },
            }
        } else {
            if self.discovery_file.is_some() {
                errors.push(
                    "--discovery-file is for static mode; dynamic mode's nodes register in --kv"
                        .into(),
                );
            }
            let kv = match &self.kv {
                None => {
                    errors.push(
                        "--discovery-mode dynamic needs --kv URL (zk://, etcd:// or consul://)"
                            .into(),
                    );
                    None
                }
                Some(url) => check_kv_url(url).map_err(|e| errors.push(e)).ok(),
            };
            let stop = match &self.discovery_stop {
                None => {
                    errors.push("dynamic mode needs --discovery-stop, e.g. 'n>=3' (freeze the list once 3 nodes registered)".into());
                    None
                }
                Some(text) => check_condition(text).map_err(|e| errors.push(e)).ok(),
            };
            kv.zip(stop)
                .map(|(kv, stop)| Discovery::Dynamic { kv, stop })
        };
        let token = ClusterToken::load(self.token_file.as_deref(), env(TOKEN_ENV))
            .map_err(|e| errors.push(e))
            .ok();
        match (discovery, token) {
            (Some(discovery), Some(token)) if errors.is_empty() => Ok(PeerPlan {
                serve,
                discovery,
                role: self.role,
                order: self.order,
                timeout: self.discovery_timeout,
                token,
            }),
            _ => Err(errors),
        }
    }
}

/// `--kv URL`: a URL the stores can open (scheme, hosts, prefix; no credentials in it).
fn check_kv_url(url: &str) -> Result<String, String> {
    StoreUrl::parse(url).map_err(|e| format!("--kv: {e}"))?;
    Ok(url.to_string())
}

/// `--discovery-stop`: a condition that parses.
fn check_condition(text: &str) -> Result<Condition, String> {
    Condition::parse(text).map_err(|e| format!("--discovery-stop: {e}"))
}

impl PeerPlan {
    /// What this node says about itself: its address, the role it asks for, and an id unique to
    /// this run (a restarted node is a new member).
    pub fn me(&self) -> NodeInfo {
        NodeInfo {
            id: format!("{}-{}", self.serve, hex(&rand::random::<[u8; 4]>())),
            host: self.serve.host.clone(),
            port: self.serve.port,
            role: self.role,
        }
    }

    /// The coordinator of this plan's mode (binds nothing yet).
    pub fn coordinator(&self) -> Result<Box<dyn Coordinator>, PeerError> {
        match &self.discovery {
            Discovery::Static(peers) => Ok(Box::new(StaticCoordinator::new(
                peers.clone(),
                self.serve.clone(),
                self.token.clone(),
            )?)),
            // Opening connects: the store unreachable is exit 3 after a bounded retry.
            Discovery::Dynamic { kv, stop } => Ok(Box::new(DynamicCoordinator::new(
                store::open(kv)?,
                self.token.expose(),
                stop.clone(),
            )?)),
        }
    }

    /// The phases this node would go through, for `--dry-run`: one line each.
    pub fn phases(&self) -> Vec<String> {
        let timeout = humanize(self.timeout);
        let mut lines = vec![format!(
            "1. inputs checked; this node serves on {} (and only there)",
            self.serve
        )];
        match &self.discovery {
            Discovery::Static(peers) => {
                lines.push(format!(
                    "2. static mode: greet every peer of {} until each answers, for at most {timeout}: {}",
                    peers.path.display(),
                    peers.addresses().join(", ")
                ));
                let master = peers
                    .entries
                    .iter()
                    .find(|e| e.master)
                    .map(|e| format!("{} (\"role\": \"master\" in the file)", e.addr));
                let master = match (master, self.role) {
                    (Some(m), _) => m,
                    (None, Role::Master) => format!("{} (it asks for the master role)", self.serve),
                    (None, _) => format!(
                        "the node that asks for the master role, else the first listed ({})",
                        peers.entries[0].addr
                    ),
                };
                lines.push(format!("3. membership: the file's order; master: {master}"));
            }
            Discovery::Dynamic { kv, stop } => {
                lines.push(format!(
                    "2. dynamic mode: register in {kv} and wait until `{stop}` holds, for at most {timeout}"
                ));
                lines.push("3. freeze: the first members registered are the cluster (in registration order); master: the node that asks for the master role, else the first registered".into());
            }
        }
        lines.push(match self.order {
            Order::MasterFirst => {
                "4. run: the master first; the others once it has succeeded (if it fails, they exit 1 having run nothing)".into()
            }
            Order::Together => "4. run: every member at once (--order together)".into(),
        });
        lines.push("5. publish this node's result to the others; exit with the run's code".into());
        lines
    }
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        peer: PeerFlags,
    }

    fn parse(args: &[&str]) -> Result<PeerFlags, clap::Error> {
        Cli::try_parse_from(std::iter::once("bin").chain(args.iter().copied())).map(|c| c.peer)
    }

    const TOKEN: &str = "a-cluster-token-0123456789";

    fn env(name: &str) -> Option<String> {
        (name == TOKEN_ENV).then(|| TOKEN.to_string())
    }

    fn peers_file(dir: &tempfile::TempDir) -> String {
        let path = dir.path().join("peers.json");
        std::fs::write(&path, r#"["n0:8426", "n1:8426"]"#).unwrap();
        path.display().to_string()
    }

    fn serve() -> HostPort {
        HostPort::parse("n0:8426").unwrap()
    }

    #[test]
    fn every_flag_takes_dashes_and_underscores() {
        let dir = tempfile::tempdir().unwrap();
        let file = peers_file(&dir);
        for spelling in [
            [
                "--serve",
                "n0:8426",
                "--discovery-mode",
                "static",
                "--discovery-file",
                &file,
                "--discovery-timeout",
                "90s",
                "--token-file",
                "t",
            ],
            [
                "--serve",
                "n0:8426",
                "--discovery_mode",
                "static",
                "--discovery_file",
                &file,
                "--discovery_timeout",
                "90s",
                "--token_file",
                "t",
            ],
        ] {
            let flags = parse(&spelling).unwrap();
            assert_eq!(flags.discovery_mode.as_deref(), Some("static"));
            assert_eq!(flags.discovery_timeout, Duration::from_secs(90));
            assert_eq!(flags.token_file, Some(PathBuf::from("t")));
        }
        let flags = parse(&[
            "--serve",
            "h:1",
            "--discovery_stop",
            "n>=3",
            "--kv",
            "zk://z/off",
            "--role",
            "slave",
            "--order",
            "together",
        ])
        .unwrap();
        assert_eq!(flags.discovery_stop.as_deref(), Some("n>=3"));
        assert_eq!((flags.role, flags.order), (Role::Slave, Order::Together));
        let defaults = parse(&[]).unwrap();
        assert_eq!(
            (defaults.role, defaults.order),
            (Role::Auto, Order::MasterFirst)
        );
        assert_eq!(defaults.discovery_timeout, Duration::from_secs(600));
        assert!(defaults.serve.is_none());
    }

    #[test]
    fn bad_values_are_usage_errors_naming_the_flag() {
        for (args, flag) in [
            (
                &["--serve", "h:1", "--discovery-mode", "gossip"][..],
                "--discovery-mode",
            ),
            (&["--role", "boss"], "--role"),
            (&["--order", "random"], "--order"),
            (&["--discovery-timeout", "soon"], "--discovery-timeout"),
            (&["--discovery-timeout", "0"], "--discovery-timeout"),
            (&["--kv", "zk://z/off"], "--serve"),
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            assert!(e.to_string().contains(flag), "{args:?}: {e}");
        }
    }

    #[test]
    fn serve_takes_host_and_port() {
        let serve = |v: &str| parse(&["--serve", v]).unwrap().serve_addr().unwrap();
        assert_eq!(
            serve("node0.example:8426").unwrap(),
            HostPort::parse("node0.example:8426").unwrap()
        );
        assert_eq!(
            serve("node0.example:88426").unwrap_err(),
            "--serve `node0.example:88426`: port 88426 is out of range (a TCP port is 1 to 65535)"
        );
        let bare = parse(&["--serve"])
            .unwrap()
            .serve_addr()
            .unwrap()
            .unwrap_err();
        assert!(bare.starts_with("--serve needs the address"), "{bare}");
        assert!(parse(&[]).unwrap().serve_addr().is_none());
    }

    #[test]
    fn a_plan_reads_the_peers_file_and_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = peers_file(&dir);
        let plan = parse(&["--serve", "n0:8426", "--discovery-file", &file])
            .unwrap()
            .plan(serve(), &env)
            .unwrap();
        let Discovery::Static(peers) = &plan.discovery else {
            panic!("static")
        };
        assert_eq!(peers.addresses(), ["n0:8426", "n1:8426"]);
        assert_eq!(plan.token, ClusterToken::new(TOKEN));
        assert_eq!(plan.me().host, "n0");
        assert!(plan.me().id.starts_with("n0:8426-"));
        assert_ne!(plan.me().id, plan.me().id);
        let phases = plan.phases().join("\n");
        assert!(
            phases.contains(
                "master: the node that asks for the master role, else the first listed (n0:8426)"
            ),
            "{phases}"
        );

        let plan = parse(&[
            "--serve",
            "h:1",
            "--kv",
            "etcd://10.0.0.5:2379/off",
            "--discovery-stop",
            "n>=3",
        ])
        .unwrap()
        .plan(serve(), &env)
        .unwrap();
        assert!(
            matches!(&plan.discovery, Discovery::Dynamic { kv, stop } if kv == "etcd://10.0.0.5:2379/off" && stop.size() == Some(3))
        );
    }

    #[test]
    fn every_bad_input_is_listed_before_anything_binds() {
        let dir = tempfile::tempdir().unwrap();
        let file = peers_file(&dir);
        let errors = |args: &[&str], env: &dyn Fn(&str) -> Option<String>| {
            let mut argv = vec!["--serve", "n0:8426"];
            argv.extend_from_slice(args);
            parse(&argv).unwrap().plan(serve(), env).unwrap_err()
        };
        let none = |_: &str| None;
        let e = errors(&[], &none);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("peer mode needs --discovery-file peers.json"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("peer mode needs the cluster token"),
            "{e:?}"
        );

        let e = errors(
            &["--kv", "redis://r:6379/off", "--discovery-stop", "n>=3"],
            &env,
        );
        assert_eq!(
            e,
            [
                "--kv: store URL `redis://r:6379/off`: unknown scheme `redis` (expected zk://, etcd:// or consul://)"
            ]
        );
        let e = errors(&["--kv", "r:2379", "--discovery-stop", "n>=3"], &env);
        assert!(
            e[0].starts_with("--kv: store URL `r:2379`: expected"),
            "{e:?}"
        );
        let e = errors(
            &["--kv", "etcd://u:pw@r/off", "--discovery-stop", "n>=3"],
            &env,
        );
        assert!(
            e[0].contains("credentials do not belong in the URL"),
            "{e:?}"
        );
        assert!(!e[0].contains("pw@"), "{e:?}");
        let e = errors(&["--kv", "etcd://r/off"], &env);
        assert!(
            e[0].starts_with("dynamic mode needs --discovery-stop"),
            "{e:?}"
        );
        let e = errors(&["--discovery-file", &file, "--kv", "etcd://r/off"], &env);
        assert!(e[0].contains("exclude each other"), "{e:?}");
        let e = errors(
            &[
                "--discovery-mode",
                "static",
                "--discovery-file",
                &file,
                "--discovery-stop",
                "n>=3",
            ],
            &env,
        );
        assert!(
            e[0].starts_with("--discovery-stop is for dynamic mode"),
            "{e:?}"
        );
        let e = errors(
            &[
                "--discovery-mode",
                "dynamic",
                "--discovery-file",
                &file,
                "--kv",
                "zk://z",
                "--discovery-stop",
                "n>=3",
            ],
            &env,
        );
        assert!(
            e[0].starts_with("--discovery-file is for static mode"),
            "{e:?}"
        );
        let missing = dir.path().join("nope.json");
        let e = errors(&["--discovery-file", missing.to_str().unwrap()], &env);
        assert_eq!(
            e,
            [format!(
                "--discovery-file {}: no such file",
                missing.display()
            )]
        );
    }

    #[test]
    fn help_teaches_every_flag() {
        let help = Cli::command().render_long_help().to_string();
        for wanted in [
            "--serve [<HOST:PORT>]",
            "--discovery-mode <MODE>",
            "[alias: --discovery_mode]",
            "--discovery-file <FILE>",
            "\"role\": \"master\"",
            "--discovery-stop <CONDITION>",
            "n>=3",
            "--discovery-timeout <DURATION>",
            "[default: 10m]",
            "--kv <URL>",
            "etcd://h:2379/prefix",
            "--role <ROLE>",
            "--order <ORDER>",
            "--token-file <FILE>",
            "OFF_TOKEN",
        ] {
            assert!(help.contains(wanted), "{wanted}: {help}");
        }
    }
}
