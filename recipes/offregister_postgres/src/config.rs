//! What goes into `postgresql.conf`, `pg_hba.conf` and `.pgpass`, and where
//! Debian keeps a cluster's files. Values are quoted here, so the templates
//! only place them.

use serde::Serialize;

use crate::inputs::{Network, WalLevel};

/// Debian's paths of cluster `<version>/main` (postgresql-common).
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub version: u32,
    /// `/etc/postgresql/<version>/main`: postgresql.conf, pg_hba.conf.
    pub conf_dir: String,
    /// `/var/lib/postgresql/<version>/main`: the database files.
    pub data_dir: String,
}

impl Layout {
    pub fn new(version: u32) -> Layout {
        Layout {
            version,
            conf_dir: format!("/etc/postgresql/{version}/main"),
            data_dir: format!("/var/lib/postgresql/{version}/main"),
        }
    }
}

/// The home of the `postgres` user, where libpq looks for `.pgpass`.
pub const POSTGRES_HOME: &str = "/var/lib/postgresql";

/// The settings of `postgresql.conf`, quoted as the file needs them.
#[derive(Debug, Clone, Serialize)]
pub struct ServerSettings {
    #[serde(flatten)]
    pub layout: Layout,
    /// A quoted string: `'localhost'`, `'*'`.
    pub listen_addresses: String,
    pub port: u16,
    pub max_connections: u32,
    /// A quoted size: `'128MB'`.
    pub shared_buffers: String,
    pub wal_level: WalLevel,
    pub max_wal_senders: u32,
    /// WAL kept for replicas that fall behind: `'256MB'` when replicating.
    pub wal_keep_size: String,
}

/// The `pg_hba.conf` entries beyond local and loopback access.
#[derive(Debug, Clone, Serialize)]
pub struct HbaSettings {
    pub version: u32,
    /// Networks whose clients may connect with a password.
    pub networks: Vec<String>,
    /// Allowed to stream from the networks (primaries and replicas).
    pub replication_user: Option<String>,
}

impl HbaSettings {
    pub fn new(version: u32, networks: &[Network], replication_user: Option<&str>) -> Self {
        HbaSettings {
            version,
            networks: networks.iter().map(|n| n.as_str().to_string()).collect(),
            replication_user: replication_user.map(str::to_string),
        }
    }
}

/// `value` as a `postgresql.conf` string: in single quotes, `'` doubled.
pub fn conf_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// One `.pgpass` line (`host:port:database:user:password`), with `\` and
/// `:` escaped by a backslash as libpq expects. The database `replication`
/// matches streaming-replication connections.
pub fn pgpass_line(host: &str, port: u16, database: &str, user: &str, password: &str) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
    format!(
        "{}:{port}:{}:{}:{}\n",
        esc(host),
        esc(database),
        esc(user),
        esc(password)
    )
}

/// The settings of `postgresql.conf` a running server takes only when it
/// starts (PostgreSQL's `postmaster` context): a change to any of them needs
/// a restart, every other change a reload.
const RESTART_SETTINGS: &[&str] = &[
    "data_directory",
    "hba_file",
    "ident_file",
    "external_pid_file",
    "unix_socket_directories",
    "cluster_name",
    "listen_addresses",
    "port",
    "max_connections",
    "shared_buffers",
    "dynamic_shared_memory_type",
    "wal_level",
    "max_wal_senders",
    "hot_standby",
];

/// Whether going from the `postgresql.conf` text `old` to `new` changes a
/// setting that needs a restart (a setting given twice counts by its last
/// line, as PostgreSQL reads it).
pub fn restart_needed(old: &str, new: &str) -> bool {
    let value = |text: &str, name: &str| {
        text.lines().rev().find_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            let (key, value) = line.split_once('=')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    RESTART_SETTINGS
        .iter()
        .any(|name| value(old, name) != value(new, name))
}

/// A size setting such as `128MB`, `1GB` or `16384` (8kB pages).
pub fn check_size(name: &str, value: &str) -> Result<(), String> {
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && ["", "kB", "MB", "GB", "TB"].contains(&unit)
    {
        Ok(())
    } else {
        Err(format!(
            "invalid value `{value}` for --{name}: expected a size such as 128MB (units kB, MB, GB, TB)"
        ))
    }
}

/// `listen_addresses`: `*`, or host names and addresses separated by commas.
pub fn check_listen_addresses(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.split(',').all(|a| {
            let a = a.trim();
            a == "*"
                || (!a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:_".contains(c)))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid value `{value}` for --listen-addresses: expected `*` or host names and addresses separated by commas"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use off_runtime::prelude::context;
    use off_runtime::render_str;

    const POSTGRESQL_CONF: &str = include_str!("../templates/postgresql.conf.j2");
    const PG_HBA_CONF: &str = include_str!("../templates/pg_hba.conf.j2");

    fn settings() -> ServerSettings {
        ServerSettings {
            layout: Layout::new(15),
            listen_addresses: conf_string("*"),
            port: 5433,
            max_connections: 50,
            shared_buffers: conf_string("256MB"),
            wal_level: WalLevel::Replica,
            max_wal_senders: 4,
            wal_keep_size: conf_string("256MB"),
        }
    }

    #[test]
    fn postgresql_conf_has_every_setting() {
        let text = render_str("postgresql.conf", POSTGRESQL_CONF, &settings()).unwrap();
        for line in [
            "data_directory = '/var/lib/postgresql/15/main'\n",
            "hba_file = '/etc/postgresql/15/main/pg_hba.conf'\n",
            "listen_addresses = '*'\n",
            "port = 5433\n",
            "max_connections = 50\n",
            "shared_buffers = '256MB'\n",
            "wal_level = replica\n",
            "max_wal_senders = 4\n",
            "password_encryption = scram-sha-256\n",
            "include_dir = 'conf.d'\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
    }

    #[test]
    fn pg_hba_conf_lists_networks_and_replication() {
        let nets: Vec<Network> = vec!["10.250.0.0/24".parse().unwrap()];
        let text = render_str(
            "pg_hba.conf",
            PG_HBA_CONF,
            &HbaSettings::new(15, &nets, Some("replicator")),
        )
        .unwrap();
        assert!(
            text.contains("\nhost    all          all          10.250.0.0/24    scram-sha-256\n"),
            "{text}"
        );
        assert!(
            text.contains("\nhost    replication  replicator   10.250.0.0/24    scram-sha-256\n"),
            "{text}"
        );
        assert!(!text.contains(" md5") && !text.contains(" trust"), "{text}");
        // Standalone with no networks: local and loopback only.
        let text =
            render_str("pg_hba.conf", PG_HBA_CONF, &HbaSettings::new(15, &[], None)).unwrap();
        let hosts: Vec<&str> = text.lines().filter(|l| l.starts_with("host ")).collect();
        assert_eq!(hosts.len(), 4, "{text}");
        assert!(
            hosts
                .iter()
                .all(|l| l.contains("127.0.0.1/32") || l.contains("::1/128"))
        );
    }

    #[test]
    fn pgdg_source_is_signed_by_its_own_keyring() {
        let text = render_str(
            "pgdg.list",
            include_str!("../templates/pgdg.list.j2"),
            &context! { codename => "bookworm", keyring => "/etc/apt/keyrings/apt.postgresql.org.asc" },
        )
        .unwrap();
        assert!(
            text.ends_with(
                "\ndeb [signed-by=/etc/apt/keyrings/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn conf_strings_and_pgpass_lines_are_escaped() {
        assert_eq!(conf_string("it's"), "'it''s'");
        assert_eq!(
            pgpass_line("10.0.0.1", 5432, "replication", "rep", "a:b\\c"),
            "10.0.0.1:5432:replication:rep:a\\:b\\\\c\n"
        );
    }

    #[test]
    fn only_a_postmaster_setting_needs_a_restart() {
        let old = render_str("postgresql.conf", POSTGRESQL_CONF, &settings()).unwrap();
        let mut reload_only = settings();
        reload_only.wal_keep_size = conf_string("1GB");
        let new = render_str("postgresql.conf", POSTGRESQL_CONF, &reload_only).unwrap();
        assert_ne!(old, new);
        assert!(!restart_needed(&old, &new));
        let mut bigger = settings();
        bigger.shared_buffers = conf_string("512MB");
        let new = render_str("postgresql.conf", POSTGRESQL_CONF, &bigger).unwrap();
        assert!(restart_needed(&old, &new));
        assert!(
            restart_needed("", &old),
            "no file before: every setting is new"
        );
        assert!(!restart_needed("port = 1 # a\n", "port = 1\n"));
    }

    #[test]
    fn sizes_and_listen_addresses() {
        assert!(check_size("shared-buffers", "128MB").is_ok());
        assert!(check_size("shared-buffers", "16384").is_ok());
        assert!(check_size("shared-buffers", "lots").is_err());
        assert!(check_size("shared-buffers", "1mb").is_err());
        assert!(check_listen_addresses("*").is_ok());
        assert!(check_listen_addresses("localhost, 10.0.0.5").is_ok());
        assert!(check_listen_addresses("'; x").is_err());
    }
}
