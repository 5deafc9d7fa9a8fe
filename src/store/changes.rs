//! Changes since a resourceVersion, for watchers that resume: tenants whose spec or status
//! changed after it, and tombstones of tenants deleted after it.

use sqlx::Row;

use super::{Result, Store, tenant_from_row};
use crate::resource::Tenant;

/// One change, ordered by `version`.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The tenant as it is now (its spec or status changed).
    Upserted { version: i64, tenant: Box<Tenant> },
    Deleted {
        version: i64,
        name: String,
        uid: String,
        owner: Option<String>,
    },
}

impl Change {
    pub fn version(&self) -> i64 {
        match self {
            Change::Upserted { version, .. } | Change::Deleted { version, .. } => *version,
        }
    }
}

/// Tombstones older than this are pruned; a watcher resuming from before that gets a full list.
const TOMBSTONE_RETENTION: &str = "7 days";

impl Store {
    /// Everything that changed after `since`, oldest first. Two queries whatever the count,
    /// in one snapshot.
    ///
    /// Versions commit in order, so a snapshot holds every version up to some V and none
    /// after: the answer has every change in `since..=` its greatest version, and a watcher
    /// may resume from that greatest version. Two snapshots would not do: a tenant changed
    /// (version 60) after the rows were read but before a delete (61) that the tombstones
    /// query sees would be skipped by a watcher resuming from 61.
    pub async fn changes_since(&self, since: i64) -> Result<Vec<Change>> {
        let mut snapshot = self
            .pool()
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let rows = sqlx::query(select_tenants!(
            "WHERE greatest(t.resource_version, s.resource_version) > $1 ORDER BY change_version"
        ))
        .bind(since)
        .fetch_all(&mut *snapshot)
        .await?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in &rows {
            changes.push(Change::Upserted {
                version: row.try_get("change_version")?,
                tenant: Box::new(tenant_from_row(row)?),
            });
        }
        let tombstones = sqlx::query(
            "SELECT name, uid, owner, resource_version FROM tenant_tombstones \
             WHERE resource_version > $1 ORDER BY resource_version",
        )
        .bind(since)
        .fetch_all(&mut *snapshot)
        .await?;
        snapshot.commit().await?;
        for row in &tombstones {
            changes.push(Change::Deleted {
                version: row.try_get("resource_version")?,
                name: row.try_get("name")?,
                uid: row.try_get("uid")?,
                owner: row.try_get("owner")?,
            });
        }
        changes.sort_by_key(Change::version);
        Ok(changes)
    }

    /// The newest committed resourceVersion: a watch that starts from a list starts here.
    ///
    /// Not the sequence's last value: that may belong to a writer that has not committed yet,
    /// whose change a list taken now would miss and a watch from that value would skip.
    /// Versions commit in order (migration 0006), so every version up to this one is settled.
    pub async fn current_version(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT greatest(0, (SELECT max(resource_version) FROM tenants), \
             (SELECT max(resource_version) FROM tenant_status), \
             (SELECT max(resource_version) FROM tenant_tombstones), \
             (SELECT max(pruned_up_to) FROM tenant_tombstone_prunes))",
        )
        .fetch_one(self.pool())
        .await?)
    }

    /// Whether a watcher may resume from `since`: nothing it would need has been pruned.
    pub async fn can_resume_from(&self, since: i64) -> Result<bool> {
        let pruned_up_to: Option<i64> =
            sqlx::query_scalar("SELECT max(pruned_up_to) FROM tenant_tombstone_prunes")
                .fetch_one(self.pool())
                .await?;
        Ok(pruned_up_to.is_none_or(|p| since >= p))
    }

    /// Drops tombstones past their retention, remembering up to which version.
    pub async fn prune_tombstones(&self) -> Result<u64> {
        let result = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH gone AS (DELETE FROM tenant_tombstones \
             WHERE deleted_at < now() - interval '{TOMBSTONE_RETENTION}' RETURNING resource_version) \
             INSERT INTO tenant_tombstone_prunes (pruned_up_to) \
             SELECT max(resource_version) FROM gone HAVING count(*) > 0"
        )))
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected())
    }
}
