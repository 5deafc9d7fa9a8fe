//! Creating, repairing and dropping a tenant's role and schema.
//!
//! # Guarantees
//!
//! - Each operation first reads the catalog and then issues only the
//!   statements that are missing, so on a converged tenant it issues no
//!   write at all (the one exception is noted at [`TenantDb::create_role`]).
//! - The statements of one step run in one transaction: a role or schema is
//!   never committed without its marker, which would leave it looking
//!   foreign forever.
//! - An object without its tenant's marker makes the whole operation fail
//!   with [`Error::Foreign`] before any write, and stays as it was.
//!
//! # Assumptions
//!
//! One reconcile per tenant at a time (the scheduler's guarantee). Two
//! concurrent calls for the same uid cannot adopt a foreign object, but one of
//! them may fail with a duplicate-object error and be retried.

use sqlx::{Connection, PgConnection};

use super::names::Uid;
use super::observe::Ownership;
use super::password::is_scram_verifier;
use super::{Error, ObjectKind, Result, TenantDb, ddl, lock_database_acl};

/// How long `drop_tenant` waits for each lock and for terminated tenant
/// sessions, so a stuck session makes it fail and retry rather than hang.
const DROP_WAIT_MS: i32 = 10_000;

impl TenantDb {
    /// Creates the tenant's login role if missing, or repairs it:
    /// `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
    /// NOBYPASSRLS CONNECTION LIMIT <n> PASSWORD '<verifier>'`, the marker,
    /// `GRANT CONNECT ON DATABASE`, and role defaults for `search_path` (its
    /// own schema) and `statement_timeout`.
    ///
    /// # Guarantees
    ///
    /// Idempotent; issues only what is missing or drifted, and nothing on a
    /// converged role. A new role is created with all of it in one
    /// transaction.
    ///
    /// # Caveats
    ///
    /// If the pool's login cannot read `pg_authid`, an existing role's
    /// password cannot be compared and is set again on every call.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidUid`], [`Error::InvalidVerifier`] before any query.
    /// - [`Error::Foreign`] if the role exists without our marker.
    /// - [`Error::CreateRole`] if a statement fails.
    pub async fn create_role(&self, uid: &str, verifier: &str) -> Result<()> {
        let uid = Uid::parse(uid)?;
        if !is_scram_verifier(verifier) {
            return Err(Error::InvalidVerifier);
        }
        let failed = |source| Error::CreateRole {
            role: uid.role(),
            source,
        };
        let session = self.session().await.map_err(failed)?;
        let mut conn = self.pool.acquire().await.map_err(failed)?;
        let Some(row) = self.role_row(&mut conn, uid).await.map_err(failed)? else {
            let mut tx = conn.begin().await.map_err(failed)?;
            lock_database_acl(&mut tx).await.map_err(failed)?;
            for statement in [
                ddl::create_role(uid, self.config.connection_limit, verifier),
                ddl::comment_role(uid),
                ddl::grant_connect(&session.database, uid),
                ddl::set_search_path(uid),
                ddl::set_statement_timeout(uid, self.config.statement_timeout),
            ] {
                self.write(&mut tx, statement).await.map_err(failed)?;
            }
            tx.commit().await.map_err(failed)?;
            tracing::info!(role = %uid.role(), "created tenant role");
            return Ok(());
        };
        if !row.is_ours(uid) {
            return Err(foreign(ObjectKind::Role, uid.role()));
        }

        let observed = row.observed(uid, &self.config);
        let mut repairs = Vec::new();
        if !observed.can_login || !observed.attributes_ok {
            repairs.push(ddl::alter_role_attributes(
                uid,
                self.config.connection_limit,
            ));
        }
        if !observed.has_connect {
            repairs.push(ddl::grant_connect(&session.database, uid));
        }
        if !observed.search_path_ok {
            repairs.push(ddl::set_search_path(uid));
        }
        if !observed.statement_timeout_ok {
            repairs.push(ddl::set_statement_timeout(
                uid,
                self.config.statement_timeout,
            ));
        }
        if observed.verifier.as_deref() != Some(verifier) {
            repairs.push(ddl::set_password(uid, verifier));
        }
        if repairs.is_empty() {
            return Ok(());
        }
        let mut tx = conn.begin().await.map_err(failed)?;
        if !observed.has_connect {
            lock_database_acl(&mut tx).await.map_err(failed)?;
        }
        for statement in repairs {
            tracing::info!(role = %uid.role(), statement = statement.redacted(), "repairing tenant role");
            self.write(&mut tx, statement).await.map_err(failed)?;
        }
        tx.commit().await.map_err(failed)?;
        Ok(())
    }

    /// Sets the role's password to `verifier` (`ALTER ROLE ... PASSWORD`),
    /// repairing a password changed behind tenantd's back.
    ///
    /// # Guarantees
    ///
    /// One write; the password itself never reaches the server.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidUid`], [`Error::InvalidVerifier`] before any query.
    /// - [`Error::RoleMissing`] or [`Error::Foreign`] unless the role is ours.
    /// - [`Error::SetPassword`] if a statement fails.
    pub async fn set_password(&self, uid: &str, verifier: &str) -> Result<()> {
        let uid = Uid::parse(uid)?;
        if !is_scram_verifier(verifier) {
            return Err(Error::InvalidVerifier);
        }
        let failed = |source| Error::SetPassword {
            role: uid.role(),
            source,
        };
        let mut conn = self.pool.acquire().await.map_err(failed)?;
        match self.probe(&mut conn, uid).await.map_err(failed)?.role {
            Ownership::Missing => return Err(Error::RoleMissing { role: uid.role() }),
            Ownership::Foreign => return Err(foreign(ObjectKind::Role, uid.role())),
            Ownership::Ours => {}
        }
        self.write(&mut conn, ddl::set_password(uid, verifier))
            .await
            .map_err(failed)?;
        tracing::info!(role = %uid.role(), "set tenant role password");
        Ok(())
    }

    /// Creates the tenant's schema, owned by its role, with the marker; or
    /// gives an existing one of ours back to the role if its owner changed.
    ///
    /// # Guarantees
    ///
    /// Idempotent; nothing is written for a converged schema. The schema is
    /// never handed to a role that is not ours.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidUid`] before any query.
    /// - [`Error::RoleMissing`] if the role does not exist yet.
    /// - [`Error::Foreign`] if the schema or the role lacks our marker.
    /// - [`Error::CreateSchema`] if a statement fails.
    pub async fn create_schema(&self, uid: &str) -> Result<()> {
        let uid = Uid::parse(uid)?;
        let failed = |source| Error::CreateSchema {
            schema: uid.schema(),
            source,
        };
        let mut conn = self.pool.acquire().await.map_err(failed)?;
        let probe = self.probe(&mut conn, uid).await.map_err(failed)?;
        match probe.role {
            Ownership::Missing => return Err(Error::RoleMissing { role: uid.role() }),
            Ownership::Foreign => return Err(foreign(ObjectKind::Role, uid.role())),
            Ownership::Ours => {}
        }
        match probe.schema {
            Ownership::Foreign => Err(foreign(ObjectKind::Schema, uid.schema())),
            Ownership::Missing => {
                let mut tx = conn.begin().await.map_err(failed)?;
                self.write(&mut tx, ddl::create_schema(uid))
                    .await
                    .map_err(failed)?;
                self.write(&mut tx, ddl::comment_schema(uid))
                    .await
                    .map_err(failed)?;
                tx.commit().await.map_err(failed)?;
                tracing::info!(schema = %uid.schema(), "created tenant schema");
                Ok(())
            }
            Ownership::Ours if probe.schema_owner.as_deref() == Some(uid.role().as_str()) => Ok(()),
            Ownership::Ours => {
                self.write(&mut conn, ddl::alter_schema_owner(uid))
                    .await
                    .map_err(failed)?;
                tracing::info!(
                    schema = %uid.schema(),
                    previous_owner = probe.schema_owner.as_deref().unwrap_or_default(),
                    "gave tenant schema back to its role"
                );
                Ok(())
            }
        }
    }

    /// Drops the tenant: its schema with everything in it, whatever else its
    /// role owns here, and the role.
    ///
    /// The role first loses `LOGIN` and its open sessions are terminated, so
    /// no session holds locks on the schema or reconnects meanwhile.
    ///
    /// # Guarantees
    ///
    /// Touches only objects with this uid's marker; if either object is
    /// foreign, nothing is touched. Missing objects are fine: dropping a
    /// dropped tenant issues no write. The drops commit together.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidUid`] before any query.
    /// - [`Error::Foreign`] if the schema or the role lacks our marker.
    /// - [`Error::DropTenant`] if a statement fails or waits more than 10 s
    ///   for a lock; it is safe to retry.
    pub async fn drop_tenant(&self, uid: &str) -> Result<()> {
        let uid = Uid::parse(uid)?;
        let failed = |source| Error::DropTenant {
            uid: uid.as_str().to_owned(),
            source,
        };
        let mut conn = self.pool.acquire().await.map_err(failed)?;
        let probe = self.probe(&mut conn, uid).await.map_err(failed)?;
        if probe.schema == Ownership::Foreign {
            return Err(foreign(ObjectKind::Schema, uid.schema()));
        }
        if probe.role == Ownership::Foreign {
            return Err(foreign(ObjectKind::Role, uid.role()));
        }
        let schema_ours = probe.schema == Ownership::Ours;
        let role_ours = probe.role == Ownership::Ours;
        if !schema_ours && !role_ours {
            return Ok(());
        }

        if role_ours {
            // Committed on its own so that no new session can start between
            // the termination below and the drop.
            self.write(&mut conn, ddl::nologin(uid))
                .await
                .map_err(failed)?;
            self.terminate_sessions(&mut conn, uid)
                .await
                .map_err(failed)?;
        }

        let mut tx = conn.begin().await.map_err(failed)?;
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind(DROP_WAIT_MS.to_string())
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        if schema_ours {
            self.write(&mut tx, ddl::drop_schema(uid))
                .await
                .map_err(failed)?;
        }
        if role_ours {
            // `DROP OWNED` revokes the role's `CONNECT`, a database ACL change.
            // Taken after the schema drop, which may wait for locks, so other
            // tenants' grants are not held up meanwhile.
            lock_database_acl(&mut tx).await.map_err(failed)?;
            self.write(&mut tx, ddl::drop_owned(uid))
                .await
                .map_err(failed)?;
            self.write(&mut tx, ddl::drop_role(uid))
                .await
                .map_err(failed)?;
        }
        tx.commit().await.map_err(failed)?;
        tracing::info!(uid = uid.as_str(), schema_ours, role_ours, "dropped tenant");
        Ok(())
    }

    /// Terminates every session of the tenant role, waiting up to
    /// [`DROP_WAIT_MS`] for each to end. Counted as one write.
    async fn terminate_sessions(
        &self,
        conn: &mut PgConnection,
        uid: Uid<'_>,
    ) -> Result<(), sqlx::Error> {
        self.count_write();
        let terminated: i64 = sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, $2)) \
             FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()",
        )
        .bind(uid.role())
        .bind(i64::from(DROP_WAIT_MS))
        .fetch_one(conn)
        .await?;
        if terminated > 0 {
            tracing::info!(role = %uid.role(), terminated, "terminated tenant sessions");
        }
        Ok(())
    }
}

/// [`Error::Foreign`], logged: an operator has to look at it.
fn foreign(kind: ObjectKind, name: String) -> Error {
    tracing::warn!(%kind, %name, "found a tenant-named object without the tenantd marker; leaving it alone");
    Error::Foreign { kind, name }
}
