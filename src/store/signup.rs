//! The signup wizard's sessions (`signup_sessions`): what each step recorded, keyed by the
//! SHA-256 of the wizard's cookie token, expiring one hour after the last use.
//!
//! # Guarantees
//! - Only live sessions are returned; every read through [`Store::signup_session`] slides
//!   the expiry to one hour from now.
//! - Each step's write names the session and changes only that step's columns.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Result, Store};

/// How long a wizard session lives after its last use.
pub const SIGNUP_IDLE: chrono::Duration = chrono::Duration::hours(1);

/// One wizard session, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SignupRecord {
    pub id: Vec<u8>,
    pub user_id: Option<Uuid>,
    pub intended_use: Option<String>,
    pub intended_use_other: Option<String>,
    pub subdomain: Option<String>,
    pub terms_accepted_at: Option<DateTime<Utc>>,
    pub tenant_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Starts a wizard session (for a logged-in visitor, with its user already set).
    pub async fn create_signup_session(
        &self,
        id: &[u8; 32],
        user_id: Option<Uuid>,
    ) -> Result<SignupRecord> {
        Ok(sqlx::query_as(
            "INSERT INTO signup_sessions (id, user_id, expires_at) VALUES ($1, $2, now() + $3) \
             RETURNING *",
        )
        .bind(&id[..])
        .bind(user_id)
        .bind(SIGNUP_IDLE)
        .fetch_one(self.pool())
        .await?)
    }

    /// The live session with this id, its expiry moved to an hour from now; `None` when there
    /// is none or it expired.
    pub async fn signup_session(&self, id: &[u8; 32]) -> Result<Option<SignupRecord>> {
        Ok(sqlx::query_as(
            "UPDATE signup_sessions SET expires_at = now() + $2 \
             WHERE id = $1 AND expires_at > now() RETURNING *",
        )
        .bind(&id[..])
        .bind(SIGNUP_IDLE)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Step 1: the account the tenant will belong to. A different user than before starts
    /// the later steps over (they were chosen by someone else).
    pub async fn set_signup_user(&self, id: &[u8; 32], user_id: Uuid) -> Result<()> {
        sqlx::query(
            "UPDATE signup_sessions SET user_id = $2, \
               intended_use = CASE WHEN user_id = $2 THEN intended_use END, \
               intended_use_other = CASE WHEN user_id = $2 THEN intended_use_other END, \
               subdomain = CASE WHEN user_id = $2 THEN subdomain END, \
               terms_accepted_at = CASE WHEN user_id = $2 THEN terms_accepted_at END \
             WHERE id = $1 AND tenant_name IS NULL",
        )
        .bind(&id[..])
        .bind(user_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Step 2.
    pub async fn set_signup_use(
        &self,
        id: &[u8; 32],
        intended_use: &str,
        other: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE signup_sessions SET intended_use = $2, intended_use_other = $3 \
             WHERE id = $1 AND tenant_name IS NULL",
        )
        .bind(&id[..])
        .bind(intended_use)
        .bind(other)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Step 3.
    pub async fn set_signup_subdomain(&self, id: &[u8; 32], subdomain: &str) -> Result<()> {
        sqlx::query(
            "UPDATE signup_sessions SET subdomain = $2 WHERE id = $1 AND tenant_name IS NULL",
        )
        .bind(&id[..])
        .bind(subdomain)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Step 4.
    pub async fn accept_signup_terms(&self, id: &[u8; 32]) -> Result<()> {
        sqlx::query(
            "UPDATE signup_sessions SET terms_accepted_at = now() \
             WHERE id = $1 AND tenant_name IS NULL",
        )
        .bind(&id[..])
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Step 5: the tenant was created. Later steps cannot be changed from here on.
    pub async fn set_signup_tenant(&self, id: &[u8; 32], tenant_name: &str) -> Result<()> {
        sqlx::query("UPDATE signup_sessions SET tenant_name = $2 WHERE id = $1")
            .bind(&id[..])
            .bind(tenant_name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Step 3 again: the chosen subdomain was taken in the meantime (a race lost at step 5).
    pub async fn clear_signup_subdomain(&self, id: &[u8; 32]) -> Result<()> {
        sqlx::query(
            "UPDATE signup_sessions SET subdomain = NULL WHERE id = $1 AND tenant_name IS NULL",
        )
        .bind(&id[..])
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes expired wizard sessions (called when a new one starts, instead of by a timer).
    pub async fn delete_expired_signup_sessions(&self) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM signup_sessions WHERE expires_at <= now()")
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }

    /// How long recent tenants took from creation to their first Ready, in seconds, newest
    /// first (at most `limit`): the wizard's estimate of the time left. Read from the
    /// Ready condition's transition time, so only tenants Ready now count.
    pub async fn recent_provisioning_seconds(&self, limit: i64) -> Result<Vec<f64>> {
        Ok(sqlx::query_scalar(
            "SELECT extract(epoch FROM (c.value->>'lastTransitionTime')::timestamptz - t.created_at)::float8 \
             FROM tenants t JOIN tenant_status s ON s.name = t.name, \
                  jsonb_array_elements(s.status->'conditions') c \
             WHERE c.value->>'type' = 'Ready' AND c.value->>'status' = 'True' \
             ORDER BY t.created_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
