//! `--resume`: which steps completed on each host in the last run, kept on
//! the control machine.
//!
//! One small text file per recipe and host, one completed step per line,
//! under `$OFF_STATE_DIR`, else `$XDG_STATE_HOME/off`, else
//! `~/.local/state/off`; with none of these variables set, a run refuses to
//! start (a shared fallback such as `/tmp` would let other users plant or
//! read the records). A run without `--resume` starts the record afresh;
//! a run with it skips the steps recorded and appends the ones it completes.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::target::Target;

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

    /// The steps completed on `target` in the last run (none when there
    /// is no record).
    pub(crate) fn completed(&self, target: &Target) -> io::Result<Vec<String>> {
        match fs::read_to_string(self.path(target)) {
            Ok(text) => Ok(text.lines().map(str::to_string).collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Forgets `target`'s completed steps: a new run starts.
    pub(crate) fn reset(&self, target: &Target) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        fs::write(self.path(target), "")
    }

    /// Records that `step` completed on `target`.
    pub(crate) fn complete(&self, target: &Target, step: &str) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(target))?;
        // One write per line, so a crash leaves whole lines only.
        file.write_all(format!("{step}\n").as_bytes())?;
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
        assert!(record.completed(&a).unwrap().is_empty());
        record.reset(&a).unwrap();
        record.complete(&a, "install").unwrap();
        record.complete(&a, "configure").unwrap();
        record.complete(&b, "install").unwrap();
        assert_eq!(record.completed(&a).unwrap(), ["install", "configure"]);
        assert_eq!(record.completed(&b).unwrap(), ["install"]);
        assert!(record.path(&a).starts_with(dir.path().join("demo")));
        record.reset(&a).unwrap();
        assert!(record.completed(&a).unwrap().is_empty());
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
