//! From a stored `Tenant` and the platform config to the container tenantd wants: defaults
//! resolved, injected env added, routing labels computed. Pure.

use std::collections::BTreeMap;

use crate::engine::{DesiredContainer, Healthcheck};
use crate::resource::Tenant;
use crate::store::Credentials;
use crate::tenantdb::names::Uid;

/// The parts of the platform config the desired container depends on.
#[derive(Debug, Clone)]
pub struct Platform {
    pub instance: String,
    pub network: String,
    pub base_domain: String,
    pub public_scheme: String,
    pub default_image: String,
    pub default_memory_bytes: u64,
    pub default_nano_cpus: i64,
    pub default_pids: i64,
    pub container_port: u16,
    /// How containers reach Postgres; `None` means "the network's gateway".
    pub database_host: Option<String>,
    pub database_port: u16,
    pub database_name: String,
    pub healthcheck: Healthcheck,
    pub stop_grace_period: std::time::Duration,
    pub extra_labels: BTreeMap<String, String>,
}

impl Platform {
    /// The image a tenant runs: its own or the platform default.
    pub fn image_of<'a>(&'a self, tenant: &'a Tenant) -> &'a str {
        tenant.spec.image.as_deref().unwrap_or(&self.default_image)
    }

    /// `https://<subdomain>.<base domain>`.
    pub fn public_url(&self, tenant: &Tenant) -> String {
        format!(
            "{}://{}.{}",
            self.public_scheme,
            tenant.spec.subdomain_or(&tenant.metadata.name),
            self.base_domain
        )
    }
}

/// The container for `tenant`, given its credentials, the host containers reach Postgres
/// under, and the image ID its reference resolves to.
pub fn desired_container(
    platform: &Platform,
    tenant: &Tenant,
    uid: &str,
    credentials: &Credentials,
    database_host: &str,
    image_id: &str,
) -> DesiredContainer {
    let name = &tenant.metadata.name;
    let uid_names =
        Uid::parse(uid).expect("stored uids are 32 lowercase hex characters (a CHECK constraint)");
    let container_name = DesiredContainer::name_for(name);
    let host = format!(
        "{}.{}",
        tenant.spec.subdomain_or(name),
        platform.base_domain
    );

    let mut env = tenant.spec.env.clone();
    // Validation guarantees the spec cannot set these keys, so nothing is overwritten here.
    env.insert(
        "DATABASE_URL".into(),
        format!(
            "postgres://{}:{}@{}:{}/{}",
            uid_names.role(),
            credentials.password,
            database_host,
            platform.database_port,
            platform.database_name
        ),
    );
    env.insert("DATABASE_SCHEMA".into(), uid_names.schema());
    env.insert("PUBLIC_URL".into(), platform.public_url(tenant));

    let mut labels = platform.extra_labels.clone();
    labels.insert("traefik.enable".into(), "true".into());
    labels.insert("traefik.docker.network".into(), platform.network.clone());
    labels.insert(
        format!("traefik.http.routers.{container_name}.rule"),
        format!("Host(`{host}`)"),
    );
    labels.insert(
        format!("traefik.http.services.{container_name}.loadbalancer.server.port"),
        platform.container_port.to_string(),
    );

    let resources = &tenant.spec.resources;
    DesiredContainer {
        name: container_name,
        tenant: name.clone(),
        uid: uid.to_owned(),
        instance: platform.instance.clone(),
        image: platform.image_of(tenant).to_owned(),
        image_id: image_id.to_owned(),
        env,
        labels,
        memory_bytes: resources
            .memory
            .as_ref()
            .map(|m| m.bytes())
            .unwrap_or(platform.default_memory_bytes)
            .try_into()
            .unwrap_or(i64::MAX),
        nano_cpus: resources
            .cpus
            .as_ref()
            .map(|c| c.nano_cpus())
            .unwrap_or(platform.default_nano_cpus),
        pids: resources.pids.unwrap_or(platform.default_pids),
        network: platform.network.clone(),
        healthcheck: platform.healthcheck.clone(),
        stop_grace_period: platform.stop_grace_period,
        restarted_at: tenant.spec.restarted_at.clone(),
    }
}
