//! `--push` with the real recipe, as `deploy` with a sudo password, on test
//! host 33: the server is deployed and passes `--check`, and while the copy
//! runs on the host, no process there shows the sudo password, a user's
//! password or a hostile kwarg on its command line.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;

const HOST: usize = 33;

#[test]
fn pushed_as_deploy_no_input_reaches_the_hosts_process_list() {
    let _lock = lock_hosts(&[HOST]);
    fresh(HOST);
    let inv = inventory();
    let dir = scratch("push");
    let ssh_config = inv.write_ssh_config(&dir.join("ssh_config"), "").unwrap();
    let user_password = off_testbed::unique("pw-user-secret");
    let hostile = "app'\"; $(touch /tmp/pwned) `id` --";
    let cfg = serde_json::json!({
        "users": [{"user": "app", "password": user_password, "dbname": hostile}],
    });
    let cfg = write_config(&dir, "push.json", &cfg.to_string());
    let deploy_with = |password: &str, extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_offregister_postgres"));
        cmd.env("OFF_STATE_DIR", dir.join("state"))
            .env_remove("OFF_SUDO_PASSWORD")
            .args(["-H", &format!("deploy@{}", address(HOST)), "-i"])
            .arg(&inv.key)
            .arg("--ssh-config")
            .arg(&ssh_config)
            .args([
                "-c",
                &cfg,
                "--push",
                "--sudo-password-stdin",
                "--progress",
                "none",
            ])
            .args(extra);
        off_testbed::deadline::output_within(
            &mut cmd,
            Some(format!("{password}\n").as_bytes()),
            off_testbed::deadline::DEFAULT_DEADLINE,
        )
    };
    let sudo_password = off_testbed::DEPLOY_SUDO_PASSWORD;
    let deploy = |extra: &[&str]| deploy_with(sudo_password, extra);

    // A wrong password: refused by the host's sudo, exit 3, nothing installed.
    let wrong = deploy_with("not-the-password", &[]);
    let report = String::from_utf8_lossy(&wrong.stdout);
    assert_eq!(wrong.status.code(), Some(3), "{report}");
    assert!(
        report.contains("--push: copied offregister_postgres"),
        "{report}"
    );
    assert!(
        report.contains("sudo refused the password for deploy"),
        "{report}"
    );
    assert!(!report.contains("not-the-password"), "{report}");
    assert_ne!(
        on_host(HOST, "dpkg-query -W postgresql-15").0,
        0,
        "installed without the password"
    );

    // Watch the host's process list for the whole deploy.
    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let watcher = {
        let (done, seen) = (done.clone(), seen.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let (_, list, _) = on_host(HOST, "ps -eo args");
                seen.lock()
                    .unwrap()
                    .extend(list.lines().map(str::to_string));
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        })
    };
    let out = deploy(&[]);
    done.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    assert_ok(&out);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|args| args.contains("--push-child")),
        "the watch saw the copy running"
    );
    assert!(
        seen.iter().any(|args| args.contains("psql")),
        "the watch saw the operations"
    );
    for value in [
        sudo_password,
        user_password.as_str(),
        "touch /tmp/pwned",
        "pwned",
    ] {
        let shown: Vec<&String> = seen.iter().filter(|a| a.contains(value)).collect();
        assert!(shown.is_empty(), "`{value}` on a command line: {shown:?}");
    }
    assert_eq!(
        on_host(HOST, "test -e /tmp/pwned").0,
        1,
        "a kwarg ran as code"
    );
    // The database with the hostile name exists, owned by its user.
    assert_eq!(
        psql(
            HOST,
            "postgres",
            &format!(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{}'",
                hostile.replace('\'', "''")
            )
        ),
        "app\n"
    );
    assert!(!report.contains(&user_password) && !report.contains(sudo_password));

    // The deployed host passes the check, and a second pushed deploy changes nothing.
    let check = deploy(&["--check"]);
    assert_ok(&check);
    let again = deploy(&[]);
    assert_ok(&again);
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(again.contains(" 0 changed, 0 failed"), "{again}");
    assert!(!again.contains("--push: copied"), "{again}");
}
