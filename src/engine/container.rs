//! The container tenantd wants for a tenant, its spec hash, and its Docker create request.
//!
//! # Guarantees
//! - [`DesiredContainer::spec_hash`] is a pure function of every field that reaches the
//!   engine's create call, so equal hashes mean an identical container config and any change
//!   that needs a new container changes the hash (compare Compose's `config-hash`).
//! - The create request always carries the ownership labels and the hash label.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, NetworkingConfig,
    RestartPolicy, RestartPolicyNameEnum,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::labels;

/// Health check settings; `test: None` inherits the image's `HEALTHCHECK` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    pub test: Option<Vec<String>>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub retries: i64,
}

/// Everything the engine is told when the container is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredContainer {
    /// `tenant-<name>`.
    pub name: String,
    pub tenant: String,
    pub uid: String,
    /// The tenantd installation that owns it.
    pub instance: String,
    /// The reference as written (what `docker ps` shows).
    pub image: String,
    /// The image ID the reference resolved to; part of the hash so a moved tag recreates.
    pub image_id: String,
    /// Full environment, injected keys included.
    pub env: BTreeMap<String, String>,
    /// Routing and extra labels (ownership and hash labels are added on create).
    pub labels: BTreeMap<String, String>,
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub pids: i64,
    pub network: String,
    pub healthcheck: Healthcheck,
    pub stop_grace_period: Duration,
    /// The spec's `restartedAt`: a new value means a new container.
    pub restarted_at: Option<String>,
}

impl DesiredContainer {
    /// The container name tenantd uses for a tenant.
    pub fn name_for(tenant: &str) -> String {
        format!("tenant-{tenant}")
    }

    /// SHA-256 over the canonical JSON of this struct (maps are ordered), hex, 32 chars.
    pub fn spec_hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("a DesiredContainer always serializes");
        let digest = Sha256::digest(&json);
        hex::encode(&digest[..16])
    }

    /// The labels the container is created with.
    pub fn all_labels(&self) -> HashMap<String, String> {
        let mut all: HashMap<String, String> = self.labels.clone().into_iter().collect();
        all.insert(labels::MANAGED.into(), "true".into());
        all.insert(labels::TENANT.into(), self.tenant.clone());
        all.insert(labels::INSTANCE.into(), self.instance.clone());
        all.insert(labels::UID.into(), self.uid.clone());
        all.insert(labels::SPEC_HASH.into(), self.spec_hash());
        all
    }

    /// The engine's create request.
    pub fn create_body(&self) -> ContainerCreateBody {
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        ContainerCreateBody {
            image: Some(self.image.clone()),
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(self.all_labels()),
            healthcheck: Some(HealthConfig {
                test: self.healthcheck.test.clone(),
                interval: Some(nanos(self.healthcheck.interval)),
                timeout: Some(nanos(self.healthcheck.timeout)),
                start_period: Some(nanos(self.healthcheck.start_period)),
                retries: Some(self.healthcheck.retries),
                start_interval: None,
            }),
            stop_signal: Some("SIGTERM".into()),
            stop_timeout: Some(self.stop_grace_period.as_secs() as i64),
            host_config: Some(HostConfig {
                memory: Some(self.memory_bytes),
                // Twice the memory: some swap headroom, bounded (Compose's default for mem_limit).
                memory_swap: Some(self.memory_bytes.saturating_mul(2)),
                nano_cpus: Some(self.nano_cpus),
                pids_limit: Some(self.pids),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                network_mode: Some(self.network.clone()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.network.clone(),
                    EndpointSettings {
                        aliases: Some(vec![self.name.clone()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DesiredContainer {
        DesiredContainer {
            name: "tenant-acme".into(),
            tenant: "acme".into(),
            uid: "0".repeat(32),
            instance: "main".into(),
            image: "tenantd-testapp:latest".into(),
            image_id: "sha256:abc".into(),
            env: BTreeMap::from([("A".into(), "1".into())]),
            labels: BTreeMap::new(),
            memory_bytes: 128 << 20,
            nano_cpus: 500_000_000,
            pids: 100,
            network: "tenantd".into(),
            healthcheck: Healthcheck {
                test: None,
                interval: Duration::from_secs(2),
                timeout: Duration::from_secs(2),
                start_period: Duration::from_secs(1),
                retries: 3,
            },
            stop_grace_period: Duration::from_secs(10),
            restarted_at: None,
        }
    }

    #[test]
    fn spec_hash_is_stable_for_equal_inputs() {
        assert_eq!(sample().spec_hash(), sample().spec_hash());
    }

    #[test]
    fn spec_hash_changes_with_every_container_relevant_field() {
        let base = sample().spec_hash();
        type Edit = Box<dyn Fn(&mut DesiredContainer)>;
        let edits: Vec<Edit> = vec![
            Box::new(|d| d.image = "tenantd-testapp:v2".into()),
            Box::new(|d| d.image_id = "sha256:def".into()),
            Box::new(|d| {
                d.env.insert("B".into(), "2".into());
            }),
            Box::new(|d| d.memory_bytes *= 2),
            Box::new(|d| d.nano_cpus = 1_000_000_000),
            Box::new(|d| d.pids = 200),
            Box::new(|d| {
                d.labels.insert("traefik.enable".into(), "true".into());
            }),
            Box::new(|d| d.restarted_at = Some("2026-11-23T10:00:00Z".into())),
            Box::new(|d| d.network = "other".into()),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut changed = sample();
            edit(&mut changed);
            assert_ne!(changed.spec_hash(), base, "edit #{i} must change the hash");
        }
    }

    #[test]
    fn create_body_carries_ownership_limits_and_restart_policy() {
        let body = sample().create_body();
        let labels = body.labels.unwrap();
        assert_eq!(labels[labels::MANAGED], "true");
        assert_eq!(labels[labels::TENANT], "acme");
        assert_eq!(labels[labels::SPEC_HASH], sample().spec_hash());
        let host = body.host_config.unwrap();
        assert_eq!(host.memory, Some(128 << 20));
        assert_eq!(host.memory_swap, Some(256 << 20));
        assert_eq!(host.pids_limit, Some(100));
        assert_eq!(
            host.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
    }
}
