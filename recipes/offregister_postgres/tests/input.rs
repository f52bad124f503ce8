//! Bad input and hostile values on test host 14: a bad value stops the run
//! before the host is touched; names and passwords made of SQL and shell
//! syntax are stored as data and work.

mod common;

use common::*;

const HOST: usize = 14;

/// In every secret of the bad inputs: no output may contain it.
const SECRET: &str = "Zq9-never-printed";

/// Environment variables added to a run of the recipe.
type Env<'a> = [(&'a str, &'a str)];

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
    let file = |name: &str, text: String| write_config(&dir, name, &text);
    let bad_flag = file(
        "bad-flag.yaml",
        format!("users:\n- {{user: bob, password: {SECRET}, superuser: maybe}}\n"),
    );
    let reserved = file(
        "reserved.yaml",
        format!("users:\n- {{user: pg_monitor, password: {SECRET}}}\n"),
    );
    let long_name = file(
        "long-name.yaml",
        format!(
            "users:\n- {{user: {}, password: {SECRET}}}\n",
            "u".repeat(64)
        ),
    );
    let long_db = file(
        "long-db.yaml",
        format!(
            "users:\n- {{user: bob, password: {SECRET}, dbname: {}}}\n",
            "d".repeat(64)
        ),
    );
    let nul_password = file(
        "nul-password.json",
        format!(r#"{{"users": [{{"user": "bob", "password": "{SECRET}\u0000"}}]}}"#),
    );
    let user_as_text = file("user-as-text.yaml", format!("users: [\"bob:{SECRET}\"]\n"));
    let users_as_text = file("users-as-text.yaml", format!("users: bob:{SECRET}\n"));
    let unclosed_yaml = file(
        "unclosed.yaml",
        format!("users:\n- {{user: bob, password: \"{SECRET}}}\n"),
    );
    let unclosed_toml = file(
        "unclosed.toml",
        format!("replication_password = \"{SECRET}\n"),
    );
    let unclosed_json = file(
        "unclosed.json",
        format!("{{\"replication_password\": \"{SECRET}"),
    );
    let newline_password = file(
        "newline.yaml",
        format!("replication_password: \"{SECRET}\\nx\"\n"),
    );
    let replication = file(
        "replication.yaml",
        format!("replication_password: {SECRET}\n"),
    );
    let env_password = [("OFF_REPLICATION_PASSWORD", SECRET)];
    let secret_flag = "is a password, and a command line is visible to every user of the machine: \
                       give it as `replication_password` in the -c file or in OFF_REPLICATION_PASSWORD";
    let users_flag = "--users holds passwords, and a command line is visible to every user of the machine: \
                      list them under `users:` in the -c file";
    let user_pw = format!("bob:{SECRET}");
    let users_eq = format!("--users={SECRET}");
    let password_eq = format!("--replication-password={SECRET}");
    let password_underscore_eq = format!("--replication_password={SECRET}");
    let newline = format!("{SECRET}\nx");
    let newline_env = [("OFF_REPLICATION_PASSWORD", newline.as_str())];
    let users_env = [("OFF_USERS", user_pw.as_str())];
    let cases: Vec<(Vec<&str>, &Env, &str)> = vec![
        (
            vec!["-c", &reserved],
            &[],
            "users[0] in the -c file: `user` must be 1 to 63 bytes, not starting with pg_",
        ),
        (
            vec!["-c", &long_name],
            &[],
            "users[0] in the -c file: `user` must be 1 to 63 bytes",
        ),
        (
            vec!["-c", &long_db],
            &[],
            "users[0] in the -c file: `dbname` must be 1 to 63 bytes",
        ),
        (
            vec!["-c", &nul_password],
            &[],
            "users[0] in the -c file: the password contains a NUL byte",
        ),
        (
            vec!["-c", &bad_flag],
            &[],
            "users[0] in the -c file: `superuser` must be true or false",
        ),
        (
            vec!["-c", &user_as_text],
            &[],
            "users[0] in the -c file: expected a map {user, password, dbname, superuser}",
        ),
        (
            vec!["-c", &users_as_text],
            &[],
            "line 1) takes a list; write the value as one: `[…]`",
        ),
        (
            vec!["-c", &unclosed_yaml],
            &[],
            "unclosed quote at line 2, column 25",
        ),
        (
            vec!["-c", &unclosed_toml],
            &[],
            "invalid basic string, expected `\"` at line 1 column 42",
        ),
        (
            vec!["-c", &unclosed_json],
            &[],
            "EOF while parsing a string",
        ),
        (
            vec!["--role", "primary", "-c", &newline_password],
            &[],
            "the replication password contains a line break",
        ),
        (
            vec!["--role", "primary"],
            &newline_env,
            "the replication password contains a line break",
        ),
        (
            vec!["--version", "abc"],
            &[],
            "invalid value `abc` for --version",
        ),
        (
            vec!["--version", "8"],
            &[],
            "for --version: expected a PostgreSQL major version",
        ),
        (
            vec!["--role", "leader"],
            &[],
            "invalid value `leader` for --role: expected standalone, primary or replica",
        ),
        (
            vec!["-c", &no_password],
            &[],
            "users[0] in the -c file: missing `password`",
        ),
        (vec!["--users", &user_pw], &[], users_flag),
        (vec!["--role", "primary", &users_eq], &[], users_flag),
        (
            vec![],
            &users_env,
            "--users: users come only from the -c file",
        ),
        (
            vec!["--role", "primary", "--replication-password", SECRET],
            &[],
            secret_flag,
        ),
        (vec!["--role", "primary", &password_eq], &[], secret_flag),
        (
            vec!["--replication_password", SECRET, "--role", "primary"],
            &[],
            secret_flag,
        ),
        (vec![&password_underscore_eq], &[], secret_flag),
        // The password is read from the -c file and from the environment:
        // the next problem is the missing primary.
        (
            vec!["--role", "replica", "-c", &replication],
            &[],
            "--role replica needs --primary-host",
        ),
        (
            vec!["--role", "replica"],
            &env_password,
            "--role replica needs --primary-host",
        ),
        (
            vec!["--role", "primary"],
            &[],
            "--role primary needs a replication password (`replication_password` in the -c file or OFF_REPLICATION_PASSWORD)",
        ),
        (
            vec!["--allowed-networks", "10.0.0.0/33"],
            &[],
            "for --allowed-networks: the prefix length must be 0 to 32",
        ),
        (
            vec!["--listen-addresses", "*'; x"],
            &[],
            "for --listen-addresses",
        ),
        (
            vec!["--shared-buffers", "lots"],
            &[],
            "for --shared-buffers",
        ),
        (
            vec!["--wal-level", "minimal"],
            &[],
            "--wal-level minimal needs --max-wal-senders 0",
        ),
        (
            vec![
                "--wal-level",
                "minimal",
                "--max-wal-senders",
                "0",
                "--role",
                "primary",
            ],
            &env_password,
            "--wal-level minimal cannot replicate",
        ),
        (vec!["--port", "0"], &[], "invalid value `0` for --port"),
        (vec!["--port", "70000"], &[], "--port"),
        (
            vec!["--max-connections", "0"],
            &[],
            "invalid value `0` for --max-connections: at least 4",
        ),
        (vec!["--apt-source", "ppa"], &[], "--apt-source"),
        (
            vec!["--replication-user", "Repl-User"],
            &[],
            "invalid value `Repl-User` for --replication-user",
        ),
        (
            vec!["--role", "replica", "--primary-host=-oProxyCommand=x"],
            &env_password,
            "for --primary-host",
        ),
    ];
    for (args, env, expected) in &cases {
        let out = recipe_with_env(HOST, args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(expected),
            "{args:?}: expected {expected:?} in {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: {:?}", out.stdout);
        assert!(!stderr.contains(SECRET), "{args:?}: {stderr}");
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
    let out = recipe_with_env(
        HOST,
        &["--role", "replica", "--primary-host", "10.250.0.250"],
        &[("OFF_REPLICATION_PASSWORD", "pw")],
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

/// A server whose configuration turns `standard_conforming_strings` off
/// reads a backslash in a string literal as an escape: the recipe's SQL
/// sets it on first, so names and passwords holding backslashes and quotes
/// are stored as given.
#[test]
fn backslashes_are_data_when_the_server_has_standard_conforming_strings_off() {
    let _lock = lock_hosts(&[HOST]);
    fresh(HOST);
    assert_ok(&recipe(HOST, &[]));
    let (code, _, stderr) = on_host(
        HOST,
        "echo 'standard_conforming_strings = off' > /etc/postgresql/15/main/conf.d/off-test.conf \
         && pg_ctlcluster 15 main reload",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        psql(HOST, "postgres", "SHOW standard_conforming_strings"),
        "off\n"
    );

    // Not printable ASCII, so the server is sent the passwords themselves
    // (in string literals), not SCRAM verifiers.
    let user = r"u\'x\";
    let db = r"d\'b";
    let password = "p\u{e9}\\'\"w\\";
    let replication_password = "r\u{e9}\\'p\\";
    let dir = scratch("conforming");
    let cfg = serde_json::json!({
        "users": [{"user": user, "password": password, "dbname": db}],
    });
    let cfg = write_config(&dir, "users.json", &cfg.to_string());
    let out = recipe_with_env(
        HOST,
        &["-c", &cfg, "--role", "primary"],
        &[("OFF_REPLICATION_PASSWORD", replication_password)],
    );
    assert_ok(&out);
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!output.contains(password) && !output.contains(replication_password));
    let (code, stdout, stderr) = login(
        HOST,
        "127.0.0.1",
        user,
        password,
        db,
        "SELECT current_user || ' ' || current_database()",
    );
    assert_eq!(
        (code, stdout.as_str()),
        (0, format!("{user} {db}\n").as_str()),
        "{stderr}"
    );
    let (code, stdout, stderr) = login(
        HOST,
        "127.0.0.1",
        "replicator",
        replication_password,
        "postgres",
        "SELECT rolreplication FROM pg_roles WHERE rolname = current_user",
    );
    assert_eq!((code, stdout.as_str()), (0, "t\n"), "{stderr}");
    // The server still has it off for everyone else.
    assert_eq!(
        psql(HOST, "postgres", "SHOW standard_conforming_strings"),
        "off\n"
    );
}

/// Enum defaults are shown as a user types them, not as Rust.
#[test]
fn help_shows_enum_defaults_as_typed() {
    let out =
        run(std::process::Command::new(env!("CARGO_BIN_EXE_offregister_postgres")).arg("--help"));
    assert_ok(&out);
    let help = String::from_utf8_lossy(&out.stdout);
    for default in ["distribution", "replica", "standalone"] {
        assert!(
            help.contains(&format!("[default: {default}]")),
            "{default}: {help}"
        );
    }
    assert!(!help.contains("AptSource::"), "{help}");
}
