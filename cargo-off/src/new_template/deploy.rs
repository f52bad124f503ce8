//! Runs the recipe's binary as a user would: a dry run, then a deploy to
//! this machine into a temporary directory.

use std::path::PathBuf;
use std::process::{Command, Output};

fn recipe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_{{name}}"))
        .args(args)
        // --resume's records go beside the test, not into the user's state.
        .env("OFF_STATE_DIR", scratch("state"))
        .output()
        .expect("the recipe's binary runs")
}

/// A fresh directory for this test run.
fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{{name}}-test-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn dry_run_prints_the_commands_and_changes_nothing() {
    let root = scratch("dry-run");
    let out = recipe(&["--root", root.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("mkdir -p"), "{}", text(&out));
    assert!(!root.exists(), "a dry run created {}", root.display());
}

#[test]
fn deploys_to_this_machine() {
    let root = scratch("deploy");
    let out = recipe(&["--root", root.to_str().unwrap(), "--who", "tests", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let greeting = std::fs::read_to_string(root.join("greeting")).unwrap();
    assert!(greeting.starts_with("Hello, tests, from "), "{greeting}");
    std::fs::remove_dir_all(&root).unwrap();
}
