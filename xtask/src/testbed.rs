//! `cargo xtask testbed up | down | status`: the isolated test hosts of the end-to-end tests.
//! All logic lives in the `off-testbed` crate; this is only the command line.

use anyhow::Result;
use off_testbed::TestbedConfig;

#[derive(Debug, clap::Subcommand)]
pub enum TestbedCommand {
    /// Bring up (or restart) the test hosts and write their inventory. Needs root.
    Up {
        /// Number of hosts.
        #[arg(long, default_value_t = 8)]
        hosts: usize,
    },
    /// Remove the test hosts, their network and their inventory. Needs root.
    Down,
    /// Show which test hosts are running.
    Status,
}

pub fn exec(cmd: TestbedCommand) -> Result<()> {
    let config = TestbedConfig::default();
    match cmd {
        TestbedCommand::Up { hosts } => {
            let inventory = off_testbed::up(&config, hosts)?;
            println!("inventory: {}", config.inventory_path().display());
            for h in &inventory.hosts {
                println!("  {:<12} {}:{}", h.name, h.address, h.port);
            }
            println!(
                "ssh -i {} -o UserKnownHostsFile={} root@{}",
                inventory.key.display(),
                inventory.known_hosts.display(),
                inventory.hosts[0].address
            );
        }
        TestbedCommand::Down => {
            off_testbed::down(&config)?;
            println!("testbed down");
        }
        TestbedCommand::Status => {
            let status = off_testbed::status(&config)?;
            if status.hosts.is_empty() && !status.bridge_up {
                println!("testbed down (start it with `cargo xtask testbed up`)");
                return Ok(());
            }
            println!(
                "bridge {}: {}",
                config.bridge,
                if status.bridge_up { "up" } else { "missing" }
            );
            for h in &status.hosts {
                let state = match (&h.pid1, &h.ssh_banner) {
                    (Some(_), Some(banner)) => format!("up ({banner})"),
                    (Some(_), None) => "running, ssh not answering".to_owned(),
                    (None, _) => "namespace left without processes".to_owned(),
                };
                println!("  {:<12} {:<15} {state}", h.name, h.address);
            }
            match &status.inventory {
                Some(p) => println!("inventory: {}", p.display()),
                None => println!("no inventory (run `cargo xtask testbed up`)"),
            }
        }
    }
    Ok(())
}
