//! A streaming-replication cluster: primary on test host 11, replicas on 12
//! and 13, each deployed by its own run of the recipe with its role.

mod common;

use common::*;

const PRIMARY: usize = 11;
const REPLICAS: [usize; 2] = [12, 13];

#[test]
fn primary_and_two_replicas_stream() {
    let _lock = lock_hosts(&[PRIMARY, REPLICAS[0], REPLICAS[1]]);
    for host in [PRIMARY, REPLICAS[0], REPLICAS[1]] {
        fresh(host);
    }
    let dir = scratch("cluster");
    let cfg = write_config(
        &dir,
        "cluster.yaml",
        "version: 15\n\
         listen_addresses: '*'\n\
         allowed_networks: [10.250.0.0/24]\n\
         replication_password: \"r3pl'pw\"\n\
         users:\n\
         - {user: app, password: app-pw, dbname: appdb}\n",
    );
    assert_ok(&recipe(PRIMARY, &["-c", &cfg, "--role", "primary"]));
    let primary = address(PRIMARY);
    for replica in REPLICAS {
        let out = recipe(
            replica,
            &["-c", &cfg, "--role", "replica", "--primary-host", &primary],
        );
        assert_ok(&out);
        // The replication password is in a 0600 file of postgres, nowhere else.
        let (_, stat, _) = on_host(replica, "stat -c '%a %U' /var/lib/postgresql/.pgpass");
        assert_eq!(stat, "600 postgres\n");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("r3pl'pw"));
    }

    psql(
        PRIMARY,
        "appdb",
        "CREATE TABLE t (v text); INSERT INTO t VALUES ('from the primary')",
    );
    for replica in REPLICAS {
        // Replay is asynchronous: wait for the row (at most 20 s).
        let mut seen = String::new();
        for _ in 0..40 {
            let (_, out, _) = on_host(
                replica,
                "su postgres -c \"psql -X -At -d appdb -c 'SELECT v FROM t'\" 2>/dev/null",
            );
            seen = out;
            if seen == "from the primary\n" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        assert_eq!(seen, "from the primary\n", "replica {replica}");
        assert_eq!(
            psql(replica, "postgres", "SELECT pg_is_in_recovery()"),
            "t\n"
        );
    }
    let states = psql(
        PRIMARY,
        "postgres",
        "SELECT host(client_addr) || ' ' || state FROM pg_stat_replication ORDER BY client_addr",
    );
    assert_eq!(
        states,
        format!(
            "{} streaming\n{} streaming\n",
            address(REPLICAS[0]),
            address(REPLICAS[1])
        )
    );

    // A second run of a replica keeps it (no new copy) and streaming.
    assert_ok(&recipe(
        REPLICAS[0],
        &["-c", &cfg, "--role", "replica", "--primary-host", &primary],
    ));
    let (_, backups, _) = on_host(
        REPLICAS[0],
        "ls -d /var/lib/postgresql/15/main.before-resync-* 2>/dev/null | wc -l",
    );
    assert_eq!(backups.trim(), "0");
    assert_eq!(
        psql(REPLICAS[0], "appdb", "SELECT v FROM t"),
        "from the primary\n"
    );

    // --force-resync replaces a replica's data with a fresh copy and keeps
    // the old directory beside it.
    assert_ok(&recipe(
        REPLICAS[1],
        &[
            "-c",
            &cfg,
            "--role",
            "replica",
            "--primary-host",
            &primary,
            "--force-resync",
        ],
    ));
    let (_, backups, _) = on_host(
        REPLICAS[1],
        "ls -d /var/lib/postgresql/15/main.before-resync-* | wc -l",
    );
    assert_eq!(backups.trim(), "1");
    assert_eq!(
        psql(REPLICAS[1], "appdb", "SELECT v FROM t"),
        "from the primary\n"
    );
    assert_eq!(
        psql(
            PRIMARY,
            "postgres",
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        ),
        "2\n"
    );
}
