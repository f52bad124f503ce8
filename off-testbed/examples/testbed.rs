//! Manual driver for the default testbed, independent of xtask:
//! `cargo run -p off-testbed --example testbed -- up 3 | down | status | rootfs | exec <i> <cmd>`.

use anyhow::{Context, Result, bail};
use off_testbed::TestbedConfig;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = TestbedConfig::default();
    match args.first().map(String::as_str) {
        Some("up") => {
            let n = args
                .get(1)
                .map_or(Ok(3), |s| s.parse())
                .context("host count")?;
            let inv = off_testbed::up(&config, n)?;
            println!("inventory: {}", config.inventory_path().display());
            for h in &inv.hosts {
                println!("{} {}", h.name, h.address);
            }
        }
        Some("down") => off_testbed::down(&config)?,
        Some("status") => println!("{:#?}", off_testbed::status(&config)?),
        Some("rootfs") => println!("{}", off_testbed::ensure_rootfs(&config)?.display()),
        Some("exec") => {
            let i: usize = args.get(1).context("host index")?.parse()?;
            let out = off_testbed::exec_in_host(&config, i, &args[2..].join(" "))?;
            print!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(out.status.code().unwrap_or(1));
        }
        _ => bail!("usage: testbed up [N] | down | status | rootfs | exec <i> <cmd>"),
    }
    Ok(())
}
