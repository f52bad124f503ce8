//! An unprivileged attacker running beside a deploy, on a test host or on the control machine
//! (see the `off-testbed-attacker` binary for what each mode does).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::TestbedConfig;
use crate::host::{exec_in_host, host_pid1};

const BINARY: &str = "off-testbed-attacker";
/// Where the binary is installed inside a test host.
const HOST_BINARY: &str = "/usr/local/bin/off-testbed-attacker";

/// Where an attacker runs.
#[derive(Debug, Clone)]
pub enum Place {
    /// The control machine itself (the local transport's target).
    Local,
    /// Test host `index` of the testbed `config`.
    Host(TestbedConfig, usize),
}

/// A running attacker; [`Attack::stop`] ends it and returns what it did.
pub struct Attack {
    place: Place,
    /// The log's path as the attacker sees it.
    log: String,
    /// The host's pid of the attacker (in its PID namespace), or the local child.
    process: Running,
}

enum Running {
    Local(Child),
    Host(u32),
}

impl Attack {
    /// Starts the attacker as `uid` (and gid `uid`) with `args` (a mode and its arguments) and
    /// returns once its watches are in place.
    pub fn start(place: Place, uid: u32, args: &[&str]) -> Result<Attack> {
        let binary = attacker_binary()?;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = format!("/tmp/off-attack-{}-{n}", std::process::id());
        let log = format!("{dir}/log");
        let setpriv = |program: &str| {
            let mut line = vec![
                "setpriv".to_string(),
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".to_string(),
                program.to_string(),
            ];
            line.extend(args.iter().map(|a| a.to_string()));
            line.extend(["--log".to_string(), log.clone()]);
            line
        };
        let process = match &place {
            Place::Local => {
                fs::create_dir_all(&dir)?;
                chown(Path::new(&dir), uid)?;
                let line = setpriv(&binary.display().to_string());
                let child = Command::new(&line[0])
                    .args(&line[1..])
                    .stdin(std::process::Stdio::null())
                    .spawn()
                    .with_context(|| format!("cannot start {}", line.join(" ")))?;
                Running::Local(child)
            }
            Place::Host(config, index) => {
                let root = host_root(config, *index)?;
                let installed = root.join(HOST_BINARY.trim_start_matches('/'));
                if !installed.exists() {
                    fs::copy(&binary, &installed)
                        .with_context(|| format!("cannot copy the attacker into host {index}"))?;
                }
                let line = setpriv(HOST_BINARY)
                    .iter()
                    .map(|w| crate::util::shell_quote(w))
                    .collect::<Vec<_>>()
                    .join(" ");
                let script = format!(
                    "mkdir -p {dir} && chown {uid}:{uid} {dir} && \
                     {{ {line} </dev/null >{dir}/out 2>&1 & echo $!; }}"
                );
                let out = exec_in_host(config, *index, &script)?;
                if !out.status.success() {
                    bail!(
                        "cannot start the attacker in host {index}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                let pid = String::from_utf8_lossy(&out.stdout).trim().parse()?;
                Running::Host(pid)
            }
        };
        let attack = Attack {
            place,
            log,
            process,
        };
        attack.wait_for(".ready")?;
        Ok(attack)
    }

    /// Stops the attacker and returns its log, one event per line; its
    /// working directory is removed.
    pub fn stop(mut self) -> Result<Vec<String>> {
        match &mut self.process {
            Running::Local(child) => {
                // SAFETY: kill(2) on the child we started.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                child.wait()?;
            }
            Running::Host(pid) => {
                let Place::Host(config, index) = &self.place else {
                    unreachable!()
                };
                exec_in_host(config, *index, &format!("kill -TERM {pid}"))?;
            }
        }
        self.wait_for(".done")?;
        let text = fs::read_to_string(self.path(&self.log)?)?;
        let dir = self.path(self.log.trim_end_matches("/log"))?;
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        Ok(text.lines().map(str::to_string).collect())
    }

    /// The path of `path` (as the attacker sees it) from the control machine.
    fn path(&self, path: &str) -> Result<PathBuf> {
        Ok(match &self.place {
            Place::Local => PathBuf::from(path),
            Place::Host(config, index) => host_root(config, *index)?.join(&path[1..]),
        })
    }

    fn wait_for(&self, suffix: &str) -> Result<()> {
        let marker = self.path(&format!("{}{suffix}", self.log))?;
        let until = Instant::now() + Duration::from_secs(20);
        while !marker.exists() {
            if Instant::now() > until {
                let out = self.path(&self.log.replace("/log", "/out"))?;
                bail!(
                    "the attacker did not write {} in time: {}",
                    marker.display(),
                    fs::read_to_string(out).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Attack {
    fn drop(&mut self) {
        if let Running::Local(child) = &mut self.process {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The host's root directory as the machine sees it.
fn host_root(config: &TestbedConfig, index: usize) -> Result<PathBuf> {
    Ok(PathBuf::from(format!(
        "/proc/{}/root",
        host_pid1(config, index)?
    )))
}

fn chown(path: &Path, uid: u32) -> Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: chown(2) on a NUL-terminated path we own.
    if unsafe { libc::chown(c.as_ptr(), uid, uid) } != 0 {
        bail!(
            "chown {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// The attacker binary, built beside the test that uses it (cargo builds a package's binaries
/// with its tests; a test of another package builds it on first use).
pub fn attacker_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // <target>/<profile>/deps/<test>: the binary is in <target>/<profile>.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot locate the target directory")?;
    let binary = profile_dir.join(BINARY);
    if !binary.exists() {
        let target_dir = profile_dir.parent().context("no target directory")?;
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build
            .args([
                "build",
                "--quiet",
                "--package",
                "off-testbed",
                "--bin",
                BINARY,
            ])
            .arg("--target-dir")
            .arg(target_dir);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build.status().context("cannot run cargo build")?;
        if !status.success() || !binary.exists() {
            bail!("building {BINARY} failed ({status})");
        }
    }
    Ok(binary)
}
