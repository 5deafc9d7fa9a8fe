//! What the engine reports about one of our containers, in the terms the planner needs.

use std::collections::{BTreeSet, HashMap};

use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryStateEnum, HealthStatusEnum,
};

use super::labels;

/// Lifecycle state as Docker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Created,
    Running,
    Paused,
    /// Docker's restart policy is bringing it back; leave it alone.
    Restarting,
    Exited,
    Dead,
    /// Being removed right now.
    Removing,
}

/// The container's health check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No health check configured: running counts as ready.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// One container carrying our labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub tenant: String,
    pub uid: Option<String>,
    pub spec_hash: Option<String>,
    pub image_id: String,
    pub state: RunState,
    pub health: Health,
    /// Names of the networks it is attached to.
    pub networks: BTreeSet<String>,
}

impl ObservedContainer {
    /// From a list entry; `None` when the labels do not prove it is ours.
    pub fn from_summary(summary: &ContainerSummary, instance: &str) -> Option<ObservedContainer> {
        let labels = summary.labels.as_ref()?;
        let tenant = labels::owned_tenant(labels, instance)?.to_owned();
        let state = match summary.state? {
            ContainerSummaryStateEnum::CREATED => RunState::Created,
            ContainerSummaryStateEnum::RUNNING => RunState::Running,
            ContainerSummaryStateEnum::PAUSED => RunState::Paused,
            ContainerSummaryStateEnum::RESTARTING => RunState::Restarting,
            ContainerSummaryStateEnum::EXITED => RunState::Exited,
            ContainerSummaryStateEnum::REMOVING => RunState::Removing,
            // Newer engines report the grace period between SIGTERM and exit.
            ContainerSummaryStateEnum::STOPPING => RunState::Running,
            ContainerSummaryStateEnum::DEAD => RunState::Dead,
            ContainerSummaryStateEnum::EMPTY => return None,
        };
        let networks = summary
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .map(|n| n.keys().cloned().collect())
            .unwrap_or_default();
        Some(ObservedContainer {
            id: summary.id.clone()?,
            name: summary
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_owned())
                .unwrap_or_default(),
            uid: labels.get(labels::UID).cloned(),
            spec_hash: labels.get(labels::SPEC_HASH).cloned(),
            image_id: summary.image_id.clone().unwrap_or_default(),
            state,
            // The list API of engines before 1.52 has no health field, only the text
            // ("Up 3 seconds (healthy)"), which is what `docker ps` shows too.
            health: health_from_status_text(summary.status.as_deref().unwrap_or("")),
            networks,
            tenant,
        })
    }

    /// From an inspect; `None` when the labels do not prove it is ours.
    pub fn from_inspect(
        inspect: &ContainerInspectResponse,
        instance: &str,
    ) -> Option<ObservedContainer> {
        let empty = HashMap::new();
        let labels = inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .unwrap_or(&empty);
        let tenant = labels::owned_tenant(labels, instance)?.to_owned();
        let state_info = inspect.state.as_ref()?;
        let state = match state_info.status? {
            ContainerStateStatusEnum::CREATED => RunState::Created,
            ContainerStateStatusEnum::RUNNING => RunState::Running,
            ContainerStateStatusEnum::PAUSED => RunState::Paused,
            ContainerStateStatusEnum::RESTARTING => RunState::Restarting,
            ContainerStateStatusEnum::EXITED => RunState::Exited,
            ContainerStateStatusEnum::REMOVING => RunState::Removing,
            ContainerStateStatusEnum::STOPPING => RunState::Running,
            ContainerStateStatusEnum::DEAD => RunState::Dead,
            ContainerStateStatusEnum::EMPTY => return None,
        };
        let health = match state_info.health.as_ref().and_then(|h| h.status) {
            Some(HealthStatusEnum::STARTING) => Health::Starting,
            Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
            Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
            _ => Health::None,
        };
        let networks = inspect
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .map(|n| n.keys().cloned().collect())
            .unwrap_or_default();
        Some(ObservedContainer {
            id: inspect.id.clone()?,
            name: inspect
                .name
                .as_deref()
                .unwrap_or("")
                .trim_start_matches('/')
                .to_owned(),
            uid: labels.get(labels::UID).cloned(),
            spec_hash: labels.get(labels::SPEC_HASH).cloned(),
            image_id: inspect.image.clone().unwrap_or_default(),
            state,
            health,
            networks,
            tenant,
        })
    }
}

fn health_from_status_text(status: &str) -> Health {
    if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_read_from_the_list_status_text() {
        assert_eq!(
            health_from_status_text("Up 3 seconds (healthy)"),
            Health::Healthy
        );
        assert_eq!(
            health_from_status_text("Up 1 second (health: starting)"),
            Health::Starting
        );
        assert_eq!(
            health_from_status_text("Up 9 seconds (unhealthy)"),
            Health::Unhealthy
        );
        assert_eq!(
            health_from_status_text("Exited (0) 2 seconds ago"),
            Health::None
        );
    }
}
