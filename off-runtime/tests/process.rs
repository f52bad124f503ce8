//! What runs on the control machine ends with the operation that started it,
//! and nothing waits on what a command left running: background processes,
//! hung commands (the run's timeout), SSH master connections (test host 18).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use off_runtime::prelude::*;
use off_runtime::transport::SshOptions;

/// The test host of this suite.
const HOST: usize = 18;

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

/// The `ssh -M` masters started with the ssh_config file `config`.
fn masters(config: &Path) -> Vec<u32> {
    let config = config.as_os_str().as_encoded_bytes();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.iter().any(|a| *a == b"-M")
            && args.windows(2).any(|w| w[0] == b"-F" && w[1] == config)
        {
            found.push(pid);
        }
    }
    found
}

/// Runs `task` on test host 18 as `user` with `ssh`, checking that it has a
/// master while it runs and none within a few seconds after.
fn leaves_no_master(user: &str, mut ssh: SshOptions, task: impl Fn() -> Result<()> + Sync) {
    // A config file of this test's own tells its master from others'.
    let config = tempfile::NamedTempFile::new().unwrap();
    ssh.ssh_config = Some(config.path().to_path_buf());
    let mut fx = Fixture::host(HOST, user);
    fx.ssh = ssh;
    let report = fx.executor().run(|| {
        task()?;
        assert_eq!(
            masters(config.path()).len(),
            1,
            "not one master while the run holds its connection"
        );
        Ok(())
    });
    assert_eq!(report.exit_code(), 0, "{}", report.summary());
    let started = Instant::now();
    while !masters(config.path()).is_empty() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = masters(config.path());
    for pid in &left {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
    assert!(left.is_empty(), "ssh masters {left:?} outlived the run");
}

#[test]
fn no_ssh_master_outlives_the_run() {
    let ssh = ssh_options(&inventory());
    let path = format!("/tmp/off-process-{}", std::process::id());
    leaves_no_master("root", ssh, || {
        run("true")?;
        put(b"data\n", &path)?;
        assert_eq!(run(sh!("cat {path}"))?.stdout, "data\n");
        Ok(())
    });
}

#[test]
fn a_background_process_does_not_hold_a_command_in_a_channel_of_its_own() {
    let mut fx = Fixture::host(HOST, "root");
    fx.ssh.session_shell = "/nonexistent/sh".into();
    let started = Instant::now();
    let out = fx.on(|| run("echo before; sleep 20 & echo after"));
    let took = started.elapsed();
    fx.on(|| run("pkill -f 'slee[p] 20' || true"));
    assert!(
        took < Duration::from_secs(10),
        "waited {took:?} for `sleep 20 &`"
    );
    assert_eq!(out.stdout, "before\nafter\n");
}

#[test]
fn commands_in_channels_of_their_own_survive_an_idle_connection() {
    // No persistent shell: between commands the master has no channel
    // open, only the transport's own client connection keeps it.
    let mut ssh = ssh_options(&inventory());
    ssh.session_shell = "/nonexistent/sh".into();
    leaves_no_master("deploy", ssh, || {
        run("true")?;
        // Longer than the master's ControlPersist.
        std::thread::sleep(Duration::from_secs(13));
        assert_eq!(run("echo again")?.text(), "again");
        Ok(())
    });
}
