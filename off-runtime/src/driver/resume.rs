//! `--resume`: which steps completed on each host in the last run, kept on
//! the control machine.
//!
//! One small text file per recipe and host under `$OFF_STATE_DIR`, else
//! `$XDG_STATE_HOME/off`, else `~/.local/state/off`; with none of these
//! variables set, a run refuses to start (a shared fallback such as `/tmp`
//! would let other users plant or read the records). A run without
//! `--resume` starts the record afresh; a run with it skips the steps
//! recorded and appends the ones it completes.
//!
//! Skipping is only right when the run has the same inputs as the one that
//! completed those steps, so the record starts with a salted SHA-256 of
//! each kwarg's value (never the value: kwargs may be passwords), and a
//! resumed run whose kwargs differ starts over, naming the ones that changed.
//!
//! ```text
//! salt 6f1c…
//! kwarg version 2b7e…
//! kwarg listen_addresses 91d0…
//! step install
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::target::Target;

/// The kwargs of a run on one host: each name with a canonical text of its
/// value (see `RawArgs::fingerprint`), hashed before it is written.
pub(crate) type Inputs = Vec<(&'static str, String)>;

/// What the record says about the last run on a host.
#[derive(Debug, Default)]
pub(crate) struct LastRun {
    /// Steps completed, in order.
    pub(crate) completed: Vec<String>,
    /// The salt and each kwarg's hash; `None` when the record has none.
    inputs: Option<(String, BTreeMap<String, String>)>,
}

impl LastRun {
    /// The kwargs whose value differs from the last run's (a kwarg the
    /// recipe gained or lost counts), in `inputs` order; `None` when the
    /// record holds no inputs to compare with.
    pub(crate) fn changed_kwargs(&self, inputs: &Inputs) -> Option<Vec<String>> {
        let (salt, hashes) = self.inputs.as_ref()?;
        let mut changed: Vec<String> = inputs
            .iter()
            .filter(|(name, value)| hashes.get(*name) != Some(&hash(salt, name, value)))
            .map(|(name, _)| name.to_string())
            .collect();
        changed.extend(
            hashes
                .keys()
                .filter(|name| !inputs.iter().any(|(n, _)| n == name))
                .cloned(),
        );
        Some(changed)
    }
}

/// Hex SHA-256 of the salt, the kwarg's name and its value.
fn hash(salt: &str, name: &str, value: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [salt, name, value] {
        // Length-prefixed, so no two (name, value) pairs hash the same text.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The completed-steps records of one recipe.
#[derive(Debug, Clone)]
pub(crate) struct StepRecord {
    dir: PathBuf,
}

impl StepRecord {
    /// The records of `recipe`, in the state directory taken from `env`;
    /// the error (exit 2) when `env` names none.
    pub(crate) fn for_recipe(
        recipe: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<StepRecord, String> {
        let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let base = set("OFF_STATE_DIR")
            .or_else(|| set("XDG_STATE_HOME").map(|d| d.join("off")))
            .or_else(|| set("HOME").map(|h| h.join(".local/state/off")))
            .ok_or_else(|| {
                "no directory for the completed-steps record of --resume: set OFF_STATE_DIR, XDG_STATE_HOME or HOME".to_string()
            })?;
        Ok(StepRecord {
            dir: base.join(recipe),
        })
    }

    /// Where `target`'s record is kept.
    pub(crate) fn path(&self, target: &Target) -> PathBuf {
        let name: String = target
            .to_string()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{name}.steps"))
    }

    /// The last run on `target` (nothing completed when there is no record).
    pub(crate) fn last_run(&self, target: &Target) -> io::Result<LastRun> {
        let text = match fs::read_to_string(self.path(target)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LastRun::default()),
            Err(e) => return Err(e),
        };
        let mut last = LastRun::default();
        let mut salt = None;
        let mut hashes = BTreeMap::new();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("salt", value)) => salt = Some(value.to_string()),
                Some(("kwarg", rest)) => {
                    if let Some((name, hash)) = rest.split_once(' ') {
                        hashes.insert(name.to_string(), hash.to_string());
                    }
                }
                Some(("step", step)) => last.completed.push(step.to_string()),
                // A record from before inputs were recorded: its steps
                // cannot be matched to inputs, so `inputs` stays `None`.
                _ if !line.is_empty() => last.completed.push(line.to_string()),
                _ => {}
            }
        }
        last.inputs = salt.map(|salt| (salt, hashes));
        Ok(last)
    }

    /// Starts `target`'s record afresh for a run with `inputs`: a new salt,
    /// each kwarg's hash, no completed step.
    pub(crate) fn start(&self, target: &Target, inputs: &Inputs) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let salt = format!("{:032x}", rand::rng().random::<u128>());
        let mut text = format!("salt {salt}\n");
        for (name, value) in inputs {
            text.push_str(&format!("kwarg {name} {}\n", hash(&salt, name, value)));
        }
        // Readable by the user alone: a hash of a weak password can be
        // guessed by whoever can read it.
        let path = self.path(target);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())
    }

    /// Records that `step` completed on `target`.
    pub(crate) fn complete(&self, target: &Target, step: &str) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(target))?;
        // One write per line, so a crash leaves whole lines only.
        file.write_all(format!("step {step}\n").as_bytes())?;
        file.sync_data()
    }
}

/// The steps of `selected` (indices into `names`) a resumed run starts
/// with: from the first one not completed, in order.
pub(crate) fn resume_from(selected: &[usize], names: &[&str], completed: &[String]) -> Vec<usize> {
    match selected
        .iter()
        .position(|&i| !completed.iter().any(|c| c == names[i]))
    {
        Some(first) => selected[first..].to_vec(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_resumes_per_host() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_str().unwrap().to_string();
        let env = move |name: &str| (name == "OFF_STATE_DIR").then(|| state.clone());
        let record = StepRecord::for_recipe("demo", &env).unwrap();
        let a: Target = "root@db1:2222".parse().unwrap();
        let b: Target = "db2".parse().unwrap();
        let inputs: Inputs = vec![("version", "\"15\"".into())];
        assert!(record.last_run(&a).unwrap().completed.is_empty());
        record.start(&a, &inputs).unwrap();
        record.complete(&a, "install").unwrap();
        record.complete(&a, "configure").unwrap();
        record.start(&b, &inputs).unwrap();
        record.complete(&b, "install").unwrap();
        assert_eq!(
            record.last_run(&a).unwrap().completed,
            ["install", "configure"]
        );
        assert_eq!(record.last_run(&b).unwrap().completed, ["install"]);
        assert!(record.path(&a).starts_with(dir.path().join("demo")));
        record.start(&a, &inputs).unwrap();
        assert!(record.last_run(&a).unwrap().completed.is_empty());
    }

    #[test]
    fn the_record_names_changed_kwargs_and_holds_no_value() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_str().unwrap().to_string();
        let env = move |name: &str| (name == "OFF_STATE_DIR").then(|| state.clone());
        let record = StepRecord::for_recipe("demo", &env).unwrap();
        let host: Target = "db1".parse().unwrap();
        let inputs: Inputs = vec![
            ("version", "\"15\"".into()),
            ("password", "\"s3cret-value\"".into()),
            ("peers", "[\"a\",\"b\"]".into()),
        ];
        record.start(&host, &inputs).unwrap();
        record.complete(&host, "install").unwrap();
        let text = fs::read_to_string(record.path(&host)).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        let mode = fs::metadata(record.path(&host))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let last = record.last_run(&host).unwrap();
        assert_eq!(last.changed_kwargs(&inputs), Some(vec![]));
        let mut changed = inputs.clone();
        changed[0].1 = "\"16\"".into();
        changed[2].1 = "[\"a\"]".into();
        assert_eq!(
            last.changed_kwargs(&changed),
            Some(vec!["version".to_string(), "peers".to_string()])
        );
        // A kwarg the recipe lost, or gained, changed too.
        assert_eq!(
            last.changed_kwargs(&inputs[..2].to_vec()),
            Some(vec!["peers".to_string()])
        );
        // A record written before inputs were recorded cannot be compared.
        fs::write(record.path(&host), "install\n").unwrap();
        let old = record.last_run(&host).unwrap();
        assert_eq!(old.completed, ["install"]);
        assert_eq!(old.changed_kwargs(&inputs), None);
    }

    #[test]
    fn state_dir_comes_from_the_environment_or_the_run_refuses() {
        let dir = |vars: &'static [(&'static str, &'static str)]| {
            let env = move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            };
            StepRecord::for_recipe("demo", &env).map(|r| r.dir)
        };
        assert_eq!(
            dir(&[("HOME", "/home/u"), ("XDG_STATE_HOME", "/x")]).unwrap(),
            PathBuf::from("/x/off/demo")
        );
        assert_eq!(
            dir(&[("HOME", "/home/u")]).unwrap(),
            PathBuf::from("/home/u/.local/state/off/demo")
        );
        assert_eq!(
            dir(&[("OFF_STATE_DIR", "/s"), ("HOME", "/home/u")]).unwrap(),
            PathBuf::from("/s/demo")
        );
        let e = dir(&[("HOME", "")]).unwrap_err();
        assert!(
            e.contains("set OFF_STATE_DIR, XDG_STATE_HOME or HOME"),
            "{e}"
        );
    }

    #[test]
    fn resumes_at_the_first_step_not_completed() {
        let names = ["install", "configure", "serve"];
        let done = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(resume_from(&[0, 1, 2], &names, &done(&[])), [0, 1, 2]);
        assert_eq!(resume_from(&[0, 1, 2], &names, &done(&["install"])), [1, 2]);
        // A step completed after a gap does not count: order matters.
        assert_eq!(
            resume_from(&[0, 1, 2], &names, &done(&["configure"])),
            [0, 1, 2]
        );
        assert_eq!(
            resume_from(&[1, 2], &names, &done(&["install", "configure"])),
            [2]
        );
        assert!(resume_from(&[0, 1, 2], &names, &done(&names)).is_empty());
    }
}
