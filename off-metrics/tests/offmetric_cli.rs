//! The `offmetric` binary's own description: `--completions SHELL` scripts
//! its shells accept, and `--man`, neither needing a `--server`.

use std::path::Path;
use std::process::Command;

use off_testbed::deadline::output;

const BIN: &str = env!("CARGO_BIN_EXE_offmetric");

#[test]
fn completion_scripts_are_accepted_by_their_shells() {
    off_testbed::completions::assert_each_shell_completes(
        Path::new(BIN),
        "offmetric",
        "offmetric --ser",
        "--server",
    );
}

#[test]
fn man_page_names_the_binary_and_its_flags() {
    let out = output(Command::new(BIN).arg("--man"));
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH offmetric 1"), "{page}");
    assert!(page.contains("server"), "{page}");
}

#[test]
fn without_them_a_server_is_still_required() {
    let out = output(&mut Command::new(BIN));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--server <URL>"), "{err}");
}
