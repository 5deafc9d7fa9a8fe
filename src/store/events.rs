//! The deployment log: what the reconciler did to each tenant, and how it went.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Result, Store};

/// `Normal` for progress, `Warning` for something a person should look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventOutcome {
    Normal,
    Warning,
}

impl EventOutcome {
    fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Normal => "Normal",
            EventOutcome::Warning => "Warning",
        }
    }
}

/// One entry of the deployment log; repeats fold into `count`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: i64,
    pub tenant_name: String,
    pub action: String,
    pub outcome: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

impl Store {
    /// Appends to the log, or bumps the count of the tenant's latest entry when it says the
    /// same thing again (so a failure retried under backoff is one line with a count).
    pub async fn record_event(
        &self,
        tenant_name: &str,
        tenant_uid: &str,
        action: &str,
        outcome: EventOutcome,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        let folded = sqlx::query(
            "UPDATE tenant_events SET count = count + 1, last_at = now() \
             WHERE id = (SELECT id FROM tenant_events WHERE tenant_name = $1 ORDER BY id DESC LIMIT 1) \
               AND tenant_uid = $2 AND action = $3 AND outcome = $4 AND reason = $5 AND message = $6",
        )
        .bind(tenant_name)
        .bind(tenant_uid)
        .bind(action)
        .bind(outcome.as_str())
        .bind(reason)
        .bind(message)
        .execute(self.pool())
        .await?;
        if folded.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO tenant_events (tenant_name, tenant_uid, action, outcome, reason, message) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(tenant_name)
            .bind(tenant_uid)
            .bind(action)
            .bind(outcome.as_str())
            .bind(reason)
            .bind(message)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// The tenant's most recent events, newest first.
    pub async fn events(&self, tenant_name: &str, limit: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT id, tenant_name, action, outcome, reason, message, count, first_at, last_at \
             FROM tenant_events WHERE tenant_name = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(tenant_name)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    id: r.try_get("id")?,
                    tenant_name: r.try_get("tenant_name")?,
                    action: r.try_get("action")?,
                    outcome: r.try_get("outcome")?,
                    reason: r.try_get("reason")?,
                    message: r.try_get("message")?,
                    count: r.try_get("count")?,
                    first_at: r.try_get("first_at")?,
                    last_at: r.try_get("last_at")?,
                })
            })
            .collect()
    }
}
