//! Docker through bollard: observe our containers, create/start/stop/remove them, the tenant
//! network, image pulls, the event stream that keeps the observed-state cache current, and
//! what the API shows of a running tenant: its logs and its resource usage (now, and sampled).
//!
//! # Guarantees
//! - Every mutating call targets a container id taken from the cache, which holds only
//!   containers whose labels prove they are ours, or a container this module just created.
//!   A foreign container that merely has a tenant-like name is never touched: creating ours
//!   then fails with [`Error::NameTaken`].
//! - Every engine call is counted by operation and by read/write, for tests and `/metrics`.

mod cache;
mod container;
mod events;
pub mod labels;
mod logs;
mod observed;
pub mod sampler;
pub mod stats;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as BollardError;
use bollard::models::{NetworkConnectRequest, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, ListImagesOptions,
    ListNetworksOptions, RemoveContainerOptions, StopContainerOptions,
};
use futures::StreamExt;

pub use cache::{NetworkInfo, normalize_reference};
pub use container::{DesiredContainer, Healthcheck};
pub use events::EngineEvent;
pub use logs::{LogChunk, LogRequest, LogSource};
pub use observed::{Health, ObservedContainer, RunState};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the Docker engine: {0}")]
    Connect(#[source] BollardError),
    #[error("listing {what} failed: {source}")]
    List {
        what: &'static str,
        #[source]
        source: BollardError,
    },
    #[error("inspecting container {id} failed: {source}")]
    Inspect {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error(
        "a container named {name} exists that tenantd did not create; rename or remove it, tenantd will not touch it"
    )]
    NameTaken { name: String },
    #[error("container {name} exists already; the cache was behind and has been refreshed")]
    CacheBehind { name: String },
    #[error("the engine refused to create container {name}: {message}")]
    Create { name: String, message: String },
    #[error("the engine could not {verb} container {id}: {message}")]
    Lifecycle {
        verb: &'static str,
        id: String,
        message: String,
    },
    #[error("image {image} is not on this host and the pull policy is Never")]
    ImageMissing { image: String },
    #[error("pulling image {image} failed: {message}")]
    Pull { image: String, message: String },
    #[error("creating network {name} failed: {message}")]
    Network { name: String, message: String },
    #[error("container {id} does not exist (any more)")]
    NoSuchContainer { id: String },
    #[error("reading the {what} of container {id} failed: {message}")]
    Read {
        what: &'static str,
        id: String,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Credentials for image pulls from a private registry.
#[derive(Clone)]
pub struct RegistryCredentials {
    pub server: String,
    pub username: String,
    pub password: String,
}

/// Engine calls made since start: by operation, and split into reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineCallStats {
    pub reads: u64,
    pub writes: u64,
    pub by_operation: BTreeMap<&'static str, u64>,
}

/// The Docker side of tenantd.
pub struct Engine {
    docker: Docker,
    /// Which tenantd installation this is; only containers labelled with it are ours.
    instance: String,
    network: String,
    registry_auth: Option<DockerCredentials>,
    cache: cache::Cache,
    calls: Mutex<EngineCallStats>,
    /// Serializes network creation: Docker engines before API 1.44 accept two networks with
    /// the same name, and parallel reconciles would otherwise each create one.
    network_creation: tokio::sync::Mutex<()>,
    /// Resource usage samples per tenant, written by the metrics sampler.
    history: sampler::History,
}

/// The message Docker sent, without bollard's wrapping, for status lines people read.
fn engine_message(error: &BollardError) -> String {
    match error {
        BollardError::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn status_code(error: &BollardError) -> Option<u16> {
    match error {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

impl Engine {
    /// Connects to `docker_host` (or the environment's default) and negotiates the API version.
    pub async fn connect(
        docker_host: Option<&str>,
        instance: &str,
        network: &str,
        registry_auth: Option<RegistryCredentials>,
    ) -> Result<Engine> {
        let docker = match docker_host {
            Some(host) if host.starts_with("unix://") => {
                Docker::connect_with_unix(host, 120, bollard::API_DEFAULT_VERSION)
            }
            Some(host) => Docker::connect_with_http(host, 120, bollard::API_DEFAULT_VERSION),
            None => Docker::connect_with_defaults(),
        }
        .map_err(Error::Connect)?;
        // The engine here may be older than bollard's default API version.
        let docker = docker.negotiate_version().await.map_err(Error::Connect)?;
        Ok(Engine {
            docker,
            instance: instance.to_owned(),
            network: network.to_owned(),
            registry_auth: registry_auth.map(|auth| DockerCredentials {
                username: Some(auth.username),
                password: Some(auth.password),
                serveraddress: Some(auth.server),
                ..Default::default()
            }),
            cache: cache::Cache::default(),
            calls: Mutex::new(EngineCallStats::default()),
            network_creation: tokio::sync::Mutex::new(()),
            history: sampler::History::default(),
        })
    }

    /// The raw client, for tests and tools that need calls this module does not wrap.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn network_name(&self) -> &str {
        &self.network
    }

    fn count(&self, operation: &'static str, write: bool) {
        let mut calls = self
            .calls
            .lock()
            .expect("the call counter is never poisoned");
        if write {
            calls.writes += 1;
        } else {
            calls.reads += 1;
        }
        *calls.by_operation.entry(operation).or_default() += 1;
    }

    pub fn stats(&self) -> EngineCallStats {
        self.calls
            .lock()
            .expect("the call counter is never poisoned")
            .clone()
    }

    // ---- observation -------------------------------------------------------------------

    /// Re-reads everything with three list calls and replaces the cache.
    pub async fn relist(&self) -> Result<()> {
        let started = self.cache.begin_relist();
        let containers = self.list_containers().await?;
        let network = self.list_network().await?;
        let images = self.list_images().await?;
        self.cache.replace(started, containers, network, images);
        Ok(())
    }

    async fn list_containers(&self) -> Result<Vec<ObservedContainer>> {
        self.count("list_containers", false);
        let options = ListContainersOptions {
            all: true,
            filters: Some(labels::managed_filter(&self.instance)),
            ..Default::default()
        };
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|source| Error::List {
                what: "containers",
                source,
            })?;
        Ok(summaries
            .iter()
            .filter_map(|s| ObservedContainer::from_summary(s, &self.instance))
            .collect())
    }

    async fn list_network(&self) -> Result<Option<NetworkInfo>> {
        self.count("list_networks", false);
        let options = ListNetworksOptions {
            filters: Some(HashMap::from([(
                "name".to_owned(),
                vec![self.network.clone()],
            )])),
        };
        let networks = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|source| Error::List {
                what: "networks",
                source,
            })?;
        // The name filter matches substrings; keep the exact match only.
        Ok(networks
            .into_iter()
            .find(|n| n.name.as_deref() == Some(self.network.as_str()))
            .map(|n| NetworkInfo {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_default(),
                gateway: n
                    .ipam
                    .and_then(|ipam| ipam.config)
                    .and_then(|configs| configs.into_iter().find_map(|c| c.gateway)),
            }))
    }

    async fn list_images(&self) -> Result<HashMap<String, String>> {
        self.count("list_images", false);
        let images = self
            .docker
            .list_images(Some(ListImagesOptions::default()))
            .await
            .map_err(|source| Error::List {
                what: "images",
                source,
            })?;
        let mut by_reference = HashMap::new();
        for image in images {
            for tag in image.repo_tags.iter().chain(image.repo_digests.iter()) {
                by_reference.insert(normalize_reference(tag), image.id.clone());
            }
        }
        Ok(by_reference)
    }

    /// Re-reads the local images (after an image event or a pull).
    pub async fn refresh_images(&self) -> Result<()> {
        let images = self.list_images().await?;
        self.cache.set_images(images);
        Ok(())
    }

    /// Re-reads the network (after a network event).
    pub async fn refresh_network(&self) -> Result<()> {
        let network = self.list_network().await?;
        self.cache.set_network(network);
        Ok(())
    }

    /// Re-reads one container into the cache; returns the tenant it belongs (or belonged) to.
    pub async fn refresh_container(&self, id: &str) -> Result<Option<String>> {
        self.count("inspect_container", false);
        match self.docker.inspect_container(id, None).await {
            Ok(inspect) => match ObservedContainer::from_inspect(&inspect, &self.instance) {
                Some(observed) => {
                    let tenant = observed.tenant.clone();
                    self.cache.upsert_container(observed);
                    Ok(Some(tenant))
                }
                None => Ok(self.cache.remove_container(id)),
            },
            Err(e) if status_code(&e) == Some(404) => Ok(self.cache.remove_container(id)),
            Err(source) => Err(Error::Inspect {
                id: id.to_owned(),
                source,
            }),
        }
    }

    pub fn is_synced(&self) -> bool {
        self.cache.is_synced()
    }

    /// The tenant's containers as cached (no engine call).
    pub fn containers_of(&self, tenant: &str) -> Vec<ObservedContainer> {
        self.cache.containers_of(tenant)
    }

    /// The tenant's own container, `tenant-<name>`, as cached (no engine call); other
    /// containers of the tenant (strays about to be removed) are not it.
    pub fn primary_container(&self, tenant: &str) -> Option<ObservedContainer> {
        let name = DesiredContainer::name_for(tenant);
        self.cache
            .containers_of(tenant)
            .into_iter()
            .find(|c| c.name == name)
    }

    /// Tenants that have containers (no engine call).
    pub fn tenants_with_containers(&self) -> std::collections::BTreeSet<String> {
        self.cache.tenants_with_containers()
    }

    /// The network as cached (no engine call).
    pub fn network(&self) -> Option<NetworkInfo> {
        self.cache.network()
    }

    /// The local image ID of a reference as cached (no engine call).
    pub fn image_id(&self, reference: &str) -> Option<String> {
        self.cache.image_id(reference)
    }

    // ---- changes -----------------------------------------------------------------------

    /// Creates the tenant network when it is missing.
    pub async fn ensure_network(&self) -> Result<NetworkInfo> {
        if let Some(network) = self.cache.network() {
            return Ok(network);
        }
        let _only_one_creator = self.network_creation.lock().await;
        // Another reconcile may have created it while this one waited for the lock, or the
        // cache may simply be behind: look again before creating.
        self.refresh_network().await.map_err(|e| Error::Network {
            name: self.network.clone(),
            message: e.to_string(),
        })?;
        if let Some(network) = self.cache.network() {
            return Ok(network);
        }
        self.count("create_network", true);
        let request = NetworkCreateRequest {
            name: self.network.clone(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([(
                labels::MANAGED.to_owned(),
                "true".to_owned(),
            )])),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => {}
            // Someone (a racing reconcile, Compose) made it meanwhile: fine.
            Err(e) if status_code(&e) == Some(409) => {}
            Err(e) => {
                return Err(Error::Network {
                    name: self.network.clone(),
                    message: engine_message(&e),
                });
            }
        }
        self.refresh_network().await.map_err(|e| Error::Network {
            name: self.network.clone(),
            message: e.to_string(),
        })?;
        self.cache.network().ok_or_else(|| Error::Network {
            name: self.network.clone(),
            message: "created, but not listed afterwards".into(),
        })
    }

    /// Pulls `reference` (with the configured registry credentials) and refreshes the images.
    pub async fn pull_image(&self, reference: &str) -> Result<()> {
        self.count("pull_image", true);
        let options = CreateImageOptions {
            from_image: Some(reference.to_owned()),
            ..Default::default()
        };
        let mut progress =
            self.docker
                .create_image(Some(options), None, self.registry_auth.clone());
        while let Some(step) = progress.next().await {
            if let Err(e) = step {
                return Err(Error::Pull {
                    image: reference.to_owned(),
                    message: engine_message(&e),
                });
            }
        }
        self.refresh_images().await.map_err(|e| Error::Pull {
            image: reference.to_owned(),
            message: e.to_string(),
        })
    }

    /// Creates (not starts) the container; returns its id. The cache learns of it at once.
    pub async fn create_container(&self, desired: &DesiredContainer) -> Result<String> {
        self.count("create_container", true);
        let options = CreateContainerOptions {
            name: Some(desired.name.clone()),
            ..Default::default()
        };
        let created = match self
            .docker
            .create_container(Some(options), desired.create_body())
            .await
        {
            Ok(created) => created,
            Err(e) if status_code(&e) == Some(409) => {
                // The name is held. If the holder is ours, the cache was behind (it missed a
                // create): learn of it and let the caller plan again. Otherwise it is foreign.
                return match self.refresh_container(&desired.name).await? {
                    Some(_) => Err(Error::CacheBehind {
                        name: desired.name.clone(),
                    }),
                    None => Err(Error::NameTaken {
                        name: desired.name.clone(),
                    }),
                };
            }
            Err(e) => {
                return Err(Error::Create {
                    name: desired.name.clone(),
                    message: engine_message(&e),
                });
            }
        };
        self.refresh_container(&created.id).await?;
        Ok(created.id)
    }

    pub async fn start_container(&self, id: &str) -> Result<()> {
        self.count("start_container", true);
        let result = self.docker.start_container(id, None).await;
        self.after_lifecycle("start", id, result).await
    }

    pub async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        self.count("stop_container", true);
        let options = StopContainerOptions {
            signal: Some("SIGTERM".into()),
            t: Some(grace.as_secs().try_into().unwrap_or(i32::MAX)),
        };
        let result = self.docker.stop_container(id, Some(options)).await;
        self.after_lifecycle("stop", id, result).await
    }

    /// Force-removes the container (it is ours: the id came from the cache).
    pub async fn remove_container(&self, id: &str) -> Result<()> {
        self.count("remove_container", true);
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => {
                self.cache.remove_container(id);
                Ok(())
            }
            Err(e) if status_code(&e) == Some(404) => {
                self.cache.remove_container(id);
                Ok(())
            }
            // "removal already in progress"
            Err(e) if status_code(&e) == Some(409) => Ok(()),
            Err(e) => Err(Error::Lifecycle {
                verb: "remove",
                id: id.to_owned(),
                message: engine_message(&e),
            }),
        }
    }

    /// Attaches the container to the tenant network again.
    pub async fn connect_network(&self, id: &str, alias: &str) -> Result<()> {
        self.count("connect_network", true);
        let request = NetworkConnectRequest {
            container: id.to_owned(),
            endpoint_config: Some(bollard::models::EndpointSettings {
                aliases: Some(vec![alias.to_owned()]),
                ..Default::default()
            }),
        };
        let result = self.docker.connect_network(&self.network, request).await;
        self.after_lifecycle("connect to the network", id, result)
            .await
    }

    async fn after_lifecycle(
        &self,
        verb: &'static str,
        id: &str,
        result: Result<(), BollardError>,
    ) -> Result<()> {
        let outcome = match result {
            Ok(()) => Ok(()),
            // 304: already in that state.
            Err(e) if status_code(&e) == Some(304) => Ok(()),
            Err(e) => Err(Error::Lifecycle {
                verb,
                id: id.to_owned(),
                message: engine_message(&e),
            }),
        };
        // Whatever happened, the cache must now show the truth about this container.
        self.refresh_container(id).await?;
        outcome
    }

    /// Docker events that concern us, mapped to what should be reconciled; see [`events`].
    /// `since` (unix seconds) replays events from before the subscription, so that nothing
    /// between a relist and the subscription is missed (replays are harmless: level-triggered).
    pub fn events(
        &self,
        since: Option<i64>,
    ) -> impl futures::Stream<Item = std::result::Result<EngineEvent, BollardError>> + '_ {
        events::subscribe(self, since)
    }
}
