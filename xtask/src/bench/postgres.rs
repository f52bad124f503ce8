//! `cargo xtask bench postgres`: what the recipe costs over doing it by hand.
//!
//! 1. A single-node deploy of `offregister_postgres` on a fresh test host (15)
//!    against a plain shell script issuing the same commands over one ssh
//!    session, on the same host reset again: the ratio of the fastest of
//!    `--rounds` runs of each is the recipe's overhead (target ≤ 1.2).
//! 2. The time from three fresh hosts (11–13) until both replicas stream from
//!    the primary (primary first, then the replicas in parallel), printed with
//!    its ratio to the hand-written single-node floor.
//!
//! Every host is reset to a fresh root first, so both sides install the
//! packages from the hosts' local repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use off_testbed::{Inventory, TestbedConfig, reset_host};

use super::report_ratio;

const SINGLE: usize = 15;
const PRIMARY: usize = 11;
const REPLICAS: [usize; 2] = [12, 13];
/// The recipe may take this much longer than the script.
const TARGET_RATIO: f64 = 1.2;

/// What the single-node runs set up: one user with a database.
const CONFIG: &str = "version: 15\n\
    listen_addresses: '*'\n\
    allowed_networks: [10.250.0.0/24]\n\
    replication_password: bench-repl-pw\n\
    users:\n\
    - {user: app, password: bench-app-pw, dbname: appdb}\n";

/// The same commands, by hand, in one ssh session: what an operator would
/// paste. The configuration files are written by heredocs of the same size
/// as the recipe's templates would be were they rendered.
const SCRIPT: &str = r#"set -eu
export DEBIAN_FRONTEND=noninteractive
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/offregister.conf
apt-get update -qq
apt-get install -y -q postgresql-15 postgresql-client-15 >/dev/null
pg_createcluster 15 main >/dev/null
cat > /etc/postgresql/15/main/conf.d/bench.conf <<'EOF'
listen_addresses = '*'
port = 5432
max_connections = 100
shared_buffers = '128MB'
password_encryption = scram-sha-256
wal_level = replica
max_wal_senders = 10
EOF
cat >> /etc/postgresql/15/main/pg_hba.conf <<'EOF'
host    all          all          10.250.0.0/24    scram-sha-256
EOF
service postgresql start
i=0; until pg_isready -q -p 5432; do i=$((i+1)); [ $i -ge 60 ] && exit 1; sleep 0.5; done
cd /var/lib/postgresql
su postgres -c 'psql -X -q -v ON_ERROR_STOP=1 -d postgres' <<'SQL'
DO $off$BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'app') THEN CREATE ROLE "app"; END IF; END$off$;
ALTER ROLE "app" WITH LOGIN NOSUPERUSER PASSWORD 'bench-app-pw';
SELECT 'CREATE DATABASE "appdb" OWNER "app"' WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'appdb') \gexec
SQL
"#;

#[derive(clap::Args)]
pub struct PostgresArgs {
    /// Single-node rounds (script then recipe, each on a fresh host); the
    /// fastest of each side counts, the machine being shared and noisy
    #[arg(long, default_value_t = 3)]
    rounds: u32,
}

pub fn exec(args: PostgresArgs) -> Result<()> {
    let inventory = Inventory::load()?;
    for host in [SINGLE, PRIMARY, REPLICAS[0], REPLICAS[1]] {
        inventory.host(host)?;
    }
    let work = std::env::temp_dir().join(format!("off-bench-postgres-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let binary = build_recipe()?;
    let ssh_config = work.join("ssh_config");
    std::fs::write(
        &ssh_config,
        format!(
            "Host *\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
            inventory.known_hosts.display()
        ),
    )?;
    let config = work.join("db.yaml");
    std::fs::write(&config, CONFIG)?;
    let run = Runner {
        inventory: &inventory,
        binary: &binary,
        ssh_config: &ssh_config,
        config: &config,
    };

    let (mut script, mut recipe) = (Duration::MAX, Duration::MAX);
    for round in 1..=args.rounds.max(1) {
        // Alternate which side goes first, so neither always meets a
        // machine warmed (or loaded) by the other.
        let script_run = || -> Result<Duration> {
            fresh(SINGLE)?;
            run.script(SINGLE)
        };
        let (s, r) = if round % 2 == 1 {
            let s = script_run()?;
            fresh(SINGLE)?;
            (s, run.recipe(SINGLE, &[])?)
        } else {
            fresh(SINGLE)?;
            let r = run.recipe(SINGLE, &[])?;
            (script_run()?, r)
        };
        println!(
            "round {round}: script {:.3} s, recipe {:.3} s",
            s.as_secs_f64(),
            r.as_secs_f64()
        );
        script = script.min(s);
        recipe = recipe.min(r);
    }
    report_ratio(
        "single-node deploy, recipe vs shell script over one ssh session",
        recipe.as_secs_f64(),
        script.as_secs_f64(),
        &format!("<= {TARGET_RATIO}x"),
        recipe.as_secs_f64() <= TARGET_RATIO * script.as_secs_f64(),
    );

    for host in [PRIMARY, REPLICAS[0], REPLICAS[1]] {
        fresh(host)?;
    }
    let start = Instant::now();
    run.recipe(PRIMARY, &["--role", "primary"])?;
    let primary = &inventory.host(PRIMARY)?.address;
    let replicas =
        REPLICAS.map(|h| run.spawn(h, &["--role", "replica", "--primary-host", primary]));
    for (host, child) in REPLICAS.into_iter().zip(replicas) {
        let out = child?.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "the replica on host {host} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let cluster = start.elapsed();
    println!(
        "three-node cluster streaming: {:.3} s ({:.2}x the hand-written single node)",
        cluster.as_secs_f64(),
        cluster.as_secs_f64() / script.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn fresh(host: usize) -> Result<()> {
    reset_host(&TestbedConfig::default(), host).with_context(|| format!("cannot reset host {host}"))
}

/// Builds the recipe in release mode and returns its path.
fn build_recipe() -> Result<PathBuf> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "-p",
            "offregister_postgres",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo build")?;
    if !out.status.success() {
        bail!("cargo build -p offregister_postgres failed");
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .find(|p| p.file_name().is_some_and(|n| n == "offregister_postgres"))
        .context("cargo build did not report the offregister_postgres binary")
}

struct Runner<'a> {
    inventory: &'a Inventory,
    binary: &'a Path,
    ssh_config: &'a Path,
    config: &'a Path,
}

impl Runner<'_> {
    fn command(&self, host: usize, extra: &[&str]) -> Result<Command> {
        let address = &self.inventory.host(host)?.address;
        let mut cmd = Command::new(self.binary);
        cmd.args(["-H", &format!("root@{address}"), "-i"])
            .arg(&self.inventory.key)
            .arg("--ssh-config")
            .arg(self.ssh_config)
            .arg("-c")
            .arg(self.config)
            .args(["-q", "--progress", "none"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Ok(cmd)
    }

    fn spawn(&self, host: usize, extra: &[&str]) -> Result<std::process::Child> {
        Ok(self.command(host, extra)?.spawn()?)
    }

    /// Wall time of one run of the recipe.
    fn recipe(&self, host: usize, extra: &[&str]) -> Result<Duration> {
        let start = Instant::now();
        let out = self.command(host, extra)?.output()?;
        let took = start.elapsed();
        if !out.status.success() {
            bail!(
                "offregister_postgres on host {host} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(took)
    }

    /// Wall time of [`SCRIPT`] over one ssh session.
    fn script(&self, host: usize) -> Result<Duration> {
        let address = &self.inventory.host(host)?.address;
        let start = Instant::now();
        let mut child = Command::new("ssh")
            .arg("-F")
            .arg(self.ssh_config)
            .arg("-i")
            .arg(&self.inventory.key)
            .arg(format!("root@{address}"))
            .arg("sh -s")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run ssh")?;
        use std::io::Write;
        child.stdin.take().unwrap().write_all(SCRIPT.as_bytes())?;
        let out = child.wait_with_output()?;
        let took = start.elapsed();
        if !out.status.success() {
            bail!(
                "the shell script on host {host} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(took)
    }
}
