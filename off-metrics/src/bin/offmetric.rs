//! `offmetric`: pushes what it reads on standard input to metrics servers, and passes it on.
//!
//! ```text
//! offregister_postgres -H db1 --version 15 --events - | offmetric --server influxdb://mon:8086/deploys
//! ( offregister_postgres --version 15 && offregister_python ) | offmetric --server syslog://logs
//! ```
//!
//! A line that is an off event (the NDJSON of `--events`) is pushed as that event; any other line
//! is pushed as a log line (event `log`, with its number among the plain lines).

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use off_cli::SelfDescriptionFlags;
use off_metrics::event::{Body, Event, Log};
use off_metrics::flags::parse_sink_url;
use off_metrics::pipeline::{Metrics, stderr_warn};
use off_metrics::sink::syslog::hostname;
use off_metrics::{Publisher, SinkUrl};

/// Push off's events (`--events -` of any off binary) or plain lines read on standard input to
/// syslog, InfluxDB or a Prometheus pushgateway, passing standard input on to standard output.
#[derive(Parser, Debug)]
#[command(
    name = "offmetric",
    version,
    after_help = "\
URLs: syslog://HOST[:PORT] (UDP), syslog+tcp://HOST[:PORT], syslog:///dev/log,
influxdb://HOST[:PORT]/DATABASE (credentials from INFLUX_USERNAME and INFLUX_PASSWORD),
pushgateway://HOST[:PORT]. See docs/metrics.md.

Examples:
  offregister_example -H web1 --events - | offmetric --server influxdb://mon:8086/deploys
  ( offregister_postgres --version 15 && offregister_python ) | offmetric --server syslog://logs

Exit codes: 0 standard input ended (a sink that is down is a warning, not an error);
2 bad flags or URLs."
)]
struct Args {
    /// Push to this server (repeatable)
    #[arg(long = "server", value_name = "URL", value_parser = parse_sink_url, required = true)]
    servers: Vec<SinkUrl>,
    /// The recipe plain lines are pushed under (the pushgateway's job)
    #[arg(long, value_name = "NAME", default_value = "offmetric")]
    recipe: String,
    /// Do not pass standard input on to standard output
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    describe: SelfDescriptionFlags,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.describe.print(Args::command()) {
        Ok(true) => return ExitCode::SUCCESS,
        Ok(false) => {}
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let metrics = Metrics::start(&args.servers, stderr_warn());
    // Lines are relayed as they are: what a recipe prints is redacted where it is printed.
    let publisher = Publisher::new(&args.recipe, None, metrics, Box::new(Vec::new));
    let host = hostname();
    let mut plain = 0u64;
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    let mut line = Vec::new();
    let mut input = stdin.lock();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: cannot read standard input: {e}");
                break;
            }
        }
        if !args.quiet {
            // A closed standard output (`| head`) ends the copy, not the pushing.
            let _ = stdout.write_all(&line).and_then(|()| stdout.flush());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        match serde_json::from_str::<Event>(text) {
            Ok(event) => publisher.forward(&event),
            Err(_) => {
                plain += 1;
                publisher.publish(Body::Log(Log {
                    host: host.clone(),
                    line: plain,
                    text: text.to_string(),
                }));
            }
        }
    }
    publisher.finish();
    ExitCode::SUCCESS
}
