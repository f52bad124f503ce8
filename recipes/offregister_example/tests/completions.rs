//! `--completions SHELL` and `--man` of a recipe binary: each script is
//! accepted by its shell (the Debian bash, zsh and fish) and completes the
//! recipe's own flags.

use std::path::Path;
use std::process::Command;

use off_testbed::completions::assert_each_shell_completes;
use off_testbed::deadline::output;

const BIN: &str = env!("CARGO_BIN_EXE_offregister_example");

#[test]
fn completion_scripts_are_accepted_by_their_shells() {
    assert_each_shell_completes(
        Path::new(BIN),
        "offregister_example",
        "offregister_example --ro",
        "--root",
    );
}

#[test]
fn completions_of_an_unknown_shell_exit_2_naming_the_flag() {
    let out = output(Command::new(BIN).args(["--completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--completions"), "{err}");
}

#[test]
fn man_page_names_the_recipe_and_its_flags() {
    let out = output(Command::new(BIN).arg("--man"));
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH offregister_example 1"), "{page}");
    assert!(page.contains("root"), "{page}");
}
