//! A resync pass's read of the store: every tenant and its credentials in two queries, instead
//! of two queries per tenant, handed to the reconciles the pass schedules.
//!
//! # Guarantees
//! - An entry is what the store held when the snapshot was read, and the controller forgets it
//!   the moment any trigger names that tenant (a store NOTIFY or an engine event), so a
//!   reconcile starts from it only while no newer change is known. Every commit after the read
//!   raises a NOTIFY that arrives after the snapshot is installed (the controller reads the
//!   snapshot inside its trigger loop), so a stale entry is always forgotten before it could
//!   hide a change for longer than one reconcile; that reconcile then runs again.
//! - An entry is handed out once: a later reconcile of the same tenant reads the store.

use std::collections::HashMap;

use crate::resource::Tenant;
use crate::store::{self, Credentials, Store};

/// One tenant as a resync read it.
#[derive(Debug, Clone)]
pub struct Prefetched {
    pub tenant: Tenant,
    pub credentials: Option<Credentials>,
}

/// The tenants of one resync read, by name.
#[derive(Debug, Default)]
pub struct Snapshot {
    tenants: HashMap<String, Prefetched>,
}

impl Snapshot {
    /// Reads every tenant (with status) and every tenant's credentials: two queries.
    pub async fn load(store: &Store) -> Result<Snapshot, store::Error> {
        let credentials = store.all_credentials().await?;
        Ok(Snapshot::of(store.list().await?, credentials))
    }

    /// Pairs each tenant with its credentials (by uid).
    fn of(tenants: Vec<Tenant>, mut credentials: HashMap<String, Credentials>) -> Snapshot {
        let tenants = tenants
            .into_iter()
            .map(|tenant| {
                let credentials = tenant
                    .metadata
                    .uid
                    .as_deref()
                    .and_then(|uid| credentials.remove(uid));
                let name = tenant.metadata.name.clone();
                (
                    name,
                    Prefetched {
                        tenant,
                        credentials,
                    },
                )
            })
            .collect();
        Snapshot { tenants }
    }

    /// The names of the tenants read, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tenants.keys().cloned().collect();
        names.sort();
        names
    }

    /// Hands out `name`'s entry, once.
    pub fn take(&mut self, name: &str) -> Option<Prefetched> {
        self.tenants.remove(name)
    }

    /// Drops `name`'s entry: something about that tenant changed since the read.
    pub fn forget(&mut self, name: &str) {
        self.tenants.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{API_VERSION, KIND, ObjectMeta, TenantSpec};

    fn tenant(name: &str, uid: &str) -> Tenant {
        Tenant {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            metadata: ObjectMeta {
                name: name.into(),
                uid: Some(uid.into()),
                ..ObjectMeta::default()
            },
            spec: TenantSpec::default(),
            status: None,
        }
    }

    fn credentials(password: &str) -> Credentials {
        Credentials {
            password: password.into(),
            verifier: format!("verifier of {password}"),
        }
    }

    #[test]
    fn each_tenant_gets_its_own_credentials_by_uid_or_none() {
        let mut snapshot = Snapshot::of(
            vec![tenant("b", "uid-b"), tenant("a", "uid-a")],
            HashMap::from([
                ("uid-a".to_owned(), credentials("pa")),
                ("uid-gone".to_owned(), credentials("px")),
            ]),
        );
        assert_eq!(snapshot.names(), ["a", "b"]);
        let a = snapshot.take("a").unwrap();
        assert_eq!(a.tenant.metadata.uid.as_deref(), Some("uid-a"));
        assert_eq!(a.credentials, Some(credentials("pa")));
        assert_eq!(snapshot.take("b").unwrap().credentials, None);
    }

    #[test]
    fn an_entry_is_handed_out_once_and_not_after_it_was_forgotten() {
        let mut snapshot = Snapshot::of(vec![tenant("a", "1"), tenant("b", "2")], HashMap::new());
        assert!(snapshot.take("a").is_some());
        assert!(
            snapshot.take("a").is_none(),
            "a second reconcile reads the store"
        );
        snapshot.forget("b");
        assert!(
            snapshot.take("b").is_none(),
            "a changed tenant is read again"
        );
    }
}
