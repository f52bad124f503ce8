//! `offconsensus` as an operator runs it: bad input exits 2 naming the flag before anything
//! binds; three processes on loopback agree and run the command with the membership in its
//! environment; the exit code is the command's.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use off_testbed::deadline::{DEFAULT_DEADLINE, output, wait_within};

const TOKEN: &str = "offconsensus-test-token-0123456789";

/// One run of the binary, under the suite's deadline (standard input empty).
fn offconsensus(args: &[&str]) -> Output {
    output(
        Command::new(env!("CARGO_BIN_EXE_offconsensus"))
            .args(args)
            .env("OFF_TOKEN", TOKEN),
    )
}

/// Starts one `offconsensus` per node at once, each as `node(i)` sets it up,
/// and waits for all of them, each under the suite's deadline.
fn run_nodes(count: usize, node: impl Fn(usize) -> Command) -> Vec<Output> {
    let children: Vec<_> = (0..count)
        .map(|i| {
            let mut cmd = node(i);
            let shown = format!("{cmd:?}");
            let child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .spawn()
                .unwrap();
            (child, shown)
        })
        .collect();
    children
        .into_iter()
        .map(|(child, shown)| wait_within(child, &shown, None, DEFAULT_DEADLINE))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn peers_file(dir: &Path, ports: &[u16]) -> PathBuf {
    let list: Vec<String> = ports
        .iter()
        .map(|p| format!("{{\"host\": \"127.0.0.1\", \"port\": {p}}}"))
        .collect();
    let path = dir.join("peers.json");
    std::fs::write(&path, format!("[{}]", list.join(", "))).unwrap();
    path
}

#[test]
fn bad_input_exits_2_naming_the_flag_and_binds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let serve = format!("127.0.0.1:{port}");
    let peers = peers_file(dir.path(), &[port]);
    let peers = peers.to_str().unwrap();
    let malformed = dir.path().join("malformed.json");
    std::fs::write(
        &malformed,
        r#"[{"host": "a", "port": 8426}, {"host": "b"}]"#,
    )
    .unwrap();
    let missing = dir.path().join("missing.json");
    // Something that would show the command ran.
    let ran = dir.path().join("ran");
    let run = format!("touch {}", ran.display());
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--serve", "--port", "88426", "--host", "node0.example"],
            "invalid value '88426' for '--port <PORT>': port 88426 is out of range (a TCP port is 1 to 65535)".into(),
        ),
        (
            vec!["--serve", "node0.example:88426", "--discovery-file", peers],
            "--serve `node0.example:88426`: port 88426 is out of range (a TCP port is 1 to 65535)".into(),
        ),
        (
            vec!["--serve", &serve, "--discovery_mode", "gossip", "--discovery-file", peers],
            "invalid value 'gossip' for '--discovery-mode <MODE>'".into(),
        ),
        (
            vec!["--serve", &serve, "--discovery_file", missing.to_str().unwrap()],
            format!("--discovery-file {}: no such file", missing.display()),
        ),
        (
            vec!["--serve", &serve, "--discovery_file", malformed.to_str().unwrap()],
            format!("--discovery-file {}: peer 2 (of 2): missing `port`", malformed.display()),
        ),
        (
            vec!["--serve", &serve, "--kv", "redis://10.0.0.5:6379/off", "--discovery_stop", "n>=3"],
            "--kv: store URL `redis://10.0.0.5:6379/off`: unknown scheme `redis`".into(),
        ),
        (
            vec!["--serve", &serve, "--kv", "etcd://10.0.0.5:2379/off", "--discovery_stop", "n>=3 &"],
            "--discovery-stop: stop condition `n>=3 &`, column 6:".into(),
        ),
        (
            vec!["--serve", "127.0.0.2:1", "--discovery-file", peers],
            format!("this node (--serve 127.0.0.2:1) is not in --discovery-file {peers}"),
        ),
        (
            vec!["--serve", "--discovery-file", peers],
            "--serve needs an address".into(),
        ),
        (
            vec!["--discovery-file", peers],
            "the following required arguments were not provided".into(),
        ),
        (
            vec!["--serve", &serve, "--discovery-file", peers, "--role", "boss"],
            "invalid value 'boss' for '--role <ROLE>'".into(),
        ),
    ];
    for (args, wanted) in cases {
        let mut argv = args.clone();
        argv.extend(["--run", &run]);
        let out = offconsensus(&argv);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&wanted),
            "{args:?}: wanted {wanted:?} in {}",
            stderr(&out)
        );
        assert!(!ran.exists(), "{args:?} ran the command");
        // Nothing listens on the node's port.
        assert!(
            TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "{args:?} left a listener"
        );
    }
    // No token: refused before anything binds, naming where the token comes from.
    let out = output(
        Command::new(env!("CARGO_BIN_EXE_offconsensus"))
            .args(["--serve", &serve, "--discovery-file", peers, "--run", &run])
            .env_remove("OFF_TOKEN"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--token-file FILE or OFF_TOKEN"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn completions_and_man_page_need_neither_run_nor_serve() {
    off_testbed::completions::assert_each_shell_completes(
        Path::new(env!("CARGO_BIN_EXE_offconsensus")),
        "offconsensus",
        "offconsensus --discovery-ti",
        "--discovery-timeout",
    );
    let page = offconsensus(&["--man"]);
    assert_eq!(page.status.code(), Some(0), "{}", stderr(&page));
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(page.contains(".TH offconsensus 1"), "{page}");
    assert!(page.contains("discovery\\-timeout"), "{page}");
    // Alone, or not at all: they never start a node.
    let out = offconsensus(&["--completions", "bash", "--serve", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--completions"), "{}", stderr(&out));
}

#[test]
fn help_teaches_every_flag() {
    let out = offconsensus(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for wanted in [
        "--serve [<HOST:PORT>]",
        "--host <HOST>",
        "--port <PORT>",
        "--run <COMMAND>",
        "--discovery-mode <MODE>",
        "--discovery-file <FILE>",
        "--discovery-stop <CONDITION>",
        "--discovery-timeout <DURATION>",
        "--kv <URL>",
        "--role <ROLE>",
        "--order <ORDER>",
        "--token-file <FILE>",
        "--dry-run",
        "OFF_PEERS ",
        "OFF_CLUSTER_SIZE",
        "Exit codes:",
    ] {
        assert!(help.contains(wanted), "{wanted}: {help}");
    }
}

#[test]
fn dry_run_prints_the_phases_and_binds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(2);
    let peers = peers_file(dir.path(), &ports);
    let port = ports[0].to_string();
    let out = offconsensus(&[
        "--serve",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--discovery_file",
        peers.to_str().unwrap(),
        "--role",
        "master",
        "--run",
        "false",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("binds, registers and runs nothing"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "master: 127.0.0.1:{port} (it asks for the master role)"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("4. run: the master first"), "{stdout}");
}

/// The seed's command line on three nodes: the same list everywhere, the master first, and each
/// node's exit code its command's.
#[test]
fn three_nodes_run_the_command_with_the_membership_in_its_environment() {
    // Every node pushes its phases to a real InfluxDB as well.
    let influx = off_testbed::servers::InfluxDb::start(off_testbed::servers::loopback()).unwrap();
    influx.create_database("peers").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let peers = peers_file(dir.path(), &ports);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let out_dir = dir.path().display().to_string();
    // Each node records what it saw; node 2 (a slave) fails with 5; the master checks it ran
    // before any slave did.
    let command = format!(
        "set -e; d={out_dir}; \
         if [ \"$OFF_ROLE\" = slave ]; then test -e $d/master-done; fi; \
         printf '%s\\n' \"$OFF_PEERS\" > $d/peers.$OFF_INDEX; \
         echo \"$OFF_ROLE $OFF_MASTER $OFF_INDEX $OFF_CLUSTER_SIZE token:${{OFF_TOKEN:-none}}\" > $d/env.$OFF_INDEX; \
         if [ \"$OFF_ROLE\" = master ]; then sleep 0.5; touch $d/master-done; fi; \
         if [ \"$OFF_INDEX\" = 2 ]; then exit 5; fi"
    );
    let outputs = run_nodes(3, |i| {
        let port = ports[i].to_string();
        let mut args = vec![
            "--serve".to_string(),
            "--port".into(),
            port,
            "--host".into(),
            "127.0.0.1".into(),
            "--run".into(),
            command.clone(),
            "--discovery_mode".into(),
            "static".into(),
            "--discovery_file".into(),
            peers.display().to_string(),
            "--token-file".into(),
            token_file.display().to_string(),
            "--discovery-timeout".into(),
            "30s".into(),
            "--metrics".into(),
            influx.sink_url("peers"),
        ];
        if i == 1 {
            args.extend(["--role".into(), "master".into()]);
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_offconsensus"));
        cmd.args(&args).env_remove("OFF_TOKEN");
        cmd
    });
    let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
    assert_eq!(
        codes,
        [Some(0), Some(0), Some(5)],
        "{:?}",
        outputs.iter().map(stderr).collect::<Vec<_>>()
    );
    let read = |name: String| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let peers_seen: Vec<String> = (0..3).map(|i| read(format!("peers.{i}"))).collect();
    assert!(
        peers_seen.iter().all(|p| *p == peers_seen[0]),
        "{peers_seen:?}"
    );
    let members: serde_json::Value = serde_json::from_str(&peers_seen[0]).unwrap();
    let members = members.as_array().unwrap();
    assert_eq!(members.len(), 3);
    for (i, m) in members.iter().enumerate() {
        assert_eq!(m["port"], ports[i]);
        assert_eq!(m["index"], i);
        assert_eq!(m["role"], if i == 1 { "master" } else { "slave" });
    }
    assert_eq!(read("env.1".into()), "master 127.0.0.1 1 3 token:none\n");
    assert_eq!(read("env.0".into()), "slave 127.0.0.1 0 3 token:none\n");
    assert!(stderr(&outputs[0]).contains("waiting for master 127.0.0.1 to succeed"));
    // Three registered, three frozen, two waiting for the master; never the token.
    let rows = influx.select("peers", "SELECT * FROM off_phase").unwrap();
    let count = |phase: &str| rows.iter().filter(|r| r["phase"] == phase).count();
    assert_eq!(
        (
            count("registered"),
            count("frozen"),
            count("waiting_for_master")
        ),
        (3, 3, 2),
        "{rows:?}"
    );
    assert!(!format!("{rows:?}").contains(TOKEN));
}

#[test]
fn a_failing_master_makes_the_others_exit_1_having_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let peers = peers_file(dir.path(), &ports);
    let marker = dir.path().display().to_string();
    let command = format!("touch {marker}/ran.$OFF_INDEX; [ \"$OFF_ROLE\" = slave ] || exit 7");
    let outputs = run_nodes(3, |i| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_offconsensus"));
        cmd.args(["--serve", &format!("127.0.0.1:{}", ports[i])])
            .args([
                "--discovery-file",
                peers.to_str().unwrap(),
                "--run",
                &command,
            ])
            .env("OFF_TOKEN", TOKEN);
        cmd
    });
    assert_eq!(outputs[0].status.code(), Some(7), "{}", stderr(&outputs[0]));
    for out in &outputs[1..] {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
        assert!(
            stderr(out).contains("error: master 127.0.0.1 failed"),
            "{}",
            stderr(out)
        );
    }
    assert!(dir.path().join("ran.0").exists());
    assert!(!dir.path().join("ran.1").exists());
    assert!(!dir.path().join("ran.2").exists());
}

/// The seed's dynamic form against a real etcd: three nodes register, the list freezes at
/// three, the node that asked for the master role runs first, and every node sees one list.
#[test]
fn dynamic_mode_three_nodes_register_in_etcd_and_agree() {
    let etcd =
        off_testbed::servers::etcd::start(off_testbed::servers::loopback()).expect("etcd starts");
    let kv = format!("etcd://{}/offconsensus-test", etcd.addr);
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let out_dir = dir.path().display().to_string();
    let command = format!(
        "d={out_dir}; if [ \"$OFF_ROLE\" = slave ]; then test -e $d/master-done || exit 9; fi; \
         printf '%s\\n' \"$OFF_PEERS\" > $d/peers.$OFF_INDEX; \
         if [ \"$OFF_ROLE\" = master ]; then sleep 0.5; touch $d/master-done; fi"
    );
    let outputs = run_nodes(3, |i| {
        let role = if i == 1 { "master" } else { "slave" };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_offconsensus"));
        cmd.args(["--serve", &format!("127.0.0.1:{}", ports[i])])
            .args(["--run", &command, "--discovery_stop", "n>=3"])
            .args(["--role", role, "--kv", &kv, "--discovery-timeout", "60s"])
            .env("OFF_TOKEN", TOKEN);
        cmd
    });
    for out in &outputs {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    }
    let peers: Vec<String> = (0..3)
        .map(|i| std::fs::read_to_string(dir.path().join(format!("peers.{i}"))).unwrap())
        .collect();
    assert!(peers.iter().all(|p| *p == peers[0]), "{peers:?}");
    let members: serde_json::Value = serde_json::from_str(&peers[0]).unwrap();
    let members = members.as_array().unwrap();
    assert_eq!(members.len(), 3);
    let masters: Vec<u64> = members
        .iter()
        .filter(|m| m["role"] == "master")
        .map(|m| m["port"].as_u64().unwrap())
        .collect();
    assert_eq!(masters, [u64::from(ports[1])], "{members:?}");
}
