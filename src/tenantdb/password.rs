//! Tenant database passwords and the SCRAM verifiers that stand for them.
//!
//! # Guarantees
//!
//! - [`generate_password`] draws 40 characters of `[A-Za-z0-9]` (about 238
//!   bits) from `rand`'s thread-local generator, a ChaCha CSPRNG seeded and
//!   periodically reseeded from the operating system. The alphabet needs no
//!   escaping anywhere, in particular not inside a `DATABASE_URL`.
//! - [`scram_verifier`] hashes on the client, so the password itself never
//!   reaches the server, its statement log or `pg_stat_activity`: only the
//!   salted verifier does.

use rand::Rng;
use rand::distr::Alphanumeric;

/// Length of a generated password.
pub const PASSWORD_LEN: usize = 40;

/// Prefix of every verifier [`scram_verifier`] returns.
pub(super) const SCRAM_PREFIX: &str = "SCRAM-SHA-256$";

/// A new random password of [`PASSWORD_LEN`] characters of `[A-Za-z0-9]`.
pub fn generate_password() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(PASSWORD_LEN)
        .map(char::from)
        .collect()
}

/// The SCRAM-SHA-256 verifier of `password`, with a fresh random salt, in the
/// form Postgres stores in `pg_authid.rolpassword`.
///
/// Two calls return different verifiers for the same password (the salt
/// differs), so drift is detected by comparing the stored verifier with the
/// one tenantd set, never by re-hashing.
pub fn scram_verifier(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

/// Whether `verifier` looks like a SCRAM-SHA-256 verifier, so a plain
/// password handed over by mistake is refused rather than sent to the server.
pub(super) fn is_scram_verifier(verifier: &str) -> bool {
    verifier.starts_with(SCRAM_PREFIX) && verifier.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_should_be_long_url_safe_and_distinct() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert!(a.len() >= 32, "passwords must be at least 32 characters");
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a:?}");
        assert_ne!(a, b, "two generated passwords must differ");
    }

    #[test]
    fn verifier_should_be_scram_and_salted_per_call() {
        let v1 = scram_verifier("secret");
        let v2 = scram_verifier("secret");
        assert!(is_scram_verifier(&v1), "{v1:?}");
        assert!(!v1.contains("secret"));
        assert_ne!(v1, v2, "each verifier must have its own salt");
        assert!(!is_scram_verifier("secret"));
        assert!(!is_scram_verifier("md5abcdef"));
    }
}
