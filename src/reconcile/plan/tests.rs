//! Unit and property tests of the planner against a simulated world.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::engine::{Health, Healthcheck};

const UID: &str = "0123456789abcdef0123456789abcdef";
const OTHER_UID: &str = "fedcba9876543210fedcba9876543210";
const NETWORK: &str = "tenantd";

/// A simulated world that applies actions the way the executor and the engine would.
#[derive(Debug, Clone)]
struct World {
    containers: Vec<ObservedContainer>,
    network: bool,
    image_id: Option<String>,
    credentials: Option<String>,
    role: Option<RoleState>,
    schema: Option<SchemaState>,
    finalized: bool,
    backups: u32,
    next_id: u32,
}

#[derive(Debug)]
struct Spec {
    state: DesiredState,
    deleting: bool,
    policy: DeletionPolicy,
    pull: ImagePullPolicy,
    env: String,
}

fn container_for(world: &World, spec: &Spec) -> Option<DesiredContainer> {
    let verifier = world.credentials.clone()?;
    let image_id = world.image_id.clone()?;
    if !world.network {
        return None;
    }
    Some(DesiredContainer {
        name: "tenant-acme".into(),
        tenant: "acme".into(),
        uid: UID.into(),
        instance: "main".into(),
        image: "app:latest".into(),
        image_id,
        env: BTreeMap::from([
            ("DATABASE_URL".into(), format!("postgres://{verifier}")),
            ("K".into(), spec.env.clone()),
        ]),
        labels: BTreeMap::new(),
        memory_bytes: 128 << 20,
        nano_cpus: 500_000_000,
        pids: 100,
        network: NETWORK.into(),
        healthcheck: Healthcheck {
            test: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            start_period: Duration::from_secs(1),
            retries: 1,
        },
        stop_grace_period: Duration::from_secs(1),
        restarted_at: None,
    })
}

fn desired(world: &World, spec: &Spec) -> Desired {
    Desired {
        name: "acme".into(),
        uid: UID.into(),
        deleting: spec.deleting,
        state: spec.state,
        image: "app:latest".into(),
        pull_policy: spec.pull,
        deletion_policy: spec.policy,
        container: container_for(world, spec),
    }
}

fn observed(world: &World) -> Observed {
    Observed {
        containers: world.containers.clone(),
        network_exists: world.network,
        image_id: world.image_id.clone(),
        credentials_verifier: world.credentials.clone(),
        role: world.role.clone(),
        schema: world.schema.clone(),
    }
}

impl World {
    fn apply(&mut self, action: &Action, spec: &Spec) {
        match action {
            Action::GenerateCredentials => self.credentials = Some("v1".into()),
            Action::CreateRole => {
                let verifier = match &self.role {
                    Some(role) => role.verifier.clone(),
                    None => self.credentials.clone(),
                };
                self.role = Some(RoleState {
                    verifier,
                    settings_ok: true,
                });
            }
            Action::SetRolePassword => {
                self.role
                    .as_mut()
                    .expect("a password is set only on an existing role")
                    .verifier = self.credentials.clone()
            }
            Action::CreateSchema => {
                assert!(
                    self.role.is_some(),
                    "the schema is created after its owner role"
                );
                self.schema = Some(SchemaState {
                    owned_by_role: true,
                })
            }
            Action::EnsureNetwork => self.network = true,
            Action::PullImage => self.image_id = Some("sha256:pulled".into()),
            Action::CreateContainer { start } => {
                let desired =
                    container_for(self, spec).expect("create is planned only when computable");
                assert!(
                    !self.containers.iter().any(|c| c.name == desired.name),
                    "create must never run while a container holds the name"
                );
                self.next_id += 1;
                self.containers.push(ObservedContainer {
                    id: format!("new{}", self.next_id),
                    name: desired.name.clone(),
                    tenant: "acme".into(),
                    uid: Some(UID.into()),
                    spec_hash: Some(desired.spec_hash()),
                    image_id: desired.image_id.clone(),
                    state: if *start {
                        RunState::Running
                    } else {
                        RunState::Created
                    },
                    health: Health::Healthy,
                    networks: BTreeSet::from([NETWORK.to_owned()]),
                });
            }
            Action::StartContainer { id } => self.container(id).state = RunState::Running,
            Action::StopContainer { id } => self.container(id).state = RunState::Exited,
            Action::ConnectNetwork { id } => {
                self.container(id).networks.insert(NETWORK.into());
            }
            Action::RemoveContainer { id, .. } => self.containers.retain(|c| &c.id != id),
            Action::BackupDatabase => self.backups += 1,
            Action::DropDatabase => {
                assert!(spec.deleting, "database objects are dropped only on delete");
                assert_ne!(spec.policy, DeletionPolicy::Retain, "Retain never drops");
                if spec.policy == DeletionPolicy::BackupThenDelete && self.schema.is_some() {
                    assert!(
                        self.backups > 0,
                        "BackupThenDelete drops only after a backup"
                    );
                }
                self.role = None;
                self.schema = None;
            }
            Action::Finalize => {
                assert!(
                    self.containers.is_empty(),
                    "finalize only after the containers are gone"
                );
                self.finalized = true;
            }
        }
    }

    fn container(&mut self, id: &str) -> &mut ObservedContainer {
        self.containers
            .iter_mut()
            .find(|c| c.id == id)
            .expect("actions name only observed containers")
    }
}

/// Plans and applies until the plan is empty; returns the number of rounds it took.
fn converge(world: &mut World, spec: &Spec) -> usize {
    for round in 0..8 {
        let actions = plan(Some(&desired(world, spec)), &observed(world));
        if actions.is_empty() || world.finalized {
            return round;
        }
        for action in &actions {
            world.apply(action, spec);
        }
    }
    panic!("did not converge in 8 rounds: {world:?}");
}

fn empty_world() -> World {
    World {
        containers: vec![],
        network: false,
        image_id: None,
        credentials: None,
        role: None,
        schema: None,
        finalized: false,
        backups: 0,
        next_id: 0,
    }
}

fn running_spec() -> Spec {
    Spec {
        state: DesiredState::Running,
        deleting: false,
        policy: DeletionPolicy::Delete,
        pull: ImagePullPolicy::IfNotPresent,
        env: "a".into(),
    }
}

#[test]
fn from_empty_the_first_plan_creates_credentials_network_and_pulls() {
    let world = empty_world();
    let actions = plan(Some(&desired(&world, &running_spec())), &observed(&world));
    assert_eq!(
        actions,
        vec![
            Action::GenerateCredentials,
            Action::EnsureNetwork,
            Action::PullImage
        ]
    );
}

#[test]
fn the_plan_of_a_converged_world_is_empty() {
    let mut world = empty_world();
    let spec = running_spec();
    converge(&mut world, &spec);
    assert_eq!(
        plan(Some(&desired(&world, &spec)), &observed(&world)),
        vec![]
    );
}

#[test]
fn an_env_edit_replaces_the_container() {
    let mut world = empty_world();
    converge(&mut world, &running_spec());
    let old = world.containers[0].id.clone();
    let edited = Spec {
        env: "b".into(),
        ..running_spec()
    };
    let actions = plan(Some(&desired(&world, &edited)), &observed(&world));
    assert_eq!(
        actions,
        vec![
            Action::RemoveContainer {
                id: old,
                reason: RemoveReason::Outdated
            },
            Action::CreateContainer { start: true }
        ]
    );
}

#[test]
fn a_stopped_container_that_should_run_is_started_not_recreated() {
    let mut world = empty_world();
    converge(&mut world, &running_spec());
    world.containers[0].state = RunState::Exited;
    let id = world.containers[0].id.clone();
    let actions = plan(Some(&desired(&world, &running_spec())), &observed(&world));
    assert_eq!(actions, vec![Action::StartContainer { id }]);
}

#[test]
fn a_container_cut_off_the_network_is_reconnected_not_recreated() {
    let mut world = empty_world();
    converge(&mut world, &running_spec());
    world.containers[0].networks.clear();
    let id = world.containers[0].id.clone();
    let actions = plan(Some(&desired(&world, &running_spec())), &observed(&world));
    assert_eq!(actions, vec![Action::ConnectNetwork { id }]);
}

#[test]
fn state_stopped_stops_without_removing() {
    let mut world = empty_world();
    converge(&mut world, &running_spec());
    let id = world.containers[0].id.clone();
    let stopped = Spec {
        state: DesiredState::Stopped,
        ..running_spec()
    };
    let actions = plan(Some(&desired(&world, &stopped)), &observed(&world));
    assert_eq!(actions, vec![Action::StopContainer { id }]);
}

#[test]
fn a_container_from_an_earlier_incarnation_is_removed_before_the_new_one_is_created() {
    let mut world = empty_world();
    converge(&mut world, &running_spec());
    world.containers[0].uid = Some(OTHER_UID.into());
    let stale = world.containers[0].id.clone();
    let actions = plan(Some(&desired(&world, &running_spec())), &observed(&world));
    assert_eq!(
        actions,
        vec![
            Action::RemoveContainer {
                id: stale,
                reason: RemoveReason::Stray
            },
            Action::CreateContainer { start: true }
        ]
    );
}

#[test]
fn a_changed_role_password_is_set_again() {
    let mut world = empty_world();
    converge(&mut world, &running_spec());
    world.role.as_mut().unwrap().verifier = Some("changed-by-hand".into());
    let actions = plan(Some(&desired(&world, &running_spec())), &observed(&world));
    assert_eq!(actions, vec![Action::SetRolePassword]);
}

#[test]
fn a_dropped_schema_is_created_again_and_nothing_else() {
    let mut world = empty_world();
    converge(&mut world, &running_spec());
    world.schema = None;
    let actions = plan(Some(&desired(&world, &running_spec())), &observed(&world));
    assert_eq!(actions, vec![Action::CreateSchema]);
}

#[test]
fn a_missing_image_with_pull_policy_never_plans_no_pull() {
    let world = World {
        credentials: Some("v1".into()),
        role: Some(RoleState {
            verifier: Some("v1".into()),
            settings_ok: true,
        }),
        schema: Some(SchemaState {
            owned_by_role: true,
        }),
        network: true,
        ..empty_world()
    };
    let spec = Spec {
        pull: ImagePullPolicy::Never,
        ..running_spec()
    };
    assert_eq!(
        plan(Some(&desired(&world, &spec)), &observed(&world)),
        vec![]
    );
}

#[test]
fn retain_keeps_the_database_and_still_finalizes() {
    let mut world = empty_world();
    converge(&mut world, &running_spec());
    let spec = Spec {
        deleting: true,
        policy: DeletionPolicy::Retain,
        ..running_spec()
    };
    converge(&mut world, &spec);
    assert!(world.finalized && world.containers.is_empty());
    assert!(world.role.is_some() && world.schema.is_some());
}

#[test]
fn backup_then_delete_backs_up_before_dropping() {
    let mut world = empty_world();
    converge(&mut world, &running_spec());
    let spec = Spec {
        deleting: true,
        policy: DeletionPolicy::BackupThenDelete,
        ..running_spec()
    };
    let actions = plan(Some(&desired(&world, &spec)), &observed(&world));
    let backup = actions.iter().position(|a| *a == Action::BackupDatabase);
    let drop = actions.iter().position(|a| *a == Action::DropDatabase);
    assert!(backup.is_some() && backup < drop, "{actions:?}");
}

#[test]
fn orphaned_containers_are_removed_and_nothing_else_is_planned() {
    let mut world = empty_world();
    converge(&mut world, &running_spec());
    let id = world.containers[0].id.clone();
    assert_eq!(
        plan(None, &observed(&world)),
        vec![Action::RemoveContainer {
            id,
            reason: RemoveReason::Teardown
        }]
    );
}

fn arb_state() -> impl Strategy<Value = RunState> {
    prop_oneof![
        Just(RunState::Created),
        Just(RunState::Running),
        Just(RunState::Exited),
        Just(RunState::Dead),
        Just(RunState::Restarting),
    ]
}

prop_compose! {
    fn arb_container()(
        index in 0u32..1000,
        primary_name in any::<bool>(),
        same_uid in any::<bool>(),
        good_hash in any::<bool>(),
        state in arb_state(),
        on_network in any::<bool>(),
    ) -> (ObservedContainer, bool) {
        (ObservedContainer {
            id: format!("old{index}"),
            name: if primary_name { "tenant-acme".into() } else { format!("acme-copy-{index}") },
            tenant: "acme".into(),
            uid: Some(if same_uid { UID.into() } else { OTHER_UID.into() }),
            spec_hash: Some("stale".into()),
            image_id: "sha256:old".into(),
            state,
            health: Health::Healthy,
            networks: if on_network { BTreeSet::from([NETWORK.to_owned()]) } else { BTreeSet::new() },
        }, good_hash)
    }
}

prop_compose! {
    fn arb_world()(
        containers in proptest::collection::vec(arb_container(), 0..3),
        network in any::<bool>(),
        image in any::<bool>(),
        credentials in any::<bool>(),
        role in proptest::option::of((any::<bool>(), any::<bool>())),
        schema in proptest::option::of(any::<bool>()),
    ) -> World {
        let mut world = World {
            containers: vec![],
            network,
            image_id: image.then(|| "sha256:local".to_owned()),
            credentials: credentials.then(|| "v1".to_owned()),
            role: role.map(|(verifier_ok, settings_ok)| RoleState {
                verifier: Some(if verifier_ok { "v1".into() } else { "other".into() }),
                settings_ok,
            }),
            schema: schema.map(|owned_by_role| SchemaState { owned_by_role }),
            finalized: false,
            backups: 0,
            next_id: 0,
        };
        // Docker names are unique, and so are ids: keep the first of each.
        let mut seen_ids = BTreeSet::new();
        let mut primary_taken = false;
        for (mut container, good_hash) in containers {
            if !seen_ids.insert(container.id.clone()) {
                continue;
            }
            if container.name == "tenant-acme" {
                if primary_taken { continue; }
                primary_taken = true;
            }
            if let Some(d) = container_for(&world, &running_spec()).filter(|_| good_hash) {
                container.spec_hash = Some(d.spec_hash());
            }
            world.containers.push(container);
        }
        world
    }
}

fn arb_spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![Just(DesiredState::Running), Just(DesiredState::Stopped)],
        any::<bool>(),
        prop_oneof![
            Just(DeletionPolicy::Delete),
            Just(DeletionPolicy::Retain),
            Just(DeletionPolicy::BackupThenDelete)
        ],
    )
        .prop_map(|(state, deleting, policy)| Spec {
            state,
            deleting,
            policy,
            pull: ImagePullPolicy::IfNotPresent,
            env: "a".into(),
        })
}

proptest! {
    /// Whatever the starting point, planning and applying converges, and the result is what
    /// the spec asks for.
    #[test]
    fn applying_plans_converges_from_any_observed_state(mut world in arb_world(), spec in arb_spec()) {
        // Docker's own restart policy settles a restarting container; the planner waits for it.
        for c in &mut world.containers {
            if c.state == RunState::Restarting { c.state = RunState::Running; }
        }
        converge(&mut world, &spec);
        if spec.deleting {
            prop_assert!(world.finalized);
            prop_assert!(world.containers.is_empty());
            if spec.policy == DeletionPolicy::Retain {
                prop_assert_eq!(world.backups, 0);
            } else {
                prop_assert!(world.role.is_none() && world.schema.is_none(), "deletion leaves nothing owned");
            }
        } else {
            prop_assert_eq!(world.containers.len(), 1);
            let c = &world.containers[0];
            let wanted = container_for(&world, &spec).unwrap();
            let wanted_hash = wanted.spec_hash();
            prop_assert_eq!(c.spec_hash.as_deref(), Some(wanted_hash.as_str()));
            prop_assert_eq!(c.uid.as_deref(), Some(UID));
            let running = c.state == RunState::Running;
            prop_assert_eq!(running, spec.state == DesiredState::Running);
            prop_assert!(world.role.as_ref().is_some_and(|r| r.verifier == world.credentials && r.settings_ok));
            prop_assert!(world.schema.as_ref().is_some_and(|s| s.owned_by_role));
            prop_assert_eq!(plan(Some(&desired(&world, &spec)), &observed(&world)), vec![]);
        }
    }

    /// Containers of a tenant that no longer exists all go, in one plan.
    #[test]
    fn orphans_are_removed_in_one_round(mut world in arb_world()) {
        for action in plan(None, &observed(&world)) {
            world.apply(&action, &running_spec());
        }
        prop_assert!(world.containers.is_empty());
    }
}
