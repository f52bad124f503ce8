//! `--serve` on the recipe binary, on this machine only: every bad input exits 2 naming the
//! flag before anything binds, and `--dry-run --serve` prints the phases and the plan.

use std::net::TcpListener;
use std::process::{Command, Output};

const TOKEN: &str = "serve-input-test-token-0123456789";

fn recipe(args: &[&str]) -> Output {
    off_testbed::deadline::output(
        Command::new(env!("CARGO_BIN_EXE_offregister_postgres"))
            .args(args)
            .env("OFF_TOKEN", TOKEN)
            .env("OFF_STATE_DIR", std::env::temp_dir()),
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Node {
    dir: tempfile::TempDir,
    /// Held for the whole test: a recipe that tried to bind it would fail with "cannot listen".
    listener: TcpListener,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let node = Node { dir, listener };
        std::fs::write(
            node.path("peers.json"),
            format!("[\"{}\", \"127.0.0.1:1\"]", node.serve()),
        )
        .unwrap();
        std::fs::write(
            node.path("cluster.yaml"),
            "version: 15\nreplication_password: \"r3pl-pw\"\n",
        )
        .unwrap();
        std::fs::write(node.path("no-password.yaml"), "version: 15\n").unwrap();
        node
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn serve(&self) -> String {
        self.listener.local_addr().unwrap().to_string()
    }
}

#[test]
fn bad_serve_input_exits_2_naming_the_flag_before_anything_binds() {
    let node = Node::new();
    let serve = node.serve();
    let peers = node.path("peers.json");
    let cfg = node.path("cluster.yaml");
    let cases: Vec<(Vec<String>, String)> =
        vec![
        (
            vec!["--serve".into(), "127.0.0.1:88426".into()],
            "--serve `127.0.0.1:88426`: port 88426 is out of range (a TCP port is 1 to 65535)"
                .into(),
        ),
        (
            vec!["--serve".into()],
            "--serve needs the address to serve on: --serve HOST:PORT".into(),
        ),
        (
            vec![serve_flag(&serve), "-H".into(), "root@db1".into()],
            "--serve runs the recipe on this node as a member of a cluster; it does not take -H"
                .into(),
        ),
        (
            vec![serve_flag(&serve), "--role".into(), "primary".into()],
            "--role is set from the cluster's membership under --serve; leave it out".into(),
        ),
        (
            vec![serve_flag(&serve), "--discovery_mode".into(), "gossip".into()],
            "invalid value 'gossip' for '--discovery-mode <MODE>'".into(),
        ),
        (
            vec![serve_flag(&serve), "--serve-role".into(), "boss".into()],
            "invalid value 'boss' for '--serve-role <ROLE>'".into(),
        ),
        (
            vec![serve_flag(&serve), "--kv".into(), "redis://10.0.0.5/off".into()],
            "--kv: store URL `redis://10.0.0.5/off`: unknown scheme `redis`".into(),
        ),
        (
            vec![
                serve_flag(&serve),
                "--kv".into(),
                "etcd://10.0.0.5/off".into(),
                "--discovery_stop".into(),
                "n>>3".into(),
            ],
            "--discovery-stop: stop condition `n>>3`, column".into(),
        ),
    ];
    for (args, wanted) in cases {
        let mut argv: Vec<&str> = vec!["-c", &cfg, "--discovery-file", &peers];
        if args.iter().any(|a| a == "--kv") {
            // Dynamic mode: no peers file.
            argv = vec!["-c", &cfg];
        }
        argv.extend(args.iter().map(String::as_str));
        let out = recipe(&argv);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&wanted),
            "{argv:?}: wanted {wanted:?} in {err}"
        );
        assert!(
            !err.contains("cannot listen"),
            "{argv:?} tried to bind: {err}"
        );
    }

    // The kwargs are checked for both roles this node may get, before it binds: a replica and
    // a primary both need the replication password.
    let out = recipe(&[
        "-c",
        &node.path("no-password.yaml"),
        "--serve",
        &serve,
        "--discovery-file",
        &peers,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--role primary needs a replication password"),
        "{err}"
    );
    assert!(
        err.contains("--role replica needs a replication password"),
        "{err}"
    );
    assert!(!err.contains("cannot listen"), "{err}");

    // No token: refused, naming where it comes from.
    let out = off_testbed::deadline::output(
        Command::new(env!("CARGO_BIN_EXE_offregister_postgres"))
            .args(["-c", &cfg, "--serve", &serve, "--discovery-file", &peers])
            .env_remove("OFF_TOKEN"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--token-file FILE or OFF_TOKEN"),
        "{}",
        stderr(&out)
    );
}

fn serve_flag(addr: &str) -> String {
    format!("--serve={addr}")
}

#[test]
fn dry_run_with_serve_prints_the_phases_and_the_plan_and_binds_nothing() {
    let node = Node::new();
    let out = recipe(&[
        "-c",
        &node.path("cluster.yaml"),
        "--serve",
        &node.serve(),
        "--discovery_file",
        &node.path("peers.json"),
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for wanted in [
        "offregister_postgres --dry-run --serve: binds, registers and runs nothing.",
        &format!("1. inputs checked; this node serves on {}", node.serve()),
        "2. static mode: greet every peer of",
        &format!(
            "3. membership: the file's order; master: the node that asks for the master role, else the first listed ({})",
            node.serve()
        ),
        "4. run: the master first",
        "the master runs with --role primary",
        "each other member runs with --role replica --primary-host 127.0.0.1",
        "the recipe on this node: steps install, configure, serve, setup_users, cluster; planned",
    ] {
        assert!(stdout.contains(wanted), "{wanted}: {stdout}");
    }
}
