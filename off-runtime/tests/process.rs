//! What runs on the control machine ends with the operation that started it,
//! and nothing waits on what a command left running: background processes,
//! hung commands (the run's timeout).

mod common;

use std::time::{Duration, Instant};

use common::*;
use off_runtime::prelude::*;

#[test]
fn a_command_that_leaves_a_background_process_returns_at_its_exit() {
    let fx = Fixture::local();
    let started = Instant::now();
    // `sleep` inherits the command's stdout and stderr and holds them open.
    let (out, pid) = fx.on(|| {
        let out = run("echo before; sleep 20 & echo \"pid=$!\"; echo err >&2")?;
        let pid = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("pid="))
            .map(str::to_string);
        Ok((out, pid))
    });
    let took = started.elapsed();
    if let Some(pid) = &pid {
        let _ = std::process::Command::new("kill").arg(pid).status();
    }
    assert!(
        took < Duration::from_secs(10),
        "waited {took:?} for `sleep 20 &`"
    );
    assert!(pid.is_some(), "{out:?}");
    assert!(out.stdout.starts_with("before\n"), "{out:?}");
    assert_eq!(out.stderr, "err\n");
    assert_eq!(out.code, 0);
}

#[test]
fn output_written_just_before_the_exit_is_complete() {
    // More than one pipe buffer, written while a background process holds
    // the pipe: all of it arrives.
    let fx = Fixture::local();
    let out = fx.on(|| run("sleep 5 & head -c 300000 /dev/zero | tr '\\0' x; kill $!"));
    assert_eq!(out.stdout.len(), 300_000);
    assert!(out.stdout.bytes().all(|b| b == b'x'));
}

#[test]
fn input_a_command_leaves_unread_does_not_block_it() {
    // The background process holds standard input open and reads nothing.
    let fx = Fixture::local();
    let started = Instant::now();
    let out = fx.on(|| {
        let command = "exec 3<&0; sleep 20 <&3 >/dev/null 2>&1 & echo $!";
        run_with_input(command, vec![b'x'; 1 << 20])
    });
    let took = started.elapsed();
    let _ = std::process::Command::new("kill").arg(out.text()).status();
    assert!(took < Duration::from_secs(10), "waited {took:?}");
    assert!(out.text().parse::<u32>().is_ok(), "{out:?}");
}

#[test]
fn the_run_timeout_ends_a_hung_command_with_exit_4() {
    let fx = Fixture::local();
    let started = Instant::now();
    let report = fx.executor().timeout(Some(Duration::from_secs(2))).run(|| {
        run("sleep 60")?;
        Ok(())
    });
    let took = started.elapsed();
    assert_eq!(report.exit_code(), 4, "{}", report.summary());
    let error = report.hosts[0].result.as_ref().unwrap_err().to_string();
    assert!(
        error.starts_with("[local] run `sleep 60` timed out after 2s"),
        "{error}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");

    // A settings(timeout) block overrides the run's timeout.
    let report = fx.executor().timeout(Some(Duration::from_secs(1))).run(|| {
        let _longer = settings(Settings::new().timeout(Duration::from_secs(30)));
        run("sleep 2")?;
        Ok(())
    });
    assert_eq!(report.exit_code(), 0, "{}", report.summary());
}
