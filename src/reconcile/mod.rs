//! The reconciler: observe one tenant, plan (pure), execute, report status; and the controller
//! runtime that decides which tenant to reconcile when.
//!
//! Layout:
//! - [`plan`]: `plan(desired, observed) -> Vec<Action>`, pure.
//! - [`desired`]: the container wanted for a tenant, from spec and config, pure.
//! - [`status`]: conditions and phase from the observation, pure.
//! - [`executor`]: one action against Docker, Postgres or the store.
//! - [`scheduler`]: dedupe, delay, one run per key, backoff.
//! - [`controller`]: triggers → scheduler → workers, resync, shutdown.
//! - [`snapshot`]: a resync pass's read of every tenant, so a pass costs two store queries.
//! - this file: [`reconcile`], the loop for one tenant, and the shared [`Context`].

pub mod controller;
pub mod desired;
mod executor;
pub mod plan;
pub mod scheduler;
pub mod snapshot;
pub mod status;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;

use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::resource::{Phase, Tenant};
use crate::store::{self, Credentials, Store};
use crate::tenantdb::{self, DbObservation, TenantDb};

pub use controller::{Controller, ControllerConfig};
pub use desired::Platform;
use plan::{Desired, Observed, RoleState, SchemaState};
pub use snapshot::{Prefetched, Snapshot};
use status::Failure;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the store failed: {0}")]
    Store(#[from] store::Error),
    #[error("observing the tenant databases failed: {0}")]
    ObserveDatabase(#[source] tenantdb::Error),
    #[error("the reconcile panicked (a bug): {message}")]
    Panicked { message: String },
    #[error("{action} failed: {message}")]
    Step {
        action: &'static str,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a reconcile needs, shared by all workers.
pub struct Context {
    pub store: Store,
    pub engine: Arc<Engine>,
    pub tenantdb: Arc<TenantDb>,
    pub platform: Platform,
    pub database: DatabaseCache,
    pub metrics: Arc<Metrics>,
}

/// The last catalog observation of tenant schemas and roles. Postgres sends no events, so it
/// is refreshed periodically and after tenantd's own database changes.
#[derive(Default)]
pub struct DatabaseCache {
    snapshot: RwLock<Option<DbObservation>>,
}

impl DatabaseCache {
    /// Re-reads the catalog (two queries, whatever the number of tenants). Returns whether
    /// anything differs from the previous snapshot.
    pub async fn refresh(&self, tenantdb: &TenantDb) -> Result<bool> {
        let fresh = tenantdb.observe().await.map_err(Error::ObserveDatabase)?;
        let mut snapshot = self.snapshot.write().expect("never poisoned");
        let changed = snapshot.as_ref() != Some(&fresh);
        *snapshot = Some(fresh);
        Ok(changed)
    }

    /// Whether a snapshot was taken yet.
    pub fn is_loaded(&self) -> bool {
        self.snapshot.read().expect("never poisoned").is_some()
    }

    fn tenant(&self, uid: &str) -> (Option<RoleState>, Option<SchemaState>) {
        let snapshot = self.snapshot.read().expect("never poisoned");
        let Some(snapshot) = snapshot.as_ref() else {
            return (None, None);
        };
        let role = snapshot.roles.get(uid).map(|r| RoleState {
            verifier: r.verifier.clone(),
            settings_ok: r.can_login
                && r.has_connect
                && r.search_path_ok
                && r.attributes_ok
                && r.statement_timeout_ok,
        });
        let schema = snapshot.schemas.get(uid).map(|s| SchemaState {
            owned_by_role: s.owned_by_tenant_role,
        });
        (role, schema)
    }

    /// Uids that have a schema or role in this database but no tenant in `known`: never
    /// dropped, only reported. Roles are cluster-wide, so a role counts as this database's
    /// only when it may connect to it (PUBLIC may not); another tenantd database's roles on the
    /// same server are not orphans here.
    pub fn orphans(&self, known: &std::collections::HashSet<String>) -> Vec<String> {
        let snapshot = self.snapshot.read().expect("never poisoned");
        let Some(snapshot) = snapshot.as_ref() else {
            return vec![];
        };
        let roles_here = snapshot
            .roles
            .iter()
            .filter(|(_, role)| role.has_connect)
            .map(|(uid, _)| uid);
        let mut orphans: Vec<String> = snapshot
            .schemas
            .keys()
            .chain(roles_here)
            .filter(|uid| !known.contains(*uid))
            .cloned()
            .collect();
        orphans.sort();
        orphans.dedup();
        orphans
    }
}

/// What the controller should do with the key after a reconcile.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Converged (or nothing more to do until something changes).
    Done,
    /// Converging, e.g. waiting for a health check: look again after this long.
    RequeueAfter(Duration),
    /// A step failed: retry with backoff.
    Failed(Failure),
    /// The tenant was deleted and its row removed.
    Finalized,
}

/// When a converging tenant is looked at again if nothing else triggers it first. What it waits
/// for (a container start, its first health check) arrives as a Docker event, which triggers
/// the next reconcile at once (the engine cache is refreshed before); this is only the fallback
/// for a lost event. Shorter costs real work at scale: N tenants waiting for their first health
/// check are reconciled N/period times a second (at 2 s and 1000 tenants, 500 a second, each
/// two store reads, competing with the creates).
const CONVERGING_FALLBACK: Duration = Duration::from_secs(10);

/// How many plan-execute rounds one reconcile may take before handing back to the scheduler.
const MAX_ROUNDS: usize = 6;

/// Converges one tenant (or the orphaned containers of a name that has no tenant).
///
/// # Assumptions
/// - The caller runs at most one reconcile per name at a time (the scheduler's job).
/// - Safe to cancel between steps: every step is idempotent and every state re-planned.
pub async fn reconcile(ctx: &Context, name: &str) -> Result<Outcome> {
    reconcile_from(ctx, name, None).await
}

/// [`reconcile`], starting from what a resync read (`prefetched`) instead of reading the
/// store, when given. The caller vouches that nothing about the tenant changed since
/// (see [`snapshot`]).
pub async fn reconcile_from(
    ctx: &Context,
    name: &str,
    prefetched: Option<Prefetched>,
) -> Result<Outcome> {
    // A stable message: the benchmark harness times "write returned → reconcile started" by it.
    tracing::debug!(tenant = %name, "reconcile started");
    let (tenant, mut credentials) = match prefetched {
        Some(read) => (read.tenant, read.credentials),
        None => match ctx.store.get_with_credentials(name).await? {
            Some(read) => read,
            None => return reconcile_orphan(ctx, name).await,
        },
    };
    let uid = tenant
        .metadata
        .uid
        .clone()
        .expect("stored tenants always have a uid");
    let mut failure = None;
    let mut finalized = false;
    for _ in 0..MAX_ROUNDS {
        let observed = observe(ctx, &tenant, &uid, credentials.as_ref());
        let desired = desired_of(ctx, &tenant, &uid, &observed, credentials.as_ref());
        let actions = plan::plan(Some(&desired), &observed);
        if actions.is_empty() {
            break;
        }
        let mut step = executor::Step {
            ctx,
            tenant: &tenant,
            uid: &uid,
            desired: &desired,
            credentials: &mut credentials,
        };
        for action in &actions {
            match step.run(action).await {
                Ok(()) => {
                    if *action == plan::Action::Finalize {
                        finalized = true;
                    }
                }
                Err(f) => {
                    failure = Some(f);
                    break;
                }
            }
        }
        if failure.is_some() || finalized {
            break;
        }
    }
    if finalized {
        ctx.metrics.forget_tenant(name);
        return Ok(Outcome::Finalized);
    }
    let observed = observe(ctx, &tenant, &uid, credentials.as_ref());
    let desired = desired_of(ctx, &tenant, &uid, &observed, credentials.as_ref());
    let status = status::compute(&status::StatusInputs {
        desired: &desired,
        observed: &observed,
        generation: tenant.metadata.generation.unwrap_or(0),
        url: ctx.platform.public_url(&tenant),
        failure: failure.as_ref(),
        previous: tenant.status.as_ref(),
        now: Utc::now(),
    });
    // Compared here first so that a converged reconcile issues no write statement at all.
    if tenant.status.as_ref() != Some(&status) {
        ctx.store.write_status(name, &uid, &status).await?;
    }
    ctx.metrics.set_phase(name, status.phase);
    Ok(match (failure, status.phase) {
        (Some(f), _) => Outcome::Failed(f),
        (None, Phase::Ready | Phase::Stopped) => Outcome::Done,
        (None, Phase::Degraded) => Outcome::RequeueAfter(Duration::from_secs(10)),
        (None, _) => Outcome::RequeueAfter(CONVERGING_FALLBACK),
    })
}

/// The steps the reconciler would take for `tenant` as given (for dry runs and diffs), from the
/// current observation. Steps that depend on earlier ones (a password not generated yet, a
/// network or image not there yet) are planned as if those had succeeded, so the preview
/// shows the whole way to convergence.
pub async fn preview(ctx: &Context, tenant: &Tenant) -> Result<Vec<plan::Action>> {
    // A server that has not observed yet (or runs without the controller) looks first.
    if !ctx.engine.is_synced() {
        ctx.engine.relist().await.map_err(|e| Error::Step {
            action: "Observe",
            message: e.to_string(),
        })?;
    }
    if !ctx.database.is_loaded() {
        ctx.database.refresh(&ctx.tenantdb).await?;
    }
    let known_uid = tenant.metadata.uid.clone();
    let uid = known_uid.clone().unwrap_or_else(|| "0".repeat(32));
    let credentials = match &known_uid {
        Some(uid) => ctx.store.credentials(uid).await?,
        None => None,
    };
    let mut observed = observe(ctx, tenant, &uid, credentials.as_ref());
    let mut first = Vec::new();
    let credentials = credentials.unwrap_or_else(|| {
        first.push(plan::Action::GenerateCredentials);
        Credentials {
            password: String::new(),
            verifier: "(to be generated)".into(),
        }
    });
    observed.credentials_verifier = Some(credentials.verifier.clone());
    if !observed.network_exists {
        first.push(plan::Action::EnsureNetwork);
        observed.network_exists = true;
    }
    if observed.image_id.is_none()
        && tenant.spec.image_pull_policy != crate::resource::ImagePullPolicy::Never
    {
        first.push(plan::Action::PullImage);
        observed.image_id = Some("(to be pulled)".into());
    }
    let database_host = ctx
        .platform
        .database_host
        .clone()
        .or_else(|| ctx.engine.network().and_then(|n| n.gateway))
        .unwrap_or_else(|| "(network gateway)".into());
    let mut desired = desired_of(ctx, tenant, &uid, &observed, Some(&credentials));
    if desired.container.is_none()
        && let Some(image_id) = &observed.image_id
    {
        desired.container = Some(desired::desired_container(
            &ctx.platform,
            tenant,
            &uid,
            &credentials,
            &database_host,
            image_id,
        ));
    }
    first.extend(plan::plan(Some(&desired), &observed));
    Ok(first)
}

/// One line for a person about what an action does.
pub fn describe(action: &plan::Action) -> String {
    use plan::{Action, RemoveReason};
    let short = |id: &str| id[..id.len().min(12)].to_owned();
    match action {
        Action::GenerateCredentials => "generate the tenant's database password".into(),
        Action::CreateRole => "create (or repair) the tenant's database role".into(),
        Action::SetRolePassword => "set the role's password back to the stored one".into(),
        Action::CreateSchema => "create (or repair) the tenant's schema".into(),
        Action::EnsureNetwork => "create the tenant network".into(),
        Action::PullImage => "pull the image".into(),
        Action::CreateContainer { start: true } => "create the container and start it".into(),
        Action::CreateContainer { start: false } => "create the container (stopped)".into(),
        Action::StartContainer { id } => format!("start container {}", short(id)),
        Action::StopContainer { id } => format!("stop container {}", short(id)),
        Action::ConnectNetwork { id } => {
            format!("reconnect container {} to the network", short(id))
        }
        Action::RemoveContainer { id, reason } => format!(
            "remove container {} ({})",
            short(id),
            match reason {
                RemoveReason::Outdated => "it differs from the spec: replaced",
                RemoveReason::Stray => "left over from an earlier incarnation",
                RemoveReason::Dead => "dead",
                RemoveReason::Teardown => "teardown",
            }
        ),
        Action::BackupDatabase => "back up the schema with pg_dump".into(),
        Action::DropDatabase => "drop the schema, its objects and the role".into(),
        Action::Finalize => "remove the tenant".into(),
    }
}

async fn reconcile_orphan(ctx: &Context, name: &str) -> Result<Outcome> {
    let observed = Observed {
        containers: ctx.engine.containers_of(name),
        ..Observed::default()
    };
    for action in plan::plan(None, &observed) {
        if let plan::Action::RemoveContainer { id, .. } = &action {
            tracing::info!(tenant = name, container = %id, "removing a container whose tenant no longer exists");
            ctx.engine
                .remove_container(id)
                .await
                .map_err(|e| Error::Step {
                    action: "RemoveContainer",
                    message: e.to_string(),
                })?;
        }
    }
    ctx.metrics.forget_tenant(name);
    Ok(Outcome::Done)
}

fn observe(
    ctx: &Context,
    tenant: &Tenant,
    uid: &str,
    credentials: Option<&Credentials>,
) -> Observed {
    let (role, schema) = ctx.database.tenant(uid);
    Observed {
        containers: ctx.engine.containers_of(&tenant.metadata.name),
        network_exists: ctx.engine.network().is_some(),
        image_id: ctx.engine.image_id(ctx.platform.image_of(tenant)),
        credentials_verifier: credentials.map(|c| c.verifier.clone()),
        role,
        schema,
    }
}

fn desired_of(
    ctx: &Context,
    tenant: &Tenant,
    uid: &str,
    observed: &Observed,
    credentials: Option<&Credentials>,
) -> Desired {
    let platform = &ctx.platform;
    let database_host = platform
        .database_host
        .clone()
        .or_else(|| ctx.engine.network().and_then(|n| n.gateway));
    let container = match (credentials, database_host, &observed.image_id) {
        (Some(credentials), Some(host), Some(image_id)) if observed.network_exists => Some(
            desired::desired_container(platform, tenant, uid, credentials, &host, image_id),
        ),
        _ => None,
    };
    Desired {
        name: tenant.metadata.name.clone(),
        uid: uid.to_owned(),
        deleting: tenant.metadata.deletion_timestamp.is_some(),
        state: tenant.spec.state,
        image: platform.image_of(tenant).to_owned(),
        pull_policy: tenant.spec.image_pull_policy,
        deletion_policy: tenant.spec.database.deletion_policy,
        container,
    }
}
