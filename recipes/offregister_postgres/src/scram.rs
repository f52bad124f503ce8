//! SCRAM-SHA-256 password verifiers, computed here so that the server is
//! sent `ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…'` and never the password
//! itself: a statement that fails is written to the server log in full.
//! The format is PostgreSQL's (`src/common/scram-common.c`):
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// PostgreSQL's default `scram_iterations`.
const ITERATIONS: u32 = 4096;

/// The verifier of `password` with a random 16-byte salt, or `None` when
/// the password is not printable ASCII: the server then applies SASLprep
/// (Unicode normalisation) itself, which this module does not reimplement.
pub fn verifier(password: &str) -> Option<String> {
    let salt: [u8; 16] = rand::random();
    verifier_with_salt(password, &salt)
}

/// What `ALTER ROLE … PASSWORD` gets: the verifier when there is one, else
/// the password (non-ASCII: the server hashes it after SASLprep).
pub fn password_for_server(password: &str) -> String {
    verifier(password).unwrap_or_else(|| password.to_string())
}

/// What `ALTER ROLE … PASSWORD` gets when the role has a verifier already:
/// one with the same salt and iterations (`stored`: `4096:<salt base64>`,
/// as [`salt_of`] reads it), so an unchanged password gives the stored
/// verifier again and the recipe can tell that nothing changed.
pub fn password_for_server_like(password: &str, stored: Option<&str>) -> String {
    let reused = stored.and_then(|s| {
        let (iterations, salt) = s.split_once(':')?;
        let salt = BASE64.decode(salt).ok()?;
        with_iterations(password, &salt, iterations.parse().ok()?)
    });
    reused.unwrap_or_else(|| password_for_server(password))
}

fn verifier_with_salt(password: &str, salt: &[u8]) -> Option<String> {
    with_iterations(password, salt, ITERATIONS)
}

fn with_iterations(password: &str, salt: &[u8], iterations: u32) -> Option<String> {
    if !password.bytes().all(|b| (0x20..0x7f).contains(&b)) || iterations == 0 {
        return None;
    }
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let hmac = |key: &[u8], data: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(data);
        mac.finalize().into_bytes()
    };
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    Some(format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        BASE64.encode(salt),
        BASE64.encode(stored_key),
        BASE64.encode(server_key)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_verifier_made_by_postgresql() {
        // `SET password_encryption = 'scram-sha-256'; CREATE ROLE t PASSWORD 'pw';`
        // on PostgreSQL 15 with this salt gives this rolpassword.
        let salt = BASE64.decode("jixOgElhMJtdpnyb9JCYUA==").unwrap();
        assert_eq!(verifier_with_salt("pw", &salt).unwrap(), EXPECTED_PW);
    }

    const EXPECTED_PW: &str = "SCRAM-SHA-256$4096:jixOgElhMJtdpnyb9JCYUA==$IwlcVKcvIZkNDImmKMV9DX0xkcLE92L+2b+WvYYMidU=:Ss5dK1YKlrJQ1iQ9Wt1Y00iLNdHCcDfbdXU0no56CcY=";

    #[test]
    fn the_stored_salt_gives_the_stored_verifier_again() {
        let stored = "4096:jixOgElhMJtdpnyb9JCYUA==";
        assert_eq!(password_for_server_like("pw", Some(stored)), EXPECTED_PW);
        assert_ne!(password_for_server_like("other", Some(stored)), EXPECTED_PW);
        let fresh = password_for_server_like("pw", Some("garbled"));
        assert!(fresh.starts_with("SCRAM-SHA-256$4096:"), "{fresh}");
        assert_eq!(
            password_for_server_like("pässword", Some(stored)),
            "pässword"
        );
    }

    #[test]
    fn random_salts_and_non_ascii_passwords() {
        let a = verifier("pw").unwrap();
        let b = verifier("pw").unwrap();
        assert_ne!(a, b, "each verifier has its own salt");
        assert!(a.starts_with("SCRAM-SHA-256$4096:"));
        assert_eq!(verifier("pässword"), None);
        assert_eq!(verifier("tab\there"), None);
    }
}
