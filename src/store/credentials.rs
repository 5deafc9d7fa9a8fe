//! Tenant database credentials: generated once, kept so DATABASE_URL survives recreation.

use std::collections::HashMap;

use sqlx::Row;

use super::{Result, Store, tenant_from_row};
use crate::resource::Tenant;

/// A tenant role's password and the SCRAM verifier that was sent to the server for it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub password: String,
    pub verifier: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

impl Store {
    /// One tenant with its status and its credentials (`None` before they were generated), in
    /// one query: a reconcile's read of the store.
    pub async fn get_with_credentials(
        &self,
        name: &str,
    ) -> Result<Option<(Tenant, Option<Credentials>)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            ", c.password, c.verifier \
             FROM tenants t LEFT JOIN tenant_status s ON s.name = t.name \
             LEFT JOIN tenant_credentials c ON c.uid = t.uid WHERE t.name = $1"
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let tenant = tenant_from_row(&row)?;
        let password: Option<String> = row.try_get("password")?;
        let credentials = password
            .map(|password| {
                Ok::<_, super::Error>(Credentials {
                    password,
                    verifier: row.try_get("verifier")?,
                })
            })
            .transpose()?;
        Ok(Some((tenant, credentials)))
    }

    pub async fn credentials(&self, uid: &str) -> Result<Option<Credentials>> {
        let row = sqlx::query("SELECT password, verifier FROM tenant_credentials WHERE uid = $1")
            .bind(uid)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(credentials_from_row).transpose()
    }

    /// Every tenant's credentials by uid: one query, whatever the count (a resync pass's read).
    pub async fn all_credentials(&self) -> Result<HashMap<String, Credentials>> {
        let rows = sqlx::query("SELECT uid, password, verifier FROM tenant_credentials")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("uid")?, credentials_from_row(r)?)))
            .collect()
    }

    /// Stores `candidate` unless the tenant already has credentials, and returns the ones in
    /// force. Two racing reconciles (or a crash between generate and store) thus always end
    /// with one password.
    pub async fn ensure_credentials(
        &self,
        uid: &str,
        candidate: &Credentials,
    ) -> Result<Credentials> {
        sqlx::query(
            "INSERT INTO tenant_credentials (uid, password, verifier) VALUES ($1, $2, $3) \
             ON CONFLICT (uid) DO NOTHING",
        )
        .bind(uid)
        .bind(&candidate.password)
        .bind(&candidate.verifier)
        .execute(self.pool())
        .await?;
        Ok(self
            .credentials(uid)
            .await?
            .expect("credentials exist right after an insert-or-keep for a live tenant"))
    }

    pub async fn delete_credentials(&self, uid: &str) -> Result<()> {
        sqlx::query("DELETE FROM tenant_credentials WHERE uid = $1")
            .bind(uid)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

fn credentials_from_row(row: &sqlx::postgres::PgRow) -> Result<Credentials> {
    Ok(Credentials {
        password: row.try_get("password")?,
        verifier: row.try_get("verifier")?,
    })
}
