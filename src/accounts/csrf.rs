//! CSRF tokens: random secrets compared in constant time.
//!
//! Two patterns, one comparison:
//! - **Synchronizer token** for logged-in users: each session stores a random `csrf_secret`;
//!   forms carry it in a hidden `csrf` field and scripts in the `X-CSRF-Token` header. A
//!   cross-site page cannot read it (same-origin policy), so it cannot forge the request.
//! - **Double-submit cookie** for anonymous forms (login, signup): a random token in an
//!   HttpOnly cookie must equal the form's `csrf` field. `SameSite=Lax` on every cookie, and
//!   the `__Host-` name prefix when served over https (a cookie that subdomains, such as
//!   tenants' apps, cannot set), keep an attacker from planting a matching cookie.

use subtle::ConstantTimeEq;

/// A new random token: 256 bits, hex.
pub fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Whether the presented token equals the expected one, in time independent of where they
/// differ. An empty expected token matches nothing.
pub fn matches(expected: &str, presented: Option<&str>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let token = new_token();
        assert_eq!(token.len(), 64);
        assert_ne!(token, new_token());
        assert!(matches(&token, Some(&token)));
        assert!(!matches(&token, Some(&token[..63])));
        assert!(!matches(&token, Some(&format!("{token}0"))));
        assert!(!matches(&token, Some("")));
        assert!(!matches(&token, None));
        assert!(!matches("", Some("")), "an empty secret never matches");
    }
}
