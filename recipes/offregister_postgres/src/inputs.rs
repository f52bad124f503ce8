//! The kwarg types of the recipe: each parses (from a flag, the environment
//! or the `-c` file) or fails with a message naming what is wrong, so a bad
//! value stops the run before any host is touched.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use off_runtime::Secret;
use serde::{Deserialize, Deserializer};

/// A database password. Never printed (`Debug`/`Display` show `***`); it
/// reaches `psql` and `.pgpass` only through standard input and file contents.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Secret);

impl Password {
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl FromStr for Password {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("a password cannot be empty".into());
        }
        Ok(Password(Secret::new(s)))
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One database user of `--users` (a list in the `-c` file): a login role
/// with a password, optionally the owner of a database and a superuser.
#[derive(Debug, Clone)]
pub struct DbUser {
    pub user: String,
    pub password: Password,
    /// A database created with this user as its owner.
    pub dbname: Option<String>,
    pub superuser: bool,
    /// What is wrong with the entry, reported by the recipe's input check.
    /// Deserializing never fails: a failure's message would quote the whole
    /// entry, password included.
    pub problem: Option<String>,
}

impl<'de> Deserialize<'de> for DbUser {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut fields = serde_json::Map::deserialize(d)?;
        let mut problems = Vec::new();
        let mut text = |key: &str, required: bool| match fields.remove(key) {
            Some(serde_json::Value::String(s)) => Some(s),
            None | Some(serde_json::Value::Null) => {
                if required {
                    problems.push(format!("missing `{key}`"));
                }
                None
            }
            Some(_) => {
                problems.push(format!("`{key}` must be a string"));
                None
            }
        };
        let user = text("user", true);
        let password = text("password", true);
        let dbname = text("dbname", false);
        let superuser = match fields.remove("superuser") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => b,
            Some(_) => {
                problems.push("`superuser` must be true or false".into());
                false
            }
        };
        for key in fields.keys() {
            problems.push(format!(
                "unknown key `{key}` (expected user, password, dbname, superuser)"
            ));
        }
        let password = match password.as_deref().map(str::parse::<Password>) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                problems.push(e);
                Password(Secret::new(""))
            }
            None => Password(Secret::new("")),
        };
        Ok(DbUser {
            user: user.unwrap_or_default(),
            password,
            dbname,
            superuser,
            problem: (!problems.is_empty()).then(|| problems.join("; ")),
        })
    }
}

/// Users carry passwords, which do not belong on a command line (other users
/// of the machine can read it): only the `-c` file may list them.
impl FromStr for DbUser {
    type Err = String;

    fn from_str(_: &str) -> Result<Self, String> {
        Err(
            "users carry passwords: list them under `users:` in the -c file \
             ({user, password, dbname, superuser}), not on the command line"
                .into(),
        )
    }
}

/// What a node is in a streaming-replication cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterRole {
    /// A single server.
    Standalone,
    /// Accepts writes and streams its WAL to replicas.
    Primary,
    /// A read-only copy of `--primary-host`, kept current by streaming.
    Replica,
}

impl FromStr for ClusterRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "standalone" => Ok(ClusterRole::Standalone),
            "primary" => Ok(ClusterRole::Primary),
            "replica" => Ok(ClusterRole::Replica),
            _ => Err("expected standalone, primary or replica".into()),
        }
    }
}

/// Where the packages come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AptSource {
    /// The distribution's own repository (Debian 12 has PostgreSQL 15).
    Distribution,
    /// The PostgreSQL project's repository (apt.postgresql.org), for versions
    /// the distribution lacks.
    Pgdg,
}

impl FromStr for AptSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "distribution" => Ok(AptSource::Distribution),
            "pgdg" => Ok(AptSource::Pgdg),
            _ => Err("expected distribution or pgdg".into()),
        }
    }
}

/// `wal_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WalLevel {
    Minimal,
    Replica,
    Logical,
}

impl FromStr for WalLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minimal" => Ok(WalLevel::Minimal),
            "replica" => Ok(WalLevel::Replica),
            "logical" => Ok(WalLevel::Logical),
            _ => Err("expected minimal, replica or logical".into()),
        }
    }
}

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/64`) or a single
/// address (`/32` or `/128` implied), as `pg_hba.conf` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network(String);

impl Network {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| "expected an IP network like 10.0.0.0/24 or fd00::/64".to_string())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("the prefix length must be 0 to {max}"))?,
        };
        Ok(Network(format!("{addr}/{prefix}")))
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A PostgreSQL major version this recipe knows how to lay out (10 and later:
/// the numbering without a minor part).
pub fn check_version(version: u32) -> Result<(), String> {
    if (10..=99).contains(&version) {
        Ok(())
    } else {
        Err(format!(
            "invalid value `{version}` for --version: expected a PostgreSQL major version such as 15"
        ))
    }
}

/// A host name or address (for `--primary-host`): letters, digits, `.`, `-`,
/// `:` (IPv6) and `_`; it goes into a connection string and `.pgpass`.
pub fn check_host(host: &str) -> Result<(), String> {
    let ok = !host.is_empty()
        && !host.starts_with('-')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid value `{host}` for --primary-host: expected a host name or IP address"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let p: Password = "s3cret'\"$".parse().unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
        assert_eq!(p.expose(), "s3cret'\"$");
        assert!("".parse::<Password>().is_err());
        let user: DbUser =
            serde_json::from_str(r#"{"user": "bob", "password": "pw", "dbname": "app"}"#).unwrap();
        assert!(!format!("{user:?}").contains("pw\""), "{user:?}");
        assert!(!user.superuser);
    }

    #[test]
    fn users_need_a_password_and_come_from_the_file() {
        let user: DbUser = serde_json::from_str(r#"{"user": "bob", "dbname": "app"}"#).unwrap();
        assert_eq!(user.problem.as_deref(), Some("missing `password`"));
        let user: DbUser = serde_json::from_str(
            r#"{"user": "bob", "password": "pw", "superuser": "maybe", "dbnmae": "x"}"#,
        )
        .unwrap();
        assert_eq!(
            user.problem.as_deref(),
            Some(
                "`superuser` must be true or false; unknown key `dbnmae` (expected user, password, dbname, superuser)"
            )
        );
        assert!(!format!("{user:?}").contains("\"pw\""));
        let e = "bob:pw".parse::<DbUser>().unwrap_err();
        assert!(e.contains("-c file"), "{e}");
    }

    #[test]
    fn roles_sources_and_wal_levels() {
        assert_eq!("replica".parse(), Ok(ClusterRole::Replica));
        assert!("master".parse::<ClusterRole>().is_err());
        assert_eq!("pgdg".parse(), Ok(AptSource::Pgdg));
        assert!("ppa".parse::<AptSource>().is_err());
        assert_eq!("logical".parse(), Ok(WalLevel::Logical));
    }

    #[test]
    fn networks() {
        assert_eq!(
            "10.250.0.0/24".parse::<Network>().unwrap().as_str(),
            "10.250.0.0/24"
        );
        assert_eq!(
            "10.0.0.1".parse::<Network>().unwrap().as_str(),
            "10.0.0.1/32"
        );
        assert_eq!("::1".parse::<Network>().unwrap().as_str(), "::1/128");
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("all".parse::<Network>().is_err());
        assert!("10.0.0.0/8 trust".parse::<Network>().is_err());
    }

    #[test]
    fn versions_and_hosts() {
        assert!(check_version(15).is_ok());
        assert!(check_version(9).is_err());
        assert!(check_host("10.250.0.21").is_ok());
        assert!(check_host("db-1.example").is_ok());
        assert!(check_host("a b").is_err());
        assert!(check_host("-oProxyCommand=x").is_err());
    }
}
