//! Postgres persistence of tenants: desired specs with optimistic concurrency, status,
//! the deployment log, credentials, finalizers, a LISTEN/NOTIFY watch, and web accounts.
//!
//! # Guarantees
//! - A write that names a `resourceVersion` other than the stored one is refused with
//!   [`Error::Conflict`] and changes nothing.
//! - `generation` moves only when the spec changes; an apply that changes nothing writes
//!   nothing (and so wakes nobody).
//! - Subdomain uniqueness is enforced by a unique index, so racing writers cannot both win.
//! - Every change of a tenant row raises `NOTIFY tenantd_tenants, '<name>'` (a trigger).
//! - resourceVersions become visible in the order they are handed out (migration 0006), so a
//!   watcher that has seen version N has seen, or will never need, every version below N.
//!   Writers take their version before they lock a tenant row: single statements do so by
//!   themselves, and the one transaction that locks a row first (finalize's delete) takes the
//!   version lock at its start ([`lock_resource_versions`]). One lock order, so no deadlock;
//!   and the version lock is held for one statement, not for a read-decide-write.
//! - [`Store::apply`] is a compare-and-swap on `resourceVersion`: a writer that raced another
//!   decides again on the winner's row, so no update is lost and none is applied to a row the
//!   writer did not see. After one lost race it queues on a per-tenant lock instead of racing
//!   again ([`lock_tenant_writes`]). Writers of one process queue by tenant before they read
//!   ([`Store::queue_write`]), so they rarely race each other at all.
//!
//! # Assumptions
//! - Callers validated the resource ([`crate::resource::validate`]); the store checks only
//!   what needs the database to check.

/// The columns of a tenant row `t` with its status `s`, as [`tenant_from_row`] reads them.
macro_rules! tenant_columns {
    () => {
        concat!(
            "t.name, t.uid, t.subdomain, t.spec, t.labels, t.owner, t.generation, ",
            "t.resource_version, t.created_at, t.deletion_timestamp, t.finalizers, t.source, ",
            "s.status, greatest(t.resource_version, s.resource_version) AS change_version "
        )
    };
}

/// `SELECT` of a tenant row with its status, followed by the literal tail (a static string,
/// so sqlx sees no dynamic SQL).
macro_rules! select_tenants {
    ($tail:literal) => {
        concat!(
            "SELECT ",
            tenant_columns!(),
            "FROM tenants t LEFT JOIN tenant_status s ON s.name = t.name ",
            $tail
        )
    };
}

/// A statement that writes one tenant row (`INSERT … RETURNING *` or `UPDATE … RETURNING *`),
/// answering with the row as written and its status, as [`select_tenants`] does: one round
/// trip instead of a write and a read.
macro_rules! write_returning_tenant {
    ($write:literal) => {
        concat!(
            "WITH t AS (",
            $write,
            " RETURNING *) SELECT ",
            tenant_columns!(),
            "FROM t LEFT JOIN tenant_status s ON s.name = t.name"
        )
    };
}

pub mod accounts;
mod changes;
mod credentials;
mod events;
pub mod signup;
mod status;
mod verification;
mod watch;
mod write_queue;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Postgres, Row, Transaction};

use crate::resource::{API_VERSION, FINALIZER, KIND, ObjectMeta, Tenant, TenantSpec, TenantStatus};

pub use accounts::{NewSession, SessionRecord, UserRecord};
pub use changes::Change;
pub use credentials::Credentials;
pub use events::{Event, EventOutcome};
pub use verification::Consumed;
pub use watch::{WatchEvent, watch_tenants};
pub use write_queue::QueuePlace;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to the platform database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply the platform database migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "tenant {name} was changed by someone else (you sent resourceVersion {sent}, it is now {current}); read it again and retry"
    )]
    Conflict {
        name: String,
        sent: String,
        current: String,
    },
    #[error(
        "tenant {name} kept changing while this write was applied ({attempts} attempts lost the race to other writers); try again"
    )]
    Contended { name: String, attempts: usize },
    #[error("resourceVersion must not be set when creating tenant {name}")]
    VersionOnCreate { name: String },
    #[error("subdomain {subdomain} is already taken by another tenant")]
    SubdomainTaken { subdomain: String },
    /// A create-only write ([`Store::create`]) found a tenant of that name.
    #[error("the name {name} is taken by another tenant")]
    NameTaken { name: String },
    #[error("tenant {name} is being deleted; wait until it is gone before applying it again")]
    BeingDeleted { name: String },
    #[error(
        "tenant {name} is managed by {source_file}; edit that file (or force the write to take it over)"
    )]
    OwnedByFile { name: String, source_file: String },
    #[error(
        "tenant {name} exists and was not applied from a file; the specs/ sync leaves it alone"
    )]
    NotFromFiles { name: String },
    #[error("an account with the email {email} already exists")]
    EmailTaken { email: String },
    #[error("tenant {name} not found")]
    NotFound { name: String },
    #[error("stored data for tenant {name} is unreadable: {message}")]
    Corrupt { name: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an apply did, in `kubectl apply` words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    Created,
    Configured,
    Unchanged,
}

impl ApplyOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyOutcome::Created => "created",
            ApplyOutcome::Configured => "configured",
            ApplyOutcome::Unchanged => "unchanged",
        }
    }
}

/// Who is writing, for ownership by source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// `Some("file:<path>")` for the specs/ directory sync; `None` for API, CLI and web.
    pub source: Option<String>,
    /// Write even if another source owns the tenant, and take it over.
    pub force: bool,
}

/// The platform database.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    /// This process's tenant writers, queued by name (see [`write_queue`]).
    write_queues: std::sync::Arc<write_queue::WriteQueues>,
}

/// How recently a pooled connection must have been used to be handed out unchecked (as
/// HikariCP's `aliveBypassWindowMs`, there 500 ms).
pub const ALIVE_BYPASS: std::time::Duration = std::time::Duration::from_secs(1);

impl Store {
    /// Connects (retrying for a while, since Postgres may still be starting) and migrates.
    ///
    /// A pooled connection is checked (a round trip) before it is handed out only when it sat
    /// idle for longer than [`ALIVE_BYPASS`]: sqlx's default checks every acquire, which
    /// doubles the round trips of every statement under load. A connection that died within
    /// the window fails its statement and is dropped, as one that dies mid-statement does.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for > ALIVE_BYPASS {
                        sqlx::Connection::ping(connection).await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await
            .map_err(Error::Connect)?;
        let store = Store::from_pool(pool);
        store.migrate().await?;
        Ok(store)
    }

    pub fn from_pool(pool: PgPool) -> Store {
        Store {
            pool,
            write_queues: std::sync::Arc::default(),
        }
    }

    /// Waits for this process's turn to write tenant `name`: hold it over a read and the
    /// [`Store::apply_over`] that decides on that read, so that no other writer of this
    /// process races the compare-and-swap. [`Store::apply_with`] takes it by itself.
    pub async fn queue_write(&self, name: &str) -> QueuePlace {
        self.write_queues.enter(name).await
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .map_err(Error::Migrate)
    }

    /// Creates or replaces the tenant's spec and labels (and owner, when given).
    ///
    /// `metadata.resourceVersion`, when set, must equal the stored one. Server-owned
    /// metadata in the input (uid, generation, timestamps, finalizers) is ignored.
    pub async fn apply(&self, tenant: &Tenant) -> Result<(ApplyOutcome, Tenant)> {
        self.apply_with(tenant, &ApplyOptions::default()).await
    }

    /// [`Store::apply`] on behalf of a source. A tenant applied from a file belongs to that
    /// file: another source's write is refused with [`Error::OwnedByFile`] unless forced.
    pub async fn apply_with(
        &self,
        tenant: &Tenant,
        options: &ApplyOptions,
    ) -> Result<(ApplyOutcome, Tenant)> {
        let mut turn = self.queue_write(&tenant.metadata.name).await;
        let current = self.get(&tenant.metadata.name).await?;
        self.apply_over(&mut turn, tenant, options, current).await
    }

    /// One compare-and-swap of `tenant`, decided on `guess`: the row as an earlier writer of
    /// `turn`'s queue left it ([`QueuePlace::last_written`]), which the caller also decided on
    /// (who may write, the owner). Saves the read while a tenant's writers queue.
    ///
    /// `Ok(None)` when the guess proves nothing, and the caller must read and decide as
    /// usual: the decision on it refused the write or found nothing to write (either may be
    /// an artefact of a stale guess, and neither is confirmed by a write), or the row is no
    /// longer the guessed one. `Ok(Some)` only when the write matched the guess's
    /// resourceVersion, that is, the row was exactly the guess. Database errors (a taken
    /// subdomain) are the write's own and are returned.
    pub async fn apply_over_guess(
        &self,
        turn: &mut QueuePlace,
        tenant: &Tenant,
        options: &ApplyOptions,
        guess: &Tenant,
    ) -> Result<Option<(ApplyOutcome, Tenant)>> {
        let Ok(outcome @ ApplyOutcome::Configured) = decide_apply(Some(guess), tenant, options)
        else {
            return Ok(None);
        };
        match write_decided(&self.pool, tenant, options, Some(guess), outcome).await? {
            Some(Decided::Written(outcome, stored)) => {
                turn.remember(&stored);
                Ok(Some((outcome, *stored)))
            }
            _ => Ok(None),
        }
    }

    /// [`Store::apply_with`], deciding first on `read`: the stored tenant as the caller just
    /// read it (the API reads it anyway to check who may write). Saves a query; a read that is
    /// stale by then costs one more round, never a wrong write. Callers hold their
    /// [`Store::queue_write`] place over the read and this call, so that this process's other
    /// writers do not make the read stale.
    ///
    /// The row it wrote or found current is left to the next writer in `turn`'s queue.
    pub async fn apply_over(
        &self,
        turn: &mut QueuePlace,
        tenant: &Tenant,
        options: &ApplyOptions,
        read: Option<Tenant>,
    ) -> Result<(ApplyOutcome, Tenant)> {
        let name = &tenant.metadata.name;
        // First optimistically, like an API server's compare-and-swap: decide on the read,
        // then write only if the row is still the one read. No transaction holds the version
        // lock while it reads and decides, so writers of different tenants serialize only for
        // the one statement that takes a version.
        let mut outcome = compare_and_write(&self.pool, tenant, options, read.as_ref()).await?;
        // Lost the race (this process's writers queue in `write_queues`, so the winner was
        // another process, a caller that read outside its turn, or a delete mark): queue
        // behind the other writers of this tenant in the database (a per-tenant lock) rather
        // than race them again, which under contention would cost every writer one round per
        // rival. Only writers outside that queue (another apply's first, optimistic try, a
        // delete mark, finalize) can still change the row between the read and the write
        // here; then this writer decides once more.
        let mut attempts = 1;
        while outcome.is_none() && attempts < APPLY_ATTEMPTS {
            attempts += 1;
            let mut tx = self.pool.begin().await?;
            lock_tenant_writes(&mut tx, name).await?;
            let current = fetch_tenant(&mut *tx, name).await?;
            outcome = compare_and_write(&mut *tx, tenant, options, current.as_ref()).await?;
            tx.commit().await?;
        }
        match outcome {
            Some(Decided::Unchanged(current)) => {
                turn.remember(&current);
                Ok((ApplyOutcome::Unchanged, *current))
            }
            Some(Decided::Written(outcome, stored)) => {
                turn.remember(&stored);
                Ok((outcome, *stored))
            }
            None => Err(Error::Contended {
                name: name.clone(),
                attempts,
            }),
        }
    }

    /// Creates the tenant, and only creates: an existing tenant of that name is
    /// [`Error::NameTaken`] (whoever owns it), a used subdomain [`Error::SubdomainTaken`].
    /// For the web wizard, where two people racing for one name must not overwrite each other.
    pub async fn create(&self, tenant: &Tenant) -> Result<Tenant> {
        let name = &tenant.metadata.name;
        if tenant.metadata.resource_version.is_some() {
            return Err(Error::VersionOnCreate { name: name.clone() });
        }
        insert(&self.pool, tenant, None).await
    }

    /// Which of `candidates` are used as a tenant name or a subdomain: one query.
    pub async fn taken_names(
        &self,
        candidates: &[String],
    ) -> Result<std::collections::BTreeSet<String>> {
        let taken: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM tenants WHERE name = ANY($1) \
             UNION SELECT subdomain FROM tenants WHERE subdomain = ANY($1)",
        )
        .bind(candidates)
        .fetch_all(&self.pool)
        .await?;
        Ok(taken.into_iter().collect())
    }

    /// One tenant with its status, or `None`.
    pub async fn get(&self, name: &str) -> Result<Option<Tenant>> {
        fetch_tenant(&self.pool, name).await
    }

    /// Every tenant with its status, ordered by name: one query, whatever the count.
    pub async fn list(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query(select_tenants!("ORDER BY t.name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// The names of all tenants, one cheap query.
    pub async fn names(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT name FROM tenants ORDER BY name")
            .fetch_all(&self.pool)
            .await?)
    }

    /// The uids of all tenants (orphan detection), one cheap query.
    pub async fn uids(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT uid FROM tenants")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Marks the tenant for deletion; the reconciler's finalizer does the rest.
    /// Returns false when there was no such tenant. Repeating it is harmless.
    pub async fn request_delete(&self, name: &str) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE tenants SET deletion_timestamp = now(), \
             resource_version = tenantd_next_resource_version() \
             WHERE name = $1 AND deletion_timestamp IS NULL",
        )
        .bind(name)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() > 0 {
            return Ok(true);
        }
        Ok(self.get(name).await?.is_some())
    }

    /// Marks the tenant for deletion only if it is still the same incarnation (`uid`) and still
    /// belongs to `source`: the specs/ sync's prune, which must not delete a tenant that an
    /// admin took over in the meantime. Returns whether it marked it.
    pub async fn request_delete_if_owned(
        &self,
        name: &str,
        uid: &str,
        source: &str,
    ) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE tenants SET deletion_timestamp = now(), \
             resource_version = tenantd_next_resource_version() \
             WHERE name = $1 AND uid = $2 AND source = $3 AND deletion_timestamp IS NULL",
        )
        .bind(name)
        .bind(uid)
        .bind(source)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Removes the finalizer and, with it, the row (and by cascade its status and credentials).
    /// Only for a tenant marked for deletion whose uid matches, so a tenant re-created under
    /// the same name in the meantime is never removed.
    pub async fn finalize(&self, name: &str, uid: &str) -> Result<bool> {
        // The delete locks the row and then, in its tombstone trigger, takes a version: the
        // version lock comes first, as in every transaction that locks a tenant row.
        let mut tx = self.pool.begin().await?;
        lock_resource_versions(&mut tx).await?;
        let result = sqlx::query(
            "DELETE FROM tenants WHERE name = $1 AND uid = $2 AND deletion_timestamp IS NOT NULL",
        )
        .bind(name)
        .bind(uid)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(result.rows_affected() > 0)
    }
}

/// What applying `proposed` over `current` (the stored tenant, if any) on behalf of `options`
/// would do, or why it is refused. Pure: the store's apply and the API's dry run both decide
/// with it, so a dry run refuses exactly what a write would.
pub fn decide_apply(
    current: Option<&Tenant>,
    proposed: &Tenant,
    options: &ApplyOptions,
) -> Result<ApplyOutcome> {
    let name = &proposed.metadata.name;
    let sent = proposed
        .metadata
        .resource_version
        .as_deref()
        .filter(|v| !v.is_empty());
    let Some(current) = current else {
        return match sent {
            Some(_) => Err(Error::VersionOnCreate { name: name.clone() }),
            None => Ok(ApplyOutcome::Created),
        };
    };
    let meta = &current.metadata;
    if meta.deletion_timestamp.is_some() {
        return Err(Error::BeingDeleted { name: name.clone() });
    }
    if meta.source != options.source && !options.force {
        return Err(match &meta.source {
            Some(owning_file) => Error::OwnedByFile {
                name: name.clone(),
                source_file: owning_file.trim_start_matches("file:").to_owned(),
            },
            None => Error::NotFromFiles { name: name.clone() },
        });
    }
    let stored_version = meta.resource_version.clone().unwrap_or_default();
    if let Some(sent) = sent
        && sent != stored_version
    {
        return Err(Error::Conflict {
            name: name.clone(),
            sent: sent.to_owned(),
            current: stored_version,
        });
    }
    let owner = proposed.metadata.owner.clone().or(meta.owner.clone());
    let unchanged = current.spec == proposed.spec
        && meta.labels == proposed.metadata.labels
        && owner == meta.owner
        && options.source == meta.source;
    Ok(if unchanged {
        ApplyOutcome::Unchanged
    } else {
        ApplyOutcome::Configured
    })
}

/// How often [`Store::apply_with`] decides before it gives up with [`Error::Contended`]. After
/// the first, applies of one tenant queue on a lock, so only writers outside the queue (other
/// applies' first tries, a delete mark) can make an attempt lose: with 64 connections writing
/// 10 tenants in the benchmark, none reached it.
const APPLY_ATTEMPTS: usize = 16;

/// One tenant with its status, on the pool or inside a transaction.
async fn fetch_tenant(executor: impl sqlx::PgExecutor<'_>, name: &str) -> Result<Option<Tenant>> {
    let row = sqlx::query(select_tenants!("WHERE t.name = $1"))
        .bind(name)
        .fetch_optional(executor)
        .await?;
    row.map(|r| tenant_from_row(&r)).transpose()
}

/// What [`compare_and_write`] did.
enum Decided {
    /// Nothing to write: the stored tenant as read.
    Unchanged(Box<Tenant>),
    /// Written (created or configured): the tenant as stored by that write.
    Written(ApplyOutcome, Box<Tenant>),
}

/// Decides `tenant` over `current` (the stored row as read) and writes it in one statement
/// that matches only while the row is still the one read (its resourceVersion) or, for a
/// create, while there is no row. `None`: another writer got there first.
async fn compare_and_write(
    executor: impl sqlx::PgExecutor<'_>,
    tenant: &Tenant,
    options: &ApplyOptions,
    current: Option<&Tenant>,
) -> Result<Option<Decided>> {
    let outcome = decide_apply(current, tenant, options)?;
    write_decided(executor, tenant, options, current, outcome).await
}

/// The write half of [`compare_and_write`]: writes what `outcome` (decided on `current`)
/// says, in one statement that matches only while the row is still `current`.
async fn write_decided(
    executor: impl sqlx::PgExecutor<'_>,
    tenant: &Tenant,
    options: &ApplyOptions,
    current: Option<&Tenant>,
    outcome: ApplyOutcome,
) -> Result<Option<Decided>> {
    let Some(current) = current else {
        return match insert(executor, tenant, options.source.as_deref()).await {
            Ok(stored) => Ok(Some(Decided::Written(outcome, Box::new(stored)))),
            // Created by someone else since the read: decide again, as an update.
            Err(Error::NameTaken { .. }) => Ok(None),
            Err(e) => Err(e),
        };
    };
    if outcome == ApplyOutcome::Unchanged {
        return Ok(Some(Decided::Unchanged(Box::new(current.clone()))));
    }
    let name = &tenant.metadata.name;
    let meta = &current.metadata;
    let read_version: i64 = meta
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("a stored tenant's resourceVersion is its bigint");
    let spec_json = serde_json::to_value(&tenant.spec).expect("a TenantSpec always serializes");
    let labels_json =
        serde_json::to_value(&tenant.metadata.labels).expect("labels always serialize");
    let subdomain = tenant.spec.subdomain_or(name).to_owned();
    let owner = tenant.metadata.owner.clone().or(meta.owner.clone());
    // A forced write by another source takes the tenant over (and frees it from its file).
    let source = options.source.clone();
    // It takes its version before it locks the row, as every single-statement writer does
    // (see lock_resource_versions).
    let written = sqlx::query(write_returning_tenant!(
        "UPDATE tenants SET spec = $2, labels = $3, owner = $4, subdomain = $5, \
         generation = generation + $6, source = $7, \
         resource_version = tenantd_next_resource_version() \
         WHERE name = $1 AND resource_version = $8"
    ))
    .bind(name)
    .bind(&spec_json)
    .bind(&labels_json)
    .bind(&owner)
    .bind(&subdomain)
    .bind(i64::from(current.spec != tenant.spec))
    .bind(&source)
    .bind(read_version)
    .fetch_optional(executor)
    .await
    .map_err(|e| map_unique(e, &subdomain))?;
    written
        .map(|row| Ok(Decided::Written(outcome, Box::new(tenant_from_row(&row)?))))
        .transpose()
}

/// Serializes the applies of one tenant (a transaction-level advisory lock on the name's
/// hash, in the two-key space, which does not overlap the version lock's one-key space).
///
/// Lock order: this lock, then the version lock (the UPDATE takes it), then the row. Nobody
/// takes this lock while holding the version lock, so it adds no cycle. Two names with one
/// hash merely queue behind each other.
async fn lock_tenant_writes(tx: &mut Transaction<'_, Postgres>, name: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(TENANT_WRITE_LOCK_CLASS)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The first key of [`lock_tenant_writes`]' lock: "tenant applies", fixed for this purpose.
const TENANT_WRITE_LOCK_CLASS: i32 = 0x7465_6e61;

/// Takes the lock that `tenantd_next_resource_version()` holds until commit (migration 0006).
///
/// A transaction that locks a tenant row and then takes a version must take this first:
/// otherwise it could hold the row while waiting for the version lock, and a writer holding
/// the version lock could wait for the row (a status insert's foreign-key check does), which
/// is a deadlock. Single statements need not: they take their version before their row lock.
async fn lock_resource_versions(tx: &mut Transaction<'_, Postgres>) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(tenantd_resource_version_lock_key())")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts a new tenant row (fresh uid, generation 1, the finalizer); returns it as stored.
async fn insert(
    executor: impl sqlx::PgExecutor<'_>,
    tenant: &Tenant,
    source: Option<&str>,
) -> Result<Tenant> {
    let name = &tenant.metadata.name;
    let spec_json = serde_json::to_value(&tenant.spec).expect("a TenantSpec always serializes");
    let labels_json =
        serde_json::to_value(&tenant.metadata.labels).expect("labels always serialize");
    let subdomain = tenant.spec.subdomain_or(name).to_owned();
    let uid = uuid::Uuid::new_v4().simple().to_string();
    let row = sqlx::query(write_returning_tenant!(
        "INSERT INTO tenants (name, uid, subdomain, spec, labels, owner, finalizers, source) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(name)
    .bind(&uid)
    .bind(&subdomain)
    .bind(&spec_json)
    .bind(&labels_json)
    .bind(&tenant.metadata.owner)
    .bind(vec![FINALIZER.to_owned()])
    .bind(source)
    .fetch_one(executor)
    .await
    .map_err(|e| map_insert_error(e, name, &subdomain))?;
    tenant_from_row(&row)
}

/// A unique violation on the name (the primary key) or on the subdomain, as its error.
fn map_insert_error(error: sqlx::Error, name: &str, subdomain: &str) -> Error {
    if let sqlx::Error::Database(db) = &error
        && db.constraint() == Some("tenants_pkey")
    {
        return Error::NameTaken {
            name: name.to_owned(),
        };
    }
    map_unique(error, subdomain)
}

fn map_unique(error: sqlx::Error, subdomain: &str) -> Error {
    if let sqlx::Error::Database(db) = &error
        && db.constraint() == Some("tenants_subdomain_key")
    {
        return Error::SubdomainTaken {
            subdomain: subdomain.to_owned(),
        };
    }
    Error::Database(error)
}

pub(crate) fn tenant_from_row(row: &sqlx::postgres::PgRow) -> Result<Tenant> {
    let name: String = row.try_get("name")?;
    // Straight from the jsonb bytes into the types, not through a `serde_json::Value`: a
    // resync reads every tenant, and that detour built every document twice.
    let corrupt = |column: &str, error: sqlx::Error| Error::Corrupt {
        name: name.clone(),
        message: format!("{column}: {error}"),
    };
    let Json(spec): Json<TenantSpec> = row.try_get("spec").map_err(|e| corrupt("spec", e))?;
    let Json(labels) = row.try_get("labels").map_err(|e| corrupt("labels", e))?;
    let status: Option<Json<TenantStatus>> =
        row.try_get("status").map_err(|e| corrupt("status", e))?;
    let status = status.map(|Json(status)| status);
    let resource_version: i64 = row.try_get("resource_version")?;
    let created_at: DateTime<Utc> = row.try_get("created_at")?;
    Ok(Tenant {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        metadata: ObjectMeta {
            labels,
            uid: Some(row.try_get("uid")?),
            generation: Some(row.try_get("generation")?),
            resource_version: Some(resource_version.to_string()),
            creation_timestamp: Some(created_at),
            deletion_timestamp: row.try_get("deletion_timestamp")?,
            finalizers: row.try_get("finalizers")?,
            owner: row.try_get("owner")?,
            source: row.try_get("source")?,
            name,
        },
        spec,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(version: Option<&str>, source: Option<&str>) -> Tenant {
        Tenant {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            metadata: ObjectMeta {
                name: "acme".into(),
                resource_version: version.map(str::to_owned),
                source: source.map(str::to_owned),
                ..ObjectMeta::default()
            },
            spec: TenantSpec::default(),
            status: None,
        }
    }

    fn api() -> ApplyOptions {
        ApplyOptions::default()
    }

    #[test]
    fn a_create_must_not_name_a_resource_version() {
        assert!(matches!(
            decide_apply(None, &tenant(Some("3"), None), &api()),
            Err(Error::VersionOnCreate { .. })
        ));
        assert_eq!(
            decide_apply(None, &tenant(None, None), &api()).unwrap(),
            ApplyOutcome::Created
        );
    }

    #[test]
    fn a_stale_resource_version_is_a_conflict_and_an_identical_write_is_unchanged() {
        let stored = tenant(Some("7"), None);
        assert!(matches!(
            decide_apply(Some(&stored), &tenant(Some("6"), None), &api()),
            Err(Error::Conflict { .. })
        ));
        assert_eq!(
            decide_apply(Some(&stored), &tenant(Some("7"), None), &api()).unwrap(),
            ApplyOutcome::Unchanged
        );
        let mut edited = tenant(None, None);
        edited.spec.subdomain = Some("other".into());
        assert_eq!(
            decide_apply(Some(&stored), &edited, &api()).unwrap(),
            ApplyOutcome::Configured
        );
    }

    #[test]
    fn sources_do_not_overwrite_each_other_unless_forced() {
        let from_file = tenant(Some("2"), Some("file:a.yaml"));
        assert!(matches!(
            decide_apply(Some(&from_file), &tenant(None, None), &api()),
            Err(Error::OwnedByFile { .. })
        ));
        let forced = ApplyOptions {
            force: true,
            ..api()
        };
        assert_eq!(
            decide_apply(Some(&from_file), &tenant(None, None), &forced).unwrap(),
            ApplyOutcome::Configured,
            "a forced write takes the tenant over"
        );
        let sync = ApplyOptions {
            source: Some("file:a.yaml".into()),
            force: false,
        };
        assert!(matches!(
            decide_apply(Some(&tenant(Some("2"), None)), &tenant(None, None), &sync),
            Err(Error::NotFromFiles { .. })
        ));
    }
}
