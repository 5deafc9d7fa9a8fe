//! Users and login sessions: the SQL behind [`crate::accounts`], which owns the policy
//! (hashing, expiry, CSRF, rate limits).
//!
//! # Guarantees
//! - Emails are unique ignoring case (a unique index on `lower(email)`); a second signup with
//!   the same address is [`Error::EmailTaken`], whatever the race.
//! - Sessions are looked up by the SHA-256 of their token; the token itself is never stored.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::{Error, Result, Store};

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Uuid,
    pub email: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// `user` or `admin`.
    pub role: String,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub password_changed_at: DateTime<Utc>,
}

/// A new session, as [`crate::accounts`] creates it.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the cookie's token.
    pub id: [u8; 32],
    pub user_id: Uuid,
    pub csrf_secret: String,
    pub remember: bool,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A live session with its user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: [u8; 32],
    pub csrf_secret: String,
    pub remember: bool,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user: UserRecord,
}

/// The user columns, as a literal so queries stay static strings.
macro_rules! user_columns {
    () => {
        "u.id, u.email, u.password_hash, u.role, u.email_verified_at, u.created_at, u.password_changed_at"
    };
}

fn user_from_row(row: &sqlx::postgres::PgRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        role: row.try_get("role")?,
        email_verified_at: row.try_get("email_verified_at")?,
        created_at: row.try_get("created_at")?,
        password_changed_at: row.try_get("password_changed_at")?,
    })
}

impl Store {
    /// Inserts a user; [`Error::EmailTaken`] when the address (ignoring case) is in use.
    pub async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        role: &str,
    ) -> Result<UserRecord> {
        let id = Uuid::new_v4();
        let row = sqlx::query(concat!(
            "INSERT INTO users AS u (id, email, password_hash, role) VALUES ($1, $2, $3, $4) RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(email)
        .bind(password_hash)
        .bind(role)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.constraint() == Some("users_email_key") => {
                Error::EmailTaken {
                    email: email.to_owned(),
                }
            }
            _ => Error::Database(e),
        })?;
        user_from_row(&row)
    }

    /// The user with this email, ignoring case.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE lower(u.email) = lower($1)"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Replaces the password hash without touching sessions (a rehash after login).
    pub async fn rehash_password(&self, user_id: Uuid, password_hash: &str) -> Result<()> {
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user_id)
            .bind(password_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets a new password and ends every session of the user except `keep` (the one that
    /// changed it), in one transaction.
    pub async fn change_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1",
        )
        .bind(user_id)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2")
            .bind(user_id)
            .bind(keep.map(|k| k.as_slice()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The users with any of these emails, ignoring case.
    pub async fn users_by_emails(&self, emails: &[String]) -> Result<Vec<UserRecord>> {
        let lowered: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE lower(u.email) = ANY($1) ORDER BY lower(u.email)"
        ))
        .bind(&lowered)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Sets a user's role (`user` or `admin`); false when there is no such user.
    pub async fn set_user_role(&self, user_id: Uuid, role: &str) -> Result<bool> {
        let result = sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
            .bind(user_id)
            .bind(role)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    pub async fn create_session(&self, session: &NewSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, csrf_secret, remember, expires_at, user_agent, ip) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session.id.as_slice())
        .bind(session.user_id)
        .bind(&session.csrf_secret)
        .bind(session.remember)
        .bind(session.expires_at)
        .bind(&session.user_agent)
        .bind(&session.ip)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The unexpired session with this id (token hash), with its user.
    pub async fn session(&self, id: &[u8; 32]) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(concat!(
            "SELECT s.id AS session_id, s.csrf_secret, s.remember, s.last_seen_at, s.expires_at, ",
            user_columns!(),
            " FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.expires_at > now()"
        ))
        .bind(id.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored_id: Vec<u8> = row.try_get("session_id")?;
        Ok(Some(SessionRecord {
            id: stored_id.try_into().map_err(|_| {
                Error::Database(sqlx::Error::Decode("session id is not 32 bytes".into()))
            })?,
            csrf_secret: row.try_get("csrf_secret")?,
            remember: row.try_get("remember")?,
            last_seen_at: row.try_get("last_seen_at")?,
            expires_at: row.try_get("expires_at")?,
            user: user_from_row(&row)?,
        }))
    }

    /// Slides a session's expiry.
    pub async fn touch_session(&self, id: &[u8; 32], expires_at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = now(), expires_at = $2 WHERE id = $1")
            .bind(id.as_slice())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends one session; repeating it is harmless.
    pub async fn delete_session(&self, id: &[u8; 32]) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.as_slice())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn delete_expired_sessions(&self) -> Result<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= now()")
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    /// How many live sessions a user has (for tests and the settings page).
    pub async fn session_count(&self, user_id: Uuid) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM sessions WHERE user_id = $1 AND expires_at > now()",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?)
    }
}
