//! The DDL and DCL statements tenantdb issues, as text.
//!
//! Postgres cannot bind parameters into DDL, so these statements are built as
//! strings. A [`Ddl`] can only be made by the constructors below.
//!
//! # Guarantees
//!
//! - Every tenant identifier comes from a validated [`Uid`] and every
//!   identifier is quoted with `escape_identifier`, every literal with
//!   `escape_literal`; nothing else is interpolated.
//! - The only password material is a SCRAM verifier, checked by the caller
//!   ([`super::password::is_scram_verifier`]) before it gets here.
//! - Only [`super::TenantDb`]'s write helper turns a [`Ddl`] into a query, so
//!   every statement is counted in [`super::DbCallStats::writes`].

use std::time::Duration;

use super::names::{Uid, quote_ident, quote_literal};

/// One DDL or DCL statement, built from validated and quoted parts only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ddl(String);

impl Ddl {
    /// The SQL text.
    #[cfg(test)]
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    /// The SQL text, consumed.
    pub(super) fn into_string(self) -> String {
        self.0
    }

    /// The statement with any password verifier blanked, for logs.
    pub(super) fn redacted(&self) -> &str {
        match self.0.find(" PASSWORD ") {
            Some(at) => &self.0[..at],
            None => &self.0,
        }
    }
}

/// The attributes every tenant role has: it can log in and nothing more.
///
/// `NOINHERIT` keeps any role the tenant is (wrongly) made a member of from
/// lending it privileges; the rest keep it from leaving its sandbox.
const ROLE_ATTRIBUTES: &str =
    "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS";

/// `CREATE ROLE` with every attribute, the connection limit and the password.
pub(super) fn create_role(uid: Uid<'_>, connection_limit: i32, verifier: &str) -> Ddl {
    Ddl(format!(
        "CREATE ROLE {} {ROLE_ATTRIBUTES} CONNECTION LIMIT {connection_limit} PASSWORD {}",
        uid.role_ident(),
        quote_literal(verifier),
    ))
}

/// `ALTER ROLE` back to the attributes and connection limit of [`create_role`].
pub(super) fn alter_role_attributes(uid: Uid<'_>, connection_limit: i32) -> Ddl {
    Ddl(format!(
        "ALTER ROLE {} {ROLE_ATTRIBUTES} CONNECTION LIMIT {connection_limit}",
        uid.role_ident(),
    ))
}

/// `ALTER ROLE ... PASSWORD` with a verifier.
pub(super) fn set_password(uid: Uid<'_>, verifier: &str) -> Ddl {
    Ddl(format!(
        "ALTER ROLE {} PASSWORD {}",
        uid.role_ident(),
        quote_literal(verifier),
    ))
}

/// `ALTER ROLE ... NOLOGIN`, so no new session starts while a tenant is dropped.
pub(super) fn nologin(uid: Uid<'_>) -> Ddl {
    Ddl(format!("ALTER ROLE {} NOLOGIN", uid.role_ident()))
}

/// The ownership marker on the role.
pub(super) fn comment_role(uid: Uid<'_>) -> Ddl {
    Ddl(format!(
        "COMMENT ON ROLE {} IS {}",
        uid.role_ident(),
        quote_literal(&uid.marker()),
    ))
}

/// `CONNECT` on the platform database, which `PUBLIC` no longer has.
pub(super) fn grant_connect(database: &str, uid: Uid<'_>) -> Ddl {
    Ddl(format!(
        "GRANT CONNECT ON DATABASE {} TO {}",
        quote_ident(database),
        uid.role_ident(),
    ))
}

/// The role's default `search_path`: its own schema only.
pub(super) fn set_search_path(uid: Uid<'_>) -> Ddl {
    Ddl(format!(
        "ALTER ROLE {} SET search_path = {}",
        uid.role_ident(),
        uid.schema_ident(),
    ))
}

/// The role's default `statement_timeout`, in whole milliseconds.
pub(super) fn set_statement_timeout(uid: Uid<'_>, timeout: Duration) -> Ddl {
    Ddl(format!(
        "ALTER ROLE {} SET statement_timeout = {}",
        uid.role_ident(),
        timeout_millis(timeout),
    ))
}

/// `statement_timeout` as Postgres stores it for [`set_statement_timeout`]:
/// an integer of milliseconds, clamped to the largest value Postgres accepts.
pub(super) fn timeout_millis(timeout: Duration) -> i64 {
    timeout.as_millis().min(i32::MAX as u128) as i64
}

/// `CREATE SCHEMA ... AUTHORIZATION <role>`.
///
/// Deliberately without `IF NOT EXISTS`: a schema that appeared between the
/// ownership check and this statement must make it fail, not be stamped with
/// our marker by the `COMMENT` that follows in the same transaction.
pub(super) fn create_schema(uid: Uid<'_>) -> Ddl {
    Ddl(format!(
        "CREATE SCHEMA {} AUTHORIZATION {}",
        uid.schema_ident(),
        uid.role_ident(),
    ))
}

/// The ownership marker on the schema.
pub(super) fn comment_schema(uid: Uid<'_>) -> Ddl {
    Ddl(format!(
        "COMMENT ON SCHEMA {} IS {}",
        uid.schema_ident(),
        quote_literal(&uid.marker()),
    ))
}

/// Gives the schema back to the tenant role.
pub(super) fn alter_schema_owner(uid: Uid<'_>) -> Ddl {
    Ddl(format!(
        "ALTER SCHEMA {} OWNER TO {}",
        uid.schema_ident(),
        uid.role_ident(),
    ))
}

/// Drops the schema and everything in it.
pub(super) fn drop_schema(uid: Uid<'_>) -> Ddl {
    Ddl(format!("DROP SCHEMA {} CASCADE", uid.schema_ident()))
}

/// Drops whatever else the role owns in this database and revokes its grants
/// (including `CONNECT`), so `DROP ROLE` finds no dependency.
pub(super) fn drop_owned(uid: Uid<'_>) -> Ddl {
    Ddl(format!("DROP OWNED BY {}", uid.role_ident()))
}

/// Drops the role.
pub(super) fn drop_role(uid: Uid<'_>) -> Ddl {
    Ddl(format!("DROP ROLE {}", uid.role_ident()))
}

/// Hardening: `PUBLIC` loses every privilege on schema `public`.
pub(super) fn revoke_public_schema() -> Ddl {
    Ddl("REVOKE ALL ON SCHEMA public FROM PUBLIC".to_owned())
}

/// Hardening: `PUBLIC` loses `TEMPORARY` and `CONNECT` on the platform database.
pub(super) fn revoke_public_database(database: &str) -> Ddl {
    Ddl(format!(
        "REVOKE TEMPORARY, CONNECT ON DATABASE {} FROM PUBLIC",
        quote_ident(database),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0123456789abcdef0123456789abcdef";

    fn uid() -> Uid<'static> {
        Uid::parse(UID).expect("the test uid is valid")
    }

    #[test]
    fn create_role_should_quote_the_role_and_the_verifier() {
        let ddl = create_role(uid(), 10, "SCRAM-SHA-256$4096:c2FsdA==$a:b");
        assert_eq!(
            ddl.as_str(),
            format!(
                "CREATE ROLE \"tenant_user_{UID}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE \
                 NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 10 \
                 PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a:b'"
            )
        );
        assert!(!ddl.redacted().contains("SCRAM"), "{}", ddl.redacted());
    }

    #[test]
    fn literals_and_database_names_should_be_escaped() {
        let ddl = set_password(uid(), "x'; DROP ROLE postgres; --");
        assert!(
            ddl.as_str()
                .ends_with("PASSWORD 'x''; DROP ROLE postgres; --'")
        );
        let ddl = grant_connect("we\"ird", uid());
        assert!(
            ddl.as_str()
                .starts_with("GRANT CONNECT ON DATABASE \"we\"\"ird\" TO")
        );
    }

    #[test]
    fn hardening_statements_should_be_exact() {
        assert_eq!(
            revoke_public_schema().as_str(),
            "REVOKE ALL ON SCHEMA public FROM PUBLIC"
        );
        assert_eq!(
            revoke_public_database("tenantd").as_str(),
            "REVOKE TEMPORARY, CONNECT ON DATABASE \"tenantd\" FROM PUBLIC"
        );
    }

    #[test]
    fn settings_should_name_the_own_schema_and_milliseconds() {
        assert_eq!(
            set_search_path(uid()).as_str(),
            format!("ALTER ROLE \"tenant_user_{UID}\" SET search_path = \"tenant_{UID}\"")
        );
        assert_eq!(
            set_statement_timeout(uid(), Duration::from_secs(30)).as_str(),
            format!("ALTER ROLE \"tenant_user_{UID}\" SET statement_timeout = 30000")
        );
        assert_eq!(
            timeout_millis(Duration::from_secs(u64::MAX)),
            i32::MAX as i64
        );
    }
}
