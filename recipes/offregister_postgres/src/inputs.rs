//! The kwarg types of the recipe: each parses (from a flag, the environment
//! or the `-c` file) or fails with a message naming what is wrong, so a bad
//! value stops the run before any host is touched.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use off_runtime::Secret;
use off_runtime::manifest::kwarg_name;
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
    /// Reading an entry never fails: the driver's message for a failure
    /// would quote the value, password included.
    pub problem: Option<UserProblem>,
}

/// Why a [`DbUser`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserProblem {
    /// What is wrong with an entry of `users:` in the `-c` file.
    Entry(String),
    /// Given as text (`OFF_USERS`), where passwords do not belong.
    NotInFile,
}

impl UserProblem {
    /// The error line for entry `index`; it never holds the entry's values.
    pub fn message(&self, index: usize) -> String {
        match self {
            UserProblem::Entry(problem) => format!("users[{index}] in the -c file: {problem}"),
            UserProblem::NotInFile => "--users: users come only from the -c file: list them \
                 under `users:` ({user, password, dbname, superuser}), not on the command line \
                 or in OFF_USERS"
                .into(),
        }
    }
}

impl DbUser {
    fn with_problem(problem: UserProblem) -> DbUser {
        DbUser {
            user: String::new(),
            password: Password(Secret::new("")),
            dbname: None,
            superuser: false,
            problem: Some(problem),
        }
    }
}

impl<'de> Deserialize<'de> for DbUser {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut fields = match serde_json::Value::deserialize(d)? {
            serde_json::Value::Object(fields) => fields,
            _ => {
                return Ok(DbUser::with_problem(UserProblem::Entry(
                    "expected a map {user, password, dbname, superuser}".into(),
                )));
            }
        };
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
            problem: (!problems.is_empty()).then(|| UserProblem::Entry(problems.join("; "))),
        })
    }
}

/// Users carry passwords, which do not belong in a command line or the
/// environment: only the `-c` file may list them. (A flag is refused before
/// parsing, by [`refuse_secret_flags`]; this is `OFF_USERS`.)
impl FromStr for DbUser {
    type Err = String;

    fn from_str(_: &str) -> Result<Self, String> {
        Ok(DbUser::with_problem(UserProblem::NotInFile))
    }
}

/// The kwargs that carry secrets, and where they go instead of a flag.
const SECRET_KWARGS: &[(&str, &str)] = &[
    (
        "replication_password",
        "is a password, and a command line is visible to every user of the machine: \
         give it as `replication_password` in the -c file or in OFF_REPLICATION_PASSWORD",
    ),
    (
        "users",
        "holds passwords, and a command line is visible to every user of the machine: \
         list them under `users:` in the -c file ({user, password, dbname, superuser})",
    ),
];

/// Refuses a secret given as a flag (`--replication-password x`,
/// `--replication_password=x`, `--users …`): the error names the flag and
/// where the value goes instead, never the value. Every argument is looked
/// at, so no spelling that the command line accepts gets through.
pub fn refuse_secret_flags<I>(args: I) -> Result<(), String>
where
    I: IntoIterator,
    I::Item: AsRef<std::ffi::OsStr>,
{
    for arg in args {
        let Some(flag) = arg.as_ref().to_str().and_then(|a| a.strip_prefix("--")) else {
            continue;
        };
        let name = flag.split_once('=').map_or(flag, |(name, _)| name);
        let name = kwarg_name::from_long(name);
        if let Some((kwarg, instead)) = SECRET_KWARGS.iter().find(|(k, _)| *k == name) {
            return Err(format!("{} {instead}", kwarg_name::flag(kwarg)));
        }
    }
    Ok(())
}

/// What stops the replication password from working: `.pgpass`, where a
/// replica keeps it, holds one entry per line.
pub fn check_replication_password(password: &Password) -> Result<(), String> {
    let p = password.expose();
    if p.contains(['\n', '\r']) {
        return Err(
            "the replication password contains a line break, which ~postgres/.pgpass cannot hold"
                .into(),
        );
    }
    if p.contains('\0') {
        return Err("the replication password contains a NUL byte".into());
    }
    Ok(())
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
        assert_eq!(
            user.problem,
            Some(UserProblem::Entry("missing `password`".into()))
        );
        let user: DbUser = serde_json::from_str(
            r#"{"user": "bob", "password": "pw", "superuser": "maybe", "dbnmae": "x"}"#,
        )
        .unwrap();
        assert_eq!(
            user.problem.as_ref().unwrap().message(0),
            "users[0] in the -c file: `superuser` must be true or false; unknown key `dbnmae` (expected user, password, dbname, superuser)"
        );
        assert!(!format!("{user:?}").contains("\"pw\""));
    }

    #[test]
    fn a_user_given_as_text_is_refused_without_its_password() {
        let from_env: DbUser = "bob:s3cret".parse().unwrap();
        let message = from_env.problem.unwrap().message(0);
        assert!(message.starts_with("--users: users come only from the -c file"));
        assert!(!message.contains("s3cret"), "{message}");
        for text in [r#""bob:s3cret""#, r#"["bob", "s3cret"]"#, "7"] {
            let user: DbUser = serde_json::from_str(text).unwrap();
            let message = user.problem.unwrap().message(2);
            assert_eq!(
                message,
                "users[2] in the -c file: expected a map {user, password, dbname, superuser}"
            );
        }
    }

    #[test]
    fn secret_flags_are_refused_in_every_spelling_without_their_value() {
        for argv in [
            &["--replication-password", "s3cret"][..],
            &["--role", "primary", "--replication_password", "s3cret"],
            &["--replication-password=s3cret"],
            &["--replication_password=s3cret"],
        ] {
            let e = refuse_secret_flags(argv).unwrap_err();
            assert!(e.starts_with("--replication-password is a password"), "{e}");
            assert!(
                e.contains("`replication_password` in the -c file")
                    && e.contains("OFF_REPLICATION_PASSWORD"),
                "{e}"
            );
            assert!(!e.contains("s3cret"), "{e}");
        }
        for argv in [&["--users", "bob:s3cret"][..], &["--users=bob:s3cret"]] {
            let e = refuse_secret_flags(argv).unwrap_err();
            assert!(e.starts_with("--users holds passwords"), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        // Other flags, and a value that merely mentions one.
        let fine = [
            "--replication-user",
            "rep",
            "-c",
            "db.yaml",
            "--listen-addresses=--users",
            "replication-password",
        ];
        assert_eq!(refuse_secret_flags(fine), Ok(()));
    }

    #[test]
    fn replication_passwords_fit_on_a_pgpass_line() {
        let ok: Password = r"a:b\c'd".parse().unwrap();
        assert_eq!(check_replication_password(&ok), Ok(()));
        for bad in ["s3cret\nx", "s3cret\r", "s3\0cret"] {
            let e = check_replication_password(&bad.parse().unwrap()).unwrap_err();
            assert!(!e.contains("s3"), "{e}");
        }
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
