//! `cargo off --completions SHELL` as a user's shell meets it: `cargo off
//! <Tab>` completes off's subcommands and their flags, and every other
//! `cargo …` is left to cargo's own completion. `cargo off --man` is
//! cargo-off(1).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use off_testbed::completions::{bash_offers, fish_offers, in_shell, script, zsh_check};

/// Runs `cargo off <args>`.
fn cargo_off(args: &[&str]) -> Output {
    off_testbed::deadline::output(
        Command::new(env!("CARGO_BIN_EXE_cargo-off"))
            .arg("off")
            .args(args),
    )
}

fn completions(shell: &str, dir: &Path) -> PathBuf {
    script(
        Command::new(env!("CARGO_BIN_EXE_cargo-off")).args(["off", "--completions", shell]),
        shell,
        dir,
    )
}

fn offers(words: &[String], wanted: &[&str]) -> bool {
    wanted.iter().all(|w| words.iter().any(|o| o == w))
}

/// A stand-in for cargo's own bash completion, as rustup and the
/// distributions name it.
const CARGOS_OWN: &str = "_cargo() { COMPREPLY=(cargos-own); }; complete -F _cargo cargo";

#[test]
fn bash_completes_cargo_off_and_leaves_the_rest_of_cargo_to_cargo() {
    let dir = tempfile::tempdir().unwrap();
    let bash = completions("bash", dir.path());
    let subcommands = ["new", "plan", "gen-config"];
    for line in ["cargo off ", "cargo +stable off ", "cargo -v off "] {
        let words = bash_offers(&bash, "", line);
        assert!(offers(&words, &subcommands), "{line:?}: {words:?}");
    }
    let words = bash_offers(&bash, "", "cargo off new --pa");
    assert_eq!(words, ["--path"]);
    let words = bash_offers(
        &bash,
        "",
        "cargo off gen-config --manifest-path Cargo.toml --ch",
    );
    assert_eq!(words, ["--check"]);
    // Where cargo's completion hands `cargo off …` on (bash-completion 2.12
    // and newer), it completes `cargo-off` with the words after `cargo off`.
    let words = bash_offers(&bash, "", "cargo-off gen-config --ch");
    assert_eq!(words, ["--check"]);

    // Any other cargo command: cargo's completion, loaded before this one…
    assert_eq!(bash_offers(&bash, CARGOS_OWN, "cargo bu"), ["cargos-own"]);
    assert!(offers(
        &bash_offers(&bash, CARGOS_OWN, "cargo off "),
        &subcommands
    ));
    // … or by bash-completion the first time cargo is completed; this one
    // completes cargo again afterwards.
    for loader in ["__load_completion", "_comp_load"] {
        let program = format!(
            r#"{loader}() {{ {CARGOS_OWN}; }}
source "$1" || exit 1
COMP_WORDS=(cargo bu); COMP_CWORD=1
_cargo_off_cargo cargo bu cargo
echo "${{COMPREPLY[*]}}"
complete -p cargo"#
        );
        let out = in_shell("bash", &program, &bash, &[bash.to_str().unwrap()]);
        assert!(out.starts_with("cargos-own\n"), "{loader}: {out}");
        assert!(out.contains("-F _cargo_off_cargo"), "{loader}: {out}");
    }
    // Without any, bash's own file name completion (-o default).
    assert_eq!(bash_offers(&bash, "", "cargo bu"), Vec::<String>::new());
}

#[test]
fn zsh_defines_the_function_cargos_completion_calls_and_nothing_of_cargo() {
    let dir = tempfile::tempdir().unwrap();
    let zsh = completions("zsh", dir.path());
    zsh_check(
        &zsh,
        "_cargo() { :; }; compdef _cargo cargo;",
        "(( $+functions[_cargo-off] )) && [[ $_comps[cargo] == _cargo ]]",
    );
}

#[test]
fn fish_completes_after_cargo_off() {
    let dir = tempfile::tempdir().unwrap();
    let fish = completions("fish", dir.path());
    let words = fish_offers(&fish, "cargo off ");
    assert!(offers(&words, &["new", "plan", "gen-config"]), "{words:?}");
    let words = fish_offers(&fish, "cargo off gen-config --ch");
    assert!(offers(&words, &["--check"]), "{words:?}");
    let words = fish_offers(&fish, "cargo off plan --manifest-");
    assert!(offers(&words, &["--manifest-path"]), "{words:?}");
}

#[test]
fn describing_itself_stands_alone_and_a_bare_cargo_off_still_shows_the_help() {
    let out = cargo_off(&["--completions", "bash", "plan"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cargo_off(&[]);
    assert_eq!(out.status.code(), Some(2));
    let help = String::from_utf8_lossy(&out.stderr);
    for wanted in ["new", "plan", "gen-config", "--completions <SHELL>"] {
        assert!(help.contains(wanted), "{wanted}: {help}");
    }
    assert!(!help.contains("--man"), "{help}");
}

#[test]
fn man_page_is_cargo_off_1() {
    let out = cargo_off(&["--man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH cargo-off 1"), "{page}");
    assert!(page.contains("gen\\-config"), "{page}");
}
