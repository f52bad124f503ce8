//! `offregister_postgres --check` against deployed and fresh hosts: exit 0
//! when the host matches the recipe (every node of a cluster), 1 when not.

mod common;

use common::*;

const SINGLE: usize = 10;
const PRIMARY: usize = 11;
const REPLICAS: [usize; 2] = [12, 13];
const FRESH: usize = 15;

fn check(host: usize, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--check"];
    all.extend_from_slice(args);
    recipe(host, &all)
}

#[test]
fn single_node_passes_its_check_after_a_deploy() {
    let _lock = lock_hosts(&[SINGLE]);
    fresh(SINGLE);
    let dir = scratch("check-single");
    let cfg = write_config(
        &dir,
        "db.yaml",
        "version: 15\nusers:\n- {user: app, password: app-pw, dbname: appdb}\n",
    );
    assert_ok(&recipe(SINGLE, &["-c", &cfg]));
    let out = check(SINGLE, &["-c", &cfg]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn every_cluster_node_passes_its_check() {
    let _lock = lock_hosts(&[PRIMARY, REPLICAS[0], REPLICAS[1]]);
    for host in [PRIMARY, REPLICAS[0], REPLICAS[1]] {
        fresh(host);
    }
    let dir = scratch("check-cluster");
    let cfg = write_config(
        &dir,
        "cluster.yaml",
        "version: 15\nlisten_addresses: '*'\nallowed_networks: [10.250.0.0/24]\nreplication_password: rpw\n",
    );
    let primary = address(PRIMARY);
    assert_ok(&recipe(PRIMARY, &["-c", &cfg, "--role", "primary"]));
    for r in REPLICAS {
        assert_ok(&recipe(
            r,
            &["-c", &cfg, "--role", "replica", "--primary-host", &primary],
        ));
    }
    let out = check(PRIMARY, &["-c", &cfg, "--role", "primary"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for r in REPLICAS {
        let out = check(
            r,
            &["-c", &cfg, "--role", "replica", "--primary-host", &primary],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "replica {r}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn a_fresh_host_fails_its_check() {
    let _lock = lock_hosts(&[FRESH]);
    fresh(FRESH);
    let out = check(FRESH, &["--version", "15"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("bootstrapped: false"), "{report}");
}

/// Host 28: `offcheck -c off.yaml`, the committed manifest, against a
/// default deploy.
const MANIFEST: usize = 28;

#[test]
fn offcheck_of_the_manifest_passes_a_default_deploy_and_checks_pgdg_items_only_with_pgdg() {
    let _lock = lock_hosts(&[MANIFEST]);
    fresh(MANIFEST);
    assert_ok(&recipe(MANIFEST, &[]));
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("off.yaml");
    let manifest = manifest.to_str().unwrap();

    // The default `--apt-source distribution` writes no pgdg.list and
    // installs no curl: the manifest does not ask for them.
    let out = offcheck(MANIFEST, &["-c", manifest], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("/etc/postgresql/15/main/postgresql.conf"),
        "{report}"
    );
    assert!(!report.contains("pgdg.list"), "{report}");

    // The same off.yaml for a host whose vars say `apt_source: pgdg`: the
    // pgdg items are checked, and this host has none of them.
    let out = offcheck(MANIFEST, &["-c", manifest], Some("{apt_source: pgdg}"));
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let failed: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("pgdg.list") || l.contains("curl"))
        .collect();
    assert!(
        failed
            .iter()
            .any(|l| l.contains("/etc/apt/sources.list.d/pgdg.list")),
        "{report}"
    );
}
