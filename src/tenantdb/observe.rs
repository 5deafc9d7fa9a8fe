//! What tenantd sees of tenant schemas and roles in the catalog.
//!
//! # Guarantees
//!
//! - [`TenantDb::observe`] costs two catalog queries (one for schemas, one for
//!   roles) however many tenants exist, plus one query per [`TenantDb`] the
//!   first time it is used (see [`TenantDb::session`]).
//! - Only objects whose name parses as a tenant name *and* whose comment is
//!   that uid's exact marker are reported as ours; a tenant-shaped name
//!   without it is listed in [`DbObservation::foreign`] and nothing else.
//! - Observing never writes.
//!
//! # Caveats
//!
//! - `pg_authid.rolpassword` is readable only by a superuser. Without that,
//!   [`ObservedRole::verifier`] is `None` and a password changed behind
//!   tenantd's back is **not** detected.
//! - A tenant owns its schema and so can rewrite the schema's comment. That
//!   turns its schema foreign: tenantd then refuses to touch it and reports
//!   it, which fails safe (nothing is dropped) but needs an operator.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::names::{self, Uid};
use super::{Error, Result, TenantDb, TenantDbConfig, ddl};

/// Everything tenantd owns in the database, or that looks like it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbObservation {
    /// Marker-verified tenant schemas, by uid.
    pub schemas: HashMap<String, ObservedSchema>,
    /// Marker-verified tenant roles, by uid.
    pub roles: HashMap<String, ObservedRole>,
    /// Sorted names of schemas and roles that are named like a tenant's but
    /// lack that tenant's marker. tenantd never alters or drops them.
    pub foreign: Vec<String>,
}

/// A tenant schema as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedSchema {
    /// The schema's owner.
    pub owner: String,
    /// Whether the owner is the tenant's own role, `tenant_user_<uid>`.
    pub owned_by_tenant_role: bool,
}

/// A tenant login role as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRole {
    /// `rolcanlogin`.
    pub can_login: bool,
    /// `pg_authid.rolpassword`, compared by the caller with the verifier it
    /// stored; `None` if tenantd's login cannot read `pg_authid` (or the role
    /// has no password).
    pub verifier: Option<String>,
    /// Whether the role holds `CONNECT` on the platform database through a
    /// grant of its own (a grant to `PUBLIC` does not count: hardening
    /// revokes it).
    pub has_connect: bool,
    /// Whether the role's default `search_path` is exactly its own schema.
    pub search_path_ok: bool,
    /// Whether the role is `NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT
    /// NOREPLICATION NOBYPASSRLS` with the configured connection limit.
    pub attributes_ok: bool,
    /// Whether the role's default `statement_timeout` is the configured one.
    pub statement_timeout_ok: bool,
}

impl ObservedRole {
    /// Whether the role needs no repair, given the verifier tenantd stored.
    ///
    /// An unreadable verifier counts as matching: drift there is invisible.
    pub fn is_converged(&self, stored_verifier: &str) -> bool {
        self.can_login
            && self.has_connect
            && self.search_path_ok
            && self.attributes_ok
            && self.statement_timeout_ok
            && self
                .verifier
                .as_deref()
                .is_none_or(|v| v == stored_verifier)
    }
}

/// Whether a name exists, and whether it carries our marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ownership {
    /// Nothing has the name.
    Missing,
    /// It exists with this uid's marker.
    Ours,
    /// It exists without this uid's marker.
    Foreign,
}

/// Ownership of one tenant's schema and role, from one catalog query.
#[derive(Debug, Clone)]
pub(super) struct Probe {
    pub(super) schema: Ownership,
    /// The schema's owner, if the schema exists.
    pub(super) schema_owner: Option<String>,
    pub(super) role: Ownership,
}

/// Schema rows: every name starting `tenant_` (the `_` escaped from `LIKE`).
const SCHEMAS_SQL: &str = "\
    SELECT n.nspname::text AS name, \
           pg_get_userbyid(n.nspowner)::text AS owner, \
           obj_description(n.oid, 'pg_namespace') AS marker \
    FROM pg_namespace n \
    WHERE n.nspname LIKE 'tenant\\_%'";

/// Role rows, without or with the verifier column, for all tenant-shaped
/// names or one. `has_connect` reads the database ACL itself, because
/// `has_database_privilege` would also count a grant to `PUBLIC`.
macro_rules! roles_sql {
    ($verifier:literal, $filter:literal) => {
        concat!(
            "SELECT r.rolname::text AS name, r.rolcanlogin, r.rolsuper, r.rolinherit, \
                    r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls, \
                    r.rolconnlimit, r.rolconfig, \
                    shobj_description(r.oid, 'pg_authid') AS marker, \
                    EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) a \
                            WHERE d.datname = current_database() AND a.grantee = r.oid \
                              AND a.privilege_type = 'CONNECT') AS has_connect, ",
            $verifier,
            " AS verifier FROM pg_roles r WHERE ",
            $filter
        )
    };
}
const ALL_ROLES_SQL: [&str; 2] = [
    roles_sql!("NULL::text", "r.rolname LIKE 'tenant\\_user\\_%'"),
    roles_sql!(
        "(SELECT a.rolpassword FROM pg_authid a WHERE a.oid = r.oid)",
        "r.rolname LIKE 'tenant\\_user\\_%'"
    ),
];
const ONE_ROLE_SQL: [&str; 2] = [
    roles_sql!("NULL::text", "r.rolname = $1"),
    roles_sql!(
        "(SELECT a.rolpassword FROM pg_authid a WHERE a.oid = r.oid)",
        "r.rolname = $1"
    ),
];

/// Existence, owner and marker of one schema and one role.
const PROBE_SQL: &str = "\
    SELECT n.oid IS NOT NULL AS schema_exists, \
           pg_get_userbyid(n.nspowner)::text AS schema_owner, \
           obj_description(n.oid, 'pg_namespace') AS schema_marker, \
           r.oid IS NOT NULL AS role_exists, \
           shobj_description(r.oid, 'pg_authid') AS role_marker \
    FROM (SELECT $1::text::name AS schema_name, $2::text::name AS role_name) AS want \
    LEFT JOIN pg_namespace n ON n.nspname = want.schema_name \
    LEFT JOIN pg_roles r ON r.rolname = want.role_name";

#[derive(sqlx::FromRow)]
struct SchemaRow {
    name: String,
    owner: String,
    marker: Option<String>,
}

/// One row of `pg_roles` plus what [`ObservedRole`] is computed from.
#[derive(sqlx::FromRow)]
pub(super) struct RoleRow {
    name: String,
    rolcanlogin: bool,
    rolsuper: bool,
    rolinherit: bool,
    rolcreaterole: bool,
    rolcreatedb: bool,
    rolreplication: bool,
    rolbypassrls: bool,
    rolconnlimit: i32,
    rolconfig: Option<Vec<String>>,
    marker: Option<String>,
    has_connect: bool,
    verifier: Option<String>,
}

impl RoleRow {
    /// Whether the role carries `uid`'s marker.
    pub(super) fn is_ours(&self, uid: Uid<'_>) -> bool {
        uid.is_marker(self.marker.as_deref())
    }

    /// The role as observed, judged against `config`.
    pub(super) fn observed(&self, uid: Uid<'_>, config: &TenantDbConfig) -> ObservedRole {
        let settings = self.rolconfig.as_deref().unwrap_or_default();
        let has_setting = |wanted: &str| settings.iter().any(|s| s == wanted);
        let schema = uid.schema();
        ObservedRole {
            can_login: self.rolcanlogin,
            verifier: self.verifier.clone(),
            has_connect: self.has_connect,
            // Postgres stores the identifier unquoted when it needs no quotes,
            // which a tenant schema name never does; accept both spellings.
            search_path_ok: has_setting(&format!("search_path={schema}"))
                || has_setting(&format!("search_path=\"{schema}\"")),
            attributes_ok: !self.rolsuper
                && !self.rolinherit
                && !self.rolcreaterole
                && !self.rolcreatedb
                && !self.rolreplication
                && !self.rolbypassrls
                && self.rolconnlimit == config.connection_limit,
            statement_timeout_ok: has_setting(&format!(
                "statement_timeout={}",
                ddl::timeout_millis(config.statement_timeout)
            )),
        }
    }
}

impl TenantDb {
    /// Everything tenantd owns, or that looks like it, in two catalog queries.
    ///
    /// # Guarantees
    ///
    /// Issues reads only; a converged world observed any number of times
    /// yields equal observations.
    ///
    /// # Errors
    ///
    /// [`Error::Observe`] if a catalog query fails.
    pub async fn observe(&self) -> Result<DbObservation> {
        let session = self.session().await.map_err(Error::Observe)?;
        let mut conn = self.pool.acquire().await.map_err(Error::Observe)?;

        self.count_read();
        let schema_rows: Vec<SchemaRow> = sqlx::query_as(SCHEMAS_SQL)
            .fetch_all(&mut *conn)
            .await
            .map_err(Error::Observe)?;
        self.count_read();
        let role_rows: Vec<RoleRow> =
            sqlx::query_as(ALL_ROLES_SQL[usize::from(session.can_read_authid)])
                .fetch_all(&mut *conn)
                .await
                .map_err(Error::Observe)?;

        let mut observation = DbObservation::default();
        for row in schema_rows {
            // `tenant\_%` also matches names that are not tenant schemas
            // (`tenant_user_...`, `tenant_settings`); those are not ours and
            // do not look like ours either.
            let Some(uid) = names::parse_schema_name(&row.name) else {
                continue;
            };
            if uid.is_marker(row.marker.as_deref()) {
                let owned_by_tenant_role = row.owner == uid.role();
                observation.schemas.insert(
                    uid.as_str().to_owned(),
                    ObservedSchema {
                        owner: row.owner,
                        owned_by_tenant_role,
                    },
                );
            } else {
                observation.foreign.push(row.name);
            }
        }
        for row in &role_rows {
            let Some(uid) = names::parse_role_name(&row.name) else {
                continue;
            };
            if row.is_ours(uid) {
                observation
                    .roles
                    .insert(uid.as_str().to_owned(), row.observed(uid, &self.config));
            } else {
                observation.foreign.push(row.name.clone());
            }
        }
        observation.foreign.sort();
        Ok(observation)
    }

    /// The catalog row of one tenant role, if it exists.
    pub(super) async fn role_row(
        &self,
        conn: &mut PgConnection,
        uid: Uid<'_>,
    ) -> Result<Option<RoleRow>, sqlx::Error> {
        let session = self.session().await?;
        self.count_read();
        sqlx::query_as(ONE_ROLE_SQL[usize::from(session.can_read_authid)])
            .bind(uid.role())
            .fetch_optional(conn)
            .await
    }

    /// Whether `uid`'s schema and role exist and are ours, in one query.
    pub(super) async fn probe(
        &self,
        conn: &mut PgConnection,
        uid: Uid<'_>,
    ) -> Result<Probe, sqlx::Error> {
        self.count_read();
        let (schema_exists, schema_owner, schema_marker, role_exists, role_marker): (
            bool,
            Option<String>,
            Option<String>,
            bool,
            Option<String>,
        ) = sqlx::query_as(PROBE_SQL)
            .bind(uid.schema())
            .bind(uid.role())
            .fetch_one(conn)
            .await?;
        let ownership = |exists: bool, marker: Option<String>| match exists {
            false => Ownership::Missing,
            true if uid.is_marker(marker.as_deref()) => Ownership::Ours,
            true => Ownership::Foreign,
        };
        Ok(Probe {
            schema: ownership(schema_exists, schema_marker),
            schema_owner,
            role: ownership(role_exists, role_marker),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_queries_should_differ_only_in_the_verifier_column() {
        assert!(ALL_ROLES_SQL[0].contains("NULL::text AS verifier"));
        assert!(!ALL_ROLES_SQL[0].contains("pg_authid a"));
        assert!(ALL_ROLES_SQL[1].contains("pg_authid a"));
        assert!(ONE_ROLE_SQL[1].ends_with("r.rolname = $1"));
    }

    #[test]
    fn unreadable_verifier_should_not_count_as_drift() {
        let role = ObservedRole {
            can_login: true,
            verifier: None,
            has_connect: true,
            search_path_ok: true,
            attributes_ok: true,
            statement_timeout_ok: true,
        };
        assert!(role.is_converged("SCRAM-SHA-256$x"));
        let drifted = ObservedRole {
            verifier: Some("SCRAM-SHA-256$y".into()),
            ..role
        };
        assert!(!drifted.is_converged("SCRAM-SHA-256$x"));
    }
}
