//! Fixtures shared by the end-to-end suites: targets on the local machine and
//! on the test hosts of `cargo xtask testbed up`. off-check's suites of the
//! `offcheck` binary include this file too (by path), so there is one copy.
//!
//! Test hosts by index (suites running in parallel never share a host they
//! break):
//! - 0: general operations (root and the sudo-with-password user `deploy`)
//! - 1, 2: many-hosts runs
//! - 3: sshd killed mid-run
//! - 4: full disk
//! - 5: no sudo binary
//! - 17: attacks on file writes by an unprivileged user
//! - 27: output echoed live (and the example recipe's terminal tests)

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use off_runtime::prelude::*;
use off_runtime::report::Console;
use off_runtime::transport::{HostKeyPolicy, SshOptions};
use off_testbed::Inventory;

pub const OPS_HOST: usize = 0;
pub const MANY_HOSTS: [usize; 2] = [1, 2];
pub const SSHD_KILL_HOST: usize = 3;
pub const FULL_DISK_HOST: usize = 4;
pub const NO_SUDO_HOST: usize = 5;
pub const FILE_SAFETY_HOST: usize = 17;

pub fn inventory() -> Inventory {
    Inventory::load().expect("test hosts are not up: run `cargo xtask testbed up`")
}

/// Where a test's operations go.
#[derive(Clone)]
pub struct Fixture {
    pub target: Target,
    pub ssh: SshOptions,
    pub sudo_password: Option<Secret>,
}

impl Fixture {
    pub fn local() -> Fixture {
        Fixture {
            target: Target::Local,
            ssh: SshOptions::default(),
            sudo_password: None,
        }
    }

    /// Test host `index` as `user`, verifying its key against the testbed's
    /// known_hosts.
    pub fn host(index: usize, user: &str) -> Fixture {
        let inv = inventory();
        let host = inv.host(index).unwrap();
        let sudo_password = host
            .users
            .iter()
            .find(|u| u.name == user)
            .unwrap_or_else(|| panic!("test host {index} has no user {user}"))
            .sudo_password
            .clone()
            .map(Secret::new);
        Fixture {
            target: format!("{user}@{}:{}", host.address, host.port)
                .parse()
                .unwrap(),
            ssh: ssh_options(&inv),
            sudo_password,
        }
    }

    pub fn executor(&self) -> Executor {
        executor(vec![self.target.clone()], self)
    }

    /// Runs `task` on the fixture's target and returns its value or error.
    pub fn try_on<T: Send>(&self, task: impl Fn() -> Result<T> + Sync) -> Result<T> {
        let value = Mutex::new(None);
        let report = self.executor().run(|| {
            *value.lock().unwrap() = Some(task()?);
            Ok(())
        });
        let host = report.hosts.into_iter().next().unwrap();
        host.result.map(|()| value.into_inner().unwrap().unwrap())
    }

    /// Runs `task` on the fixture's target; panics with the error if it fails.
    pub fn on<T: Send>(&self, task: impl Fn() -> Result<T> + Sync) -> T {
        self.try_on(task).unwrap_or_else(|e| panic!("{e}"))
    }
}

pub fn ssh_options(inv: &Inventory) -> SshOptions {
    SshOptions {
        identity: Some(inv.key.clone()),
        known_hosts: Some(inv.known_hosts.clone()),
        host_key_policy: HostKeyPolicy::Strict,
        ..SshOptions::default()
    }
}

pub fn executor(targets: Vec<Target>, fixture: &Fixture) -> Executor {
    Executor::new(targets)
        .ssh_options(fixture.ssh.clone())
        .sudo_password(fixture.sudo_password.clone())
        .observer(Arc::new(Console::new(true)))
}

/// A fresh directory on the target for one test.
pub fn scratch_dir(name: &str) -> Result<String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = format!("/tmp/off-test-{name}-{}-{n}", std::process::id());
    run(sh!("rm -rf {dir} && mkdir -p {dir}"))?;
    Ok(dir)
}

/// Runs a shell command inside test host `index` without going through off
/// (to inspect or break the host independently of the code under test).
pub fn in_host(index: usize, cmd: &str) -> String {
    let out = off_testbed::exec_in_host(&off_testbed::TestbedConfig::default(), index, cmd)
        .unwrap_or_else(|e| panic!("exec in host {index}: {e:#}"));
    assert!(
        out.status.success(),
        "`{cmd}` in host {index} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
