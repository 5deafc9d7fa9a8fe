//! The observed-state cache: our containers, the network and local images, as last seen.
//!
//! Kept current by a periodic relist (replace everything: 3 list calls, whatever the number of
//! tenants), by Docker events (refresh one container), and by the engine's own writes
//! (write-through, so a reconcile right after a create never sees a stale "missing").
//!
//! # Guarantees
//! - Only containers whose labels prove they are ours are ever in the cache.
//! - Reads never call the engine.
//! - A relist never undoes a fresher single-container update: a container written through
//!   (or refreshed after an event) while the list call was in flight keeps its newer state,
//!   so a reconcile never sees a container it just created vanish, or one it removed return.

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
    /// Counts single-container updates; a relist remembers where it started.
    update_seq: u64,
    /// Recent single-container updates: id → (sequence, new state or removed).
    recent: HashMap<String, (u64, Option<ObservedContainer>)>,
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

    /// Call before listing; pass the result to [`Cache::replace`].
    pub fn begin_relist(&self) -> u64 {
        self.read().update_seq
    }

    /// Replaces everything with a relist that began at `started` (from [`Cache::begin_relist`]),
    /// keeping single-container updates made since then, which are newer than the list.
    pub fn replace(
        &self,
        started: u64,
        containers: Vec<ObservedContainer>,
        network: Option<NetworkInfo>,
        images: HashMap<String, String>,
    ) {
        let mut inner = self.write();
        let mut fresh: HashMap<String, ObservedContainer> =
            containers.into_iter().map(|c| (c.id.clone(), c)).collect();
        inner.recent.retain(|_, (seq, _)| *seq > started);
        for (id, (_, state)) in &inner.recent {
            match state {
                Some(container) => fresh.insert(id.clone(), container.clone()),
                None => fresh.remove(id),
            };
        }
        inner.containers = fresh;
        inner.network = network;
        inner.images = images;
        inner.synced_at = Some(Instant::now());
    }

    /// Whether a full relist has happened yet; before it, absence proves nothing.
    pub fn is_synced(&self) -> bool {
        self.read().synced_at.is_some()
    }

    pub fn upsert_container(&self, container: ObservedContainer) {
        let mut inner = self.write();
        inner.update_seq += 1;
        let seq = inner.update_seq;
        inner
            .recent
            .insert(container.id.clone(), (seq, Some(container.clone())));
        inner.containers.insert(container.id.clone(), container);
    }

    /// Returns the tenant the removed container belonged to.
    pub fn remove_container(&self, id: &str) -> Option<String> {
        let mut inner = self.write();
        inner.update_seq += 1;
        let seq = inner.update_seq;
        inner.recent.insert(id.to_owned(), (seq, None));
        inner.containers.remove(id).map(|c| c.tenant)
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
    use crate::engine::{Health, RunState};

    fn container(id: &str) -> ObservedContainer {
        ObservedContainer {
            id: id.into(),
            name: format!("tenant-{id}"),
            tenant: id.into(),
            uid: None,
            spec_hash: None,
            image_id: String::new(),
            state: RunState::Running,
            health: Health::None,
            networks: Default::default(),
        }
    }

    #[test]
    fn a_relist_that_started_before_a_create_keeps_the_created_container() {
        let cache = Cache::default();
        let started = cache.begin_relist();
        cache.upsert_container(container("new"));
        cache.replace(started, vec![container("old")], None, HashMap::new());
        assert_eq!(
            cache.containers_of("new").len(),
            1,
            "the write-through survives"
        );
        assert_eq!(cache.containers_of("old").len(), 1);
    }

    #[test]
    fn a_relist_that_started_before_a_remove_does_not_bring_the_container_back() {
        let cache = Cache::default();
        cache.upsert_container(container("gone"));
        let started = cache.begin_relist();
        cache.remove_container("gone");
        cache.replace(started, vec![container("gone")], None, HashMap::new());
        assert!(cache.containers_of("gone").is_empty());
    }

    #[test]
    fn a_relist_that_started_after_an_update_is_authoritative() {
        let cache = Cache::default();
        cache.upsert_container(container("stale"));
        let started = cache.begin_relist();
        cache.replace(started, vec![], None, HashMap::new());
        assert!(
            cache.containers_of("stale").is_empty(),
            "the list is newer than the update"
        );
    }

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
