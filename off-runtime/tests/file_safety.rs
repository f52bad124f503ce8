//! File writes where an unprivileged user can reach: each test runs a real attacker (a non-root
//! uid, reacting through inotify within microseconds) against `put` and `upload_template` while
//! they run, on the local transport and over SSH (as root, and as a user whose sudo needs a
//! password). The attack must fail: nothing outside the destination changes, no secret byte is
//! readable by anyone but the final owner, and the deploy succeeds or refuses clearly.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use common::{FILE_SAFETY_HOST, Fixture, in_host};
use off_runtime::prelude::*;
use off_testbed::TestbedConfig;
use off_testbed::attack::{Attack, Place};

/// The attacker: owns the destination directory, as `postgres` owns `/etc/postgresql/15/main`.
/// (Debian's own unprivileged accounts, present on the control machine and on every host.)
const MALLORY: &str = "daemon";
/// Another user of the host, who owns nothing the deploy touches.
const EVE: &str = "nobody";

/// One place to attack and the fixture that deploys there.
struct Scene {
    place: Place,
    fx: Fixture,
}

fn scenes() -> Vec<Scene> {
    let host = || Place::Host(TestbedConfig::default(), FILE_SAFETY_HOST);
    vec![
        Scene {
            place: Place::Local,
            fx: Fixture::local(),
        },
        Scene {
            place: host(),
            fx: Fixture::host(FILE_SAFETY_HOST, "root"),
        },
        Scene {
            place: host(),
            fx: Fixture::host(FILE_SAFETY_HOST, "deploy"),
        },
    ]
}

impl Scene {
    /// Runs `cmd` as root where the deploy goes, without off.
    fn sh(&self, cmd: &str) -> String {
        match &self.place {
            Place::Local => {
                let out = std::process::Command::new("/bin/sh")
                    .args(["-c", cmd])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "`{cmd}`: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
            Place::Host(_, index) => in_host(*index, cmd),
        }
    }

    /// Starts the attacker as `user` with `args`.
    fn attack(&self, user: &str, args: &[&str]) -> Attack {
        let uid = self.sh(&format!("id -u {user}")).trim().parse().unwrap();
        Attack::start(self.place.clone(), uid, args).unwrap()
    }

    fn name(&self) -> String {
        self.fx.target.to_string()
    }

    /// A fresh directory owned by the attacker, and a root-only file outside it that the attack
    /// aims at. Returns (directory, target).
    fn arena(&self, test: &str) -> (String, String) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{test}-{}-{n}", std::process::id());
        let dir = format!("/tmp/off-safety-{tag}");
        let target = format!("/root/off-victim-{tag}");
        self.sh(&format!(
            "rm -rf {dir} && mkdir {dir} && chown {MALLORY}:{MALLORY} {dir} && chmod 755 {dir} && \
             printf victim > {target} && chmod 600 {target} && chown 0:0 {target}"
        ));
        (dir, target)
    }

    /// Removes what [`Scene::arena`] made (after a passing scene; a failing
    /// one leaves it to look at).
    fn clear(&self, dir: &str, target: &str) {
        self.sh(&format!("rm -rf {dir} {target}"));
    }

    /// Content, mode and owner of the attack's target: what must never change.
    fn target_state(&self, target: &str) -> String {
        self.sh(&format!("stat -c '%a %u:%g %F' {target}; cat {target}"))
    }
}

/// A `put` whose temporary file is swapped for a symlink the moment it appears: chmod, chown and
/// the write must not follow it.
#[test]
fn swapping_the_temporary_file_for_a_symlink_reaches_nothing() {
    for scene in scenes() {
        let (dir, target) = scene.arena("swap");
        let before = scene.target_state(&target);
        let attack = scene.attack(MALLORY, &["swap", &dir, &target]);
        let dest = format!("{dir}/app.conf");
        let results: Vec<Result<Output>> = (0..3)
            .map(|i| {
                scene.fx.try_on(|| {
                    put(
                        format!("content {i}\n").into_bytes(),
                        remote_path(&dest).sudo().owner(MALLORY).mode(0o640),
                    )
                })
            })
            .collect();
        let log = attack.stop().unwrap();
        let who = scene.name();
        assert!(
            log.iter().any(|l| l.starts_with("swapped\t")),
            "{who}: the attacker never struck: {log:?}"
        );
        assert_eq!(
            scene.target_state(&target),
            before,
            "{who}: the attack reached {target}; results {results:?}"
        );
        // Each put whose temporary file was swapped refuses, saying why;
        // one that was not attacked in time wrote its content.
        let swapped_temps = log
            .iter()
            .filter(|l| l.starts_with("swapped\t") && l.contains("/.app.conf.off-"))
            .count();
        let refused = results.iter().filter(|r| r.is_err()).count();
        assert_eq!(refused, swapped_temps, "{who}: {results:?} {log:?}");
        for (i, result) in results.iter().enumerate() {
            match result {
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains("was replaced while it was written"),
                        "{who}: a refusal must say why: {msg}"
                    );
                }
                Ok(_) if i == results.len() - 1 => assert_eq!(
                    scene.sh(&format!("stat -c %F {dest}; cat {dest}")),
                    format!("regular file\ncontent {i}\n"),
                    "{who}"
                ),
                Ok(_) => {}
            }
        }
        scene.clear(&dir, &target);
    }
}

/// Symlinks planted at the backup names of the coming seconds: keeping the old file must not
/// write through them.
#[test]
fn planted_backup_symlinks_are_not_followed() {
    for scene in scenes() {
        let (dir, target) = scene.arena("backup");
        let dest = format!("{dir}/pg.conf");
        scene.sh(&format!(
            "printf 'old\\n' > {dest} && chown {MALLORY}:{MALLORY} {dest} && chmod 644 {dest}"
        ));
        let before = scene.target_state(&target);
        let attack = scene.attack(MALLORY, &["plant", &dest, &target, "120"]);
        let tpl = Template::embedded("pg.conf.j2", "port = {{ port }}\n");
        let result = scene.fx.try_on(|| {
            upload_template(
                tpl.clone(),
                remote_path(&dest).sudo(),
                context! { port => 5433 },
            )
        });
        let log = attack.stop().unwrap();
        let who = scene.name();
        assert!(
            log.first().is_some_and(|l| l.starts_with("planted\t1")),
            "{who}: the attacker planted nothing: {log:?}"
        );
        assert_eq!(
            scene.target_state(&target),
            before,
            "{who}: the backup was written through a planted symlink"
        );
        let out = result.unwrap_or_else(|e| panic!("{who}: {e}"));
        assert!(out.changed);
        assert_eq!(scene.sh(&format!("cat {dest}")), "port = 5433\n", "{who}");
        let backups = scene.sh(&format!(
            "find {dir} -name 'pg.conf.off-backup-*' -type f -exec cat {{}} +"
        ));
        assert_eq!(backups, "old\n", "{who}: the old file is kept as a backup");
        scene.clear(&dir, &target);
    }
}

/// A secret written for its owner: another user who opens every new file the moment it appears
/// (in the destination directory and in /tmp) must never read a byte of it.
#[test]
fn a_secret_is_never_readable_by_another_user() {
    for scene in scenes() {
        let (dir, target) = scene.arena("secret");
        let secret = format!("s3cret-{}", std::process::id());
        let attack = scene.attack(EVE, &["snoop", &dir, "/tmp"]);
        let dest = format!("{dir}/.pgpass");
        let result = scene.fx.try_on(|| {
            put(
                Secret::new(secret.clone()),
                remote_path(&dest).sudo().owner(MALLORY).mode(0o600),
            )
        });
        let log = attack.stop().unwrap();
        let who = scene.name();
        result.unwrap_or_else(|e| panic!("{who}: {e}"));
        assert!(
            log.iter()
                .any(|l| l.starts_with("opened\t") || l.starts_with("denied\t")),
            "{who}: the snooper saw no file being created: {log:?}"
        );
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        let leaks: Vec<&String> = log.iter().filter(|l| l.contains(&hex)).collect();
        assert!(leaks.is_empty(), "{who}: the secret leaked: {leaks:?}");
        assert_eq!(
            scene.sh(&format!("stat -c '%a %U' {dest}; cat {dest}")),
            format!("600 {MALLORY}\n{secret}"),
            "{who}"
        );
        scene.clear(&dir, &target);
    }
}
