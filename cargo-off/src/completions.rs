//! `cargo off --completions SHELL` and `cargo off --man`.
//!
//! A user types `cargo off …`, and the shell completes `cargo`: a script
//! for a command `cargo` would replace cargo's own completion. So the script
//! completes the words after `cargo off` (the tree of `new`, `plan`,
//! `gen-config`) and joins cargo's completion where it takes plugins:
//!
//! - zsh: cargo's `_cargo` calls `_cargo-off` for `cargo off …`; the script
//!   defines it.
//! - bash: cargo's completion hands `cargo off …` to the completion of the
//!   command `cargo-off` only with bash-completion 2.12 or newer. The script
//!   registers that one, and also completes `cargo` itself: `cargo off …`
//!   there, and any other `cargo …` passed on to cargo's own completion.
//! - fish: cargo's completion has no such hook; the script adds to it
//!   completions that apply after `cargo off` only.

use clap::{Command, CommandFactory};
use off_cli::{SelfDescriptionFlags, Shell, completion_script, print_bytes};
use off_error::CliError;

use crate::Cargo;

/// `cargo off` without a subcommand: what `--completions` or `--man` asked for.
pub fn describe(flags: &SelfDescriptionFlags) -> Result<(), CliError> {
    if let Some(shell) = flags.completions {
        return print_bytes(&script(shell)).map_err(CliError::failed);
    }
    if flags.print(man_command()).map_err(CliError::failed)? {
        return Ok(());
    }
    // clap prints the help for a bare `cargo off`; nothing else gets here.
    Err(CliError::usage(
        "a subcommand is required: new, plan or gen-config",
    ))
}

/// `cargo off`'s own command: what cargo runs as `cargo-off off …`.
fn off_command() -> Command {
    Cargo::command()
        .find_subcommand("off")
        .expect("cargo off is a subcommand of cargo")
        .clone()
}

/// The page is cargo-off(1), as cargo's own are cargo-build(1), of `cargo off`.
fn man_command() -> Command {
    off_command().name("cargo-off").bin_name("cargo off")
}

/// The completion script of `cargo off` for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    match shell {
        Shell::Bash => bash(),
        Shell::Fish => fish(),
        _ => completion_script(shell, off_command(), "cargo-off"),
    }
}

/// bash: the completion of `cargo-off`, and [`BASH_CARGO`].
fn bash() -> Vec<u8> {
    // clap's bash script completes nothing below the top level of a name
    // with a `-` (clap-rs/clap#6421): generated as `cargo_off`, registered
    // for `cargo-off` (the function reads the command's name from bash).
    let script = completion_script(Shell::Bash, off_command(), "cargo_off");
    let script = String::from_utf8(script).expect("clap writes UTF-8");
    let script = script.replace("-o default cargo_off\n", "-o default cargo-off\n");
    [script.as_bytes(), BASH_CARGO.as_bytes()].concat()
}

/// bash: `cargo off …` completed as `cargo-off …` by clap's `_cargo_off`;
/// any other `cargo …` by cargo's own completion, the `_cargo` of rustup
/// and of the distributions.
const BASH_CARGO: &str = r#"
_cargo_off_cargo() {
    local i=1
    while (( i < COMP_CWORD )) && [[ ${COMP_WORDS[i]} == [-+]* ]]; do
        (( i++ ))
    done
    if (( i < COMP_CWORD )) && [[ ${COMP_WORDS[i]} == off ]]; then
        local -a words=(cargo-off "${COMP_WORDS[@]:i+1}")
        local COMP_CWORD=$(( COMP_CWORD - i ))
        local -a COMP_WORDS=("${words[@]}")
        _cargo_off cargo-off "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        return
    fi
    # bash-completion loads cargo's completion the first time cargo is
    # completed, unless cargo has one already, as it has this one: load it
    # here, then take cargo back.
    if ! declare -F _cargo >/dev/null; then
        if declare -F _comp_load >/dev/null; then
            _comp_load -- cargo
        elif declare -F __load_completion >/dev/null; then
            __load_completion cargo
        fi
        complete -F _cargo_off_cargo -o bashdefault -o default cargo
    fi
    if declare -F _cargo >/dev/null; then
        _cargo "$@"
    fi
}
complete -F _cargo_off_cargo -o bashdefault -o default cargo
"#;

/// fish: the completions of `cargo`'s own tree, kept to those after
/// `cargo off` (cargo's completion lists `off` among the installed
/// subcommands already). Generated under the name `cargo-off` so that the
/// helper functions are this script's own.
fn fish() -> Vec<u8> {
    let all = completion_script(Shell::Fish, Cargo::command(), "cargo-off");
    let all = String::from_utf8(all).expect("clap writes UTF-8");
    let mut script = String::new();
    // A statement's value may go on over several lines (a flag's values).
    let mut keep = true;
    for line in all.lines() {
        if let Some(rest) = line.strip_prefix("complete -c cargo-off ") {
            // Not those of `cargo` and `cargo help`: cargo's own.
            keep = rest.contains("__fish_cargo_off_using_subcommand off");
            if keep {
                script.push_str(&format!("complete -c cargo {rest}\n"));
            }
        } else if keep {
            script.push_str(&format!("{line}\n"));
        }
    }
    script.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(shell: Shell) -> String {
        String::from_utf8(script(shell)).unwrap()
    }

    #[test]
    fn bash_completes_cargo_off_and_passes_the_rest_of_cargo_on() {
        let bash = text(Shell::Bash);
        // The name BASH_CARGO calls, registered for the command cargo runs.
        assert!(bash.starts_with("_cargo_off() {"), "{bash}");
        assert_eq!(bash.matches(" _cargo_off -o ").count(), 2, "{bash}");
        assert_eq!(bash.matches("-o default cargo-off\n").count(), 2, "{bash}");
        assert!(bash.ends_with("complete -F _cargo_off_cargo -o bashdefault -o default cargo\n"));
        assert!(bash.contains("gen-config"), "{bash}");
    }

    #[test]
    fn zsh_defines_the_function_cargo_calls_for_its_plugins() {
        let zsh = text(Shell::Zsh);
        assert!(zsh.starts_with("#compdef cargo-off\n"), "{zsh}");
        assert!(zsh.contains("_cargo-off() {"), "{zsh}");
        assert!(!zsh.contains("_cargo() {"), "{zsh}");
    }

    #[test]
    fn fish_completes_only_after_cargo_off() {
        let fish = text(Shell::Fish);
        let completions: Vec<&str> = fish.lines().filter(|l| l.starts_with("complete")).collect();
        assert!(!completions.is_empty());
        for line in completions {
            assert!(line.starts_with("complete -c cargo "), "{line}");
            assert!(
                line.contains("__fish_cargo_off_using_subcommand off"),
                "{line}"
            );
        }
        assert!(fish.contains("-l manifest-path"), "{fish}");
    }

    #[test]
    fn man_page_is_cargo_off_1() {
        let page = String::from_utf8(off_cli::man_page(man_command()).unwrap()).unwrap();
        assert!(page.contains(".TH cargo-off 1"), "{page}");
        assert!(page.contains(r"\fBcargo off\fR"), "{page}");
        assert!(page.contains(r"gen\-config"), "{page}");
        assert!(
            page.contains(concat!("\"cargo-off ", env!("CARGO_PKG_VERSION"))),
            "{page}"
        );
    }
}
