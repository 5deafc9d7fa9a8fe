//! The tenant's status, computed from what was observed after a reconcile. Pure.
//!
//! # Guarantees
//! - `lastTransitionTime` of a condition changes only when its `status` changes, so a
//!   reconcile that changes nothing computes a status equal to the stored one (and the
//!   store skips the write).

use chrono::{DateTime, Utc};

use super::plan::{Desired, Observed};
use crate::engine::{DesiredContainer, Health, RunState};
use crate::resource::{
    Condition, ConditionStatus, DesiredState, ImagePullPolicy, Phase, TenantStatus, condition,
};

/// Inputs besides the observation.
pub struct StatusInputs<'a> {
    pub desired: &'a Desired,
    pub observed: &'a Observed,
    pub generation: i64,
    pub url: String,
    /// The step that failed in this reconcile, if any, in plain words.
    pub failure: Option<&'a Failure>,
    pub previous: Option<&'a TenantStatus>,
    pub now: DateTime<Utc>,
}

/// A failed step: which one, a CamelCase reason, and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub action: &'static str,
    pub reason: &'static str,
    pub message: String,
    /// Whether the failure is about the database (else the container side).
    pub database: bool,
}

struct Verdict {
    ok: bool,
    reason: &'static str,
    message: String,
}

impl Verdict {
    fn yes(reason: &'static str, message: impl Into<String>) -> Verdict {
        Verdict {
            ok: true,
            reason,
            message: message.into(),
        }
    }
    fn no(reason: &'static str, message: impl Into<String>) -> Verdict {
        Verdict {
            ok: false,
            reason,
            message: message.into(),
        }
    }
}

pub fn compute(inputs: &StatusInputs<'_>) -> TenantStatus {
    let observed = inputs.observed;
    let desired = inputs.desired;
    let database = database_verdict(inputs);
    let container = container_verdict(inputs);
    let primary = primary(desired, observed);

    let ready = if database.ok && container.ok {
        Verdict::yes("Ready", "the database and the container are ready")
    } else if !database.ok {
        Verdict::no(database.reason, database.message.clone())
    } else {
        Verdict::no(container.reason, container.message.clone())
    };

    let phase = if desired.deleting {
        Phase::Terminating
    } else if ready.ok {
        Phase::Ready
    } else if inputs.failure.is_some()
        || ["ImageMissing", "Unhealthy", "CrashLooping", "Paused"].contains(&container.reason)
    {
        Phase::Degraded
    } else if desired.state == DesiredState::Stopped && database.ok && container.reason == "Stopped"
    {
        // ContainerReady is false, but the tenant is exactly as asked.
        Phase::Stopped
    } else {
        Phase::Provisioning
    };

    let previous = inputs.previous;
    let conditions = vec![
        condition(condition::DATABASE_READY, &database, previous, inputs.now),
        condition(condition::CONTAINER_READY, &container, previous, inputs.now),
        condition(condition::READY, &ready, previous, inputs.now),
    ];
    TenantStatus {
        phase,
        observed_generation: inputs.generation,
        conditions,
        url: Some(inputs.url.clone()),
        container_id: primary.map(|c| c.id.clone()),
        image_id: primary.map(|c| c.image_id.clone()),
    }
}

fn primary<'a>(
    desired: &Desired,
    observed: &'a Observed,
) -> Option<&'a crate::engine::ObservedContainer> {
    let name = DesiredContainer::name_for(&desired.name);
    observed
        .containers
        .iter()
        .find(|c| c.name == name && c.uid.as_deref() == Some(desired.uid.as_str()))
}

fn database_verdict(inputs: &StatusInputs<'_>) -> Verdict {
    if let Some(failure) = inputs.failure.filter(|f| f.database) {
        return Verdict::no(failure.reason, failure.message.clone());
    }
    let observed = inputs.observed;
    match (
        &observed.credentials_verifier,
        &observed.role,
        &observed.schema,
    ) {
        (None, _, _) => Verdict::no(
            "CredentialsPending",
            "the database password is not generated yet",
        ),
        (_, None, _) => Verdict::no(
            "RoleMissing",
            "the tenant's database role does not exist yet",
        ),
        (Some(verifier), Some(role), _)
            if role.verifier.as_ref().is_some_and(|v| v != verifier) =>
        {
            Verdict::no(
                "PasswordDrift",
                "the role's password was changed outside tenantd",
            )
        }
        (_, Some(role), _) if !role.settings_ok => Verdict::no(
            "RoleSettingsDrift",
            "the role's grants or settings differ from what tenantd set",
        ),
        (_, _, None) => Verdict::no("SchemaMissing", "the tenant's schema does not exist yet"),
        (_, _, Some(schema)) if !schema.owned_by_role => Verdict::no(
            "SchemaOwnerDrift",
            "the schema is not owned by the tenant's role",
        ),
        _ => Verdict::yes(
            "Provisioned",
            "schema and role exist with the expected settings",
        ),
    }
}

fn container_verdict(inputs: &StatusInputs<'_>) -> Verdict {
    if let Some(failure) = inputs.failure.filter(|f| !f.database) {
        return Verdict::no(failure.reason, failure.message.clone());
    }
    let desired = inputs.desired;
    let observed = inputs.observed;
    if desired.deleting {
        return Verdict::no("Terminating", "the tenant is being deleted");
    }
    if observed.image_id.is_none() {
        return if desired.pull_policy == ImagePullPolicy::Never {
            Verdict::no(
                "ImageMissing",
                format!(
                    "image {} is not on this host and imagePullPolicy is Never; load the image or change the policy",
                    desired.image
                ),
            )
        } else {
            Verdict::no(
                "ImagePending",
                format!("image {} is not pulled yet", desired.image),
            )
        };
    }
    let Some(container) = primary(desired, observed) else {
        return Verdict::no("ContainerMissing", "the container does not exist yet");
    };
    let wanted_hash = desired.container.as_ref().map(DesiredContainer::spec_hash);
    if container.spec_hash != wanted_hash {
        return Verdict::no("Outdated", "the container does not match the spec yet");
    }
    match (desired.state, container.state) {
        (DesiredState::Stopped, RunState::Running) => {
            Verdict::no("Stopping", "the container is being stopped")
        }
        (DesiredState::Stopped, _) => Verdict::no("Stopped", "the container is stopped as asked"),
        (DesiredState::Running, RunState::Running) => match container.health {
            Health::Healthy => Verdict::yes("Healthy", "the container is running and healthy"),
            Health::None => Verdict::yes("Running", "the container is running (no health check)"),
            Health::Starting => Verdict::no(
                "Starting",
                "the container is starting; waiting for its health check",
            ),
            Health::Unhealthy => Verdict::no(
                "Unhealthy",
                "the container is running but its health check fails; see its logs",
            ),
        },
        (DesiredState::Running, RunState::Restarting) => Verdict::no(
            "CrashLooping",
            "the container keeps exiting and Docker is restarting it; see its logs",
        ),
        (DesiredState::Running, RunState::Paused) => Verdict::no(
            "Paused",
            "the container was paused outside tenantd; unpause it",
        ),
        (DesiredState::Running, _) => Verdict::no("NotRunning", "the container is not running yet"),
    }
}

fn condition(
    type_: &str,
    verdict: &Verdict,
    previous: Option<&TenantStatus>,
    now: DateTime<Utc>,
) -> Condition {
    let status = if verdict.ok {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let last_transition_time = previous
        .and_then(|p| p.condition(type_))
        .filter(|c| c.status == status)
        .map_or(now, |c| c.last_transition_time);
    Condition {
        type_: type_.to_owned(),
        status,
        reason: verdict.reason.to_owned(),
        message: verdict.message.clone(),
        last_transition_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ObservedContainer;
    use crate::reconcile::plan::{RoleState, SchemaState};
    use crate::resource::DeletionPolicy;
    use std::collections::BTreeSet;

    fn ready_world() -> (Desired, Observed) {
        let desired = Desired {
            name: "acme".into(),
            uid: "u".into(),
            deleting: false,
            state: DesiredState::Running,
            image: "app".into(),
            pull_policy: ImagePullPolicy::IfNotPresent,
            deletion_policy: DeletionPolicy::Delete,
            container: None,
        };
        let observed = Observed {
            containers: vec![ObservedContainer {
                id: "c1".into(),
                name: "tenant-acme".into(),
                tenant: "acme".into(),
                uid: Some("u".into()),
                spec_hash: None,
                image_id: "sha256:1".into(),
                state: RunState::Running,
                health: Health::Healthy,
                networks: BTreeSet::new(),
            }],
            network_exists: true,
            image_id: Some("sha256:1".into()),
            credentials_verifier: Some("v".into()),
            role: Some(RoleState {
                verifier: Some("v".into()),
                settings_ok: true,
            }),
            schema: Some(SchemaState {
                owned_by_role: true,
            }),
        };
        (desired, observed)
    }

    fn inputs<'a>(
        desired: &'a Desired,
        observed: &'a Observed,
        previous: Option<&'a TenantStatus>,
        now: DateTime<Utc>,
    ) -> StatusInputs<'a> {
        StatusInputs {
            desired,
            observed,
            generation: 1,
            url: "http://acme.example.test".into(),
            failure: None,
            previous,
            now,
        }
    }

    #[test]
    fn a_running_healthy_tenant_is_ready() {
        let (desired, observed) = ready_world();
        let status = compute(&inputs(&desired, &observed, None, Utc::now()));
        assert_eq!(status.phase, Phase::Ready);
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.status == ConditionStatus::True)
        );
    }

    #[test]
    fn recomputing_an_unchanged_world_gives_an_equal_status() {
        let (desired, observed) = ready_world();
        let first = compute(&inputs(&desired, &observed, None, Utc::now()));
        let later = Utc::now() + chrono::Duration::seconds(60);
        let second = compute(&inputs(&desired, &observed, Some(&first), later));
        assert_eq!(first, second);
    }

    #[test]
    fn a_missing_image_under_pull_policy_never_is_degraded_with_plain_words() {
        let (mut desired, mut observed) = ready_world();
        desired.pull_policy = ImagePullPolicy::Never;
        observed.image_id = None;
        observed.containers.clear();
        let status = compute(&inputs(&desired, &observed, None, Utc::now()));
        assert_eq!(status.phase, Phase::Degraded);
        let c = status.condition(condition::CONTAINER_READY).unwrap();
        assert_eq!(c.reason, "ImageMissing");
        assert!(c.message.contains("not on this host"), "{}", c.message);
    }

    #[test]
    fn a_stopped_tenant_is_in_phase_stopped() {
        let (mut desired, mut observed) = ready_world();
        desired.state = DesiredState::Stopped;
        observed.containers[0].state = RunState::Exited;
        let status = compute(&inputs(&desired, &observed, None, Utc::now()));
        assert_eq!(status.phase, Phase::Stopped);
    }
}
