//! Email addresses: a practical subset of RFC 5322 that real mail systems accept.
//!
//! Accepted: `local@domain` where the local part is dot-separated atoms of letters, digits and
//! ``!#$%&'*+/=?^_`{|}~-`` (no quoted strings, no comments, no IP literals), and the domain is
//! at least two DNS labels (letters, digits, hyphens; not starting or ending with a hyphen).
//! At most 254 characters in all and 64 in the local part (RFC 5321). The domain is
//! lowercased; the local part is kept as typed (it may be case-sensitive on the receiving
//! side), while uniqueness ignores case (see `store::accounts`).

use crate::resource::FieldError;

pub const MAX_LENGTH: usize = 254;
const MAX_LOCAL: usize = 64;
const ATEXT_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";

/// The normalized address (trimmed, domain lowercased), or a field error on `field`.
pub fn normalize(input: &str, field: &str) -> Result<String, FieldError> {
    let error = |rule: &str, message: &str| FieldError {
        field: field.to_owned(),
        rule: rule.to_owned(),
        message: message.to_owned(),
    };
    let input = input.trim();
    if input.is_empty() {
        return Err(error("required", "enter your email address"));
    }
    if input.len() > MAX_LENGTH {
        return Err(error(
            "maxLength",
            &format!("must be at most {MAX_LENGTH} characters"),
        ));
    }
    let Some((local, domain)) = input.rsplit_once('@') else {
        return Err(error("format", "must look like name@example.com"));
    };
    let atom_ok = |atom: &str| {
        !atom.is_empty()
            && atom
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ATEXT_SPECIALS.contains(c))
    };
    if local.len() > MAX_LOCAL || !local.split('.').all(atom_ok) {
        return Err(error(
            "format",
            "the part before @ may hold letters, digits, dots (not two in a row, not at either end) and !#$%&'*+/=?^_`{|}~-",
        ));
    }
    let domain = domain.to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(error(
            "format",
            "the part after @ must be a domain such as example.com",
        ));
    }
    Ok(format!("{local}@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_kept_with_a_lowercase_domain() {
        assert_eq!(
            normalize(" Ada.Lovelace+fresco@Example.ORG ", "email").unwrap(),
            "Ada.Lovelace+fresco@example.org"
        );
        assert_eq!(
            normalize("o'brien@mail.co.uk", "email").unwrap(),
            "o'brien@mail.co.uk"
        );
    }

    #[test]
    fn invalid_addresses_are_refused_with_the_field_and_rule() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a b@example.com",
            "a@exa_mple.com",
            "a@-example.com",
            "a@example..com",
            "\"quoted\"@example.com",
            "a@[127.0.0.1]",
        ] {
            let error = normalize(bad, "email").expect_err(bad);
            assert_eq!(error.field, "email");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(normalize(&long, "email").is_err(), "local part over 64");
        let very_long = format!("a@{}.com", "b".repeat(60).repeat(5));
        assert_eq!(
            normalize(&very_long, "email").unwrap_err().rule,
            "maxLength"
        );
    }
}
