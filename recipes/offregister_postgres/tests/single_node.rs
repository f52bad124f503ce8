//! One PostgreSQL server on test host 10, deployed from a -c file with users,
//! then deployed again: the second run changes no file and loses no data.

mod common;

use common::*;

const HOST: usize = 10;

/// `(kind, changed)` of every file operation in an `--events` file.
fn file_events(path: &std::path::Path) -> Vec<(String, bool)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| {
            matches!(
                e["kind"].as_str(),
                Some("put" | "upload_template" | "append")
            )
        })
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["changed"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn single_node_from_a_config_file_and_an_idempotent_second_run() {
    let _lock = lock_hosts(&[HOST]);
    fresh(HOST);
    let dir = scratch("single");
    let cfg = write_config(
        &dir,
        "db.yaml",
        "version: 15\n\
         listen_addresses: '*'\n\
         allowed_networks: [10.250.0.0/24]\n\
         users:\n\
         - {user: app, password: 'app-pw-1', dbname: appdb}\n\
         - {user: admin, password: 'admin-pw-2', superuser: true}\n",
    );
    let events1 = dir.join("events1.ndjson");
    let out = recipe(HOST, &["-c", &cfg, "--events", events1.to_str().unwrap()]);
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(100.00%)"), "{stdout}");
    // The passwords appear in no output and no event.
    let events_text = std::fs::read_to_string(&events1).unwrap();
    for secret in ["app-pw-1", "admin-pw-2"] {
        assert!(!stdout.contains(secret) && !events_text.contains(secret));
        assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
    }
    assert!(file_events(&events1).iter().any(|(_, changed)| *changed));

    // The user logs in over TCP with its password, from the host and over
    // the network address, and owns its database.
    let addr = address(HOST);
    for via in ["127.0.0.1", addr.as_str()] {
        let (code, stdout, stderr) = login(
            HOST,
            via,
            "app",
            "app-pw-1",
            "appdb",
            "SELECT current_user || ' ' || (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'appdb')",
        );
        assert_eq!(
            (code, stdout.as_str()),
            (0, "app app\n"),
            "via {via}: {stderr}"
        );
    }
    let (code, _, _) = login(HOST, "127.0.0.1", "app", "wrong", "appdb", "SELECT 1");
    assert_ne!(code, 0, "a wrong password is refused");
    let (code, stdout, stderr) = login(
        HOST,
        "127.0.0.1",
        "admin",
        "admin-pw-2",
        "postgres",
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
    );
    assert_eq!((code, stdout.as_str()), (0, "t\n"), "{stderr}");
    let (code, _, stderr) = login(
        HOST,
        "127.0.0.1",
        "app",
        "app-pw-1",
        "appdb",
        "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('between runs')",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        psql(
            HOST,
            "postgres",
            "SHOW listen_addresses; SHOW password_encryption"
        ),
        "*\nscram-sha-256\n"
    );

    // Second run: no file changes, the data is still there.
    let events2 = dir.join("events2.ndjson");
    let out = recipe(HOST, &["-c", &cfg, "--events", events2.to_str().unwrap()]);
    assert_ok(&out);
    let files = file_events(&events2);
    assert!(!files.is_empty());
    assert!(
        files.iter().all(|(_, changed)| !changed),
        "files changed on the second run: {files:?}"
    );
    assert_eq!(psql(HOST, "appdb", "SELECT v FROM kept"), "between runs\n");
    let (code, stdout, _) = login(
        HOST,
        "127.0.0.1",
        "app",
        "app-pw-1",
        "appdb",
        "SELECT count(*) FROM kept",
    );
    assert_eq!((code, stdout.as_str()), (0, "1\n"));
}
