//! What an operation reports as changed is what it changed: commands with
//! `creates`, `removes`, `changed_if`, `unchanged_if` and `query`, and
//! `mkdir`, on the local machine and over SSH on test host 26.

mod common;

use common::{Fixture, scratch_dir};
use off_runtime::prelude::*;

const HOST: usize = 26;

/// The number of changed operations of one run of `task` on the fixture.
fn changed_count(fx: &Fixture, task: impl Fn() -> Result<()> + Sync) -> u64 {
    let report = fx.executor().run(task);
    let host = &report.hosts[0];
    assert!(host.result.is_ok(), "{}", report.summary());
    host.changed
}

fn commands_judge_their_change(fx: Fixture) {
    let dir = fx.on(|| scratch_dir("changed"));
    let made = format!("{dir}/made");
    let runs = format!("{dir}/runs");
    let create = || -> Result<()> {
        // Counts its runs, so a skipped command shows as not run.
        run(sh!("echo x >> {runs}; touch {made}").creates(&made))?;
        Ok(())
    };
    assert_eq!(changed_count(&fx, create), 1);
    assert_eq!(changed_count(&fx, create), 0, "the path exists: skipped");
    // Relative to `cd`, as the command is.
    let relative = || -> Result<()> {
        let _d = cd(&dir);
        run(sh!("echo y >> {runs}").creates("made"))?;
        Ok(())
    };
    assert_eq!(changed_count(&fx, relative), 0);
    let remove = || -> Result<()> {
        sudo(sh!("echo r >> {runs}; rm -f {made}").removes(&made))?;
        Ok(())
    };
    assert_eq!(changed_count(&fx, remove), 1);
    assert_eq!(changed_count(&fx, remove), 0, "the path is absent: skipped");
    let text = fx.on(|| run(sh!("cat {runs}").query()));
    assert_eq!(text.stdout, "x\nr\n");
    assert!(!text.changed);

    let judged = || -> Result<()> {
        let out = run("echo 'nothing to do'".changed_if(|o| !o.stdout.contains("nothing")))?;
        assert!(!out.changed);
        let out = run("echo 'Removing x'".unchanged_if(|o| o.stdout.is_empty()))?;
        assert!(out.changed);
        // A plain command cannot be judged by off: a change.
        assert!(run("true")?.changed);
        Ok(())
    };
    assert_eq!(changed_count(&fx, judged), 2);
    fx.on(|| run(sh!("rm -rf {dir}")));
}

fn mkdir_reports_exactly_what_it_changed(fx: Fixture) {
    let dir = fx.on(|| scratch_dir("mkdir"));
    let www = format!("{dir}/a/www");
    let make = || -> Result<()> {
        mkdir(remote_path(&www).mode(0o750).owner("nobody").sudo())?;
        Ok(())
    };
    assert_eq!(changed_count(&fx, make), 1);
    let state = || fx.on(|| run(sh!("stat -c '%a %U' {www}")));
    assert_eq!(state().text(), "750 nobody");
    assert_eq!(changed_count(&fx, make), 0);
    fx.on(|| sudo(sh!("chmod 755 {www}")));
    assert_eq!(changed_count(&fx, make), 1, "a drifted mode is put back");
    assert_eq!(state().text(), "750 nobody");
    let symbolic = || -> Result<()> {
        mkdir(
            remote_path(&www)
                .mode("u=rwx,g=rx".parse::<Mode>().unwrap())
                .sudo(),
        )?;
        Ok(())
    };
    assert_eq!(changed_count(&fx, symbolic), 0, "u=rwx,g=rx is 0750");
    let file = format!("{dir}/file");
    fx.on(|| run(sh!("touch {file}")));
    let err = fx.try_on(|| mkdir(&file)).unwrap_err().to_string();
    assert!(err.contains("exists but is not a directory"), "{err}");
    fx.on(|| sudo(sh!("rm -rf {dir}")));
}

fn unchanged_files_are_reported_unchanged(fx: Fixture) {
    let dir = fx.on(|| scratch_dir("files"));
    let conf = format!("{dir}/app.conf");
    let write = || -> Result<()> {
        put(b"a = 1\n", remote_path(&conf).mode(0o640))?;
        append(&conf, "b = 2")?;
        Ok(())
    };
    assert_eq!(changed_count(&fx, write), 2);
    // put replaces the appended file, and append adds its line again.
    assert_eq!(changed_count(&fx, write), 2);
    let append_only = || -> Result<()> {
        append(&conf, "b = 2")?;
        put(b"a = 1\nb = 2\n", remote_path(&conf).mode(0o640))?;
        Ok(())
    };
    assert_eq!(changed_count(&fx, append_only), 0);
    fx.on(|| run(sh!("chmod 600 {conf}")));
    assert_eq!(changed_count(&fx, append_only), 1, "only the mode differs");
    fx.on(|| run(sh!("rm -rf {dir}")));
}

macro_rules! on_local_and_ssh {
    ($($test:ident),* $(,)?) => {
        mod local {
            $(#[test] fn $test() { super::$test(super::Fixture::local()) })*
        }
        mod ssh {
            $(#[test] fn $test() {
                let _lock = off_testbed::lock_hosts(&[super::HOST]);
                super::$test(super::Fixture::host(super::HOST, "root"))
            })*
        }
    };
}

on_local_and_ssh!(
    commands_judge_their_change,
    mkdir_reports_exactly_what_it_changed,
    unchanged_files_are_reported_unchanged,
);
