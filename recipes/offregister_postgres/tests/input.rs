//! Bad input and hostile values on test host 14: a bad value stops the run
//! before the host is touched; names and passwords made of SQL and shell
//! syntax are stored as data and work.

mod common;

use common::*;

const HOST: usize = 14;

#[test]
fn bad_input_changes_nothing_then_hostile_values_are_data() {
    let _lock = lock_hosts(&[HOST]);
    fresh(HOST);
    let (code, _, stderr) = on_host(HOST, "touch /tmp/off-before-bad-input");
    assert_eq!(code, 0, "{stderr}");
    let dir = scratch("input");
    let no_password = write_config(
        &dir,
        "no-password.yaml",
        "users:\n- {user: bob, dbname: bobdb}\n",
    );
    let bad_flag = write_config(
        &dir,
        "bad-flag.yaml",
        "users:\n- {user: bob, password: never-printed-pw, superuser: maybe}\n",
    );
    let reserved = write_config(
        &dir,
        "reserved.yaml",
        "users:\n- {user: pg_monitor, password: pw}\n",
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["-c", &reserved],
            "users[0] in the -c file: `user` must be 1 to 63 bytes, not starting with pg_",
        ),
        (
            vec!["-c", &bad_flag],
            "users[0] in the -c file: `superuser` must be true or false",
        ),
        (
            vec!["--version", "abc"],
            "invalid value `abc` for --version",
        ),
        (
            vec!["--version", "8"],
            "for --version: expected a PostgreSQL major version",
        ),
        (
            vec!["--role", "leader"],
            "invalid value `leader` for --role: expected standalone, primary or replica",
        ),
        (
            vec!["-c", &no_password],
            "users[0] in the -c file: missing `password`",
        ),
        (
            vec!["--users", "bob:pw"],
            "list them under `users:` in the -c file",
        ),
        (
            vec!["--role", "replica", "--replication-password", "pw"],
            "--role replica needs --primary-host",
        ),
        (
            vec!["--role", "primary"],
            "--role primary needs --replication-password",
        ),
        (
            vec!["--allowed-networks", "10.0.0.0/33"],
            "for --allowed-networks: the prefix length must be 0 to 32",
        ),
        (
            vec!["--listen-addresses", "*'; x"],
            "for --listen-addresses",
        ),
        (vec!["--shared-buffers", "lots"], "for --shared-buffers"),
        (
            vec!["--wal-level", "minimal"],
            "--wal-level minimal needs --max-wal-senders 0",
        ),
        (
            vec![
                "--role",
                "replica",
                "--replication-password",
                "pw",
                "--primary-host=-oProxyCommand=x",
            ],
            "for --primary-host",
        ),
    ];
    for (args, expected) in &cases {
        let out = recipe(HOST, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(expected),
            "{args:?}: expected {expected:?} in {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: {:?}", out.stdout);
        assert!(!stderr.contains("never-printed-pw"), "{stderr}");
    }
    // Nothing was installed or written.
    let (code, _, _) = on_host(HOST, "dpkg-query -W postgresql-15 postgresql-common");
    assert_ne!(code, 0, "a PostgreSQL package was installed");
    let (_, written, _) = on_host(
        HOST,
        "find / -xdev -newer /tmp/off-before-bad-input ! -path /tmp/off-before-bad-input -print",
    );
    assert_eq!(written, "", "files written by bad input");

    // Hostile names and passwords: data, never code.
    let user = "x\"; DROP DATABASE postgres; --";
    let password = "p'w\"d$1 $off$ `id` \\";
    let db = "db'\"; DROP TABLE t; --";
    let cfg = serde_json::json!({
        "users": [{"user": user, "password": password, "dbname": db}],
    });
    let cfg = write_config(&dir, "hostile.json", &cfg.to_string());
    let out = recipe(HOST, &["-c", &cfg]);
    assert_ok(&out);
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!output.contains(password), "the password was printed");
    let (code, stdout, stderr) = login(
        HOST,
        "127.0.0.1",
        user,
        password,
        db,
        "SELECT current_user = (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database())",
    );
    assert_eq!((code, stdout.as_str()), (0, "t\n"), "{stderr}");
    assert_eq!(
        psql(
            HOST,
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname IN ('postgres', 'template1')"
        ),
        "2\n"
    );
    assert_eq!(
        psql(
            HOST,
            "postgres",
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'x%'"
        ),
        format!("{user}\n")
    );

    // A data directory holding a database that is not a replica is never
    // overwritten by a replica deploy (the refusal comes before any copy).
    let out = recipe(
        HOST,
        &[
            "--role",
            "replica",
            "--primary-host",
            "10.250.0.250",
            "--replication-password",
            "pw",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("/var/lib/postgresql/15/main holds a database that is not a replica; refusing to overwrite it"),
        "{stdout}"
    );
    assert_eq!(
        psql(
            HOST,
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'db%'"
        ),
        "1\n"
    );
}
