//! Status writes: only the reconciler calls these, and a write that changes nothing is skipped.

use super::{Result, Store};
use crate::resource::TenantStatus;

impl Store {
    /// Stores `status` unless it equals the stored one. Returns whether a write happened.
    ///
    /// The comparison happens in the database (`IS DISTINCT FROM` on jsonb), so an unchanged
    /// status costs one statement and no row version, and raises no `tenantd_status` notify.
    /// A tenant row that is gone (finalized meanwhile) makes this a no-op.
    pub async fn write_status(&self, name: &str, uid: &str, status: &TenantStatus) -> Result<bool> {
        let json = serde_json::to_value(status).expect("a TenantStatus always serializes");
        let result = sqlx::query(
            "INSERT INTO tenant_status (name, status) \
             SELECT name, $3 FROM tenants WHERE name = $1 AND uid = $2 \
             ON CONFLICT (name) DO UPDATE SET status = EXCLUDED.status, updated_at = now(), \
                 resource_version = tenantd_next_resource_version() \
             WHERE tenant_status.status IS DISTINCT FROM EXCLUDED.status",
        )
        .bind(name)
        .bind(uid)
        .bind(json)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() > 0)
    }
}
