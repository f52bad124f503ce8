//! This very binary, and its copy in a host's cache.
//!
//! The copy lives in the login user's cache,
//! `${XDG_CACHE_HOME:-$HOME/.cache}/off/bin/<name>-<sha256>`: a directory
//! only that user (and root) can write, so nobody else on the host can swap
//! the program that is about to run with the user's rights and sudo
//! password. The file is named by the sha256 of its content, checked before
//! each run and after each copy; a copy is written to a temporary file in
//! that directory and renamed into place once its sum is right.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::shell::quote;

/// The running binary, read once per process.
pub(crate) struct ThisBinary {
    /// The recipe's name (the copy's name starts with it, for `ps`).
    pub name: String,
    pub bytes: Vec<u8>,
    /// Hex sha256 of `bytes`.
    pub sha256: String,
}

/// The binary this process runs, read from `/proc/self/exe`.
pub(crate) fn this_binary(name: &str) -> Result<&'static ThisBinary, String> {
    static THIS: OnceLock<Result<ThisBinary, String>> = OnceLock::new();
    THIS.get_or_init(|| {
        let path = std::env::current_exe()
            .map_err(|e| format!("cannot find this binary to copy it: {e}"))?;
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("cannot read this binary {}: {e}", path.display()))?;
        let sha256 = hex(&Sha256::digest(&bytes));
        Ok(ThisBinary {
            name: name.to_string(),
            bytes,
            sha256,
        })
    })
    .as_ref()
    .map_err(Clone::clone)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ThisBinary {
    /// The copy's file name in the cache directory.
    pub fn file_name(&self) -> String {
        format!("{}-{}", self.name, self.sha256)
    }

    /// The script that tells what a host is and whether it has the copy:
    /// `key=value` lines for [`HostFacts::parse`]. One round trip.
    pub fn probe_script(&self) -> String {
        format!(
            "printf 'os=%s\\narch=%s\\n' \"$(uname -s)\" \"$(uname -m)\"; \
             printf 'glibc=%s\\n' \"$(getconf GNU_LIBC_VERSION 2>/dev/null)\"; \
             {CACHE_DIR}; printf 'dir=%s\\n' \"$dir\"; \
             f=\"$dir\"/{file}; \
             if [ -f \"$f\" ] && [ ! -L \"$f\" ] && [ -O \"$f\" ] && [ -x \"$f\" ]; then \
             printf 'cached=%s\\n' \"$(sha256sum < \"$f\" | cut -d' ' -f1)\"; fi; true",
            file = quote(&self.file_name()),
        )
    }

    /// The script that stores its standard input as the copy, in `dir`
    /// (the probe's), and prints [`COPIED`] once the copy is in place.
    pub fn store_script(&self, dir: &str) -> String {
        let dir = quote(dir).to_string();
        let file = quote(&self.file_name()).to_string();
        let name = quote(&format!("{}-", self.name)).to_string();
        format!(
            "set -e; umask 077; dir={dir}; mkdir -p \"$dir\"; \
             for d in \"$dir\" \"${{dir%/bin}}\"; do \
             if [ -L \"$d\" ] || [ ! -O \"$d\" ]; then \
             echo \"$d is not a directory of $(id -un)'s own; refusing to store a program there\" >&2; exit 1; fi; \
             chmod 700 \"$d\"; done; \
             tmp=$(mktemp \"$dir/.upload.XXXXXX\"); trap 'rm -f \"$tmp\"' EXIT; \
             cat > \"$tmp\"; \
             sum=$(sha256sum < \"$tmp\" | cut -d' ' -f1); \
             if [ \"$sum\" != {sha} ]; then echo \"the copy's sha256 is $sum, not {sha}\" >&2; exit 1; fi; \
             chmod 700 \"$tmp\"; mv -f \"$tmp\" \"$dir\"/{file}; trap - EXIT; \
             find \"$dir\" -maxdepth 1 -name {name}'*' ! -name {file} -mtime +{PRUNE_DAYS} -exec rm -f {{}} + 2>/dev/null || true; \
             echo {COPIED}",
            sha = self.sha256,
        )
    }
}

/// Sets `dir` to the cache directory of the login user.
const CACHE_DIR: &str = "case \"$XDG_CACHE_HOME\" in /*) dir=\"$XDG_CACHE_HOME/off/bin\";; *) dir=\"$HOME/.cache/off/bin\";; esac";

/// What the store script prints when the copy is in place.
pub(crate) const COPIED: &str = "off-push-copied";

/// Copies of other builds of the recipe older than this are removed when a
/// new one is stored.
const PRUNE_DAYS: u32 = 7;

/// What the probe found on a host.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct HostFacts {
    pub os: String,
    pub arch: String,
    /// `glibc 2.36`, empty without glibc.
    pub glibc: String,
    /// The cache directory.
    pub dir: String,
    /// The sha256 of the copy there, when there is one.
    pub cached: Option<String>,
}

impl HostFacts {
    pub fn parse(text: &str) -> HostFacts {
        let mut facts = HostFacts::default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("os", v)) => facts.os = v.to_string(),
                Some(("arch", v)) => facts.arch = v.to_string(),
                Some(("glibc", v)) => facts.glibc = v.trim().to_string(),
                Some(("dir", v)) => facts.dir = v.to_string(),
                Some(("cached", v)) => facts.cached = Some(v.trim().to_string()),
                _ => {}
            }
        }
        facts
    }

    /// Why this binary cannot run on the host, if it cannot: another
    /// operating system or architecture, or (for a binary linked against
    /// glibc) no glibc or an older one than this machine's.
    pub fn incompatibility(&self, this: &Platform) -> Option<String> {
        if self.os != "Linux" || self.arch != this.arch {
            return Some(format!(
                "the host is {} {}, this binary is built for Linux {}",
                self.os, self.arch, this.arch
            ));
        }
        let Some(ours) = &this.glibc else {
            return None;
        };
        let Some(theirs) = self.glibc.strip_prefix("glibc ") else {
            return Some(format!(
                "the host has no glibc (musl?), and this binary is linked against glibc {ours}"
            ));
        };
        (version(theirs) < version(ours)).then(|| {
            format!(
                "the host has glibc {theirs}, older than the glibc {ours} this binary was built with"
            )
        })
    }

    /// Whether the host already has this very copy.
    pub fn has(&self, this: &ThisBinary) -> bool {
        self.cached.as_deref() == Some(this.sha256.as_str())
    }
}

fn version(text: &str) -> Vec<u32> {
    text.split('.').map(|n| n.parse().unwrap_or(0)).collect()
}

/// What this binary needs of a host.
#[derive(Debug)]
pub(crate) struct Platform {
    /// `uname -m`'s spelling of the architecture.
    pub arch: &'static str,
    /// The glibc version a glibc-linked binary runs with here; `None` for
    /// a static (musl) binary.
    pub glibc: Option<String>,
}

impl Platform {
    pub fn this() -> Platform {
        Platform {
            arch: std::env::consts::ARCH,
            glibc: glibc_version(),
        }
    }
}

#[cfg(target_env = "gnu")]
fn glibc_version() -> Option<String> {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    Some(version.to_string_lossy().into_owned())
}

#[cfg(not(target_env = "gnu"))]
fn glibc_version() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(text: &str) -> HostFacts {
        HostFacts::parse(text)
    }

    #[test]
    fn tells_which_hosts_can_run_the_binary() {
        let gnu = Platform {
            arch: "x86_64",
            glibc: Some("2.36".into()),
        };
        let musl = Platform {
            arch: "x86_64",
            glibc: None,
        };
        let same = facts("os=Linux\narch=x86_64\nglibc=glibc 2.36\ndir=/root/.cache/off/bin\n");
        assert_eq!(same.incompatibility(&gnu), None);
        let newer = facts("os=Linux\narch=x86_64\nglibc=glibc 2.39\n");
        assert_eq!(newer.incompatibility(&gnu), None);
        let older = facts("os=Linux\narch=x86_64\nglibc=glibc 2.31\n");
        assert!(
            older
                .incompatibility(&gnu)
                .unwrap()
                .contains("glibc 2.31, older")
        );
        let alpine = facts("os=Linux\narch=x86_64\nglibc=\n");
        assert!(alpine.incompatibility(&gnu).unwrap().contains("no glibc"));
        assert_eq!(alpine.incompatibility(&musl), None);
        let arm = facts("os=Linux\narch=aarch64\nglibc=glibc 2.36\n");
        assert_eq!(
            arm.incompatibility(&musl).unwrap(),
            "the host is Linux aarch64, this binary is built for Linux x86_64"
        );
        let mac = facts("os=Darwin\narch=x86_64\n");
        assert!(mac.incompatibility(&musl).unwrap().contains("Darwin"));
    }

    #[test]
    fn a_copy_counts_only_with_this_sum() {
        let this = ThisBinary {
            name: "demo".into(),
            bytes: b"x".to_vec(),
            sha256: "ab".into(),
        };
        assert!(facts("cached=ab\n").has(&this));
        assert!(!facts("cached=cd\n").has(&this));
        assert!(!facts("dir=/x\n").has(&this));
    }

    #[test]
    fn the_store_script_keeps_a_copy_only_with_the_right_sum() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("off/bin");
        let bytes = b"#!/bin/sh\necho hi\n".to_vec();
        let this = ThisBinary {
            name: "demo".into(),
            sha256: hex(&Sha256::digest(&bytes)),
            bytes,
        };
        let store = |input: &[u8]| {
            std::process::Command::new("/bin/sh")
                .args(["-c", &this.store_script(&cache.display().to_string())])
                .stdin(std::process::Stdio::piped())
                .output_with(input)
        };
        let out = store(&this.bytes);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), COPIED);
        let copy = cache.join(this.file_name());
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&copy), 0o700);
        assert_eq!(mode(&cache), 0o700);
        let probe = std::process::Command::new("/bin/sh")
            .args(["-c", &this.probe_script()])
            .env("XDG_CACHE_HOME", dir.path())
            .output()
            .unwrap();
        assert!(facts(&String::from_utf8_lossy(&probe.stdout)).has(&this));
        // Other bytes under this name: refused, and nothing left behind.
        std::fs::remove_file(&copy).unwrap();
        let out = store(b"tampered");
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("sha256"));
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
    }

    /// Runs a command with `input` on its standard input.
    trait OutputWith {
        fn output_with(&mut self, input: &[u8]) -> std::process::Output;
    }

    impl OutputWith for std::process::Command {
        fn output_with(&mut self, input: &[u8]) -> std::process::Output {
            use std::io::Write;
            let mut child = self
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(input).unwrap();
            child.wait_with_output().unwrap()
        }
    }
}
