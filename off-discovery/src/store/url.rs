//! Store URLs: `zk://h1:2181,h2:2181/prefix`, `etcd://h:2379/prefix`, `consul://h:8500/prefix`.
//!
//! Not a general URL: a scheme, one or more comma-separated `host:port` (ZooKeeper's connect
//! string, which general URL parsers refuse), and a `/`-separated key prefix. Credentials never
//! go in it (they would end up in messages and in `ps`); each backend reads them from the
//! environment.

use std::fmt;

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    ZooKeeper,
    Etcd,
    Consul,
}

impl Scheme {
    pub const ALL: [(&'static str, Scheme); 3] = [
        ("zk", Scheme::ZooKeeper),
        ("etcd", Scheme::Etcd),
        ("consul", Scheme::Consul),
    ];

    /// The port a host without one gets: each server's well-known client port.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::ZooKeeper => 2181,
            Scheme::Etcd => 2379,
            Scheme::Consul => 8500,
        }
    }
}

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    pub scheme: Scheme,
    /// `host:port`, in the URL's order (a default port filled in).
    pub hosts: Vec<String>,
    /// The key prefix without leading or trailing `/` (`off` when the URL has none).
    pub prefix: String,
}

/// The prefix a URL without a path gets.
pub const DEFAULT_PREFIX: &str = "off";

impl StoreUrl {
    /// Parses `text`; the error is one line naming the URL (never its credentials).
    pub fn parse(text: &str) -> Result<StoreUrl, String> {
        let bad = |why: &str| format!("store URL `{}`: {why}", redact(text));
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("expected <scheme>://<host:port>[,...]/<prefix>"))?;
        let scheme = Scheme::ALL
            .iter()
            .find(|(name, _)| *name == scheme)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                bad(&format!(
                    "unknown scheme `{scheme}` (expected zk://, etcd:// or consul://)"
                ))
            })?;
        if rest.contains('?') || rest.contains('#') {
            return Err(bad("query strings and fragments are not supported"));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(bad(
                "credentials do not belong in the URL; set them in the environment (see the backend's docs)",
            ));
        }
        let mut hosts = Vec::new();
        for host in authority.split(',') {
            hosts.push(parse_host(host, scheme).map_err(|why| bad(&why))?);
        }
        let prefix = path.trim_matches('/');
        if prefix
            .split('/')
            .any(|part| part.is_empty() && !prefix.is_empty())
            || prefix.split('/').any(|part| part == "." || part == "..")
        {
            return Err(bad("the prefix has an empty, `.` or `..` part"));
        }
        let prefix = if prefix.is_empty() {
            DEFAULT_PREFIX
        } else {
            prefix
        };
        Ok(StoreUrl {
            scheme,
            hosts,
            prefix: prefix.to_string(),
        })
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = Scheme::ALL
            .iter()
            .find(|(_, s)| *s == self.scheme)
            .map(|(name, _)| *name)
            .expect("every scheme has a name");
        write!(f, "{scheme}://{}/{}", self.hosts.join(","), self.prefix)
    }
}

fn parse_host(host: &str, scheme: Scheme) -> Result<String, String> {
    if host.is_empty() {
        return Err("a host is empty".to_string());
    }
    let (name, port) = match host.rsplit_once(':') {
        // An IPv6 literal without a port: `[::1]`.
        Some((name, port)) if !port.ends_with(']') => (name, Some(port)),
        _ => (host, None),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._[]:".contains(c))
    {
        return Err(format!("`{host}` is not a host name or address"));
    }
    let port = match port {
        None => scheme.default_port(),
        Some(port) => match port.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(format!("port `{port}` of `{host}` is not in 1..=65535")),
        },
    };
    Ok(format!("{name}:{port}"))
}

/// `text` with anything that looks like credentials (`user:password@`) cut out, for messages.
pub fn redact(text: &str) -> String {
    match text.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => text.to_string(),
            }
        }
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_with_hosts_and_prefix() {
        let zk = StoreUrl::parse("zk://zk1:2181,zk2:2182/off/a").unwrap();
        assert_eq!(zk.scheme, Scheme::ZooKeeper);
        assert_eq!(zk.hosts, ["zk1:2181", "zk2:2182"]);
        assert_eq!(zk.prefix, "off/a");
        let etcd = StoreUrl::parse("etcd://10.0.0.5:2379/off").unwrap();
        assert_eq!((etcd.scheme, etcd.prefix.as_str()), (Scheme::Etcd, "off"));
        let consul = StoreUrl::parse("consul://c").unwrap();
        assert_eq!(consul.hosts, ["c:8500"]);
        assert_eq!(consul.prefix, DEFAULT_PREFIX);
        assert_eq!(consul.to_string(), "consul://c:8500/off");
    }

    #[test]
    fn bad_urls_are_named_in_one_line() {
        let err = StoreUrl::parse("redis://h:6379/off").unwrap_err();
        assert!(err.contains("`redis://h:6379/off`"), "{err}");
        assert!(err.contains("unknown scheme `redis`"), "{err}");
        for (url, why) in [
            ("h:2379", "expected <scheme>://"),
            ("etcd://h:99999/off", "port `99999`"),
            ("etcd://h:2379,/off", "a host is empty"),
            ("etcd://h:2379/a//b", "empty"),
            ("etcd://h:2379/off?x=1", "query"),
            ("etcd://h o:2379/off", "not a host name"),
        ] {
            let err = StoreUrl::parse(url).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
            assert!(!err.contains('\n'), "{url}: {err}");
        }
    }

    #[test]
    fn credentials_are_refused_and_never_quoted() {
        let err = StoreUrl::parse("etcd://root:s3cret@h:2379/off").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(err.contains("environment"), "{err}");
    }
}
