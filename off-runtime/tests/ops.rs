//! Every operation, on the local machine and over SSH on a test host: the
//! same test bodies run against both transports.

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, OPS_HOST, scratch_dir};
use off_runtime::prelude::*;

fn run_output_and_exit_codes(fx: Fixture) {
    let out = fx.on(|| run("printf 'a\\nb'; printf oops >&2"));
    assert_eq!(out.stdout, "a\nb");
    assert_eq!(out.stderr, "oops");
    assert_eq!(out.code, 0);
    assert!(out.changed);

    let err = fx.try_on(|| run("echo failing >&2; exit 3")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("[{}] ", fx.target)), "{msg}");
    assert!(
        msg.contains("run `echo failing >&2; exit 3` exited with code 3; stderr: failing"),
        "{msg}"
    );
    assert_eq!(err.exit_code(), 1);

    let out = fx.on(|| {
        let _s = settings(Settings::new().warn_only(true));
        run("exit 7")
    });
    assert_eq!(out.code, 7);
}

fn cd_applies_to_sudo(fx: Fixture) {
    let pwd = fx.on(|| {
        let dir = scratch_dir("cd")?;
        let _d = cd(&dir);
        let _sub = {
            run("mkdir -p 'sub dir'")?;
            cd("sub dir")
        };
        Ok((dir, sudo("pwd")?.text().to_string()))
    });
    assert_eq!(pwd.1, format!("{}/sub dir", pwd.0));
}

fn shell_env_applies_to_sudo(fx: Fixture) {
    let out = fx.on(|| {
        let _e = shell_env([("OFF_GREETING", "hello $USER 'quoted'")]);
        sudo("printf %s \"$OFF_GREETING\"")
    });
    assert_eq!(out.stdout, "hello $USER 'quoted'");
    let err = fx
        .try_on(|| {
            let _e = shell_env([("BAD-NAME", "x")]);
            run("true")
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`BAD-NAME` is not a valid environment variable name"),
        "{err}"
    );
}

fn put_twice_reports_unchanged(fx: Fixture) {
    let (first, second, content, mode) = fx.on(|| {
        let dir = scratch_dir("put")?;
        let dest = format!("{dir}/file.conf");
        let first = put(b"line 1\n", remote_path(&dest).mode(0o640))?;
        let second = put(b"line 1\n", remote_path(&dest).mode(0o640))?;
        let content = run(sh!("cat {dest}"))?.stdout;
        let mode = run(sh!("stat -c %a {dest}"))?.text().to_string();
        Ok((first.changed, second.changed, content, mode))
    });
    assert!(first, "the first put writes the file");
    assert!(
        !second,
        "the second put finds the same content and changes nothing"
    );
    assert_eq!(content, "line 1\n");
    assert_eq!(mode, "640");
}

fn put_with_sudo_sets_owner(fx: Fixture) {
    let owner = fx.on(|| {
        let dir = scratch_dir("put-sudo")?;
        sudo(sh!("chown root:root {dir} && chmod 755 {dir}"))?;
        let dest = format!("{dir}/owned");
        put(
            b"x".as_slice(),
            remote_path(&dest).sudo().owner("nobody").mode(0o600),
        )?;
        let again = put(
            b"x".as_slice(),
            remote_path(&dest).sudo().owner("nobody").mode(0o600),
        )?;
        assert!(!again.changed);
        Ok(sudo(sh!("stat -c '%U %a' {dest}"))?.text().to_string())
    });
    assert_eq!(owner, "nobody 600");
}

fn upload_template_renders_and_keeps_backup(fx: Fixture) {
    let (content, backups) = fx.on(|| {
        let dir = scratch_dir("tpl")?;
        let dest = format!("{dir}/pg.conf");
        put(b"old\n", dest.as_str())?;
        let tpl = Template::embedded("pg.conf.j2", "port = {{ port }}\n");
        let first = upload_template(tpl.clone(), dest.as_str(), context! { port => 5433 })?;
        assert!(first.changed);
        let second = upload_template(tpl, dest.as_str(), context! { port => 5433 })?;
        assert!(!second.changed);
        let backups = run(sh!("cat {dir}/pg.conf.off-backup-*"))?.stdout;
        Ok((run(sh!("cat {dest}"))?.stdout, backups))
    });
    assert_eq!(content, "port = 5433\n");
    assert_eq!(backups, "old\n");
}

fn upload_template_undefined_variable_leaves_file(fx: Fixture) {
    let (err, content) = fx.on(|| {
        let dir = scratch_dir("tpl-undef")?;
        let dest = format!("{dir}/pg.conf");
        put(b"untouched\n", dest.as_str())?;
        let tpl = Template::embedded("pg.conf.j2", "port = {{ port }}\nhost = {{ missing }}\n");
        let err = upload_template(tpl, dest.as_str(), context! { port => 1 }).unwrap_err();
        let listing = run(sh!("ls -A {dir}"))?.stdout;
        assert_eq!(listing, "pg.conf\n", "no temporary file is left behind");
        Ok((err.to_string(), run(sh!("cat {dest}"))?.stdout))
    });
    assert!(
        err.contains("template pg.conf.j2") && err.contains("undefined"),
        "{err}"
    );
    assert_eq!(content, "untouched\n");
}

fn get_downloads_with_host_in_path(fx: Fixture) {
    let local_dir = tempfile::tempdir().unwrap();
    let pattern = local_dir.path().join("{host}/hostname");
    let pattern = pattern.to_str().unwrap().to_string();
    let (first, second) = fx.on(|| {
        let dir = scratch_dir("get")?;
        run(sh!("printf 'bin\\000ary' > {dir}/f"))?;
        Ok((
            get(format!("{dir}/f"), &pattern)?.changed,
            get(format!("{dir}/f"), &pattern)?.changed,
        ))
    });
    assert!(first && !second);
    let host = match &fx.target {
        Target::Local => "local".to_string(),
        Target::Ssh(t) => t.host.clone(),
    };
    let got = std::fs::read(local_dir.path().join(host).join("hostname")).unwrap();
    assert_eq!(got, b"bin\0ary");
}

fn exists_append_contains(fx: Fixture) {
    fx.on(|| {
        let dir = scratch_dir("contrib")?;
        let file = format!("{dir}/hosts");
        assert!(!exists(file.as_str())?);
        assert!(!contains(file.as_str(), "10.0.0.1 db")?);
        run(sh!("printf 'no newline at end' > {file}"))?;
        assert!(append(file.as_str(), "10.0.0.1 db")?.changed);
        assert!(!append(file.as_str(), "10.0.0.1 db")?.changed);
        assert!(exists(file.as_str())?);
        assert!(contains(file.as_str(), "10.0.0.1 db")?);
        assert!(!contains(file.as_str(), "10.0.0.2")?);
        assert_eq!(
            run(sh!("cat {file}"))?.stdout,
            "no newline at end\n10.0.0.1 db\n"
        );
        Ok(())
    });
}

fn sh_quotes_hostile_values(fx: Fixture) {
    let hostile = [
        "'; touch /tmp/pwned #",
        "$(id)",
        "line1\nline2",
        "`id`",
        "a\"b\\c",
        "*",
    ];
    for value in hostile {
        let out = fx.on(|| {
            run("rm -f /tmp/pwned")?;
            let out = run(sh!("printf %s {value}"))?;
            assert!(!exists("/tmp/pwned")?, "{value:?} was executed");
            Ok(out)
        });
        assert_eq!(out.stdout, value);
    }
}

fn timeout_kills_the_remote_process_group(fx: Fixture) {
    let marker = format!("{}", 100_000 + std::process::id());
    let started = Instant::now();
    let err = fx
        .try_on(|| {
            let _s = settings(Settings::new().timeout(Duration::from_secs(1)));
            run(sh!("sleep {marker}1 & sleep {marker}2"))
        })
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout did not stop the run"
    );
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(err.exit_code(), 4);
    assert!(err.to_string().contains("timed out after 1s"), "{err}");
    let left = fx.on(|| {
        let _s = settings(Settings::new().warn_only(true));
        // `slee[p]` keeps pgrep from matching the shell that runs it.
        Ok(run(format!("pgrep -f 'slee[p] {marker}'"))?.stdout)
    });
    assert_eq!(left, "", "processes of the timed-out command survived");
}

fn input_reaches_stdin_and_nothing_else(fx: Fixture) {
    let secret = "pa'ss\"word $HOME\nsecond line";
    let (plain, as_root, as_nobody, again) = fx.on(|| {
        Ok((
            run_with_input("cat", secret)?.stdout,
            sudo_with_input("id -u; cat", secret)?.stdout,
            sudo_as_with_input("nobody", "id -un; cat", secret)?.stdout,
            // A second sudo right after the first: a cached credential must
            // not leave the password line to the command.
            sudo_with_input("cat", b"\x00bytes")?.stdout,
        ))
    });
    assert_eq!(plain, secret);
    assert_eq!(as_root, format!("0\n{secret}"));
    assert_eq!(as_nobody, format!("nobody\n{secret}"));
    assert_eq!(again, "\0bytes");
    // Commands without input read an empty stdin rather than waiting.
    assert_eq!(fx.on(|| sudo("cat")).stdout, "");
}

fn put_a_secret(fx: Fixture) {
    let (content, again) = fx.on(|| {
        let path = format!("{}/.pgpass", scratch_dir("secret")?);
        put(Secret::new("db:5432:*:app:p'w\n"), path.as_str())?;
        let again = put(Secret::new("db:5432:*:app:p'w\n"), path.as_str())?;
        Ok((run(sh!("cat {path}"))?.stdout, again.changed))
    });
    assert_eq!(content, "db:5432:*:app:p'w\n");
    assert!(!again, "the same secret again is unchanged");
}

fn a_nul_byte_is_refused_not_dropped(fx: Fixture) {
    let err = fx.try_on(|| run("printf a\0b")).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("contains a NUL byte"), "{err}");
    let err = fx
        .try_on(|| {
            let _e = shell_env([("OFF_VALUE", "a\0b")]);
            run("true")
        })
        .unwrap_err();
    assert!(err.to_string().contains("contains a NUL byte"), "{err}");
    // Bytes with NULs travel as input.
    assert_eq!(fx.on(|| run_with_input("cat", b"a\0b")).stdout, "a\0b");
}

fn get_keeps_the_remote_mode(fx: Fixture) {
    use std::os::unix::fs::PermissionsExt;
    let local_dir = tempfile::tempdir().unwrap();
    let (secret, script) = (
        local_dir.path().join("secret"),
        local_dir.path().join("script"),
    );
    fx.on(|| {
        let dir = scratch_dir("get-mode")?;
        run(sh!(
            "printf s > {dir}/secret && chmod 600 {dir}/secret && printf x > {dir}/script && chmod 750 {dir}/script"
        ))?;
        get(format!("{dir}/secret"), &secret)?;
        get(format!("{dir}/script"), &script)?;
        Ok(())
    });
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&secret), mode(&script)), (0o600, 0o750));
    assert_eq!(std::fs::read(&secret).unwrap(), b"s");
}

fn writes_refuse_a_symlink_destination(fx: Fixture) {
    let (errors, victim) = fx.on(|| {
        let dir = scratch_dir("symlink-dest")?;
        run(sh!(
            "printf victim > {dir}/victim && ln -s victim {dir}/link"
        ))?;
        let link = format!("{dir}/link");
        let tpl = Template::embedded("t.j2", "new\n");
        let errors = [
            put(b"new\n", link.as_str()).unwrap_err(),
            put(b"new\n", remote_path(&link).sudo()).unwrap_err(),
            upload_template(tpl, remote_path(&link).sudo(), context! {}).unwrap_err(),
            append(remote_path(&link).sudo(), "new").unwrap_err(),
        ];
        let victim = run(sh!("cat {dir}/victim; ls -A {dir}"))?.stdout;
        Ok((errors.map(|e| e.to_string()), victim))
    });
    for err in errors {
        assert!(
            err.contains("/link: it is a symbolic link; off never writes through one"),
            "{err}"
        );
    }
    assert_eq!(
        victim, "victimlink\nvictim\n",
        "nothing was written or left behind"
    );
}

fn put_and_get_a_large_binary_file(fx: Fixture) {
    let data: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let local = tempfile::tempdir().unwrap();
    let back = local.path().join("back");
    let sha = fx.on(|| {
        let dest = format!("{}/big.bin", scratch_dir("big")?);
        assert!(put(data.clone(), remote_path(&dest).sudo())?.changed);
        assert!(!put(data.clone(), remote_path(&dest).sudo())?.changed);
        get(remote_path(&dest).sudo(), &back)?;
        Ok(run(sh!("sha256sum < {dest}"))?.stdout)
    });
    use sha2::Digest;
    let expected: String = sha2::Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(sha.starts_with(&expected), "{sha}");
    assert!(
        std::fs::read(&back).unwrap() == data,
        "get brought back other bytes"
    );
}

macro_rules! on_every_transport {
    ($($test:ident),* $(,)?) => {
        mod local {
            $(#[test] fn $test() { super::$test(super::Fixture::local()) })*
        }
        mod ssh {
            $(#[test] fn $test() { super::$test(super::Fixture::host(super::OPS_HOST, "root")) })*
        }
        mod ssh_sudo_password {
            $(#[test] fn $test() { super::$test(super::Fixture::host(super::OPS_HOST, "deploy")) })*
        }
    };
}

on_every_transport!(
    run_output_and_exit_codes,
    cd_applies_to_sudo,
    shell_env_applies_to_sudo,
    put_twice_reports_unchanged,
    put_with_sudo_sets_owner,
    upload_template_renders_and_keeps_backup,
    upload_template_undefined_variable_leaves_file,
    get_downloads_with_host_in_path,
    exists_append_contains,
    sh_quotes_hostile_values,
    timeout_kills_the_remote_process_group,
    input_reaches_stdin_and_nothing_else,
    put_a_secret,
    a_nul_byte_is_refused_not_dropped,
    get_keeps_the_remote_mode,
    writes_refuse_a_symlink_destination,
    put_and_get_a_large_binary_file,
);

/// The peak resident memory of this test process (each test runs in its own
/// process under nextest; under `cargo test` other tests add to it).
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

fn get_streams_a_large_file_to_disk(fx: Fixture) {
    const SIZE: u64 = 200 * 1024 * 1024;
    let local = tempfile::tempdir().unwrap();
    let dest = local.path().join("big");
    let dir = fx.on(|| scratch_dir("get-big"));
    fx.on(|| run(sh!("head -c {SIZE} /dev/zero | tr '\\0' x > {dir}/big")));
    let before = peak_rss_bytes();
    fx.on(|| get(format!("{dir}/big"), &dest));
    let grown = peak_rss_bytes().saturating_sub(before);
    fx.on(|| run(sh!("rm -rf {dir}")));
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), SIZE);
    assert!(
        grown < 64 * 1024 * 1024,
        "get held {grown} bytes of a {SIZE}-byte file in memory"
    );
}

#[test]
fn local_get_streams_a_large_file_to_disk() {
    get_streams_a_large_file_to_disk(Fixture::local());
}

#[test]
fn ssh_get_streams_a_large_file_to_disk() {
    get_streams_a_large_file_to_disk(Fixture::host(OPS_HOST, "root"));
}
