//! Gathers a few facts from each target: a small, runnable use of the
//! operations API before any recipe macro.
//!
//! ```text
//! cargo run -p off-runtime --example facts                      # this machine
//! cargo run -p off-runtime --example facts -- -H root@db1,db2   # over SSH
//! ```

use clap::Parser;
use off_runtime::prelude::*;
use off_runtime::transport::SshOptions;

#[derive(Parser)]
struct Args {
    /// Hosts as `user@host:port`, comma-separated; none means this machine.
    #[arg(short = 'H', long = "hosts", value_delimiter = ',')]
    hosts: Vec<Target>,
    /// Private key to authenticate with.
    #[arg(short = 'i')]
    identity: Option<std::path::PathBuf>,
    /// How many hosts to work on at once.
    #[arg(long, default_value_t = 10)]
    parallel: usize,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let report = Executor::new(args.hosts)
        .parallel(args.parallel)
        .ssh_options(SshOptions {
            identity: args.identity,
            ..SshOptions::default()
        })
        .run(|| {
            run("uname -sr")?;
            let os = run(". /etc/os-release && echo \"$PRETTY_NAME\"")?;
            let _quiet = settings(Settings::new().quiet(true));
            let has_pg = exists("/usr/lib/postgresql")?;
            println!(
                "[{}] {} (PostgreSQL installed: {has_pg})",
                current_host(),
                os.text()
            );
            Ok(())
        });
    print!("{}", report.summary());
    report.exit_code().into()
}
