//! Names of tenant objects in Postgres and the marker that proves tenantd owns them.
//!
//! Every identifier and literal that reaches tenantdb's SQL is built here, from
//! a uid that has been validated first, and is quoted with `postgres-protocol`'s
//! escaping. DDL cannot take bind parameters, so this quoting is the only thing
//! between a name and the SQL text.
//!
//! # Guarantees
//!
//! - A [`Uid`] holds exactly 32 characters of `[0-9a-f]`; no other string can
//!   become one.
//! - [`schema_name`] and [`role_name`] fail for anything else, before a name
//!   is built.
//! - [`parse_schema_name`] and [`parse_role_name`] are the exact inverses: a
//!   catalog name is a tenant name only if it parses.

use super::{Error, Result};

/// Prefix of every tenant schema: `tenant_<uid>`.
const SCHEMA_PREFIX: &str = "tenant_";
/// Prefix of every tenant login role: `tenant_user_<uid>`.
const ROLE_PREFIX: &str = "tenant_user_";
/// Length of a uid: a UUID's 128 bits as lowercase hex without dashes.
const UID_LEN: usize = 32;

/// A validated tenant uid: exactly 32 lowercase hex characters.
///
/// The uid is opaque and carries nothing of the customer's name, because
/// every tenant role can read the catalog and so every object name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uid<'a>(&'a str);

impl<'a> Uid<'a> {
    /// Validates `uid`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUid`] unless `uid` is exactly 32 characters of `[0-9a-f]`.
    pub fn parse(uid: &'a str) -> Result<Self> {
        let valid = uid.len() == UID_LEN
            && uid
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Self(uid))
        } else {
            Err(Error::InvalidUid {
                uid: uid.to_owned(),
            })
        }
    }

    /// The uid itself.
    pub fn as_str(self) -> &'a str {
        self.0
    }

    /// The tenant's schema name, unquoted: `tenant_<uid>`.
    pub fn schema(self) -> String {
        format!("{SCHEMA_PREFIX}{}", self.0)
    }

    /// The tenant's login role name, unquoted: `tenant_user_<uid>`.
    pub fn role(self) -> String {
        format!("{ROLE_PREFIX}{}", self.0)
    }

    /// The schema name as a quoted SQL identifier.
    pub fn schema_ident(self) -> String {
        quote_ident(&self.schema())
    }

    /// The role name as a quoted SQL identifier.
    pub fn role_ident(self) -> String {
        quote_ident(&self.role())
    }

    /// The ownership marker: the exact comment tenantd puts on the schema and
    /// the role, `tenantd:managed uid=<uid>`.
    pub fn marker(self) -> String {
        format!("tenantd:managed uid={}", self.0)
    }

    /// Whether `comment` (from `obj_description`/`shobj_description`) is this
    /// uid's marker. A missing comment, or another uid's marker, is not.
    pub fn is_marker(self, comment: Option<&str>) -> bool {
        comment == Some(self.marker().as_str())
    }
}

/// The schema name of the tenant with `uid`: `tenant_<uid>`.
///
/// # Errors
///
/// [`Error::InvalidUid`] if `uid` is not 32 lowercase hex characters.
pub fn schema_name(uid: &str) -> Result<String> {
    Uid::parse(uid).map(Uid::schema)
}

/// The login role name of the tenant with `uid`: `tenant_user_<uid>`.
///
/// # Errors
///
/// [`Error::InvalidUid`] if `uid` is not 32 lowercase hex characters.
pub fn role_name(uid: &str) -> Result<String> {
    Uid::parse(uid).map(Uid::role)
}

/// The uid in a schema name, if the name is exactly `tenant_<uid>`.
///
/// A role-shaped name (`tenant_user_...`) is not a schema name: its remainder
/// is not a uid.
pub fn parse_schema_name(name: &str) -> Option<Uid<'_>> {
    name.strip_prefix(SCHEMA_PREFIX)
        .and_then(|uid| Uid::parse(uid).ok())
}

/// The uid in a role name, if the name is exactly `tenant_user_<uid>`.
pub fn parse_role_name(name: &str) -> Option<Uid<'_>> {
    name.strip_prefix(ROLE_PREFIX)
        .and_then(|uid| Uid::parse(uid).ok())
}

/// Quotes an identifier for DDL.
pub(super) fn quote_ident(name: &str) -> String {
    postgres_protocol::escape::escape_identifier(name)
}

/// Quotes a string literal for DDL.
pub(super) fn quote_literal(value: &str) -> String {
    postgres_protocol::escape::escape_literal(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn uid_should_accept_32_lowercase_hex_characters() {
        let uid = Uid::parse(UID).expect("a 32-char lowercase hex uid is valid");
        assert_eq!(uid.schema(), format!("tenant_{UID}"));
        assert_eq!(uid.role(), format!("tenant_user_{UID}"));
        assert_eq!(uid.schema_ident(), format!("\"tenant_{UID}\""));
        assert_eq!(uid.role_ident(), format!("\"tenant_user_{UID}\""));
    }

    #[test]
    fn uid_should_reject_anything_else() {
        for bad in [
            "",
            "0123456789abcdef0123456789abcde",   // 31 chars
            "0123456789abcdef0123456789abcdef0", // 33 chars
            "0123456789ABCDEF0123456789ABCDEF",  // upper case
            "0123456789abcdef0123456789abcdeg",  // not hex
            "01234567-89ab-cdef-0123-456789ab",  // dashes
            "0123456789abcdef\"; DROP ROLE x;--",
            "0123456789abcdef0123456789abcde\u{e9}",
        ] {
            assert!(
                matches!(Uid::parse(bad), Err(Error::InvalidUid { .. })),
                "{bad:?} must not be accepted as a uid"
            );
            assert!(schema_name(bad).is_err() && role_name(bad).is_err());
        }
    }

    #[test]
    fn marker_should_match_only_the_exact_text_for_the_same_uid() {
        let uid = Uid::parse(UID).unwrap();
        let other = "ffffffffffffffffffffffffffffffff";
        assert!(uid.is_marker(Some(&format!("tenantd:managed uid={UID}"))));
        assert!(!uid.is_marker(None));
        assert!(!uid.is_marker(Some("")));
        assert!(!uid.is_marker(Some(&format!("tenantd:managed uid={other}"))));
        assert!(!uid.is_marker(Some(&format!("tenantd:managed uid={UID} "))));
    }

    #[test]
    fn parse_names_should_invert_the_builders_and_nothing_else() {
        let uid = Uid::parse(UID).unwrap();
        assert_eq!(parse_schema_name(&uid.schema()), Some(uid));
        assert_eq!(parse_role_name(&uid.role()), Some(uid));
        // A role name must not be mistaken for a schema name and vice versa.
        assert_eq!(parse_schema_name(&uid.role()), None);
        assert_eq!(parse_role_name(&uid.schema()), None);
        assert_eq!(parse_schema_name("tenant_settings"), None);
        assert_eq!(parse_schema_name(&format!("Tenant_{UID}")), None);
    }
}
