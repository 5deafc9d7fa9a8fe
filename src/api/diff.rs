//! What a write would change, for dry runs and `tenantd diff`: the field-by-field difference
//! between a stored tenant and a proposed one, whether each change forces the container to be
//! replaced, and why the reconciler would take each planned step. Pure.
//!
//! # Guarantees
//! - [`changes`] lists every leaf that differs in `metadata.labels` and `spec`, in path order;
//!   equal tenants give an empty list. Map keys (env, labels) are path components, so one
//!   changed variable is one line, not the whole map.
//! - [`forces_replacement`] agrees with the container's spec hash: a field forces replacement
//!   exactly when changing it changes the desired container (a unit test holds it to that).

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::reconcile::plan::{Action, RemoveReason};
use crate::resource::Tenant;

/// One field that differs between the stored tenant and the proposed one.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// Path of the field: `spec.env.GREETING`, `metadata.labels.plan`, `spec.resources.memory`.
    pub field: String,
    /// The stored value; absent when the field is added.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub from: Option<Value>,
    /// The proposed value; absent when the field is removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub to: Option<Value>,
    /// Whether the change makes the reconciler replace the container (the data is kept).
    pub forces_replacement: bool,
}

/// Spec fields that are part of the container's definition: changing one recreates it.
/// `state` starts or stops the same container, `imagePullPolicy` only decides when to pull,
/// `database.deletionPolicy` matters only on delete, and labels are the resource's own.
const REPLACING_FIELDS: [&str; 5] = [
    "spec.env",
    "spec.image",
    "spec.resources",
    "spec.restartedAt",
    "spec.subdomain",
];

/// Whether a change of `field` forces the container to be replaced.
pub fn forces_replacement(field: &str) -> bool {
    REPLACING_FIELDS.iter().any(|prefix| {
        field == *prefix
            || field
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Every difference between `stored` (none for a create) and `proposed` in the parts a
/// writer controls: `metadata.labels` and `spec`.
pub fn changes(stored: Option<&Tenant>, proposed: &Tenant) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let parts = |tenant: Option<&Tenant>| -> (Value, Value) {
        match tenant {
            Some(t) => (
                serde_json::to_value(&t.metadata.labels).expect("labels always serialize"),
                serde_json::to_value(&t.spec).expect("a spec always serializes"),
            ),
            None => (Value::Object(Map::new()), Value::Object(Map::new())),
        }
    };
    let (old_labels, old_spec) = parts(stored);
    let (new_labels, new_spec) = parts(Some(proposed));
    diff_values(
        "metadata.labels",
        Some(&old_labels),
        Some(&new_labels),
        &mut out,
    );
    diff_values("spec", Some(&old_spec), Some(&new_spec), &mut out);
    if stored.is_none() {
        // Nothing is replaced when nothing exists yet.
        for change in &mut out {
            change.forces_replacement = false;
        }
    }
    out
}

fn diff_values(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    let empty = Map::new();
    match (old, new) {
        (Some(a), Some(b)) if a == b => {}
        (None, None) => {}
        // Objects are compared key by key; a missing object counts as an empty one.
        (Some(Value::Object(_)) | None, Some(Value::Object(_)) | None)
            if old.is_some_and(Value::is_object) || new.is_some_and(Value::is_object) =>
        {
            let a = old.and_then(Value::as_object).unwrap_or(&empty);
            let b = new.and_then(Value::as_object).unwrap_or(&empty);
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                diff_values(&format!("{path}.{key}"), a.get(key), b.get(key), out);
            }
        }
        _ => out.push(FieldChange {
            field: path.to_owned(),
            from: old.cloned(),
            to: new.cloned(),
            forces_replacement: forces_replacement(path),
        }),
    }
}

/// Why the reconciler would take `action` for a tenant that exists: what it found that
/// differs from the spec (a container removed by hand, a password changed, ...).
pub fn cause(action: &Action) -> &'static str {
    match action {
        Action::GenerateCredentials => "the tenant has no database password yet",
        Action::CreateRole => "the database role is missing, or its grants or settings differ",
        Action::SetRolePassword => "the role's password was changed outside tenantd",
        Action::CreateSchema => "the schema is missing or not owned by the tenant's role",
        Action::EnsureNetwork => "the tenant network is missing",
        Action::PullImage => "the image is not on the Docker host",
        Action::CreateContainer { .. } => "the container is missing",
        Action::StartContainer { .. } => "the container is not running but the spec says Running",
        Action::StopContainer { .. } => "the container is running but the spec says Stopped",
        Action::ConnectNetwork { .. } => "the container is not on the tenant network",
        Action::RemoveContainer { reason, .. } => match reason {
            RemoveReason::Outdated => "the container differs from the spec",
            RemoveReason::Stray => "a container of an earlier incarnation or an extra copy",
            RemoveReason::Dead => "the container is dead",
            RemoveReason::Teardown => "the tenant is being deleted",
        },
        Action::BackupDatabase => "the tenant is being deleted with BackupThenDelete",
        Action::DropDatabase => "the tenant is being deleted",
        Action::Finalize => "the tenant is being deleted",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::engine::Healthcheck;
    use crate::reconcile::desired::{Platform, desired_container};
    use crate::resource::{
        DeletionPolicy, DesiredState, ImagePullPolicy, ObjectMeta, TenantSpec, parse_documents,
    };
    use crate::store::Credentials;

    fn tenant() -> Tenant {
        parse_documents(
            "apiVersion: tenantd/v1\nkind: Tenant\nmetadata:\n  name: acme\n  labels: {plan: test}\n\
             spec:\n  image: app:1\n  resources: {memory: 128Mi}\n  env: {GREETING: hello, KEEP: x}\n",
        )
        .unwrap()
        .remove(0)
    }

    fn fields(changes: &[FieldChange]) -> Vec<(&str, bool)> {
        changes
            .iter()
            .map(|c| (c.field.as_str(), c.forces_replacement))
            .collect()
    }

    #[test]
    fn equal_tenants_have_no_changes() {
        assert_eq!(changes(Some(&tenant()), &tenant()), vec![]);
    }

    #[test]
    fn an_env_change_is_one_line_per_variable_and_forces_replacement() {
        let mut proposed = tenant();
        proposed.spec.env.insert("GREETING".into(), "hi".into());
        proposed.spec.env.insert("NEW".into(), "1".into());
        proposed.spec.env.remove("KEEP");
        let changes = changes(Some(&tenant()), &proposed);
        assert_eq!(
            fields(&changes),
            [
                ("spec.env.GREETING", true),
                ("spec.env.KEEP", true),
                ("spec.env.NEW", true)
            ]
        );
        assert_eq!(changes[0].from, Some(json!("hello")));
        assert_eq!(changes[0].to, Some(json!("hi")));
        assert_eq!(changes[1].to, None, "a removed variable has no new value");
        assert_eq!(changes[2].from, None, "an added variable has no old value");
    }

    #[test]
    fn labels_state_and_deletion_policy_change_in_place() {
        let mut proposed = tenant();
        proposed
            .metadata
            .labels
            .insert("plan".into(), "premium".into());
        proposed.spec.state = DesiredState::Stopped;
        proposed.spec.database.deletion_policy = DeletionPolicy::Retain;
        proposed.spec.image_pull_policy = ImagePullPolicy::Always;
        assert_eq!(
            fields(&changes(Some(&tenant()), &proposed)),
            [
                ("metadata.labels.plan", false),
                ("spec.database.deletionPolicy", false),
                ("spec.imagePullPolicy", false),
                ("spec.state", false),
            ]
        );
    }

    #[test]
    fn a_field_added_where_the_stored_spec_had_none_is_reported_alone() {
        let mut proposed = tenant();
        proposed.spec.subdomain = Some("acme-web".into());
        proposed.spec.resources.pids = Some(100);
        let changes = changes(Some(&tenant()), &proposed);
        assert_eq!(
            fields(&changes),
            [("spec.resources.pids", true), ("spec.subdomain", true)]
        );
        assert_eq!(changes[1].from, None);
    }

    #[test]
    fn a_create_lists_every_field_as_added_and_replaces_nothing() {
        let changes = changes(None, &tenant());
        assert!(changes.iter().all(|c| c.from.is_none()), "{changes:?}");
        assert!(changes.iter().all(|c| !c.forces_replacement), "{changes:?}");
        let names: Vec<_> = changes.iter().map(|c| c.field.as_str()).collect();
        assert!(names.contains(&"metadata.labels.plan"), "{names:?}");
        assert!(names.contains(&"spec.env.GREETING"), "{names:?}");
        assert!(names.contains(&"spec.image"), "{names:?}");
    }

    #[test]
    fn forces_replacement_matches_whole_path_components_only() {
        assert!(forces_replacement("spec.env"));
        assert!(forces_replacement("spec.env.A"));
        assert!(forces_replacement("spec.resources.cpus"));
        assert!(!forces_replacement("spec.environment"));
        assert!(!forces_replacement("spec.imagePullPolicy"));
        assert!(!forces_replacement("metadata.labels.spec.env"));
    }

    /// Guards the table against the container definition: if a field starts (or stops)
    /// being part of the container, this fails until the table says so too.
    #[test]
    fn forces_replacement_agrees_with_the_container_spec_hash() {
        let platform = Platform {
            instance: "test".into(),
            network: "tenantd".into(),
            base_domain: "tenants.test".into(),
            public_scheme: "http".into(),
            default_image: "app:default".into(),
            default_memory_bytes: 256 << 20,
            default_nano_cpus: 500_000_000,
            default_pids: 256,
            container_port: 8080,
            database_host: Some("db".into()),
            database_port: 5432,
            database_name: "tenantd".into(),
            healthcheck: Healthcheck {
                test: None,
                interval: Duration::from_secs(5),
                timeout: Duration::from_secs(3),
                start_period: Duration::from_secs(2),
                retries: 3,
            },
            stop_grace_period: Duration::from_secs(10),
            extra_labels: BTreeMap::new(),
        };
        let credentials = Credentials {
            password: "secret".into(),
            verifier: "v".into(),
        };
        let uid = "0123456789abcdef0123456789abcdef";
        let hash = |t: &Tenant| {
            desired_container(&platform, t, uid, &credentials, "db", "sha256:1").spec_hash()
        };
        let base = tenant();
        type Edit = fn(&mut Tenant);
        let edits: [(&str, Edit); 11] = [
            ("env", |t| {
                t.spec.env.insert("A".into(), "1".into());
            }),
            ("image", |t| t.spec.image = Some("app:2".into())),
            ("memory", |t| {
                t.spec.resources.memory = Some("512Mi".parse().unwrap())
            }),
            ("cpus", |t| {
                t.spec.resources.cpus = Some("1".parse().unwrap())
            }),
            ("pids", |t| t.spec.resources.pids = Some(99)),
            ("restartedAt", |t| t.spec.restarted_at = Some("now".into())),
            ("subdomain", |t| t.spec.subdomain = Some("other".into())),
            ("labels", |t| {
                t.metadata.labels.insert("x".into(), "y".into());
            }),
            ("state", |t| t.spec.state = DesiredState::Stopped),
            ("pull policy", |t| {
                t.spec.image_pull_policy = ImagePullPolicy::Always
            }),
            ("deletion policy", |t| {
                t.spec.database.deletion_policy = DeletionPolicy::Retain
            }),
        ];
        for (what, edit) in edits {
            let mut changed = base.clone();
            edit(&mut changed);
            let listed = changes(Some(&base), &changed);
            assert!(!listed.is_empty(), "{what}: the edit must show as a change");
            let table_says = listed.iter().any(|c| c.forces_replacement);
            let hash_says = hash(&changed) != hash(&base);
            assert_eq!(
                table_says, hash_says,
                "{what}: forcesReplacement must be true exactly when the container changes"
            );
        }
    }

    #[test]
    fn every_drift_step_has_a_cause() {
        let id = || "c0ffee".to_owned();
        let actions = [
            Action::CreateContainer { start: true },
            Action::StartContainer { id: id() },
            Action::RemoveContainer {
                id: id(),
                reason: RemoveReason::Outdated,
            },
            Action::SetRolePassword,
        ];
        for action in &actions {
            assert!(!cause(action).is_empty(), "{action:?}");
        }
        assert_eq!(
            cause(&Action::CreateContainer { start: false }),
            "the container is missing"
        );
    }

    #[test]
    fn changes_ignore_metadata_a_writer_does_not_control() {
        let mut proposed = tenant();
        proposed.metadata = ObjectMeta {
            uid: Some("u".into()),
            generation: Some(7),
            resource_version: Some("9".into()),
            ..proposed.metadata
        };
        proposed.spec = TenantSpec { ..tenant().spec };
        assert_eq!(changes(Some(&tenant()), &proposed), vec![]);
    }
}
