//! Docker's event stream, reduced to what the reconciler must look at again.
//!
//! Events are hints, never facts the reconciler acts on (it is level-triggered): each one
//! only says which container to re-read and which tenants to reconcile.

use std::collections::HashMap;

use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::EventsOptions;
use futures::{Stream, StreamExt};

use super::{Engine, labels};

/// What an event means for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// One of our containers changed (created, started, died, health changed, destroyed…).
    Container { id: String, tenant: String },
    /// Some container was attached to or detached from our network.
    NetworkEndpoint { container_id: String },
    /// Our network was created or removed.
    Network,
    /// Local images changed (pull, tag, untag, delete, load): a tag may point elsewhere now.
    Images,
}

/// Maps one raw event; `None` for events that are not about us.
pub fn classify(message: &EventMessage, network: &str, instance: &str) -> Option<EngineEvent> {
    let actor = message.actor.as_ref()?;
    let empty = HashMap::new();
    let attributes = actor.attributes.as_ref().unwrap_or(&empty);
    match message.typ? {
        EventMessageTypeEnum::CONTAINER => {
            let tenant = labels::owned_tenant(attributes, instance)?.to_owned();
            // exec_* events come from health checks every few seconds and change nothing.
            let action = message.action.as_deref().unwrap_or("");
            if action.starts_with("exec_") || action == "top" || action.starts_with("attach") {
                return None;
            }
            Some(EngineEvent::Container {
                id: actor.id.clone()?,
                tenant,
            })
        }
        EventMessageTypeEnum::NETWORK => {
            if attributes.get("name").map(String::as_str) != Some(network) {
                return None;
            }
            match message.action.as_deref() {
                Some("connect") | Some("disconnect") => Some(EngineEvent::NetworkEndpoint {
                    container_id: attributes.get("container")?.clone(),
                }),
                Some("create") | Some("destroy") | Some("remove") => Some(EngineEvent::Network),
                _ => None,
            }
        }
        EventMessageTypeEnum::IMAGE => match message.action.as_deref() {
            Some("pull" | "tag" | "untag" | "delete" | "load" | "import") => {
                Some(EngineEvent::Images)
            }
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn subscribe(
    engine: &Engine,
    since: Option<i64>,
) -> impl Stream<Item = Result<EngineEvent, bollard::errors::Error>> + '_ {
    let options = EventsOptions {
        since: since.map(|s| s.to_string()),
        filters: Some(HashMap::from([(
            "type".to_owned(),
            vec![
                "container".to_owned(),
                "network".to_owned(),
                "image".to_owned(),
            ],
        )])),
        ..Default::default()
    };
    engine.count("events", false);
    engine.docker.events(Some(options)).filter_map(move |item| {
        let mapped = match item {
            Ok(message) => classify(&message, &engine.network, &engine.instance).map(Ok),
            Err(e) => Some(Err(e)),
        };
        futures::future::ready(mapped)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    fn event(typ: EventMessageTypeEnum, action: &str, attributes: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: Some(typ),
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some("c1".into()),
                attributes: Some(
                    attributes
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn container_events_without_our_labels_are_ignored() {
        let e = event(
            EventMessageTypeEnum::CONTAINER,
            "die",
            &[("name", "tenant-acme")],
        );
        assert_eq!(classify(&e, "tenantd", "main"), None);
    }

    #[test]
    fn our_container_dying_names_its_tenant() {
        let e = event(
            EventMessageTypeEnum::CONTAINER,
            "die",
            &[
                (labels::MANAGED, "true"),
                (labels::TENANT, "acme"),
                (labels::INSTANCE, "main"),
            ],
        );
        assert_eq!(
            classify(&e, "tenantd", "main"),
            Some(EngineEvent::Container {
                id: "c1".into(),
                tenant: "acme".into()
            })
        );
    }

    #[test]
    fn health_check_execs_are_noise() {
        let e = event(
            EventMessageTypeEnum::CONTAINER,
            "exec_start: /testapp healthcheck",
            &[
                (labels::MANAGED, "true"),
                (labels::TENANT, "acme"),
                (labels::INSTANCE, "main"),
            ],
        );
        assert_eq!(classify(&e, "tenantd", "main"), None);
    }

    #[test]
    fn only_our_network_matters() {
        let ours = event(
            EventMessageTypeEnum::NETWORK,
            "disconnect",
            &[("name", "tenantd"), ("container", "c9")],
        );
        let other = event(
            EventMessageTypeEnum::NETWORK,
            "destroy",
            &[("name", "bridge")],
        );
        assert_eq!(
            classify(&ours, "tenantd", "main"),
            Some(EngineEvent::NetworkEndpoint {
                container_id: "c9".into()
            })
        );
        assert_eq!(classify(&other, "tenantd", "main"), None);
    }
}
