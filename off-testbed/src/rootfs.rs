//! The hosts' shared root file system: a minimal Debian built once with debootstrap, with a local
//! apt repository inside so that hosts (which have no network) can still `apt-get install` the
//! packages the end-to-end tests deploy.
//!
//! The tree lives in the cache dir under a name derived from everything that shapes its content,
//! so changing a package list builds a new one instead of silently reusing a stale tree. It is
//! built in a temporary directory and renamed into place only when complete: an interrupted build
//! is never used.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::util::{self, FileLock, shell_quote};

/// Bump when the build steps change in a way the package lists do not show (sshd config, users,
/// repository layout...), so caches built by older code are not reused.
pub const FORMAT_VERSION: u32 = 1;

/// The Debian release of the hosts (the machine's own release, see DESIGN.md §10).
pub const SUITE: &str = "bookworm";

/// Installed in the rootfs by debootstrap (on top of `--variant=minbase`): what a bare server
/// reached by ssh has, and what the hosts' boot script and the tests rely on.
pub const ROOTFS_PACKAGES: &[&str] = &[
    "openssh-server",
    "openssh-sftp-server",
    "sudo",
    "iproute2",
    "procps",
    "ca-certificates",
    "less",
];

/// Offered by the hosts' local apt repository (with all their dependencies and recommendations),
/// NOT installed: tests install them through the code under test. Extend as recipes need more.
pub const APT_REPO_PACKAGES: &[&str] = &[
    "postgresql-15",
    "postgresql-client-15",
    "postgresql-common",
    "postgresql",
];

/// Where the local apt repository lives inside the rootfs.
pub const APT_REPO_DIR: &str = "srv/off-apt";

/// The user that logs in with the testbed key and needs a password for sudo.
pub const DEPLOY_USER: &str = "deploy";
/// `deploy`'s password, which sudo asks for.
pub const DEPLOY_SUDO_PASSWORD: &str = "deploy-sudo-pw";

/// Used when the machine's apt sources name no Debian mirror for [`SUITE`].
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// sshd settings of every host. The drop-in is read before the Debian defaults in
/// `sshd_config` and the first value of a keyword wins.
const SSHD_CONFIG: &str = "\
# Written by off-testbed.
# Each host gets its own ed25519 key at boot; the other key types are never generated.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
# PAM works in the hosts' namespaces and gives sessions the usual Debian environment.
UsePAM yes
# Hosts have no DNS; a reverse lookup would only add a timeout to every login.
UseDNS no
# Clients multiplex many channels over one connection and open several connections at once.
MaxSessions 100
MaxStartups 100:30:200
";

/// Cache directory name component: a hash of everything that determines the tree's content.
pub fn cache_key(rootfs_packages: &[&str], repo_packages: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(format!("format {FORMAT_VERSION}\nsuite {SUITE}\n"));
    for (section, list) in [("rootfs", rootfs_packages), ("repo", repo_packages)] {
        h.update(format!("{section}:"));
        for p in list {
            h.update(format!(" {p}"));
        }
        h.update("\n");
    }
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The path the rootfs for the current package lists has (or will have) in `cache_dir`.
pub fn rootfs_path(cache_dir: &Path) -> PathBuf {
    cache_dir.join(format!(
        "rootfs-{SUITE}-{}",
        cache_key(ROOTFS_PACKAGES, APT_REPO_PACKAGES)
    ))
}

/// Returns the cached rootfs, building it first if it does not exist yet (a few minutes; needs
/// the Debian mirror). Safe to call from several processes at once: one builds, the others wait.
pub fn ensure_rootfs(cache_dir: &Path) -> Result<PathBuf> {
    let path = rootfs_path(cache_dir);
    if path.is_dir() {
        return Ok(path);
    }
    util::require_root()?;
    util::create_dir(cache_dir, 0o755)?;
    let _lock = FileLock::acquire(&cache_dir.join(".build.lock"))?;
    // Another process may have finished the build while we waited for the lock.
    if path.is_dir() {
        return Ok(path);
    }
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let tmp = cache_dir.join(format!(".building-{name}"));
    let log = cache_dir.join(format!("{name}.build.log"));
    let started = Instant::now();
    eprintln!(
        "off-testbed: building the hosts' root file system {} (one-time, a few minutes; log: {})",
        path.display(),
        log.display()
    );
    build(&tmp, &log).with_context(|| {
        format!(
            "building the testbed rootfs in {} failed (log: {})",
            tmp.display(),
            log.display()
        )
    })?;
    fs::rename(&tmp, &path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    eprintln!(
        "off-testbed: root file system ready in {:.0?}",
        started.elapsed()
    );
    Ok(path)
}

/// Builds the complete tree in `dir` (removing what an interrupted build left there).
fn build(dir: &Path, log: &Path) -> Result<()> {
    remove_tree(dir)?;
    fs::write(log, "").with_context(|| format!("cannot create {}", log.display()))?;
    let mirror = mirror()?;
    let proxy = apt_proxy();

    // 1. The base system. debootstrap mounts /proc and /sys in the target while it configures
    //    packages; in a private mount namespace those mounts die with it even if it is killed.
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "debootstrap"])
        .arg("--variant=minbase")
        .arg(format!("--include={}", ROOTFS_PACKAGES.join(",")))
        .arg(SUITE)
        .arg(dir)
        .arg(&mirror);
    with_proxy(&mut cmd, proxy.as_deref());
    run_logged(&mut cmd, log, "debootstrap")?;

    // 2. Users and sshd. Files are written from here; commands that must use the rootfs's own
    //    user database run chrooted.
    configure(dir)?;

    // 3. Download the repository packages with the rootfs's own apt, so exactly the packages it
    //    lacks (dependencies and recommendations) are fetched. The mounts live in a private mount
    //    namespace that disappears with the command, so a crash never leaves /proc mounted in the
    //    cache.
    let pkgs = APT_REPO_PACKAGES.join(" ");
    fs::copy("/etc/resolv.conf", dir.join("etc/resolv.conf"))
        .context("cannot copy /etc/resolv.conf into the rootfs (apt needs DNS during the build)")?;
    let download = format!(
        "set -eux
R={root}
mount -t proc proc \"$R/proc\"
chroot \"$R\" apt-get update
# debootstrap leaves the base system's .debs in the archive cache; only the new ones go to the repo.
chroot \"$R\" apt-get clean
chroot \"$R\" apt-get install --download-only --yes -o APT::Install-Recommends=true {pkgs}
mkdir -p \"$R/{repo}\"
mv \"$R\"/var/cache/apt/archives/*.deb \"$R/{repo}/\"
",
        root = shell_quote(&dir.to_string_lossy()),
        repo = APT_REPO_DIR,
    );
    let mut cmd = chroot_script(&download, false);
    with_proxy(&mut cmd, proxy.as_deref());
    run_logged(&mut cmd, log, "downloading the apt repository packages")?;

    // 4. Index the repository and point apt at it alone: hosts have no network.
    index_repo(&dir.join(APT_REPO_DIR), log)?;
    offline_apt_config(dir)?;

    // 5. Prove that the packages install offline (simulated: they must not be in the rootfs),
    //    then leave apt as on a fresh machine: no lists, no cached archives.
    let verify = format!(
        "set -eux
R={root}
mount -t proc proc \"$R/proc\"
chroot \"$R\" apt-get update
chroot \"$R\" apt-get install --simulate --yes {pkgs}
chroot \"$R\" apt-get install --simulate --yes -o APT::Install-Recommends=true {pkgs}
if chroot \"$R\" dpkg-query --show --showformat='${{Status}}\\n' {pkgs} 2>/dev/null | grep -q 'install ok installed'; then
    echo 'a repository package is installed in the rootfs' >&2; exit 1
fi
chroot \"$R\" apt-get clean
rm -rf \"$R\"/var/lib/apt/lists/*
mkdir -p \"$R\"/var/lib/apt/lists/partial
",
        root = shell_quote(&dir.to_string_lossy()),
    );
    // `--net`: no network at all, so anything apt still wanted from the mirror would fail here.
    run_logged(
        &mut chroot_script(&verify, true),
        log,
        "checking that the apt repository installs offline",
    )?;
    // Hosts have no DNS server; an empty resolv.conf makes lookups fail fast.
    fs::write(dir.join("etc/resolv.conf"), "").context("cannot empty the rootfs resolv.conf")?;
    Ok(())
}

/// `sh -c script` in a private mount namespace (and without network if `offline`).
fn chroot_script(script: &str, offline: bool) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private"]);
    if offline {
        cmd.arg("--net");
    }
    cmd.args(["/bin/sh", "-c", script])
        .env("DEBIAN_FRONTEND", "noninteractive")
        // The machine's locale may not exist in the rootfs; perl would complain at every step.
        .env("LC_ALL", "C.UTF-8")
        .env_remove("LANG")
        .env_remove("LANGUAGE");
    cmd
}

fn configure(root: &Path) -> Result<()> {
    let chroot = |args: &[&str], stdin: Option<&str>| -> Result<()> {
        use std::io::Write;
        let mut cmd = Command::new("chroot");
        cmd.arg(root).args(args).env("LC_ALL", "C.UTF-8");
        let desc = util::describe(&cmd);
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run `{desc}`"))?;
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes())?;
        }
        drop(child.stdin.take());
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "`{desc}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    };
    chroot(
        &[
            "useradd",
            "--create-home",
            "--shell",
            "/bin/bash",
            "--groups",
            "sudo",
            DEPLOY_USER,
        ],
        None,
    )?;
    chroot(
        &["chpasswd"],
        Some(&format!("{DEPLOY_USER}:{DEPLOY_SUDO_PASSWORD}\n")),
    )?;

    write(
        root,
        "etc/ssh/sshd_config.d/off-testbed.conf",
        SSHD_CONFIG,
        0o644,
    )?;
    // Debian's sshd_config accepts the client's LANG/LC_*; the machine's locale usually does not
    // exist on the hosts, and perl-based tools (pg_createcluster...) would then warn or fail.
    let main_config = root.join("etc/ssh/sshd_config");
    let text = fs::read_to_string(&main_config)
        .with_context(|| format!("cannot read {}", main_config.display()))?;
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("AcceptEnv") {
                format!("#{l} # disabled by off-testbed")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    fs::write(&main_config, text)?;
    // Host keys are per host (written at boot); the ones generated by the package would be
    // shared by all hosts.
    for entry in fs::read_dir(root.join("etc/ssh"))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with("ssh_host_") {
            fs::remove_file(entry.path())?;
        }
    }
    // The Debian welcome text would be printed in every pty session the tests open.
    write(root, "etc/motd", "", 0o644)?;
    // Package installs must not start daemons on their own: there is no init system, and tests
    // start what they need explicitly (e.g. `pg_ctlcluster 15 main start`), like in containers.
    write(root, "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)?;
    // Set per host at boot.
    let _ = fs::remove_file(root.join("etc/hostname"));
    Ok(())
}

/// Writes Packages, Packages.gz and Release for the flat repository in `repo`.
fn index_repo(repo: &Path, log: &Path) -> Result<()> {
    let mut cmd = Command::new("dpkg-scanpackages");
    cmd.args(["--multiversion", "."]).current_dir(repo);
    let packages = util::run(&mut cmd)?;
    if packages.trim().is_empty() {
        bail!("dpkg-scanpackages found no packages in {}", repo.display());
    }
    fs::write(repo.join("Packages"), &packages)?;
    util::run(
        Command::new("gzip")
            .args(["-9", "--no-name", "--keep", "--force", "Packages"])
            .current_dir(repo),
    )?;
    // A Release file with checksums keeps `apt-get update` free of "no Release file" warnings;
    // `[trusted=yes]` in the source stands in for a signature.
    // apt warns about a Release file without a valid Date.
    let date = util::run(
        Command::new("date")
            .args(["-u", "+%a, %d %b %Y %H:%M:%S UTC"])
            .env("LC_ALL", "C"),
    )?;
    let mut release = format!(
        "Origin: off-testbed\nLabel: off-testbed\nSuite: {SUITE}\nDate: {}\nArchitectures: {} all\nDescription: off-testbed offline repository\nSHA256:\n",
        date.trim(),
        std::env::consts::ARCH
            .replace("x86_64", "amd64")
            .replace("aarch64", "arm64")
    );
    for name in ["Packages", "Packages.gz"] {
        let data = fs::read(repo.join(name))?;
        let hash: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        release.push_str(&format!(" {hash} {} {name}\n", data.len()));
    }
    fs::write(repo.join("Release"), release)?;
    let count = packages.matches("\nPackage: ").count() + 1;
    append_log(
        log,
        &format!("indexed {count} packages in {}\n", repo.display()),
    );
    Ok(())
}

/// Makes the local repository the rootfs's only apt source.
fn offline_apt_config(root: &Path) -> Result<()> {
    write(root, "etc/apt/sources.list", "", 0o644)?;
    let dir = root.join("etc/apt/sources.list.d");
    if dir.is_dir() {
        for entry in fs::read_dir(&dir)? {
            fs::remove_file(entry?.path())?;
        }
    }
    write(
        root,
        "etc/apt/sources.list.d/off-apt.list",
        &format!("deb [trusted=yes] file:/{APT_REPO_DIR} ./\n"),
        0o644,
    )?;
    // Recommendations would drag systemd, exim and cron into every host installing PostgreSQL;
    // they stay installable on request (`--install-recommends`) because the repo has them.
    write(
        root,
        "etc/apt/apt.conf.d/90off-testbed",
        "// Written by off-testbed.\nAPT::Install-Recommends \"false\";\n",
        0o644,
    )?;
    Ok(())
}

fn write(root: &Path, rel: &str, contents: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

/// Removes a (partial) tree without ever crossing into another file system. Mounts left inside
/// it (by a build that ran debootstrap outside a private mount namespace) are detached first.
fn remove_tree(dir: &Path) -> Result<()> {
    if dir.exists() {
        let info = fs::read_to_string("/proc/self/mountinfo").context("cannot read mountinfo")?;
        let mut inside: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|mp| Path::new(mp).starts_with(dir))
            .collect();
        // Deepest first, so that nested mounts go before their parents.
        inside.sort_by_key(|mp| std::cmp::Reverse(mp.len()));
        for mp in inside {
            util::run(Command::new("umount").args(["--lazy", mp]))?;
        }
        util::run(
            Command::new("rm")
                .args(["-rf", "--one-file-system"])
                .arg(dir),
        )?;
    }
    Ok(())
}

fn append_log(log: &Path, text: &str) {
    use std::io::Write;
    if let Ok(mut f) = fs::OpenOptions::new().append(true).open(log) {
        let _ = f.write_all(text.as_bytes());
    }
}

/// Runs `cmd` with stdout and stderr appended to the build log; on failure the error carries the
/// log's tail.
fn run_logged(cmd: &mut Command, log: &Path, what: &str) -> Result<()> {
    append_log(log, &format!("\n==> {what}: {}\n", util::describe(cmd)));
    let out = fs::OpenOptions::new().append(true).open(log)?;
    let err = out.try_clone()?;
    let status = cmd
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .with_context(|| format!("cannot run `{}` (is it installed?)", util::describe(cmd)))?;
    if !status.success() {
        bail!(
            "{what} failed ({status}); end of {}:\n{}",
            log.display(),
            util::tail_file(log, 15)
        );
    }
    Ok(())
}

fn with_proxy(cmd: &mut Command, proxy: Option<&str>) {
    if let Some(p) = proxy {
        cmd.env("http_proxy", p);
    }
}

/// The HTTP proxy the machine's apt uses, if any, so the build reaches the mirror the same way.
fn apt_proxy() -> Option<String> {
    if let Ok(p) = std::env::var("http_proxy")
        && !p.is_empty()
    {
        return Some(p);
    }
    let out = Command::new("apt-config")
        .args(["shell", "P", "Acquire::http::Proxy"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let value = text.trim().strip_prefix("P=")?.trim_matches('\'');
    (!value.is_empty() && value != "DIRECT").then(|| value.to_owned())
}

/// The Debian mirror: `$OFF_TESTBED_MIRROR`, else the first one the machine's apt sources use for
/// [`SUITE`], else [`DEFAULT_MIRROR`].
pub fn mirror() -> Result<String> {
    if let Ok(m) = std::env::var("OFF_TESTBED_MIRROR")
        && !m.is_empty()
    {
        return Ok(m);
    }
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let name = file.to_string_lossy();
        let found = if name.ends_with(".sources") {
            mirror_from_deb822(&text, SUITE)
        } else if name.ends_with(".list") {
            mirror_from_one_line(&text, SUITE)
        } else {
            None
        };
        if let Some(m) = found {
            return Ok(m);
        }
    }
    Ok(DEFAULT_MIRROR.to_owned())
}

/// First URI of a `deb` stanza listing `suite` in a deb822 `.sources` file.
fn mirror_from_deb822(text: &str, suite: &str) -> Option<String> {
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
        };
        let enabled = field("Enabled").is_none_or(|v| v != "no");
        let types_deb = field("Types").is_some_and(|v| v.split_whitespace().any(|t| t == "deb"));
        let has_suite = field("Suites").is_some_and(|v| v.split_whitespace().any(|s| s == suite));
        if enabled
            && types_deb
            && has_suite
            && let Some(uri) = field("URIs").and_then(|v| v.split_whitespace().next())
        {
            return Some(uri.to_owned());
        }
    }
    None
}

/// First URI of a `deb URI suite ...` line for `suite` in a one-line-style `.list` file.
fn mirror_from_one_line(text: &str, suite: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        let mut rest: Vec<&str> = words.collect();
        // Options: `[arch=amd64 signed-by=...]`, possibly several words.
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let end = rest.iter().position(|w| w.ends_with(']'))?;
            rest.drain(..=end);
        }
        if rest.len() >= 2 && rest[1] == suite {
            return Some(rest[0].to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_follows_the_package_lists() {
        let base = cache_key(ROOTFS_PACKAGES, APT_REPO_PACKAGES);
        assert_eq!(base, cache_key(ROOTFS_PACKAGES, APT_REPO_PACKAGES));
        assert_eq!(base.len(), 16);
        let mut more = APT_REPO_PACKAGES.to_vec();
        more.push("etcd-server");
        assert_ne!(base, cache_key(ROOTFS_PACKAGES, &more));
        let fewer = &ROOTFS_PACKAGES[1..];
        assert_ne!(base, cache_key(fewer, APT_REPO_PACKAGES));
        // Moving a package between the lists changes the tree too.
        assert_ne!(
            cache_key(&["a", "b"], &["c"]),
            cache_key(&["a"], &["b", "c"])
        );
    }

    #[test]
    fn rootfs_path_is_in_the_cache_dir() {
        let p = rootfs_path(Path::new("/var/cache/off-testbed"));
        assert!(p.starts_with("/var/cache/off-testbed"));
        assert!(
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("rootfs-bookworm-")
        );
    }

    #[test]
    fn mirror_from_deb822_sources() {
        let text = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n";
        assert_eq!(
            mirror_from_deb822(text, "bookworm").as_deref(),
            Some("http://deb.debian.org/debian")
        );
        assert_eq!(
            mirror_from_deb822(text, "bookworm-security").as_deref(),
            Some("http://deb.debian.org/debian-security")
        );
        assert_eq!(mirror_from_deb822(text, "trixie"), None);
        let disabled = "Enabled: no\nTypes: deb\nURIs: http://x/debian\nSuites: bookworm\n";
        assert_eq!(mirror_from_deb822(disabled, "bookworm"), None);
    }

    #[test]
    fn mirror_from_one_line_sources() {
        let text = "# comment\ndeb-src http://src/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n";
        assert_eq!(
            mirror_from_one_line(text, "bookworm").as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror_from_one_line("deb http://m/debian bookworm-updates main", "bookworm"),
            None
        );
    }
}
