//! The `Tenant` resource: its types, validation, codecs and defaults.
//!
//! # Guarantees
//! - No I/O: everything here is a pure function of its inputs.
//! - A `Tenant` that passed [`validate`] has a name and subdomain that are safe to use in
//!   container names, Postgres comments, host names and labels, env keys that are valid
//!   shell identifiers and do not shadow the keys tenantd injects, and resources within
//!   the limits the engine accepts.

mod codec;
mod quantity;
mod validate;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use codec::{MAX_INPUT_BYTES, ParseError, parse_documents, to_yaml};
pub use quantity::{Cpus, Memory, QuantityError};
pub use validate::{
    FieldError, INJECTED_ENV_KEYS, MAX_NAME_LEN, RESERVED_ENV_PREFIX, RESERVED_NAMES,
    ValidationErrors, env_field, name_errors, validate,
};

/// The only `apiVersion` this build understands.
pub const API_VERSION: &str = "tenantd/v1";
/// The only `kind` this build understands.
pub const KIND: &str = "Tenant";
/// The finalizer the reconciler puts on every tenant so that delete tears down first.
pub const FINALIZER: &str = "tenantd.io/teardown";

/// One tenant: desired state in `spec`, observed state in `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenant {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: TenantSpec,
    /// Written only by the reconciler; ignored on apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TenantStatus>,
}

/// Identity and bookkeeping. Only `name` and `labels` are set by writers; the store fills
/// in the rest and ignores what a writer sends for them, except `resourceVersion`, which
/// is the precondition for an optimistic-concurrency write.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// RFC 1123 label, at most 40 characters; immutable; the tenant's identity.
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Opaque id, assigned on creation; names the tenant's Postgres schema and role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Moves only when the spec changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Moves on every write; a write naming an older one is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<DateTime<Utc>>,
    /// Set when a delete was asked for; the finalizer then tears down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    /// The user who owns the tenant, if any (web accounts); admins see all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Set by the server: `file:<path>` when the tenant was applied from the watched specs/
    /// directory, which then owns it (other writers are refused unless they force).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What the tenant should look like. Every field is optional in YAML; defaults come
/// from the platform's config (image, resources) or from the types here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSpec {
    /// Unique host label under the base domain; defaults to the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// Image reference; defaults to the platform's default image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default)]
    pub image_pull_policy: ImagePullPolicy,
    #[serde(default)]
    pub state: DesiredState,
    #[serde(default)]
    pub resources: ResourceSpec,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub database: DatabaseSpec,
    /// Declarative restart: a new value restarts the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<String>,
}

impl TenantSpec {
    /// The subdomain in force: the explicit one, or the tenant's name.
    pub fn subdomain_or<'a>(&'a self, name: &'a str) -> &'a str {
        self.subdomain.as_deref().unwrap_or(name)
    }
}

/// Resource limits; unset fields take the platform's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

/// Database behaviour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseSpec {
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// When to pull the image (Kubernetes semantics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ImagePullPolicy {
    /// Pull on every reconcile that creates a container, and when the resolved ID is checked.
    Always,
    /// Pull only when the engine has no image under the reference.
    #[default]
    IfNotPresent,
    /// Never pull; a missing image is reported in the status.
    Never,
}

/// Whether the tenant's container should run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DesiredState {
    #[default]
    Running,
    /// The container is stopped but kept, with its data.
    Stopped,
}

/// What happens to the tenant's schema and role on delete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Drop the schema, everything in it, and the role.
    #[default]
    Delete,
    /// Keep schema and role (they become orphans, reported but never dropped).
    Retain,
    /// `pg_dump` the schema to the backup folder, and drop only when the dump succeeded.
    BackupThenDelete,
}

/// Observed state, written only by the reconciler.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantStatus {
    pub phase: Phase,
    /// The generation this status was computed for.
    #[serde(default)]
    pub observed_generation: i64,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// The image ID the running container was created from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

impl TenantStatus {
    /// The condition of the given type, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// The lifecycle summary shown to people; conditions carry the detail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    /// Accepted, not yet acted on.
    #[default]
    Pending,
    /// The reconciler is creating the database objects or the container.
    Provisioning,
    /// Database ready, container running and healthy.
    Ready,
    /// Stopped on purpose (`state: Stopped`), data kept.
    Stopped,
    /// Something is wrong that the reconciler could not fix (yet); see the conditions.
    Degraded,
    /// Delete was asked for; teardown in progress.
    Terminating,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Pending,
        Phase::Provisioning,
        Phase::Ready,
        Phase::Stopped,
        Phase::Degraded,
        Phase::Terminating,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Provisioning => "Provisioning",
            Phase::Ready => "Ready",
            Phase::Stopped => "Stopped",
            Phase::Degraded => "Degraded",
            Phase::Terminating => "Terminating",
        }
    }
}

/// Condition types the reconciler maintains.
pub mod condition {
    pub const DATABASE_READY: &str = "DatabaseReady";
    pub const CONTAINER_READY: &str = "ContainerReady";
    pub const READY: &str = "Ready";
}

/// One aspect of the tenant's health, Kubernetes-style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    /// CamelCase machine-readable cause.
    pub reason: String,
    /// Plain words for a person.
    pub message: String,
    /// When `status` last changed (not when the message did).
    pub last_transition_time: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}
