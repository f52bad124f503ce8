//! Where operations run: the local machine or a host reached over SSH.

use std::fmt;
use std::str::FromStr;

/// One target of a run, as given with `-H user@host:port` (Fabric's syntax).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// The control machine itself (the default when no host is given).
    Local,
    Ssh(SshTarget),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Target {
    /// Parses a comma-separated host list (`-H a,b@c:2222`).
    pub fn parse_list(list: &str) -> Result<Vec<Target>, TargetError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host `{input}`: {reason}")]
pub struct TargetError {
    pub input: String,
    pub reason: &'static str,
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| TargetError {
            input: input.to_string(),
            reason,
        };
        // `localhost` alone is this machine, as in Ansible; with a user or a
        // port (`root@localhost`, `localhost:2222`) it is an SSH host.
        if input == "local" || input == "localhost" {
            return Ok(Target::Local);
        }
        let (user, rest) = match input.rsplit_once('@') {
            Some((user, rest)) if !user.is_empty() => (Some(user.to_string()), rest),
            Some(_) => return Err(err("empty user name before `@`")),
            None => (None, input),
        };
        // `[v6::addr]:port` or `host:port`; a bare IPv6 address has several colons.
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| err("missing `]` after an IPv6 address"))?;
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(err("unexpected text after `]`")),
            }
        } else if rest.matches(':').count() == 1 {
            let (host, port) = rest.split_once(':').expect("one colon");
            (host, Some(port))
        } else {
            (rest, None)
        };
        if host.is_empty() {
            return Err(err("empty host name"));
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '\'')
        {
            return Err(err("host names cannot contain spaces, `/` or quotes"));
        }
        if host.starts_with('-') {
            return Err(err("host names cannot start with `-`"));
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(err("port must be a number from 1 to 65535")),
                Ok(p) => Some(p),
            },
        };
        Ok(Target::Ssh(SshTarget {
            user,
            host: host.to_string(),
            port,
        }))
    }
}

impl fmt::Display for Target {
    /// The `user@host` prefix of output lines (`local` for the control machine).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local => f.write_str("local"),
            Target::Ssh(t) => t.fmt(f),
        }
    }
}

impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(user: Option<&str>, host: &str, port: Option<u16>) -> Target {
        Target::Ssh(SshTarget {
            user: user.map(Into::into),
            host: host.into(),
            port,
        })
    }

    #[test]
    fn parses_fabric_host_strings() {
        assert_eq!("db1".parse(), Ok(ssh(None, "db1", None)));
        assert_eq!(
            "root@db1:2222".parse(),
            Ok(ssh(Some("root"), "db1", Some(2222)))
        );
        assert_eq!("[::1]:22".parse(), Ok(ssh(None, "::1", Some(22))));
        assert_eq!("u@::1".parse(), Ok(ssh(Some("u"), "::1", None)));
        assert_eq!("local".parse(), Ok(Target::Local));
        assert_eq!("localhost".parse(), Ok(Target::Local));
        assert!(matches!(
            "root@localhost".parse::<Target>(),
            Ok(Target::Ssh(_))
        ));
        assert!(matches!(
            "localhost:2222".parse::<Target>(),
            Ok(Target::Ssh(_))
        ));
        assert_eq!(
            Target::parse_list("a, b@c:1").unwrap(),
            vec![ssh(None, "a", None), ssh(Some("b"), "c", Some(1))]
        );
    }

    #[test]
    fn rejects_bad_host_strings_naming_them() {
        for bad in [
            "db1:99999",
            "db1:0",
            "@db1",
            "db 1",
            "-oProxyCommand=x",
            "[::1",
            ":22",
        ] {
            let e = bad.parse::<Target>().unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn displays_as_output_prefix() {
        assert_eq!(ssh(Some("root"), "db1", None).to_string(), "root@db1");
        assert_eq!(ssh(None, "::1", Some(22)).to_string(), "[::1]:22");
        assert_eq!(Target::Local.to_string(), "local");
    }
}
