//! The cluster token: one shared secret per cluster. It names the cluster's keyspace in a store
//! (dynamic mode derives the name) and keys the HMAC of static mode's requests; the token itself never crosses the wire, never
//! reaches argv, a log line or an error message.

use std::fmt;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The environment variable the token may come from (else `--token-file`).
pub const TOKEN_ENV: &str = "OFF_TOKEN";

/// Shortest token accepted: a guessable token would let anyone on the network join the cluster.
pub const MIN_TOKEN_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// The shared cluster token. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterToken(String);

impl fmt::Debug for ClusterToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterToken(<redacted>)")
    }
}

impl ClusterToken {
    /// The token from `--token-file` (first), else from `OFF_TOKEN`. Surrounding whitespace (the
    /// file's final newline) is not part of it. Errors name the source, never the value.
    pub fn load(file: Option<&Path>, env: Option<String>) -> Result<ClusterToken, String> {
        let (text, source) = match (file, env) {
            (Some(path), _) => match std::fs::read_to_string(path) {
                Ok(text) => (text, format!("--token-file {}", path.display())),
                Err(e) => return Err(format!("cannot read --token-file {}: {e}", path.display())),
            },
            (None, Some(text)) => (text, TOKEN_ENV.to_string()),
            (None, None) => {
                return Err(format!(
                    "peer mode needs the cluster token: --token-file FILE or {TOKEN_ENV} (the same on every node; never on the command line)"
                ));
            }
        };
        let token = text.trim();
        if token.chars().count() < MIN_TOKEN_LEN {
            return Err(format!(
                "{source}: the cluster token must be at least {MIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 32`)"
            ));
        }
        Ok(ClusterToken(token.to_string()))
    }

    /// A token from its text (tests, and callers that hold it already).
    pub fn new(token: impl Into<String>) -> ClusterToken {
        ClusterToken(token.into())
    }

    /// The token itself, for what derives from it (dynamic mode's keyspace name). Never pass it
    /// to argv, a log line, an event or a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// HMAC-SHA256 of `parts` (concatenated) keyed by the token.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.hmac();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `signature` is the HMAC of `parts`, compared in constant time.
    pub fn verify(&self, parts: &[&[u8]], signature: &[u8]) -> bool {
        let mut mac = self.hmac();
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(signature).is_ok()
    }

    fn hmac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(self.0.as_bytes()).expect("HMAC takes a key of any length")
    }
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lowercase or uppercase hexadecimal, or `None`.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_comes_first_and_errors_never_quote_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-the-file-0123456789\n").unwrap();
        let env = Some("from-the-environment-0123".to_string());
        let token = ClusterToken::load(Some(&file), env.clone()).unwrap();
        assert_eq!(token, ClusterToken::new("from-the-file-0123456789"));
        assert_eq!(format!("{token:?}"), "ClusterToken(<redacted>)");
        let token = ClusterToken::load(None, env).unwrap();
        assert_eq!(token, ClusterToken::new("from-the-environment-0123"));

        let e = ClusterToken::load(None, None).unwrap_err();
        assert!(e.contains("--token-file FILE or OFF_TOKEN"), "{e}");
        let e = ClusterToken::load(None, Some("short-secret".into())).unwrap_err();
        assert!(
            e.starts_with("OFF_TOKEN: the cluster token must be at least 16"),
            "{e}"
        );
        assert!(!e.contains("short-secret"), "{e}");
        let missing = dir.path().join("missing");
        let e = ClusterToken::load(Some(&missing), None).unwrap_err();
        assert!(e.starts_with("cannot read --token-file "), "{e}");
    }

    #[test]
    fn macs_depend_on_the_token_and_every_byte() {
        let a = ClusterToken::new("token-a-0123456789");
        let b = ClusterToken::new("token-b-0123456789");
        let sig = a.mac(&[b"POST\n", b"/x"]);
        assert!(a.verify(&[b"POST\n/x"], &sig));
        assert!(!a.verify(&[b"POST\n/y"], &sig));
        assert!(!b.verify(&[b"POST\n/x"], &sig));
        assert_eq!(unhex(&hex(&sig)).unwrap(), sig);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
    }
}
