//! Deploys PostgreSQL from Debian's packages: one server, or a primary and
//! replicas kept current by streaming replication.
//!
//! ```text
//! offregister_postgres --version 15                       # this machine
//! offregister_postgres -c db.yaml -H root@db1             # users from db.yaml
//! offregister_postgres -c cluster.yaml -H root@db1 --role primary
//! offregister_postgres -c cluster.yaml -H root@db2,root@db3 --role replica --primary-host db1
//! # or, on each of three fresh machines, with nobody choosing the roles:
//! offregister_postgres -c cluster.yaml --serve db1:8426 --discovery-file peers.json
//! ```
//!
//! The steps run in order: `install` the packages, `configure` the cluster
//! (created only if absent; a replica starts as a copy of its primary),
//! `serve` it, `setup_users`, and join the replication `cluster`. Running
//! the recipe again changes only what differs.

// Steps take their kwargs as parameters; a deployment has many settings.
#![allow(clippy::too_many_arguments)]

mod config;
mod inputs;
mod scram;
mod sql;

use off_runtime::prelude::*;

use config::{HbaSettings, Layout, POSTGRES_HOME, ServerSettings, conf_string, pgpass_line};
use inputs::{AptSource, ClusterRole, DbUser, Network, Password, WalLevel};

/// Install, configure and serve PostgreSQL: a single node, or a primary and
/// its streaming replicas.
#[recipe(
    validate = check_inputs,
    peers = cluster_kwargs,
    check(
        version(cmd = "psql --version", regex = r"\(PostgreSQL\) (\d+)", expected = "{version}"),
        alive(cmd = "pg_isready -q -p {port}", timeout = "10s"),
        os = ["Debian 12", "Ubuntu 22.04", "Ubuntu 24.04"],
        service(name = "postgresql", state = "running"),
        // No `port = ...`: the port is a kwarg, and the alive script above
        // already asks the server on it.
        package = "postgresql-common",
    )
)]
mod offregister_postgres {
    use super::*;

    /// Under `--serve`: the cluster's master is the primary, every other member a replica
    /// streaming from it.
    fn cluster_kwargs(cluster: &Membership) -> PeerKwargs {
        if cluster.is_master() {
            PeerKwargs::new().set("role", "primary")
        } else {
            PeerKwargs::new()
                .set("role", "replica")
                .set("primary_host", &cluster.master().host)
        }
    }

    /// Install the server and client packages.
    #[step]
    fn install(
        /// PostgreSQL major version
        #[arg(default = 15)]
        version: u32,
        /// Package repository: `distribution` (the OS's own) or `pgdg`
        /// (apt.postgresql.org, for versions the distribution lacks)
        #[arg(default = AptSource::Distribution)]
        apt_source: AptSource,
    ) -> Result<()> {
        // The recipe creates the cluster itself (`configure`): a replica's
        // data directory must stay empty until it is copied from the primary.
        mkdir(remote_path("/etc/postgresql-common/createcluster.d").sudo())?;
        put(
            b"# Written by offregister_postgres: clusters are created by the recipe.\ncreate_main_cluster = false\n",
            remote_path("/etc/postgresql-common/createcluster.d/offregister.conf").sudo(),
        )?;
        if apt_source == AptSource::Pgdg {
            add_pgdg_source()?;
        }
        package([
            format!("postgresql-{version}"),
            format!("postgresql-client-{version}"),
        ])?;
        Ok(())
    }

    /// The PostgreSQL project's apt repository, trusted through its own
    /// keyring file (`signed-by`), not the deprecated global `apt-key`.
    fn add_pgdg_source() -> Result<()> {
        const KEYRING: &str = "/etc/apt/keyrings/apt.postgresql.org.asc";
        package(["ca-certificates", "curl"])?;
        mkdir(remote_path("/etc/apt/keyrings").mode(0o755).sudo())?;
        sudo(
            sh!("curl -fsSL --proto '=https' -o {KEYRING} https://www.postgresql.org/media/keys/ACCC4CF8.asc")
                .creates(KEYRING),
        )?;
        let codename = run(". /etc/os-release && echo \"$VERSION_CODENAME\"".query())?;
        let codename = codename.stdout.trim().to_string();
        upload_template(
            "templates/pgdg.list.j2",
            remote_path("/etc/apt/sources.list.d/pgdg.list").sudo(),
            context! { codename, keyring => KEYRING },
        )?;
        Ok(())
    }

    /// Create the cluster if absent; write postgresql.conf and pg_hba.conf.
    // A replica's cluster starts as a copy of its primary (`copy_primary`).
    #[step]
    fn configure(
        version: u32,
        /// Addresses to listen on (`*` for all)
        #[arg(default = "localhost")]
        listen_addresses: String,
        /// TCP port
        #[arg(default = 5432)]
        port: u16,
        /// Most client connections at once
        #[arg(default = 100)]
        max_connections: u32,
        /// Shared memory for caching data, e.g. 128MB
        #[arg(default = "128MB")]
        shared_buffers: String,
        /// minimal, replica or logical
        #[arg(default = WalLevel::Replica)]
        wal_level: WalLevel,
        /// Replicas (and base backups) that may stream at once
        #[arg(default = 10)]
        max_wal_senders: u32,
        /// Networks whose clients may connect with a password, e.g.
        /// 10.0.0.0/24 (repeatable); local and loopback always may
        allowed_networks: Vec<Network>,
        /// standalone, primary or replica
        #[arg(default = ClusterRole::Standalone)]
        role: ClusterRole,
        /// The primary a replica copies and streams from
        primary_host: Option<String>,
        /// Role replicas connect as
        #[arg(default = "replicator")]
        replication_user: String,
        /// Its password (from the -c file or OFF_REPLICATION_PASSWORD)
        replication_password: Option<Password>,
        /// Replace a replica's data directory with a fresh copy of the
        /// primary (the old one is kept beside it)
        force_resync: bool,
    ) -> Result<()> {
        let layout = Layout::new(version);
        if role == ClusterRole::Replica {
            let primary = primary_host.as_deref().unwrap_or_default();
            let password = replication_password.as_ref().map(Password::expose);
            copy_primary(
                &layout,
                primary,
                port,
                &replication_user,
                password.unwrap_or_default(),
                force_resync,
            )?;
        }
        let conf = format!("{}/postgresql.conf", layout.conf_dir);
        // Adopts a data directory that exists (a replica's copy, or a
        // cluster whose configuration was removed): never re-initialises.
        sudo(sh!("pg_createcluster {version} main").creates(&conf))?;
        let conf_before = read_conf(&conf)?;
        let replicating = role != ClusterRole::Standalone;
        let settings = ServerSettings {
            layout: layout.clone(),
            listen_addresses: conf_string(&listen_addresses),
            port,
            max_connections,
            shared_buffers: conf_string(&shared_buffers),
            wal_level,
            max_wal_senders,
            wal_keep_size: conf_string(if replicating { "256MB" } else { "0" }),
        };
        let hba = HbaSettings::new(
            version,
            &allowed_networks,
            replicating.then_some(replication_user.as_str()),
        );
        // Destinations written out in full, so `cargo off gen-config` lists
        // them (with owner and mode) in off.yaml.
        let conf_changed = upload_template(
            "templates/postgresql.conf.j2",
            remote_path(format!("/etc/postgresql/{version}/main/postgresql.conf"))
                .owner("postgres")
                .group("postgres")
                .mode(0o644)
                .sudo(),
            &settings,
        )?
        .changed;
        let hba_changed = upload_template(
            "templates/pg_hba.conf.j2",
            remote_path(format!("/etc/postgresql/{version}/main/pg_hba.conf"))
                .owner("postgres")
                .group("postgres")
                .mode(0o640)
                .sudo(),
            &hba,
        )?
        .changed;
        // A running server takes pg_hba.conf and most settings on a
        // reload; listen_addresses, port, shared_buffers and the other
        // postmaster settings only when it starts.
        if (conf_changed || hba_changed) && cluster_running(version)? {
            if conf_changed && config::restart_needed(&conf_before, &read_conf(&conf)?) {
                sudo(sh!("pg_ctlcluster {version} main restart"))?;
            } else {
                sudo(sh!("pg_ctlcluster {version} main reload"))?;
            }
        }
        Ok(())
    }

    /// The text of `postgresql.conf` at `path` (empty when there is none).
    fn read_conf(path: &str) -> Result<String> {
        let _quiet = settings(Settings::new().warn_only(true).quiet(true));
        Ok(sudo(sh!("cat {path} 2>/dev/null").query())?.stdout)
    }

    /// Whether cluster `<version>/main` is running.
    fn cluster_running(version: u32) -> Result<bool> {
        let _quiet = settings(Settings::new().warn_only(true).quiet(true));
        Ok(sudo(sh!("pg_ctlcluster {version} main status").query())?.code == 0)
    }

    /// Makes the replica's data directory a copy of the primary with
    /// `pg_basebackup -R` (which also writes the settings that make it
    /// stream): only into an empty data directory, or with `force_resync`.
    /// A directory that already is a replica is left alone.
    fn copy_primary(
        layout: &Layout,
        primary: &str,
        port: u16,
        user: &str,
        password: &str,
        force_resync: bool,
    ) -> Result<()> {
        let data = &layout.data_dir;
        let has_data = exists(remote_path(format!("{data}/PG_VERSION")).sudo())?;
        let is_replica = exists(remote_path(format!("{data}/standby.signal")).sudo())?;
        if has_data && !force_resync {
            if is_replica {
                return Ok(());
            }
            return Err(Error::msg(format!(
                "[{}] {data} holds a database that is not a replica; refusing to overwrite it (--force-resync replaces it with a copy of the primary and keeps the old directory beside it)",
                current_host()
            )));
        }
        // libpq reads the password from postgres's ~/.pgpass (mode 0600):
        // it never appears on a command line. The replica's walreceiver
        // uses the same file later. As a secret, its content stays out of
        // every output and of --check.
        put(
            Secret::new(pgpass_line(primary, port, "replication", user, password)),
            remote_path(format!("{POSTGRES_HOME}/.pgpass"))
                .owner("postgres")
                .group("postgres")
                .mode(0o600)
                .sudo(),
        )?;
        if has_data {
            let version = layout.version;
            if cluster_running(version)? {
                sudo(sh!("pg_ctlcluster {version} main stop"))?;
            }
            sudo(sh!("mv {data} {data}.before-resync-$(date +%Y%m%d%H%M%S)"))?;
        }
        let _cd = cd(POSTGRES_HOME);
        let _env = shell_env([("PGCONNECT_TIMEOUT", "10")]);
        sudo_as(
            "postgres",
            sh!("pg_basebackup -h {primary} -p {port} -U {user} -D {data} -R -X stream -c fast -w"),
        )?;
        // Debian keeps the configuration in /etc, so the copy has none;
        // pg_createcluster adopts a data directory only with these files
        // (it moves them to /etc, where `configure` then writes them).
        sudo_as(
            "postgres",
            sh!("touch {data}/postgresql.conf {data}/pg_hba.conf {data}/pg_ident.conf"),
        )?;
        Ok(())
    }

    /// Start the server and wait until it accepts connections.
    #[step]
    fn serve(version: u32, port: u16) -> Result<()> {
        service("postgresql", Start)?;
        // pg_isready, once per half second, for at most 30 seconds.
        let wait = sh!(
            "i=0; until pg_isready -q -p {port}; do i=$((i+1)); [ $i -ge 60 ] && exit 1; sleep 0.5; done"
        );
        let _warn = settings(Settings::new().warn_only(true));
        if run(wait.query())?.code != 0 {
            return Err(Error::msg(format!(
                "[{}] PostgreSQL {version}/main does not accept connections on port {port} after 30s; see /var/log/postgresql/postgresql-{version}-main.log",
                current_host()
            )));
        }
        Ok(())
    }

    /// Create or update the users and their databases.
    // Not on a replica: it receives them from its primary.
    #[step]
    fn setup_users(
        /// Users: a list of {user, password, dbname, superuser} in the -c
        /// file (passwords do not belong on a command line)
        users: Vec<DbUser>,
        role: ClusterRole,
        port: u16,
    ) -> Result<()> {
        if role == ClusterRole::Replica || users.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = users.iter().map(|u| u.user.as_str()).collect();
        let salts = stored_salts(port, &names)?;
        psql(port, &sql::users(&users, &salts))?;
        Ok(())
    }

    /// Runs `script` with psql as the postgres superuser. The SQL (with its
    /// passwords) goes over standard input; terse errors do not quote it. A
    /// change is what the script says it changed (see [`sql::CHANGED`]).
    fn psql(port: u16, script: &sql::Script) -> Result<Output> {
        let _cd = cd(POSTGRES_HOME);
        let psql = sh!("psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=terse -p {port} -d postgres");
        sudo_as_with_input(
            "postgres",
            psql.changed_if(|out| out.stderr.contains(sql::CHANGED)),
            script.text(),
        )
    }

    /// The salts of the roles' stored verifiers (see [`sql::StoredSalts`]).
    fn stored_salts(port: u16, roles: &[&str]) -> Result<sql::StoredSalts> {
        let _cd = cd(POSTGRES_HOME);
        let _quiet = settings(Settings::new().quiet(true));
        let query =
            sh!("psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=terse -p {port} -d postgres");
        let out = sudo_as_with_input(
            "postgres",
            query.query(),
            sql::stored_salts_query(roles).text(),
        )?;
        Ok(sql::parse_stored_salts(&out.stdout))
    }

    /// Primary: create the replication role; replica: wait until it streams.
    #[step]
    fn cluster(
        role: ClusterRole,
        port: u16,
        replication_user: String,
        replication_password: Option<Password>,
    ) -> Result<()> {
        match role {
            ClusterRole::Standalone => Ok(()),
            ClusterRole::Primary => {
                let password = replication_password.as_ref().map(Password::expose);
                let salts = stored_salts(port, &[&replication_user])?;
                let script =
                    sql::replication_role(&replication_user, password.unwrap_or_default(), &salts);
                psql(port, &script)?;
                Ok(())
            }
            ClusterRole::Replica => {
                let query = "SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'";
                let wait = sh!(
                    "i=0; until [ \"$(psql -X -At -p {port} -c {query})\" = 1 ]; do i=$((i+1)); [ $i -ge 60 ] && exit 1; sleep 0.5; done"
                );
                let _cd = cd(POSTGRES_HOME);
                let _warn = settings(Settings::new().warn_only(true));
                if sudo_as("postgres", wait.query())?.code != 0 {
                    return Err(Error::msg(format!(
                        "[{}] the replica does not stream from its primary after 30s; see the server log in /var/log/postgresql",
                        current_host()
                    )));
                }
                Ok(())
            }
        }
    }

    /// Combinations of kwargs no single value shows wrong.
    fn check_inputs(
        version: &u32,
        role: &ClusterRole,
        primary_host: &Option<String>,
        replication_user: &str,
        replication_password: &Option<Password>,
        listen_addresses: &str,
        port: &u16,
        max_connections: &u32,
        shared_buffers: &str,
        users: &[DbUser],
        wal_level: &WalLevel,
        max_wal_senders: &u32,
    ) -> std::result::Result<(), String> {
        inputs::check_version(*version)?;
        config::check_listen_addresses(listen_addresses)?;
        if *port == 0 {
            return Err("invalid value `0` for --port: expected a TCP port, 1 to 65535".into());
        }
        // PostgreSQL keeps superuser_reserved_connections (3) of them and
        // refuses to start unless some are left for everyone else.
        if *max_connections < 4 {
            return Err(format!(
                "invalid value `{max_connections}` for --max-connections: at least 4 (PostgreSQL reserves 3 for superusers and would not start)"
            ));
        }
        config::check_size("shared-buffers", shared_buffers)?;
        if let Some(host) = primary_host {
            inputs::check_host(host)?;
        }
        let simple_name = |s: &str| {
            s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !simple_name(replication_user) {
            return Err(format!(
                "invalid value `{replication_user}` for --replication-user: expected lowercase letters, digits and `_`"
            ));
        }
        if *wal_level == WalLevel::Minimal {
            if *role != ClusterRole::Standalone {
                return Err("--wal-level minimal cannot replicate: use replica or logical with --role primary or replica".into());
            }
            if *max_wal_senders > 0 {
                return Err("--wal-level minimal needs --max-wal-senders 0 (PostgreSQL refuses to start otherwise)".into());
            }
        }
        match role {
            ClusterRole::Replica if primary_host.is_none() => {
                return Err("--role replica needs --primary-host (the primary's address)".into());
            }
            ClusterRole::Primary | ClusterRole::Replica if replication_password.is_none() => {
                return Err(format!(
                    "--role {} needs a replication password (`replication_password` in the -c file or OFF_REPLICATION_PASSWORD)",
                    if *role == ClusterRole::Primary {
                        "primary"
                    } else {
                        "replica"
                    }
                ));
            }
            _ => {}
        }
        if *role != ClusterRole::Standalone
            && let Some(password) = replication_password
        {
            inputs::check_replication_password(password)?;
        }
        // No message below quotes a password, nor a name beside one.
        for (i, u) in users.iter().enumerate() {
            if let Some(problem) = &u.problem {
                return Err(problem.message(i));
            }
            // PostgreSQL truncates longer names (NAMEDATALEN) and reserves
            // the pg_ prefix for its own roles.
            let bad_name = |n: &str| n.is_empty() || n.len() > 63 || n.contains('\0');
            if bad_name(&u.user) || u.user.starts_with("pg_") {
                return Err(format!(
                    "users[{i}] in the -c file: `user` must be 1 to 63 bytes, not starting with pg_"
                ));
            }
            if u.dbname.as_deref().is_some_and(bad_name) {
                return Err(format!(
                    "users[{i}] in the -c file: `dbname` must be 1 to 63 bytes"
                ));
            }
            if u.password.expose().contains('\0') {
                return Err(format!(
                    "users[{i}] in the -c file: the password contains a NUL byte"
                ));
            }
        }
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    // Before the driver reads the command line: it would take the secret
    // (or quote it in an error).
    if let Err(e) = inputs::refuse_secret_flags(std::env::args_os().skip(1)) {
        eprintln!("error: {e}");
        return std::process::ExitCode::from(off_runtime::exit_code::USAGE);
    }
    offregister_postgres::main()
}
