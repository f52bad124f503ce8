//! The check flags that `offcheck` and a recipe binary's `--check` share,
//! each defined once with its help text and flattened into both command lines.

use std::time::Duration;

use crate::{ReportFormat, Retry, parse_duration};

// A `//` comment, not a doc comment: a derived `Args`' doc comment would
// become the `about` of every command it is flattened into.
//
// How to report a check, and whether to re-check until it passes.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckRunFlags {
    /// Report format of the check
    #[arg(long, value_name = "FORMAT", default_value = "yaml", value_parser = ["yaml", "json", "junit", "tap"])]
    pub format: String,
    /// Re-check until every item passes, for at most this long (30s, 2m, …)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_timeout: Option<Duration>,
    /// Pause between re-checks
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s", requires = "retry_timeout")]
    pub sleep: Duration,
}

impl CheckRunFlags {
    pub fn report_format(&self) -> ReportFormat {
        self.format.parse().expect("clap checked the format")
    }

    /// The retry loop `--retry-timeout` asks for, if any.
    pub fn retry(&self) -> Option<Retry> {
        self.retry_timeout.map(|timeout| Retry {
            timeout,
            sleep: self.sleep,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        check: CheckRunFlags,
    }

    fn parse(args: &[&str]) -> Result<CheckRunFlags, clap::Error> {
        Cli::try_parse_from(std::iter::once("bin").chain(args.iter().copied())).map(|c| c.check)
    }

    #[test]
    fn defaults_are_a_yaml_report_checked_once() {
        let flags = parse(&[]).unwrap();
        assert_eq!(flags.report_format(), ReportFormat::Yaml);
        assert_eq!(flags.retry(), None);
    }

    #[test]
    fn retry_timeout_and_sleep_make_the_retry_loop() {
        let flags = parse(&[
            "--format",
            "junit",
            "--retry-timeout",
            "2m",
            "--sleep",
            "5s",
        ])
        .unwrap();
        assert_eq!(flags.report_format(), ReportFormat::Junit);
        assert_eq!(
            flags.retry(),
            Some(Retry {
                timeout: Duration::from_secs(120),
                sleep: Duration::from_secs(5)
            })
        );
        let default_sleep = parse(&["--retry-timeout", "30s"]).unwrap().retry().unwrap();
        assert_eq!(default_sleep.sleep, Duration::from_secs(1));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let format = parse(&["--format", "xml"]).unwrap_err();
        assert_eq!(format.exit_code(), 2);
        assert!(
            format
                .to_string()
                .contains("possible values: yaml, json, junit, tap")
        );
        assert!(parse(&["--retry-timeout", "soon"]).is_err());
        let sleep_alone = parse(&["--sleep", "5s"]).unwrap_err().to_string();
        assert!(sleep_alone.contains("--retry-timeout"), "{sleep_alone}");
    }
}
