//! Passwords: argon2id hashing with OWASP's parameters, and the rules a new password must meet.
//!
//! # Guarantees
//! - Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) with a fresh
//!   128-bit salt; verification compares in constant time (the `argon2` crate's `verify_password`).
//! - [`needs_rehash`] says when a stored hash was made with other parameters, so raising the
//!   parameters here upgrades hashes at the next login.
//!
//! # Caveats
//! - Hashing takes tens of milliseconds of CPU on purpose; async callers run it on the
//!   blocking pool.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::resource::{FieldError, ValidationErrors};

/// OWASP Password Storage Cheat Sheet (2023+): argon2id, 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

pub const MIN_LENGTH: usize = 10;
/// Longer inputs only cost hashing time; 128 characters is far beyond any passphrase.
pub const MAX_LENGTH: usize = 128;

/// Passwords that meet the length rule but are among the first tried by any attacker.
const COMMON: &[&str] = &[
    "password123",
    "password1234",
    "password12345",
    "passw0rd123",
    "1234567890",
    "12345678910",
    "0123456789",
    "qwertyuiop",
    "qwertyuiop1",
    "qwerty12345",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "iloveyou123",
    "letmein123",
    "welcome123",
    "admin12345",
    "administrator",
    "abc1234567",
    "abcdefghij",
    "football123",
    "baseball123",
    "sunshine123",
    "princess123",
    "dragon12345",
    "monkey12345",
    "trustno1trustno1",
    "changeme123",
    "passwordpassword",
    "fresco12345",
    "tenantd12345",
];

fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("the OWASP parameters are valid"),
    )
}

/// Hashes a password with a fresh random salt.
pub fn hash(password: &str) -> String {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt length");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id with valid parameters does not fail")
        .to_string()
}

/// Whether `password` matches the stored PHC string; an unparsable hash matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a random password, verified against when the email is unknown, so that a
/// login for an unknown account costs the same time as one with a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&hex::encode(rand::random::<[u8; 16]>())))
}

/// Whether the stored hash used other parameters (or another algorithm) than [`hash`] would.
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return true;
    };
    let current = format!("m={MEMORY_KIB},t={ITERATIONS},p={LANES}");
    parsed.algorithm.as_str() != "argon2id"
        || parsed.version != Some(Version::V0x13 as u32)
        || parsed.params.to_string() != current
}

/// The rules for a new password, reported on `field` (e.g. `password`).
///
/// Length at least [`MIN_LENGTH`] (counted in characters), not made of one character class
/// only (all letters, all digits...), not the email or its local part, and not a common password.
pub fn check(password: &str, email: &str, field: &str) -> Result<(), ValidationErrors> {
    let error = |rule: &str, message: &str| FieldError {
        field: field.to_owned(),
        rule: rule.to_owned(),
        message: message.to_owned(),
    };
    let mut errors = Vec::new();
    let length = password.chars().count();
    if length < MIN_LENGTH {
        errors.push(error(
            "minLength",
            &format!("must be at least {MIN_LENGTH} characters (got {length})"),
        ));
    }
    if length > MAX_LENGTH {
        errors.push(error(
            "maxLength",
            &format!("must be at most {MAX_LENGTH} characters"),
        ));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_numeric()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if length > 0 && classes.iter().filter(|&&present| present).count() < 2 {
        errors.push(error(
            "characterClasses",
            "mix at least two kinds of characters: lower case, upper case, digits, symbols",
        ));
    }
    let lower = password.to_lowercase();
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if !email.is_empty() && (lower == email || (local.len() >= 3 && lower == local)) {
        errors.push(error("notEmail", "must not be your email address"));
    } else if COMMON.contains(&lower.as_str()) {
        errors.push(error(
            "common",
            "is one of the most common passwords; choose another",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(errors: Result<(), ValidationErrors>) -> Vec<String> {
        errors
            .err()
            .map_or_else(Vec::new, |e| e.0.into_iter().map(|e| e.rule).collect())
    }

    #[test]
    fn a_hash_verifies_its_password_only_and_uses_argon2id_with_owasp_params() {
        let stored = hash("correct horse 1");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse 1", &stored));
        assert!(!verify("correct horse 2", &stored));
        assert!(!verify("correct horse 1", "not a hash"));
        assert_ne!(
            stored,
            hash("correct horse 1"),
            "each hash has its own salt"
        );
        assert!(!needs_rehash(&stored));
    }

    #[test]
    fn hashes_with_weaker_params_need_a_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let stored = weak.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(verify("pw", &stored), "old parameters still verify");
        assert!(needs_rehash(&stored));
        assert!(!verify("anything", dummy_hash()));
    }

    #[test]
    fn password_rules_name_each_broken_rule() {
        assert_eq!(
            rules(check("Tr0ub4dor&3x", "a@b.io", "password")),
            Vec::<String>::new()
        );
        assert_eq!(rules(check("short1A", "a@b.io", "password")), ["minLength"]);
        assert_eq!(
            rules(check("abcdefghijkl", "a@b.io", "password")),
            ["characterClasses"]
        );
        assert_eq!(
            rules(check("123456789012", "a@b.io", "password")),
            ["characterClasses"]
        );
        assert_eq!(
            rules(check("Password123", "a@b.io", "password")),
            ["common"]
        );
        assert_eq!(
            rules(check(
                "Alice.Smith@example.com",
                "alice.smith@example.com",
                "password"
            )),
            ["notEmail"]
        );
        assert_eq!(
            rules(check("alice.smith", "alice.smith@example.com", "password")),
            ["notEmail"]
        );
        let errors = check("", "a@b.io", "newPassword").unwrap_err();
        assert_eq!(errors.0[0].field, "newPassword");
    }
}
