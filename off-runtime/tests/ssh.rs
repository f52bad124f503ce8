//! SSH-only behaviour and faults on test hosts: many hosts at once, an
//! unreachable host, a changed host key, a dropped connection, a wrong sudo
//! password, a full disk, a host without sudo, packages and services.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use off_runtime::prelude::*;
use off_runtime::transport::HostKeyPolicy;

#[test]
fn one_unreachable_host_among_three() {
    let inv = inventory();
    let mut targets: Vec<Target> = MANY_HOSTS
        .iter()
        .map(|&i| {
            format!("root@{}", inv.host(i).unwrap().address)
                .parse()
                .unwrap()
        })
        .collect();
    targets.insert(
        1,
        format!("root@{}", inv.unreachable_address).parse().unwrap(),
    );
    let fx = Fixture::host(MANY_HOSTS[0], "root");
    let mut ssh = fx.ssh.clone();
    ssh.connect_timeout = Duration::from_secs(3);
    let ran = Mutex::new(Vec::new());
    let report = executor(targets, &fx).ssh_options(ssh).run(|| {
        let out = run("hostname")?;
        ran.lock().unwrap().push(out.text().to_string());
        Ok(())
    });
    let codes: Vec<u8> = report.hosts.iter().map(|h| h.exit_code()).collect();
    assert_eq!(codes, [0, 3, 0], "{}", report.summary());
    assert_eq!(report.exit_code(), 3);
    let mut ran = ran.into_inner().unwrap();
    ran.sort();
    let mut expected: Vec<String> = MANY_HOSTS
        .iter()
        .map(|&i| inv.host(i).unwrap().name.clone())
        .collect();
    expected.sort();
    assert_eq!(ran, expected, "the reachable hosts ran the task");
    let summary = report.summary();
    assert!(
        summary.contains(&format!("[root@{}] unreachable", inv.unreachable_address)),
        "{summary}"
    );
    assert!(summary.contains("FAILED (exit 3)"), "{summary}");
}

#[test]
fn parallel_one_runs_hosts_one_after_another_and_fail_fast_stops_the_rest() {
    let inv = inventory();
    let targets: Vec<Target> = MANY_HOSTS
        .iter()
        .map(|&i| {
            format!("root@{}", inv.host(i).unwrap().address)
                .parse()
                .unwrap()
        })
        .collect();
    let fx = Fixture::host(MANY_HOSTS[0], "root");
    let report = executor(targets, &fx).parallel(1).fail_fast(true).run(|| {
        run("false")?;
        Ok(())
    });
    assert_eq!(report.hosts[0].exit_code(), 1);
    assert!(
        matches!(report.hosts[1].result, Err(Error::Cancelled { .. })),
        "{}",
        report.summary()
    );
}

#[test]
fn changed_host_key_is_refused() {
    let inv = inventory();
    let host = inv.host(OPS_HOST).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("other");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let other_key = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, format!("{} {}", host.address, other_key)).unwrap();
    for policy in [HostKeyPolicy::AcceptNew, HostKeyPolicy::Strict] {
        let mut fx = Fixture::host(OPS_HOST, "root");
        fx.ssh.known_hosts = Some(known_hosts.clone());
        fx.ssh.host_key_policy = policy;
        let err = fx.try_on(|| run("true")).unwrap_err();
        assert!(matches!(err, Error::HostKey { .. }), "{policy:?}: {err}");
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.to_string().contains("host key verification failed"),
            "{err}"
        );
    }
    // The refused key was not replaced.
    assert!(
        std::fs::read_to_string(&known_hosts)
            .unwrap()
            .contains(other_key.trim())
    );
}

#[test]
fn accept_new_records_an_unknown_host_key() {
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    let mut fx = Fixture::host(OPS_HOST, "root");
    fx.ssh.known_hosts = Some(known_hosts.clone());
    fx.ssh.host_key_policy = HostKeyPolicy::AcceptNew;
    fx.on(|| run("true"));
    // Debian's ssh hashes host names in known_hosts: look the host up.
    let address = inventory().host(OPS_HOST).unwrap().address.clone();
    let found = std::process::Command::new("ssh-keygen")
        .args(["-F", &address, "-f"])
        .arg(&known_hosts)
        .output()
        .unwrap();
    assert!(found.status.success(), "{address} was not recorded");
}

#[test]
fn sshd_killed_mid_run_is_a_clear_error_naming_the_op() {
    let fx = Fixture::host(SSHD_KILL_HOST, "root");
    // A marker unique to this run, so leftovers of earlier runs do not count.
    let seconds = 40_000 + std::process::id() % 10_000;
    let command = format!("sleep {seconds}");
    let pattern = format!("slee[p] {seconds}");
    let killer = std::thread::spawn(move || {
        // Wait until the command runs, then kill every sshd serving root.
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            let running = in_host(SSHD_KILL_HOST, &format!("pgrep -f '{pattern}' || true"));
            if !running.trim().is_empty() {
                // OpenSSH 9.8 and later name the process `sshd-session`.
                in_host(
                    SSHD_KILL_HOST,
                    "pkill -KILL -f '^sshd(-session)?: root' || true",
                );
                return;
            }
        }
        panic!("the command never started");
    });
    let started = Instant::now();
    let err = fx.try_on(|| run(&command)).unwrap_err();
    killer.join().unwrap();
    in_host(
        SSHD_KILL_HOST,
        &format!("pkill -f 'slee[p] {seconds}' || true"),
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(matches!(err, Error::Disconnected { .. }), "{err}");
    assert_eq!(err.exit_code(), 3, "a host lost mid-run is unreachable");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("run `{command}`")) && msg.contains("lost the connection"),
        "{msg}"
    );
    // The host's sshd still serves new connections.
    assert_eq!(fx.on(|| Ok(run("echo back")?.text().to_string())), "back");
}

#[test]
fn wrong_sudo_password_fails_fast() {
    let mut fx = Fixture::host(OPS_HOST, "deploy");
    fx.sudo_password = Some(Secret::new("not-the-password"));
    let started = Instant::now();
    let err = fx
        .try_on(|| {
            // A hang would end as a timeout error, not as a refused password.
            let _s = settings(Settings::new().timeout(Duration::from_secs(30)));
            sudo("id -u")
        })
        .unwrap_err();
    assert!(matches!(err, Error::SudoPassword { .. }), "{err}");
    assert_eq!(err.exit_code(), 3);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!err.to_string().contains("not-the-password"));

    fx.sudo_password = None;
    let err = fx.try_on(|| sudo("id -u")).unwrap_err();
    assert!(
        matches!(err, Error::SudoPassword { .. }),
        "no password: {err}"
    );
}

#[test]
fn put_onto_a_full_disk_keeps_the_old_file() {
    let fx = Fixture::host(FULL_DISK_HOST, "root");
    fx.on(|| put(b"old content\n", "/root/precious.conf"));
    in_host(
        FULL_DISK_HOST,
        "dd if=/dev/zero of=/filler bs=1M 2>/dev/null || true",
    );
    let big = vec![b'x'; 4 << 20];
    let err = fx.try_on(|| put(big.clone(), "/root/precious.conf"));
    let content = in_host(FULL_DISK_HOST, "cat /root/precious.conf");
    let leftovers = in_host(FULL_DISK_HOST, "ls -A /root");
    in_host(FULL_DISK_HOST, "rm -f /filler");
    let err = err.unwrap_err();
    assert!(matches!(err, Error::File { .. }), "{err}");
    assert!(err.to_string().contains("/root/precious.conf"), "{err}");
    assert!(err.to_string().contains("unchanged"), "{err}");
    assert_eq!(content, "old content\n");
    assert!(
        !leftovers.contains(".off-"),
        "temporary file left: {leftovers}"
    );
}

#[test]
fn sudo_as_root_without_sudo_runs_directly() {
    in_host(NO_SUDO_HOST, "mv /usr/bin/sudo /usr/bin/sudo.hidden");
    let fx = Fixture::host(NO_SUDO_HOST, "root");
    let result = fx.try_on(|| {
        Ok((
            sudo("id -u")?.text().to_string(),
            sudo_as("deploy", "id -un")?.text().to_string(),
        ))
    });
    in_host(NO_SUDO_HOST, "mv /usr/bin/sudo.hidden /usr/bin/sudo");
    assert_eq!(result.unwrap(), ("0".to_string(), "deploy".to_string()));
}

#[test]
fn package_installs_from_the_hosts_repository_once() {
    let fx = Fixture::host(OPS_HOST, "deploy");
    // A re-run on the same test hosts starts from the package not installed.
    in_host(
        OPS_HOST,
        "dpkg --purge postgresql-client-15 >/dev/null 2>&1 || true",
    );
    let (first, second) = fx.on(|| {
        Ok((
            package(["postgresql-client-15"])?.changed,
            package(["postgresql-client-15"])?.changed,
        ))
    });
    assert!(first && !second);
    assert!(in_host(OPS_HOST, "psql --version").contains("15"));
    let err = fx.try_on(|| package(["bad;name"])).unwrap_err();
    assert!(
        err.to_string()
            .contains("`bad;name` is not a valid package name"),
        "{err}"
    );
}

#[test]
fn service_through_init_scripts() {
    let fx = Fixture::host(OPS_HOST, "root");
    const SCRIPT: &[u8] = b"#!/bin/sh\n\
case \"$1\" in\n\
start) start-stop-daemon --start --background --make-pidfile --pidfile /run/offdemo.pid --exec /bin/sleep -- 4343 ;;\n\
stop) start-stop-daemon --stop --pidfile /run/offdemo.pid --remove-pidfile ;;\n\
restart) $0 stop; $0 start ;;\n\
status) start-stop-daemon --status --pidfile /run/offdemo.pid ;;\n\
*) exit 3 ;;\n\
esac\n";
    let changes = fx.on(|| {
        put(SCRIPT, remote_path("/etc/init.d/offdemo").mode(0o755))?;
        Ok([
            service("offdemo", Start)?.changed,
            service("offdemo", Start)?.changed,
            service("offdemo", Restart)?.changed,
            service("offdemo", Stop)?.changed,
            service("offdemo", Stop)?.changed,
        ])
    });
    assert_eq!(changes, [true, false, true, true, false]);
    let err = fx.try_on(|| service("no such", Start)).unwrap_err();
    assert!(
        err.to_string()
            .contains("`no such` is not a valid service name"),
        "{err}"
    );
}

#[test]
fn sudo_password_never_reaches_argv() {
    let fx = Fixture::host(OPS_HOST, "deploy");
    let password = fx
        .sudo_password
        .clone()
        .expect("deploy has a sudo password");
    // While sudo runs, list every process's command line on the host.
    let listing = fx.on(|| Ok(sudo("ps -eo args")?.stdout));
    assert!(listing.contains("ps -eo args"), "{listing}");
    assert!(
        !listing.contains(password.expose()),
        "the password is visible in argv"
    );
}

#[test]
fn the_ssh_master_stops_when_the_run_ends() {
    // Dropping the connection shuts its ssh master down: a connection kept
    // alive by mistake would leave one ssh process per host behind. A config
    // file of this test's own marks its master's command line.
    let config = std::env::temp_dir().join(format!("off-master-test-{}", std::process::id()));
    std::fs::write(&config, "Host *\n  ConnectTimeout 10\n").unwrap();
    let masters = || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &format!("ssh .*-M .*{}", config.display())])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let mut fx = Fixture::host(MANY_HOSTS[0], "root");
    fx.ssh.ssh_config = Some(config.clone());
    let masters_during = fx.on(|| Ok(masters()));
    assert_eq!(masters_during, 1, "one master while the run goes on");
    assert_eq!(masters(), 0, "the master outlived the run");
}
