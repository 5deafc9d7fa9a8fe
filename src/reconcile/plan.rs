//! The pure planner: what to do next so that the observed world matches the desired one.
//!
//! # Guarantees
//! - No I/O; the same inputs give the same actions.
//! - The plan of a converged world is empty.
//! - Applying the plan and planning again converges in a bounded number of rounds
//!   (shown by the property tests below against a simulated world).
//! - Only containers that are in `Observed` (which holds only containers whose labels prove
//!   they are ours) are ever named in an action.
//! - Database objects are dropped only for a tenant marked for deletion whose policy says so.

use crate::engine::{DesiredContainer, ObservedContainer, RunState};
use crate::resource::{DeletionPolicy, DesiredState, ImagePullPolicy};

/// What the spec asks for, with everything that could be resolved resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    pub uid: String,
    /// Marked for deletion: tear down per `deletion_policy`, then finalize.
    pub deleting: bool,
    pub state: DesiredState,
    pub image: String,
    pub pull_policy: ImagePullPolicy,
    pub deletion_policy: DeletionPolicy,
    /// The exact container wanted; `None` until credentials, network and image are known.
    pub container: Option<DesiredContainer>,
}

/// The tenant's login role as observed (only marker-verified roles are observed at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleState {
    /// The SCRAM verifier in `pg_authid`; `None` when it cannot be read.
    pub verifier: Option<String>,
    /// CONNECT granted, search_path set, can log in.
    pub settings_ok: bool,
}

/// The tenant's schema as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaState {
    pub owned_by_role: bool,
}

/// Everything observed about one tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Our containers labelled with this tenant's name (any uid).
    pub containers: Vec<ObservedContainer>,
    pub network_exists: bool,
    /// The image's local ID, when the reference resolves on this host.
    pub image_id: Option<String>,
    /// The verifier of the stored credentials, when there are any.
    pub credentials_verifier: Option<String>,
    pub role: Option<RoleState>,
    pub schema: Option<SchemaState>,
}

/// Why a container is removed; shown in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    /// Its config hash differs from the desired one (spec, image or credentials changed).
    Outdated,
    /// Left over from another incarnation of the tenant, or an extra copy.
    Stray,
    /// Docker marked it dead; it cannot be started again.
    Dead,
    /// The tenant is being deleted or no longer exists.
    Teardown,
}

/// One idempotent step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    GenerateCredentials,
    CreateRole,
    SetRolePassword,
    CreateSchema,
    EnsureNetwork,
    PullImage,
    CreateContainer { start: bool },
    StartContainer { id: String },
    StopContainer { id: String },
    ConnectNetwork { id: String },
    RemoveContainer { id: String, reason: RemoveReason },
    BackupDatabase,
    DropDatabase,
    Finalize,
}

impl Action {
    /// Short name for events and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Action::GenerateCredentials => "GenerateCredentials",
            Action::CreateRole => "CreateRole",
            Action::SetRolePassword => "SetRolePassword",
            Action::CreateSchema => "CreateSchema",
            Action::EnsureNetwork => "EnsureNetwork",
            Action::PullImage => "PullImage",
            Action::CreateContainer { .. } => "CreateContainer",
            Action::StartContainer { .. } => "StartContainer",
            Action::StopContainer { .. } => "StopContainer",
            Action::ConnectNetwork { .. } => "ConnectNetwork",
            Action::RemoveContainer { .. } => "RemoveContainer",
            Action::BackupDatabase => "BackupDatabase",
            Action::DropDatabase => "DropDatabase",
            Action::Finalize => "Finalize",
        }
    }
}

/// The next actions, in the order they must run. `desired` is `None` for a tenant that no
/// longer exists in the store (orphaned containers): its containers go, its database objects
/// are never touched (they are reported elsewhere).
pub fn plan(desired: Option<&Desired>, observed: &Observed) -> Vec<Action> {
    let Some(desired) = desired else {
        return observed
            .containers
            .iter()
            .map(|c| remove(c, RemoveReason::Teardown))
            .collect();
    };
    if desired.deleting {
        return plan_teardown(desired, observed);
    }
    let mut actions = plan_database(observed);
    if !observed.network_exists {
        actions.push(Action::EnsureNetwork);
    }
    if observed.image_id.is_none() && desired.pull_policy != ImagePullPolicy::Never {
        actions.push(Action::PullImage);
    }
    actions.extend(plan_containers(desired, observed));
    actions
}

fn plan_database(observed: &Observed) -> Vec<Action> {
    let mut actions = Vec::new();
    let Some(verifier) = &observed.credentials_verifier else {
        // Role and schema need the password; plan them in the next round.
        actions.push(Action::GenerateCredentials);
        return actions;
    };
    match &observed.role {
        None => actions.push(Action::CreateRole),
        Some(role) => {
            if !role.settings_ok {
                actions.push(Action::CreateRole);
            }
            if role.verifier.as_ref().is_some_and(|v| v != verifier) {
                actions.push(Action::SetRolePassword);
            }
        }
    }
    if !observed.schema.as_ref().is_some_and(|s| s.owned_by_role) {
        actions.push(Action::CreateSchema);
    }
    actions
}

fn remove(container: &ObservedContainer, reason: RemoveReason) -> Action {
    Action::RemoveContainer {
        id: container.id.clone(),
        reason,
    }
}

fn plan_containers(desired: &Desired, observed: &Observed) -> Vec<Action> {
    let mut actions = Vec::new();
    let wanted_name = DesiredContainer::name_for(&desired.name);
    // The one container that may stay: ours by name and by this incarnation's uid.
    let primary = observed
        .containers
        .iter()
        .find(|c| c.name == wanted_name && c.uid.as_deref() == Some(desired.uid.as_str()));
    for container in &observed.containers {
        if Some(container) != primary {
            actions.push(remove(container, RemoveReason::Stray));
        }
    }
    let Some(container) = &desired.container else {
        // Not computable yet (credentials, network or image missing): earlier actions first.
        return actions;
    };
    let start = desired.state == DesiredState::Running;
    let Some(primary) = primary else {
        actions.push(Action::CreateContainer { start });
        return actions;
    };
    if primary.state == RunState::Removing {
        // Docker is removing it already; create once it is gone.
        return actions;
    }
    if primary.spec_hash.as_deref() != Some(container.spec_hash().as_str()) {
        actions.push(remove(primary, RemoveReason::Outdated));
        actions.push(Action::CreateContainer { start });
        return actions;
    }
    if primary.state == RunState::Dead {
        actions.push(remove(primary, RemoveReason::Dead));
        actions.push(Action::CreateContainer { start });
        return actions;
    }
    let id = primary.id.clone();
    match (desired.state, primary.state) {
        (DesiredState::Running, RunState::Created | RunState::Exited) => {
            if !primary.networks.contains(&container.network) {
                actions.push(Action::ConnectNetwork { id: id.clone() });
            }
            actions.push(Action::StartContainer { id });
        }
        (DesiredState::Running, RunState::Running)
            if !primary.networks.contains(&container.network) =>
        {
            actions.push(Action::ConnectNetwork { id });
        }
        (DesiredState::Stopped, RunState::Running | RunState::Restarting | RunState::Paused) => {
            actions.push(Action::StopContainer { id });
        }
        // Restarting: Docker's restart policy is at work. Paused: someone paused it by hand;
        // tenantd reports it rather than guess. Stopped and not running: as wanted.
        _ => {}
    }
    actions
}

fn plan_teardown(desired: &Desired, observed: &Observed) -> Vec<Action> {
    let mut actions: Vec<Action> = observed
        .containers
        .iter()
        .map(|c| remove(c, RemoveReason::Teardown))
        .collect();
    let has_database = observed.role.is_some() || observed.schema.is_some();
    match desired.deletion_policy {
        DeletionPolicy::Retain => {}
        DeletionPolicy::Delete if has_database => actions.push(Action::DropDatabase),
        DeletionPolicy::BackupThenDelete if observed.schema.is_some() => {
            actions.push(Action::BackupDatabase);
            actions.push(Action::DropDatabase);
        }
        DeletionPolicy::BackupThenDelete if has_database => actions.push(Action::DropDatabase),
        _ => {}
    }
    actions.push(Action::Finalize);
    actions
}

#[cfg(test)]
mod tests;
