//! Per-tenant Postgres schema and login role: observe, create, repair, drop, back up.
//!
//! Each tenant with uid `<uid>` (32 lowercase hex characters) gets a schema
//! `tenant_<uid>` owned by a login role `tenant_user_<uid>`. Both carry the
//! comment `tenantd:managed uid=<uid>`, the ownership marker: an object named
//! like a tenant's but without that exact marker is foreign and is never
//! altered or dropped, only reported.
//!
//! # Layout
//!
//! - [`names`]: uid validation, object names, the marker, quoting.
//! - `ddl`: every DDL/DCL statement, built only from validated, quoted parts.
//! - [`password`]: password generation and SCRAM verifiers.
//! - `observe`: the catalog queries ([`TenantDb::observe`]).
//! - `provision`: create, repair and drop ([`TenantDb::create_role`] and co.).
//! - `backup`: `pg_dump` of one tenant schema ([`TenantDb::backup`]).
//!
//! # Isolation
//!
//! After [`TenantDb::prepare_database`], a tenant role can use its own schema
//! and nothing else in the platform database: `PUBLIC` has no privilege on
//! schema `public` and neither `CONNECT` nor `TEMPORARY` on the database, so a
//! tenant role gets `CONNECT` by an explicit grant and no `TEMPORARY` at all.
//! Schemas other than its own (other tenants', the platform's) grant it
//! nothing. It is `NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
//! NOBYPASSRLS`, with a connection limit and a `statement_timeout`.
//!
//! # Caveats
//!
//! - Every role can read the catalog, so tenants see each other's schema,
//!   role and table names (hence opaque uids), though no data.
//! - Hardening covers the platform database only. Other databases of the
//!   cluster (`postgres`, `template1`) still let `PUBLIC` connect; restrict
//!   `tenant_user_*` to the platform database in `pg_hba.conf` as well.

mod backup;
mod ddl;
pub mod names;
mod observe;
pub mod password;
mod provision;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio::sync::OnceCell;

pub use backup::find_pg_binary;
pub use names::{Uid, role_name, schema_name};
pub use observe::{DbObservation, ObservedRole, ObservedSchema};
pub use password::{generate_password, scram_verifier};

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, named after the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The uid is not 32 lowercase hex characters; no name was built from it.
    #[error("invalid tenant uid {uid:?}: expected 32 lowercase hex characters")]
    InvalidUid { uid: String },
    /// The tenant name is not an RFC 1123 label, so it cannot name a file.
    #[error("invalid tenant name {name:?}: expected an RFC 1123 label")]
    InvalidTenantName { name: String },
    /// The verifier is not a SCRAM-SHA-256 verifier (perhaps a plain password).
    #[error("refusing a password that is not a SCRAM-SHA-256 verifier")]
    InvalidVerifier,
    /// An object with a tenant's name exists without that tenant's marker.
    #[error("{kind} {name:?} exists without the tenantd marker; refusing to touch it")]
    Foreign { kind: ObjectKind, name: String },
    /// The tenant role must exist (and be ours) before this step.
    #[error("role {role:?} does not exist")]
    RoleMissing { role: String },
    /// The tenant schema must exist (and be ours) before this step.
    #[error("schema {schema:?} does not exist")]
    SchemaMissing { schema: String },
    /// Hardening the platform database failed.
    #[error("failed to prepare the platform database")]
    PrepareDatabase(#[source] sqlx::Error),
    /// Reading the catalog failed.
    #[error("failed to observe tenant schemas and roles")]
    Observe(#[source] sqlx::Error),
    /// Creating or repairing the role failed; nothing of that step committed.
    #[error("failed to create or repair role {role:?}")]
    CreateRole {
        role: String,
        #[source]
        source: sqlx::Error,
    },
    /// Setting the role's password failed.
    #[error("failed to set the password of role {role:?}")]
    SetPassword {
        role: String,
        #[source]
        source: sqlx::Error,
    },
    /// Creating or repairing the schema failed; nothing of that step committed.
    #[error("failed to create or repair schema {schema:?}")]
    CreateSchema {
        schema: String,
        #[source]
        source: sqlx::Error,
    },
    /// Dropping the tenant's schema and role failed.
    #[error("failed to drop tenant {uid}")]
    DropTenant {
        uid: String,
        #[source]
        source: sqlx::Error,
    },
    /// Checking the schema before a backup failed.
    #[error("failed to check schema {schema:?} before backing it up")]
    CheckBackup {
        schema: String,
        #[source]
        source: sqlx::Error,
    },
    /// Neither `PATH` nor `/usr/lib/postgresql/*/bin` has `pg_dump`.
    #[error("failed to find pg_dump in PATH or /usr/lib/postgresql/*/bin")]
    FindPgDump,
    /// Creating the backup directory or the backup file failed.
    #[error("failed to create backup file {path}")]
    CreateBackupFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `pg_dump` could not be started or waited for.
    #[error("failed to run {program}")]
    SpawnPgDump {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `pg_dump` ran and failed; `stderr` is what it said.
    #[error("pg_dump of schema {schema:?} failed ({status}): {stderr}")]
    PgDump {
        schema: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    /// Flushing or renaming the finished backup failed.
    #[error("failed to make backup {path} durable")]
    FinishBackup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The kind of a tenant object, for [`Error::Foreign`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Schema,
    Role,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Schema => "schema",
            Self::Role => "role",
        })
    }
}

/// How tenant roles are set up and where backups go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDbConfig {
    /// `CONNECTION LIMIT` of every tenant role. Default 10.
    pub connection_limit: i32,
    /// Default `statement_timeout` of every tenant role, in whole
    /// milliseconds (zero disables it). Default 30 s.
    pub statement_timeout: Duration,
    /// Directory for [`TenantDb::backup`] files, created (mode 0700) on first use.
    pub backup_dir: PathBuf,
}

impl TenantDbConfig {
    /// The defaults, with backups in `backup_dir`.
    pub fn new(backup_dir: impl Into<PathBuf>) -> Self {
        Self {
            backup_dir: backup_dir.into(),
            ..Self::default()
        }
    }
}

impl Default for TenantDbConfig {
    /// Connection limit 10, statement timeout 30 s, backups in `./backups`
    /// (relative to the working directory; real configurations set one).
    fn default() -> Self {
        Self {
            connection_limit: 10,
            statement_timeout: Duration::from_secs(30),
            backup_dir: PathBuf::from("backups"),
        }
    }
}

/// Statements issued since a [`TenantDb`] was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbCallStats {
    /// Catalog queries.
    pub reads: u64,
    /// DDL/DCL statements (and backend terminations), counted when issued,
    /// whether or not they succeed. Transaction control and advisory locks
    /// are not counted.
    pub writes: u64,
}

/// Tenant schemas and roles in one Postgres database, through a pool logged
/// in as the platform superuser.
///
/// Cloning is cheap and clones share the counters.
#[derive(Debug, Clone)]
pub struct TenantDb {
    /// Superuser connections to the platform database.
    pool: PgPool,
    config: TenantDbConfig,
    /// Facts about the pool's login, read once on first use.
    session: Arc<OnceCell<Session>>,
    counters: Arc<Counters>,
}

/// Facts about the pool's login that never change while it is connected.
#[derive(Debug)]
struct Session {
    /// `current_database()`: the database tenant roles get `CONNECT` on.
    database: String,
    /// Whether this login can read `pg_authid` (that is, is superuser), so
    /// observed roles carry their verifier.
    can_read_authid: bool,
}

#[derive(Debug, Default)]
struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
}

/// Advisory lock key (`pg_advisory_xact_lock`) held by every tenantdb
/// transaction that changes the platform database's ACL (`GRANT`/`REVOKE ...
/// ON DATABASE`, `DROP OWNED`).
///
/// Those statements rewrite the database's one `pg_database` row, and two at
/// once make one fail with "tuple concurrently updated"; with the lock,
/// parallel reconciles queue instead. Any other code that changes the
/// database's ACL while tenantd runs should hold it too. The value is
/// "tenantdb" in ASCII.
pub const DATABASE_ACL_LOCK: i64 = 0x7465_6e61_6e74_6462;

/// Whether `PUBLIC` still has any privilege on schema `public` and `CONNECT`
/// or `TEMPORARY` on this database. A `NULL` ACL means the built-in defaults,
/// hence `acldefault`.
const HARDENING_SQL: &str = "\
    SELECT EXISTS (SELECT 1 FROM pg_namespace n, \
                          aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a \
                   WHERE n.nspname = 'public' AND a.grantee = 0) AS public_schema_open, \
           EXISTS (SELECT 1 FROM pg_database d, \
                          aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
                   WHERE d.datname = current_database() AND a.grantee = 0 \
                     AND a.privilege_type IN ('CONNECT', 'TEMPORARY')) AS database_open";

impl TenantDb {
    /// A handle on tenant objects through `pool`, which must log in as a
    /// superuser (or a role with `CREATEROLE` that owns the database, in
    /// which case password drift goes undetected).
    pub fn new(pool: PgPool, config: TenantDbConfig) -> Self {
        Self {
            pool,
            config,
            session: Arc::default(),
            counters: Arc::default(),
        }
    }

    /// The configuration this handle was made with.
    pub fn config(&self) -> &TenantDbConfig {
        &self.config
    }

    /// Statements issued since creation, shared by clones.
    pub fn stats(&self) -> DbCallStats {
        DbCallStats {
            reads: self.counters.reads.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    /// One-time hardening of the platform database, run at startup:
    ///
    /// ```sql
    /// REVOKE ALL ON SCHEMA public FROM PUBLIC;
    /// REVOKE TEMPORARY, CONNECT ON DATABASE "<current database>" FROM PUBLIC;
    /// ```
    ///
    /// # Guarantees
    ///
    /// Idempotent, and issues each `REVOKE` only if `PUBLIC` still holds
    /// something it revokes, so a hardened database costs one read. Tenant
    /// roles get `CONNECT` by their own grant ([`Self::create_role`]).
    ///
    /// # Caveats
    ///
    /// Other logins that relied on `PUBLIC`'s `CONNECT` (monitoring, say)
    /// need their own grant afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::PrepareDatabase`] if a statement fails; nothing is committed then.
    pub async fn prepare_database(&self) -> Result<()> {
        let session = self.session().await.map_err(Error::PrepareDatabase)?;
        let mut tx = self.pool.begin().await.map_err(Error::PrepareDatabase)?;
        lock_database_acl(&mut tx)
            .await
            .map_err(Error::PrepareDatabase)?;
        self.count_read();
        let (public_schema_open, database_open): (bool, bool) = sqlx::query_as(HARDENING_SQL)
            .fetch_one(&mut *tx)
            .await
            .map_err(Error::PrepareDatabase)?;
        if public_schema_open {
            self.write(&mut tx, ddl::revoke_public_schema())
                .await
                .map_err(Error::PrepareDatabase)?;
        }
        if database_open {
            self.write(&mut tx, ddl::revoke_public_database(&session.database))
                .await
                .map_err(Error::PrepareDatabase)?;
        }
        tx.commit().await.map_err(Error::PrepareDatabase)?;
        if public_schema_open || database_open {
            tracing::info!(database = %session.database, "revoked PUBLIC's privileges on the platform database");
        }
        Ok(())
    }

    /// Facts about the pool's login, read on first use.
    async fn session(&self) -> Result<&Session, sqlx::Error> {
        self.session
            .get_or_try_init(|| async {
                self.count_read();
                let (database, can_read_authid): (String, bool) = sqlx::query_as(
                    "SELECT current_database()::text, \
                            has_table_privilege('pg_catalog.pg_authid', 'SELECT')",
                )
                .fetch_one(&self.pool)
                .await?;
                if !can_read_authid {
                    tracing::warn!(
                        "tenantd's database login cannot read pg_authid: \
                         tenant password drift will not be detected"
                    );
                }
                Ok(Session {
                    database,
                    can_read_authid,
                })
            })
            .await
    }

    fn count_read(&self) {
        self.counters.reads.fetch_add(1, Ordering::Relaxed);
    }

    fn count_write(&self) {
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs one DDL/DCL statement, counting it. The simple query protocol
    /// keeps one-off DDL out of sqlx's prepared-statement cache.
    async fn write(&self, conn: &mut PgConnection, statement: ddl::Ddl) -> Result<(), sqlx::Error> {
        self.count_write();
        tracing::debug!(statement = statement.redacted(), "tenantdb write");
        // `Ddl` values are built only in `ddl`, from validated uids and quoted
        // parts, which is the safety this assertion stands for.
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.into_string()))
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// Takes [`DATABASE_ACL_LOCK`] until the end of the current transaction.
async fn lock_database_acl(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(DATABASE_ACL_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}
