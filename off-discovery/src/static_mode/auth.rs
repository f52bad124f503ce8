//! How static mode's requests and responses prove they come from a node that holds the cluster
//! token, without the token on the wire: an HMAC-SHA256, keyed by the token, over the method, the
//! path, a timestamp, a nonce and the body (a response: over the request's nonce, its status and
//! its body). A nonce is accepted once, and a timestamp only within [`MAX_CLOCK_SKEW`], so a
//! recorded request cannot be replayed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::token::{ClusterToken, hex, unhex};

pub const TIME_HEADER: &str = "X-Off-Time";
pub const NONCE_HEADER: &str = "X-Off-Nonce";
pub const SIGNATURE_HEADER: &str = "X-Off-Signature";

/// How far a request's timestamp may be from this node's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The authentication headers of one request.
#[derive(Debug, Clone)]
pub struct RequestAuth {
    pub time: String,
    pub nonce: String,
    pub signature: String,
}

/// Signs a request of `method` to `path` carrying `body`.
pub fn sign_request(token: &ClusterToken, method: &str, path: &str, body: &[u8]) -> RequestAuth {
    let time = unix_now().to_string();
    let nonce = hex(&rand::random::<[u8; 16]>());
    let signature = hex(&request_mac(token, method, path, &time, &nonce, body));
    RequestAuth {
        time,
        nonce,
        signature,
    }
}

fn request_mac(
    token: &ClusterToken,
    method: &str,
    path: &str,
    time: &str,
    nonce: &str,
    body: &[u8],
) -> [u8; 32] {
    // The fields hold no newline (checked on receipt), so the joined text is unambiguous.
    let head = format!("off-request-v1\n{method}\n{path}\n{time}\n{nonce}\n");
    token.mac(&[head.as_bytes(), body])
}

fn response_parts(nonce: &str, status: u16) -> String {
    format!("off-response-v1\n{nonce}\n{status}\n")
}

/// The signature of a response with `status` and `body` to the request with `nonce`.
pub fn sign_response(token: &ClusterToken, nonce: &str, status: u16, body: &[u8]) -> String {
    hex(&token.mac(&[response_parts(nonce, status).as_bytes(), body]))
}

/// Whether a response's signature is right for the request with `nonce`.
pub fn verify_response(
    token: &ClusterToken,
    nonce: &str,
    status: u16,
    body: &[u8],
    signature: Option<&str>,
) -> bool {
    signature
        .and_then(unhex)
        .is_some_and(|sig| token.verify(&[response_parts(nonce, status).as_bytes(), body], &sig))
}

/// Checks incoming requests, remembering the nonces it accepted.
#[derive(Debug)]
pub struct Verifier {
    token: ClusterToken,
    /// Accepted nonces with their timestamps, forgotten once outside the clock window.
    seen: Mutex<HashMap<String, u64>>,
}

impl Verifier {
    pub fn new(token: ClusterToken) -> Verifier {
        Verifier {
            token,
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn token(&self) -> &ClusterToken {
        &self.token
    }

    /// `Ok` when the headers prove the request comes from a holder of the token; else why not.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        time: Option<&str>,
        nonce: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), &'static str> {
        let (Some(time), Some(nonce), Some(signature)) = (time, nonce, signature) else {
            return Err("no signature");
        };
        let stamp: u64 = time.parse().map_err(|_| "malformed timestamp")?;
        let sane =
            |s: &str| (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !sane(nonce) {
            return Err("malformed nonce");
        }
        let signature = unhex(signature).ok_or("malformed signature")?;
        let head = format!("off-request-v1\n{method}\n{path}\n{time}\n{nonce}\n");
        if path.contains('\n') || !self.token.verify(&[head.as_bytes(), body], &signature) {
            return Err("bad signature (another cluster token?)");
        }
        let now = unix_now();
        let skew = MAX_CLOCK_SKEW.as_secs();
        if stamp.abs_diff(now) > skew {
            return Err("timestamp outside the 5-minute window (clocks apart, or a replay)");
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, &mut t| t.abs_diff(now) <= skew);
        if seen.insert(nonce.to_string(), stamp).is_some() {
            return Err("nonce already used (a replay)");
        }
        Ok(())
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> ClusterToken {
        ClusterToken::new("a-cluster-token-0123456789")
    }

    #[test]
    fn a_signed_request_passes_once() {
        let verifier = Verifier::new(token());
        let auth = sign_request(&token(), "POST", "/off/v1/hello", b"{}");
        let check = |method: &str, path: &str, body: &[u8]| {
            verifier.check(
                method,
                path,
                Some(&auth.time),
                Some(&auth.nonce),
                Some(&auth.signature),
                body,
            )
        };
        assert_eq!(check("POST", "/off/v1/hello", b"{}"), Ok(()));
        assert_eq!(
            check("POST", "/off/v1/hello", b"{}"),
            Err("nonce already used (a replay)")
        );
        assert!(check("POST", "/off/v1/result", b"{}").is_err());
        assert!(check("GET", "/off/v1/hello", b"{}").is_err());
        assert!(check("POST", "/off/v1/hello", b"{\"x\":1}").is_err());
    }

    #[test]
    fn another_token_a_missing_header_or_an_old_request_is_refused() {
        let verifier = Verifier::new(token());
        let other = ClusterToken::new("another-token-0123456789");
        let auth = sign_request(&other, "POST", "/p", b"");
        let refused = verifier
            .check(
                "POST",
                "/p",
                Some(&auth.time),
                Some(&auth.nonce),
                Some(&auth.signature),
                b"",
            )
            .unwrap_err();
        assert!(refused.starts_with("bad signature"), "{refused}");
        assert_eq!(
            verifier.check(
                "POST",
                "/p",
                None,
                Some(&auth.nonce),
                Some(&auth.signature),
                b""
            ),
            Err("no signature")
        );
        let old = (unix_now() - 3600).to_string();
        let nonce = "00112233445566778899aabbccddeeff";
        let sig = hex(&request_mac(&token(), "POST", "/p", &old, nonce, b""));
        let refused = verifier
            .check("POST", "/p", Some(&old), Some(nonce), Some(&sig), b"")
            .unwrap_err();
        assert!(refused.starts_with("timestamp outside"), "{refused}");
    }

    #[test]
    fn responses_are_bound_to_their_request() {
        let sig = sign_response(&token(), "n1", 200, b"ok");
        assert!(verify_response(&token(), "n1", 200, b"ok", Some(&sig)));
        assert!(!verify_response(&token(), "n2", 200, b"ok", Some(&sig)));
        assert!(!verify_response(&token(), "n1", 409, b"ok", Some(&sig)));
        assert!(!verify_response(&token(), "n1", 200, b"ok", None));
    }
}
