//! `--color auto|always|never` and `NO_COLOR` (<https://no-color.org>): whether
//! the bars and the summary are colored, and clap's help and errors.

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set (to anything but empty).
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    pub(crate) fn parse(text: &str) -> ColorWhen {
        match text {
            "always" => ColorWhen::Always,
            "never" => ColorWhen::Never,
            _ => ColorWhen::Auto,
        }
    }

    /// Whether output to a terminal (or not) is colored, with `env` the
    /// environment.
    pub(crate) fn enabled(self, is_terminal: bool, env: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                is_terminal
                    && env("NO_COLOR").is_none_or(|v| v.is_empty())
                    && env("TERM").as_deref() != Some("dumb")
            }
        }
    }

    /// The same choice for clap (whose `Auto` reads `NO_COLOR` itself).
    pub(crate) fn clap(self) -> clap::ColorChoice {
        match self {
            ColorWhen::Auto => clap::ColorChoice::Auto,
            ColorWhen::Always => clap::ColorChoice::Always,
            ColorWhen::Never => clap::ColorChoice::Never,
        }
    }
}

/// The `--color` value of `argv`, read before clap parses it, since clap
/// colors its own help and errors with it.
pub(crate) fn from_argv(argv: &[std::ffi::OsString]) -> ColorWhen {
    let mut when = ColorWhen::Auto;
    let mut args = argv.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if let Some(value) = arg.strip_prefix("--color=") {
            when = ColorWhen::parse(value);
        } else if arg == "--color"
            && let Some(value) = args.next()
        {
            when = ColorWhen::parse(&value);
        }
    }
    when
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// The run's summary with its heading bold and each host's status green
/// (`ok`) or red (`FAILED (exit 3)`); unchanged when `color` is off.
pub(crate) fn paint_summary(summary: &str, color: bool) -> String {
    if !color {
        return summary.to_string();
    }
    let mut out = Vec::new();
    for line in summary.lines() {
        if line == "Summary:" {
            out.push(format!("{BOLD}{line}{RESET}"));
            continue;
        }
        // `  <label>  <status>  …`: the status follows the first gap after the label.
        let painted = line.strip_prefix("  ").and_then(|rest| {
            let gap = rest.find("  ")?;
            let (label, after) = rest.split_at(gap);
            let spaces = after.len() - after.trim_start().len();
            let (gap, status) = after.split_at(spaces);
            let (word, color) = if status.starts_with("ok ") {
                ("ok", GREEN)
            } else if status.starts_with("FAILED") {
                (&status[..status.find(')').map_or(6, |i| i + 1)], RED)
            } else {
                return None;
            };
            let tail = &status[word.len()..];
            Some(format!("  {label}{gap}{color}{word}{RESET}{tail}"))
        });
        out.push(painted.unwrap_or_else(|| line.to_string()));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_means_a_terminal_without_no_color() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(ColorWhen::Auto.enabled(true, &env(&[])));
        assert!(!ColorWhen::Auto.enabled(false, &env(&[])));
        assert!(!ColorWhen::Auto.enabled(true, &env(&[("NO_COLOR", "1")])));
        assert!(ColorWhen::Auto.enabled(true, &env(&[("NO_COLOR", "")])));
        assert!(!ColorWhen::Auto.enabled(true, &env(&[("TERM", "dumb")])));
        assert!(ColorWhen::Always.enabled(false, &env(&[("NO_COLOR", "1")])));
        assert!(!ColorWhen::Never.enabled(true, &env(&[])));
    }

    #[test]
    fn the_flag_is_read_from_argv_before_clap() {
        let argv = |args: &[&str]| args.iter().map(Into::into).collect::<Vec<_>>();
        assert_eq!(from_argv(&argv(&["x"])), ColorWhen::Auto);
        assert_eq!(
            from_argv(&argv(&["x", "--color", "never"])),
            ColorWhen::Never
        );
        assert_eq!(
            from_argv(&argv(&["x", "--color=always", "-q"])),
            ColorWhen::Always
        );
        assert_eq!(
            from_argv(&argv(&["x", "--", "--color=never"])),
            ColorWhen::Auto
        );
    }

    #[test]
    fn the_summary_s_statuses_are_painted() {
        let summary = "Summary:\n  root@a  ok               2 ok, 1 changed, 0 failed  0.1s\n  \
                       root@b  FAILED (exit 3)  0 ok, 0 changed, 1 failed  0.2s\n          \
                       [root@b] cannot connect";
        assert_eq!(paint_summary(summary, false), summary);
        assert_eq!(
            paint_summary(summary, true),
            "\x1b[1mSummary:\x1b[0m\n  root@a  \x1b[32mok\x1b[0m               2 ok, 1 changed, 0 failed  0.1s\n  \
             root@b  \x1b[31mFAILED (exit 3)\x1b[0m  0 ok, 0 changed, 1 failed  0.2s\n          \
             [root@b] cannot connect"
        );
    }
}
