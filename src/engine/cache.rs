//! The observed-state cache: our containers, the network and local images, as last seen.
//!
//! Kept current by a periodic relist (replace everything: 3 list calls, whatever the number of
//! tenants), by Docker events (refresh one container), and by the engine's own writes
//! (write-through, so a reconcile right after a create never sees a stale "missing").
//!
//! # Guarantees
//! - Only containers whose labels prove they are ours are ever in the cache.
//! - Reads never call the engine.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;
use std::time::Instant;

use super::observed::ObservedContainer;

/// The tenant network as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    /// The bridge gateway, which is the host as seen from the containers.
    pub gateway: Option<String>,
}

#[derive(Default)]
struct Inner {
    containers: HashMap<String, ObservedContainer>,
    network: Option<NetworkInfo>,
    /// Normalized image reference (`name:tag`) → image ID.
    images: HashMap<String, String>,
    synced_at: Option<Instant>,
}

/// Shared, read-mostly snapshot of the engine.
#[derive(Default)]
pub struct Cache {
    inner: RwLock<Inner>,
}

impl Cache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .expect("the cache lock is never held across a panic")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .expect("the cache lock is never held across a panic")
    }

    /// Replaces everything with a fresh relist.
    pub fn replace(
        &self,
        containers: Vec<ObservedContainer>,
        network: Option<NetworkInfo>,
        images: HashMap<String, String>,
    ) {
        let mut inner = self.write();
        inner.containers = containers.into_iter().map(|c| (c.id.clone(), c)).collect();
        inner.network = network;
        inner.images = images;
        inner.synced_at = Some(Instant::now());
    }

    /// Whether a full relist has happened yet; before it, absence proves nothing.
    pub fn is_synced(&self) -> bool {
        self.read().synced_at.is_some()
    }

    pub fn upsert_container(&self, container: ObservedContainer) {
        self.write()
            .containers
            .insert(container.id.clone(), container);
    }

    /// Returns the tenant the removed container belonged to.
    pub fn remove_container(&self, id: &str) -> Option<String> {
        self.write().containers.remove(id).map(|c| c.tenant)
    }

    /// The tenant's containers, oldest id order irrelevant: sorted by name then id for determinism.
    pub fn containers_of(&self, tenant: &str) -> Vec<ObservedContainer> {
        let inner = self.read();
        let mut found: Vec<_> = inner
            .containers
            .values()
            .filter(|c| c.tenant == tenant)
            .cloned()
            .collect();
        found.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        found
    }

    /// Every tenant name that has at least one container (orphan detection).
    pub fn tenants_with_containers(&self) -> BTreeSet<String> {
        self.read()
            .containers
            .values()
            .map(|c| c.tenant.clone())
            .collect()
    }

    pub fn network(&self) -> Option<NetworkInfo> {
        self.read().network.clone()
    }

    pub fn set_network(&self, network: Option<NetworkInfo>) {
        self.write().network = network;
    }

    pub fn image_id(&self, reference: &str) -> Option<String> {
        self.read()
            .images
            .get(&normalize_reference(reference))
            .cloned()
    }

    pub fn set_images(&self, images: HashMap<String, String>) {
        self.write().images = images;
    }
}

/// `fresco` → `fresco:latest`; `docker.io/library/x:1` → `x:1`; digests are kept as they are.
pub fn normalize_reference(reference: &str) -> String {
    let trimmed = reference
        .strip_prefix("docker.io/library/")
        .or_else(|| reference.strip_prefix("docker.io/"))
        .unwrap_or(reference);
    if trimmed.contains('@') {
        return trimmed.to_owned();
    }
    let last_segment = trimmed.rsplit('/').next().unwrap_or(trimmed);
    if last_segment.contains(':') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_without_a_tag_mean_latest() {
        assert_eq!(normalize_reference("fresco"), "fresco:latest");
        assert_eq!(
            normalize_reference("docker.io/library/fresco:1"),
            "fresco:1"
        );
        assert_eq!(
            normalize_reference("localhost:5000/a/b"),
            "localhost:5000/a/b:latest"
        );
        assert_eq!(normalize_reference("ghcr.io/x/y:2"), "ghcr.io/x/y:2");
    }
}
