//! A second deploy of PostgreSQL on test host 25 reports `0 changed`; a
//! pg_hba.conf change reloads the server, a shared_buffers change restarts
//! it, and an unchanged password is no change.

mod common;

use common::*;

const HOST: usize = 25;

/// The `changed` count of the run's summary line.
fn changed(out: &std::process::Output) -> u64 {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(" ok, ")?;
            rest.split_once(" changed")?.0.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"))
}

/// When the server last started.
fn started_at() -> String {
    psql(HOST, "postgres", "SELECT pg_postmaster_start_time()")
}

#[test]
fn a_second_deploy_changes_nothing_and_a_reload_is_not_a_restart() {
    let _lock = lock_hosts(&[HOST]);
    fresh(HOST);
    let dir = scratch("changed");
    let config = |networks: &str, buffers: &str| {
        write_config(
            &dir,
            "db.yaml",
            &format!(
                "version: 15\nallowed_networks: [{networks}]\nshared_buffers: {buffers}\n\
                 users:\n- {{user: app, password: 'app-pw', dbname: appdb}}\n"
            ),
        )
    };
    let cfg = config("10.250.0.0/24", "128MB");
    let out = recipe(HOST, &["-c", &cfg]);
    assert_ok(&out);
    assert!(changed(&out) > 0);

    let out = recipe(HOST, &["-c", &cfg]);
    assert_ok(&out);
    assert_eq!(changed(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));

    // Only pg_hba.conf differs: a reload, the server keeps running.
    let before = started_at();
    let cfg = config("10.250.0.0/24, 10.251.0.0/24", "128MB");
    let out = recipe(HOST, &["-c", &cfg]);
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("pg_ctlcluster 15 main reload"), "{stdout}");
    assert!(!stdout.contains("main restart"), "{stdout}");
    assert_eq!(started_at(), before, "the server restarted for pg_hba.conf");
    assert_eq!(
        psql(
            HOST,
            "postgres",
            "SELECT count(*) FROM pg_hba_file_rules WHERE address = '10.251.0.0'"
        ),
        "1\n",
        "the reload took the new rule"
    );

    // shared_buffers is read when the server starts: a restart.
    let cfg = config("10.250.0.0/24, 10.251.0.0/24", "64MB");
    let out = recipe(HOST, &["-c", &cfg]);
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("pg_ctlcluster 15 main restart"), "{stdout}");
    assert_ne!(started_at(), before);
    assert_eq!(psql(HOST, "postgres", "SHOW shared_buffers"), "64MB\n");
    let out = recipe(HOST, &["-c", &cfg]);
    assert_ok(&out);
    assert_eq!(changed(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let (code, _, stderr) = login(HOST, "127.0.0.1", "app", "app-pw", "appdb", "SELECT 1");
    assert_eq!(code, 0, "{stderr}");
}
