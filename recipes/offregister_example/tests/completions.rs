//! `--completions SHELL` and `--man` of a recipe binary: each script is
//! accepted by its shell (the Debian bash, zsh and fish) and completes the
//! recipe's own flags.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_offregister_example");

/// The script `--completions shell` prints, written to a file.
fn script(shell: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let out = Command::new(BIN)
        .args(["--completions", shell])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join(format!("completions.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// Runs `shell -c program` with the script as `$1`; its stdout.
fn in_shell(shell: &str, program: &str, script: &std::path::Path) -> String {
    let out = Command::new(shell)
        .args(["-c", program, "completions"])
        .arg(script)
        .env("HOME", script.parent().unwrap())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shell}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{shell} refused the script: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn completion_scripts_are_accepted_by_their_shells() {
    let dir = tempfile::tempdir().unwrap();
    let bash = script("bash", dir.path());
    let registered = in_shell(
        "bash",
        r#"source "$1" && complete -p offregister_example"#,
        &bash,
    );
    assert!(registered.contains("offregister_example"), "{registered}");
    assert!(std::fs::read_to_string(&bash).unwrap().contains("--root"));

    let zsh = script("zsh", dir.path());
    in_shell(
        "zsh",
        r#"autoload -U compinit && compinit -u && source "$1" && (( $+functions[_offregister_example] ))"#,
        &zsh,
    );

    let fish = script("fish", dir.path());
    let completed = in_shell(
        "fish",
        r#"source $argv[-1]; complete -C 'offregister_example --ro'"#,
        &fish,
    );
    assert!(completed.contains("--root"), "{completed}");
}

#[test]
fn completions_of_an_unknown_shell_exit_2_naming_the_flag() {
    let out = Command::new(BIN)
        .args(["--completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--completions"), "{err}");
}

#[test]
fn man_page_names_the_recipe_and_its_flags() {
    let out = Command::new(BIN).arg("--man").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH offregister_example 1"), "{page}");
    assert!(page.contains("root"), "{page}");
}
