//! The observed-state cache: our containers, the network and local images, as last seen.
//!
//! Kept current by a periodic relist (replace everything: 3 list calls, whatever the number of
//! tenants), by Docker events (refresh one container), and by the engine's own writes
//! (write-through, so a reconcile right after a create never sees a stale "missing").
//!
//! # Guarantees
//! - Only containers whose labels prove they are ours are ever in the cache.
//! - Reads never call the engine, and a tenant's containers are found through an index by
//!   tenant, not by scanning every container (a resync reads N tenants: O(N), not O(N²)).
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
    /// Tenant name → the ids of its containers in `containers`; kept in step with it.
    by_tenant: HashMap<String, BTreeSet<String>>,
    /// Counts single-container updates; a relist remembers where it started.
    update_seq: u64,
    /// Recent single-container updates: id → (sequence, new state or removed).
    recent: HashMap<String, (u64, Option<ObservedContainer>)>,
    network: Option<NetworkInfo>,
    /// Normalized image reference (`name:tag`) → image ID.
    images: HashMap<String, String>,
    synced_at: Option<Instant>,
}

impl Inner {
    /// Adds or replaces a container, moving it in the index if its tenant label changed.
    fn insert(&mut self, container: ObservedContainer) {
        self.remove(&container.id);
        self.by_tenant
            .entry(container.tenant.clone())
            .or_default()
            .insert(container.id.clone());
        self.containers.insert(container.id.clone(), container);
    }

    fn remove(&mut self, id: &str) -> Option<ObservedContainer> {
        let removed = self.containers.remove(id)?;
        if let Some(ids) = self.by_tenant.get_mut(&removed.tenant) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_tenant.remove(&removed.tenant);
            }
        }
        Some(removed)
    }
}

fn index_by_tenant(
    containers: &HashMap<String, ObservedContainer>,
) -> HashMap<String, BTreeSet<String>> {
    let mut index: HashMap<String, BTreeSet<String>> = HashMap::new();
    for container in containers.values() {
        index
            .entry(container.tenant.clone())
            .or_default()
            .insert(container.id.clone());
    }
    index
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
        inner.by_tenant = index_by_tenant(&fresh);
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
        inner.insert(container);
    }

    /// Returns the tenant the removed container belonged to.
    pub fn remove_container(&self, id: &str) -> Option<String> {
        let mut inner = self.write();
        inner.update_seq += 1;
        let seq = inner.update_seq;
        inner.recent.insert(id.to_owned(), (seq, None));
        inner.remove(id).map(|c| c.tenant)
    }

    /// The tenant's containers, oldest id order irrelevant: sorted by name then id for determinism.
    pub fn containers_of(&self, tenant: &str) -> Vec<ObservedContainer> {
        let inner = self.read();
        let Some(ids) = inner.by_tenant.get(tenant) else {
            return Vec::new();
        };
        let mut found: Vec<_> = ids
            .iter()
            .filter_map(|id| inner.containers.get(id))
            .cloned()
            .collect();
        found.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        found
    }

    /// Every tenant name that has at least one container (orphan detection).
    pub fn tenants_with_containers(&self) -> BTreeSet<String> {
        self.read().by_tenant.keys().cloned().collect()
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

    fn of_tenant(id: &str, tenant: &str) -> ObservedContainer {
        ObservedContainer {
            tenant: tenant.into(),
            ..container(id)
        }
    }

    fn ids(containers: Vec<ObservedContainer>) -> Vec<String> {
        containers.into_iter().map(|c| c.id).collect()
    }

    #[test]
    fn the_index_by_tenant_follows_upserts_removals_and_relists() {
        let cache = Cache::default();
        cache.upsert_container(of_tenant("a1", "a"));
        cache.upsert_container(of_tenant("a2", "a"));
        cache.upsert_container(of_tenant("b1", "b"));
        assert_eq!(ids(cache.containers_of("a")), ["a1", "a2"]);
        // Relabelled to another tenant: it moves, and is not found under the old one.
        cache.upsert_container(of_tenant("a2", "b"));
        assert_eq!(ids(cache.containers_of("a")), ["a1"]);
        assert_eq!(ids(cache.containers_of("b")), ["a2", "b1"]);
        assert_eq!(cache.remove_container("a1"), Some("a".to_owned()));
        assert!(cache.containers_of("a").is_empty());
        assert_eq!(
            cache.tenants_with_containers(),
            BTreeSet::from(["b".to_owned()]),
            "a tenant without containers leaves the index"
        );
        let started = cache.begin_relist();
        cache.replace(
            started,
            vec![of_tenant("c1", "c"), of_tenant("b1", "b")],
            None,
            HashMap::new(),
        );
        assert_eq!(ids(cache.containers_of("b")), ["b1"], "a2 was not listed");
        assert_eq!(ids(cache.containers_of("c")), ["c1"]);
        assert_eq!(
            cache.tenants_with_containers(),
            BTreeSet::from(["b".to_owned(), "c".to_owned()])
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
