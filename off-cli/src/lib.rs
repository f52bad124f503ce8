//! Flags every off binary shares that need nothing but clap, each defined
//! once with its help text and flattened into every command line. (The
//! flags that reach hosts, `-H`, `-i`, `--parallel`, live with the
//! transport, in `off_transport::flags`.)

use std::io::Write;

use clap::Command;

pub use clap_complete::Shell;

// A binary describing itself, for shells and packagers. (A `//` comment: a
// derived `Args`' doc comment would become the `about` of its command.)
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SelfDescriptionFlags {
    /// Print a completion script for SHELL and exit (bash: `source <(BIN --completions bash)`)
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub completions: Option<Shell>,
    /// Print this binary's man page (roff) and exit
    #[arg(long, exclusive = true, hide = true)]
    pub man: bool,
}

impl SelfDescriptionFlags {
    /// Writes what was asked for of `cmd` to standard output; `false` when
    /// nothing was asked, and the binary goes on with its work. The error is
    /// the message the binary reports (exit 1) when standard output fails.
    pub fn print(&self, cmd: Command) -> Result<bool, String> {
        let text = if let Some(shell) = self.completions {
            let name = cmd.get_name().to_string();
            completion_script(shell, cmd, &name)
        } else if self.man {
            man_page(cmd).map_err(|e| format!("cannot render the man page: {e}"))?
        } else {
            return Ok(false);
        };
        print_bytes(&text)?;
        Ok(true)
    }
}

/// Writes `text` to standard output; the error as [`SelfDescriptionFlags::print`]'s.
pub fn print_bytes(text: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(text)
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to standard output: {e}"))
}

/// The script that teaches `shell` to complete the command `bin_name` as
/// `cmd` parses it.
pub fn completion_script(shell: Shell, mut cmd: Command, bin_name: &str) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, bin_name, &mut script);
    script
}

/// The man page (roff) of `cmd`: its name, synopsis, about, options and
/// subcommands, as its `--help` lists them.
pub fn man_page(cmd: Command) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// A binary with a required flag, as most have.
    #[derive(Parser, Debug)]
    #[command(name = "tool", about = "the tool's own about")]
    struct Cli {
        #[arg(long, required = true)]
        target: Option<String>,
        #[command(flatten)]
        describe: SelfDescriptionFlags,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tool").chain(args.iter().copied()))
    }

    #[test]
    fn completions_and_man_need_none_of_the_required_flags() {
        let cli = parse(&["--completions", "zsh"]).unwrap();
        assert_eq!(cli.describe.completions, Some(Shell::Zsh));
        assert!(parse(&["--man"]).unwrap().describe.man);
        let plain = parse(&["--target", "x"]).unwrap();
        assert!(plain.describe.completions.is_none() && !plain.describe.man);
        assert_eq!(parse(&[]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn completions_and_man_stand_alone() {
        for args in [
            &["--completions", "bash", "--target", "x"][..],
            &["--man", "--target", "x"],
            &["--man", "--completions", "fish"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}"
            );
        }
        let e = parse(&["--completions", "tcsh"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--completions"), "{e}");
    }

    #[test]
    fn help_lists_completions_not_man_and_keeps_the_about() {
        let help = Cli::command().render_help().to_string();
        assert!(help.starts_with("the tool's own about"), "{help}");
        assert!(help.contains("--completions <SHELL>"), "{help}");
        assert!(help.contains("[possible values: bash,"), "{help}");
        assert!(!help.contains("--man"), "{help}");
    }

    #[test]
    fn scripts_complete_the_name_they_are_given() {
        let bash = completion_script(Shell::Bash, Cli::command(), "tool");
        let bash = String::from_utf8(bash).unwrap();
        assert!(bash.contains("complete -F _tool"), "{bash}");
        assert!(bash.contains("--target"), "{bash}");
        let fish = completion_script(Shell::Fish, Cli::command(), "other-name");
        let fish = String::from_utf8(fish).unwrap();
        assert!(fish.contains("complete -c other-name -l target"), "{fish}");
    }

    #[test]
    fn man_page_is_titled_by_the_command_and_lists_its_flags() {
        let page = String::from_utf8(man_page(Cli::command()).unwrap()).unwrap();
        assert!(page.contains(".TH tool 1"), "{page}");
        assert!(page.contains("own about"), "{page}");
        assert!(page.contains("target"), "{page}");
    }
}
