//! Email verification links: the SQL behind `accounts::verification`, which owns the policy
//! (token, lifetime, mail).
//!
//! # Guarantees
//! - Links are looked up by the SHA-256 of their token; the token itself is never stored.
//! - [`Store::consume_email_verification`] marks the link used and the user verified in one
//!   transaction, and a link is consumed at most once, whatever the race (the `UPDATE`
//!   matches only an unused, unexpired row, and row locks serialize two clicks).
//! - A link verifies only the address it was sent to: if the user's email changed since,
//!   it verifies nothing.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Result, Store};

/// What following a verification link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// The link was valid: it is now used and the user is verified.
    Verified { user_id: Uuid },
    /// The link was followed before.
    AlreadyUsed,
    /// The link is older than its lifetime.
    Expired,
    /// No such link (forged, mistyped, swept, or sent to an address the user no longer has).
    Unknown,
}

impl Store {
    /// Records a link sent to `email` for `user_id`; expired links are swept here (a cheap
    /// indexed delete, instead of a timer). Links expired for more than a week are removed,
    /// so that a late click still gets "expired" rather than "unknown" for a while.
    pub async fn create_email_verification(
        &self,
        token_hash: &[u8; 32],
        user_id: Uuid,
        email: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("DELETE FROM email_verifications WHERE expires_at < now() - interval '7 days'")
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO email_verifications (token_hash, user_id, email, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash.as_slice())
        .bind(user_id)
        .bind(email)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Follows a link: when it is unused, unexpired and names the user's current address,
    /// marks it used and the user verified (keeping an earlier verification time).
    pub async fn consume_email_verification(&self, token_hash: &[u8; 32]) -> Result<Consumed> {
        let mut tx = self.pool.begin().await?;
        let used: Option<Uuid> = sqlx::query_scalar(
            "UPDATE email_verifications v SET used_at = now() \
             FROM users u \
             WHERE v.token_hash = $1 AND v.used_at IS NULL AND v.expires_at > now() \
               AND u.id = v.user_id AND lower(u.email) = lower(v.email) \
             RETURNING v.user_id",
        )
        .bind(token_hash.as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(user_id) = used {
            sqlx::query(
                "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) \
                 WHERE id = $1",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Consumed::Verified { user_id });
        }
        // Why not: told apart only for the page's wording; nothing changes either way.
        let row: Option<(bool, bool)> = sqlx::query_as(
            "SELECT v.used_at IS NOT NULL, v.expires_at <= now() \
             FROM email_verifications v JOIN users u ON u.id = v.user_id \
             WHERE v.token_hash = $1 AND lower(u.email) = lower(v.email)",
        )
        .bind(token_hash.as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match row {
            Some((true, _)) => Consumed::AlreadyUsed,
            Some((false, true)) => Consumed::Expired,
            // A row that is unused and live but did not match cannot exist here; treat a
            // missing row and that impossibility alike.
            _ => Consumed::Unknown,
        })
    }
}
