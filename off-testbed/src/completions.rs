//! The completion scripts of off's binaries under test: each printed by the
//! binary, sourced in its shell (bash, zsh and fish, the Debian ones), and
//! asked what it offers for a command line, as a user pressing Tab would.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::deadline::output;

/// The script `cmd` prints (given its arguments up to and including
/// `--completions SHELL`), written to `dir/completions.SHELL`.
pub fn script(cmd: &mut Command, shell: &str, dir: &Path) -> PathBuf {
    let out = output(cmd);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "{cmd:?} printed no script");
    let path = dir.join(format!("completions.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// Runs `shell -c program` with `args` after it (bash and zsh: `$1`, `$2`,
/// …; fish: `$argv`), in a home of its own beside `script`; its standard
/// output. Panics when the shell fails, with what it printed.
pub fn in_shell(shell: &str, program: &str, script: &Path, args: &[&str]) -> String {
    let home = script.parent().unwrap();
    let mut cmd = Command::new(shell);
    cmd.arg("-c").arg(program);
    if shell != "fish" {
        // bash and zsh take the first argument after the program as $0.
        cmd.arg(shell);
    }
    let out = output(
        cmd.args(args)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share")),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{shell} failed on {}: {text}{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// What bash offers at the end of `line` (a trailing space starts a new
/// word) once `setup` has run and `script` is sourced: the completion
/// function registered for the line's first word, called as bash calls it.
pub fn bash_offers(script: &Path, setup: &str, line: &str) -> Vec<String> {
    let program = format!(
        r#"{setup}
source "$1" || exit 1
read -ra COMP_WORDS <<< "$2"
[[ $2 == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE=$2
COMP_POINT=${{#2}}
spec=$(complete -p "${{COMP_WORDS[0]}}") || exit 1
function=${{spec##* -F }}
function=${{function%% *}}
cur=${{COMP_WORDS[COMP_CWORD]}}
prev=${{COMP_WORDS[COMP_CWORD - 1]}}
"$function" "${{COMP_WORDS[0]}}" "$cur" "$prev"
printf '%s\n' "${{COMPREPLY[@]}}""#
    );
    words(&in_shell(
        "bash",
        &program,
        script,
        &[script.to_str().unwrap(), line],
    ))
}

/// What fish offers at the end of `line` once `script` is sourced
/// (`complete -C`), without the descriptions.
pub fn fish_offers(script: &Path, line: &str) -> Vec<String> {
    let out = in_shell(
        "fish",
        "source $argv[1]; and complete -C $argv[2]",
        script,
        &[script.to_str().unwrap(), line],
    );
    words(&out)
        .into_iter()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

/// Sources `script` in zsh after `compinit` and `setup`, and runs `check`
/// (a zsh condition or command) there; panics unless it succeeds.
pub fn zsh_check(script: &Path, setup: &str, check: &str) {
    let program =
        format!("autoload -U compinit && compinit -u && {setup} source \"$1\" && {check}");
    in_shell("zsh", &program, script, &[script.to_str().unwrap()]);
}

fn words(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The check every binary's script passes: `binary --completions SHELL`
/// prints a script that bash, zsh and fish each accept, and bash and fish
/// offer `wanted` at the end of `line` (e.g. `offcheck --inv`).
pub fn assert_each_shell_completes(binary: &Path, name: &str, line: &str, wanted: &str) {
    let dir = tempfile::tempdir().unwrap();
    let generate = |shell: &str| {
        script(
            Command::new(binary).args(["--completions", shell]),
            shell,
            dir.path(),
        )
    };
    let bash = bash_offers(&generate("bash"), "", line);
    assert!(bash.iter().any(|w| w == wanted), "bash, {line:?}: {bash:?}");
    zsh_check(&generate("zsh"), "", &format!("(( $+functions[_{name}] ))"));
    let fish = fish_offers(&generate("fish"), line);
    assert!(fish.iter().any(|w| w == wanted), "fish, {line:?}: {fish:?}");
}
