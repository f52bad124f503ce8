//! `--metrics URL`, defined once for every binary (recipe binaries, `offcheck`, `offconsensus`).

use crate::pipeline::{Metrics, stderr_warn};
use crate::url::SinkUrl;

// A `//` comment, not a doc comment: a derived `Args`' doc comment would become the `about` of
// every command it is flattened into.
//
// Where to push the run's events.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MetricsFlags {
    /// Push every event to this server too (repeatable): syslog://HOST[:PORT] (UDP), syslog+tcp://HOST[:PORT], syslog:///dev/log, influxdb://HOST[:PORT]/DATABASE, pushgateway://HOST[:PORT]
    #[arg(long = "metrics", value_name = "URL", value_parser = parse_sink_url)]
    pub metrics: Vec<SinkUrl>,
}

impl MetricsFlags {
    /// The sinks' threads, warning on standard error.
    pub fn start(&self) -> Metrics {
        Metrics::start(&self.metrics, stderr_warn())
    }
}

/// clap's value parser: the message is clap's `invalid value '…' for '--metrics <URL>': …`.
pub fn parse_sink_url(text: &str) -> Result<SinkUrl, String> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        metrics: MetricsFlags,
    }

    fn parse(args: &[&str]) -> Result<MetricsFlags, clap::Error> {
        Cli::try_parse_from(std::iter::once("bin").chain(args.iter().copied())).map(|c| c.metrics)
    }

    #[test]
    fn repeatable_and_a_bad_url_is_a_usage_error_naming_the_flag() {
        let flags = parse(&[
            "--metrics",
            "syslog://a",
            "--metrics",
            "pushgateway://b:9091",
        ])
        .unwrap();
        assert_eq!(flags.metrics.len(), 2);
        assert!(parse(&[]).unwrap().metrics.is_empty());
        for bad in ["ftp://h", "influxdb://h:8086", "syslog://h:70000"] {
            let e = parse(&["--metrics", bad]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains("--metrics <URL>"), "{e}");
        }
    }
}
