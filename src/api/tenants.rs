//! Tenant resources: list, get, create or replace (with dry run), merge patch, delete, the
//! start/stop/restart verbs, and the deployment log.
//!
//! # Guarantees
//! - Every write validates the whole resulting resource first and writes it in one store call,
//!   so a refused request changes nothing.
//! - Verbs change only `spec.state` or `spec.restartedAt`.
//! - A caller sees (and may act on) only the tenants its principal may see; others are 404.
//! - The web pages act through the same functions ([`visible`], [`update`], [`delete`],
//!   [`set_state`], [`restart`]), so a page and the API authorize and validate alike.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::Principal;
use super::diff::{self, FieldChange};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::merge_patch;
use super::selector::Selector;
use crate::reconcile;
use crate::resource::{self, DesiredState, Phase, Tenant};
use crate::store::{self, ApplyOptions, ApplyOutcome, Event};

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants))
        .routes(routes!(get_tenant, put_tenant, patch_tenant, delete_tenant))
        .routes(routes!(start_tenant))
        .routes(routes!(stop_tenant))
        .routes(routes!(restart_tenant))
        .routes(routes!(tenant_events))
}

/// JSON body extractor whose rejections use the API's error shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(value)| ApiJson(value))
            .map_err(ApiError::from)
    }
}

/// Query extractor whose rejections use the API's error shape.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    Query<T>: axum::extract::FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(ApiError::from)
    }
}

/// A page of tenants.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantList {
    pub api_version: &'static str,
    pub kind: &'static str,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Tenant>,
    /// Pass as `continue` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#continue: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Kubernetes-style label selector, e.g. `plan=standard,!legacy`.
    pub label_selector: Option<String>,
    /// Only tenants in this phase (Pending, Provisioning, Ready, Stopped, Degraded, Terminating).
    pub phase: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<usize>,
    /// The `continue` token of the previous page.
    pub r#continue: Option<String>,
}

/// List tenants, filtered by labels and phase, in pages ordered by name.
#[utoipa::path(get, path = "/tenants", tag = "tenants", params(ListQuery),
    responses((status = 200, body = TenantList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_tenants(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<TenantList>> {
    let selector = Selector::parse(query.label_selector.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()).with_field("labelSelector"))?;
    let phase = query
        .phase
        .as_deref()
        .map(|p| {
            Phase::ALL
                .into_iter()
                .find(|candidate| candidate.as_str().eq_ignore_ascii_case(p))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "unknown phase {p:?}; use one of Pending, Provisioning, Ready, Stopped, Degraded, Terminating"
                    ))
                    .with_field("phase")
                })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 500").with_field("limit"));
    }
    let after = query.r#continue.as_deref().unwrap_or("");
    let mut items: Vec<Tenant> = state
        .ctx
        .store
        .list()
        .await?
        .into_iter()
        .filter(|t| t.metadata.name.as_str() > after)
        .filter(|t| principal.can_see(t))
        .filter(|t| selector.matches(&t.metadata.labels))
        .filter(|t| phase.is_none_or(|p| phase_of(t) == p))
        .take(limit + 1)
        .collect();
    let r#continue = (items.len() > limit).then(|| {
        items.truncate(limit);
        items
            .last()
            .map(|t| t.metadata.name.clone())
            .unwrap_or_default()
    });
    Ok(Json(TenantList {
        api_version: resource::API_VERSION,
        kind: "TenantList",
        items,
        r#continue,
    }))
}

/// The phase shown for a tenant; one that was never reconciled is Pending.
pub fn phase_of(tenant: &Tenant) -> Phase {
    tenant.status.as_ref().map_or(Phase::Pending, |s| s.phase)
}

/// The tenant if the caller may see it, else 404 exactly as if it did not exist.
pub async fn visible(state: &ApiState, principal: &Principal, name: &str) -> ApiResult<Tenant> {
    match state.ctx.store.get(name).await? {
        Some(tenant) if principal.can_see(&tenant) => Ok(tenant),
        _ => Err(ApiError::not_found(name)),
    }
}

/// One tenant with its spec and status.
#[utoipa::path(get, path = "/tenants/{name}", tag = "tenants",
    params(("name" = String, Path, description = "Tenant name")),
    responses((status = 200, body = Object, description = "The Tenant"), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_tenant(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(visible(&state, &principal, &name).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WriteQuery {
    /// Validate and return the plan without writing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Write even if the tenant is managed by a file in the specs/ directory (takes it over).
    #[serde(default)]
    pub force: bool,
}

/// What a dry run would do.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunResult {
    /// created, configured or unchanged.
    pub outcome: &'static str,
    #[schema(value_type = Object)]
    pub tenant: Tenant,
    /// The reconciler's next steps for the tenant as it would be.
    pub plan: Vec<PlannedStep>,
    /// What differs between the stored tenant and this one (every field, for a create), and
    /// whether each change replaces the container.
    pub changes: Vec<FieldChange>,
    /// Drift: what the reconciler would do right now for the *stored* spec, because the world
    /// differs from it (a container removed by hand, a password changed). Empty for a create.
    pub drift: Vec<PlannedStep>,
}

/// One step of the reconciler, for a person.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlannedStep {
    /// The action's name, such as CreateContainer.
    pub action: &'static str,
    /// What it does.
    pub detail: String,
    /// Why it would be taken: what was observed.
    pub cause: &'static str,
}

impl PlannedStep {
    fn of(action: &reconcile::plan::Action) -> PlannedStep {
        PlannedStep {
            action: action.name(),
            detail: reconcile::describe(action),
            cause: diff::cause(action),
        }
    }
}

/// Create or replace a tenant. A stale `metadata.resourceVersion` gets 409.
#[utoipa::path(put, path = "/tenants/{name}", tag = "tenants",
    params(("name" = String, Path, description = "Tenant name"), WriteQuery),
    request_body(content = Object, description = "A Tenant (apiVersion tenantd/v1, kind Tenant)"),
    responses(
        (status = 200, body = Object, description = "Replaced (or unchanged)"),
        (status = 201, body = Object, description = "Created"),
        (status = 202, body = DryRunResult, description = "Dry run: what would happen"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_tenant(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    let tenant = parse_tenant(body)?;
    if tenant.metadata.name != name {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!(
                "metadata.name {:?} does not match the URL's {name:?}",
                tenant.metadata.name
            ),
        )
        .with_field("metadata.name"));
    }
    write(&state, &principal, tenant, &query).await
}

/// Change a tenant with a JSON merge patch (RFC 7386) of its resource.
#[utoipa::path(patch, path = "/tenants/{name}", tag = "tenants",
    params(("name" = String, Path, description = "Tenant name"), WriteQuery),
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "e.g. {\"spec\": {\"env\": {\"KEY\": \"value\", \"OLD\": null}}}"),
    responses((status = 200, body = Object), (status = 202, body = DryRunResult), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn patch_tenant(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<WriteQuery>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let patch: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let current = visible(&state, &principal, &name).await?;
    let mut document = serde_json::to_value(Tenant {
        status: None,
        ..current
    })
    .expect("a Tenant always serializes");
    merge_patch::apply(&mut document, &patch);
    let tenant = parse_tenant(document)?;
    if tenant.metadata.name != name {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "metadata.name is immutable",
        )
        .with_field("metadata.name"));
    }
    write(&state, &principal, tenant, &query).await
}

fn parse_tenant(body: serde_json::Value) -> ApiResult<Tenant> {
    serde_json::from_value::<Tenant>(body).map_err(|e| {
        let message = e.to_string();
        let field = message
            .split('`')
            .nth(1)
            .filter(|_| message.starts_with("unknown field"))
            .map(str::to_owned);
        let error = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("the body is not a valid Tenant: {message}"),
        );
        match field {
            Some(f) => error.with_field(f),
            None => error,
        }
    })
}

/// Validates and writes (or previews) a tenant on behalf of `principal`.
async fn write(
    state: &ApiState,
    principal: &Principal,
    tenant: Tenant,
    query: &WriteQuery,
) -> ApiResult<Response> {
    // Our turn first, so that the read below is still current when the write compares it.
    let mut turn = state.ctx.store.queue_write(&tenant.metadata.name).await;
    let options = ApplyOptions {
        source: None,
        force: query.force,
    };
    let store = &state.ctx.store;
    // Writers queued behind one another: decide on the row the previous one left, without a
    // read. The store writes only if the row is still exactly that one, so the decision
    // (visibility, owner, validity) holds for what is written; otherwise read and decide.
    if !query.dry_run
        && let Some(guess) = turn.last_written().cloned()
        && let Ok(prepared) = prepare_over(state, principal, tenant.clone(), Some(&guess))
        && let Some((outcome, stored)) = store
            .apply_over_guess(&mut turn, &prepared, &options, &guess)
            .await?
    {
        return Ok(written(outcome, stored));
    }
    let existing = store.get(&tenant.metadata.name).await?;
    let tenant = prepare_over(state, principal, tenant, existing.as_ref())?;
    if query.dry_run {
        return dry_run(state, tenant, existing, &options).await;
    }
    let (outcome, stored) = store
        .apply_over(&mut turn, &tenant, &options, existing)
        .await?;
    Ok(written(outcome, stored))
}

/// The answer to a write: 201 with the tenant for a create, else 200.
fn written(outcome: ApplyOutcome, stored: Tenant) -> Response {
    let status = match outcome {
        ApplyOutcome::Created => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    (status, Json(stored)).into_response()
}

/// Replaces an existing tenant's spec and labels on behalf of `principal`, exactly as `PUT`
/// does (the web pages call this): the whole resource is validated, and
/// `metadata.resourceVersion` must be the version the caller read, so a concurrent change is
/// a 409 rather than overwritten.
///
/// # Errors
/// 404 for a tenant the caller cannot see, 422 for a broken rule, 409 for a stale version,
/// a tenant being deleted or one managed by a specs file.
pub async fn update(
    state: &ApiState,
    principal: &Principal,
    tenant: Tenant,
) -> ApiResult<(ApplyOutcome, Tenant)> {
    visible(state, principal, &tenant.metadata.name).await?;
    if tenant
        .metadata
        .resource_version
        .as_deref()
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            "an update must name the resourceVersion it was based on",
        )
        .with_field("metadata.resourceVersion"));
    }
    let existing = state.ctx.store.get(&tenant.metadata.name).await?;
    let tenant = prepare_over(state, principal, tenant, existing.as_ref())?;
    Ok(state
        .ctx
        .store
        .apply_with(&tenant, &ApplyOptions::default())
        .await?)
}

/// Sets the owner as the principal may, and validates the whole resource, given the stored
/// tenant of that name as the caller read it (`existing`), if any. Pure.
fn prepare_over(
    state: &ApiState,
    principal: &Principal,
    mut tenant: Tenant,
    existing: Option<&Tenant>,
) -> ApiResult<Tenant> {
    if let Some(existing) = existing.filter(|e| !principal.can_see(e)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!("the name {} is taken", existing.metadata.name),
        )
        .with_field("metadata.name"));
    }
    // Owners are set by the server for users; only admins may assign one.
    if let Principal::User { id } = principal {
        tenant.metadata.owner = Some(id.clone());
    } else if tenant.metadata.owner.is_none() {
        tenant.metadata.owner = existing
            .and_then(|e| e.metadata.owner.clone())
            .or_else(|| principal.owner_for_new());
    }
    resource::validate(&tenant, state.host_cpus)?;
    Ok(tenant)
}

async fn dry_run(
    state: &ApiState,
    tenant: Tenant,
    existing: Option<Tenant>,
    options: &ApplyOptions,
) -> ApiResult<Response> {
    // Decided exactly as the store's apply decides, without writing.
    let outcome = store::decide_apply(existing.as_ref(), &tenant, options)?;
    let changes = diff::changes(existing.as_ref(), &tenant);
    let mut preview = tenant;
    if let Some(existing) = &existing {
        preview.metadata.uid = existing.metadata.uid.clone();
        preview.metadata.generation = existing.metadata.generation;
        preview.status = existing.status.clone();
    }
    let steps = |actions: Vec<reconcile::plan::Action>| -> Vec<PlannedStep> {
        actions.iter().map(PlannedStep::of).collect()
    };
    let plan = steps(
        reconcile::preview(&state.ctx, &preview)
            .await
            .map_err(ApiError::internal)?,
    );
    let drift = match &existing {
        Some(existing) => steps(
            reconcile::preview(&state.ctx, existing)
                .await
                .map_err(ApiError::internal)?,
        ),
        None => Vec::new(),
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(DryRunResult {
            outcome: outcome.as_str(),
            tenant: preview,
            plan,
            changes,
            drift,
        }),
    )
        .into_response())
}

/// Ask for deletion; the reconciler tears down per `spec.database.deletionPolicy`, then the
/// tenant disappears.
#[utoipa::path(delete, path = "/tenants/{name}", tag = "tenants",
    params(("name" = String, Path, description = "Tenant name"), WriteQuery),
    responses((status = 202, body = Object, description = "Deletion accepted; the Tenant, now Terminating"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_tenant(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<WriteQuery>,
) -> ApiResult<Response> {
    let tenant = delete_as(&state, &principal, &name, &query).await?;
    Ok((StatusCode::ACCEPTED, Json(tenant)).into_response())
}

/// Asks for the tenant's deletion on behalf of `principal`, exactly as `DELETE` does (the web
/// pages call this); the reconciler then tears down per the tenant's deletion policy.
/// Returns the tenant, now Terminating.
pub async fn delete(state: &ApiState, principal: &Principal, name: &str) -> ApiResult<Tenant> {
    delete_as(state, principal, name, &WriteQuery::default()).await
}

async fn delete_as(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    query: &WriteQuery,
) -> ApiResult<Tenant> {
    let tenant = visible(state, principal, name).await?;
    if let Some(file) = &tenant.metadata.source
        && !query.force
    {
        return Err(store::Error::OwnedByFile {
            name: name.to_owned(),
            source_file: file.trim_start_matches("file:").to_owned(),
        }
        .into());
    }
    if query.dry_run {
        return Ok(tenant);
    }
    state.ctx.store.request_delete(name).await?;
    state
        .ctx
        .store
        .get(name)
        .await?
        .ok_or_else(|| ApiError::not_found(name))
}

/// A verb is a spec edit: read, change one field, write with the read resourceVersion, and
/// retry a few times if someone else wrote in between.
async fn edit_spec(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    force: bool,
    change: impl Fn(&mut Tenant),
) -> ApiResult<Json<Tenant>> {
    for _ in 0..5 {
        let mut tenant = visible(state, principal, name).await?;
        change(&mut tenant);
        tenant.status = None;
        let options = ApplyOptions {
            source: None,
            force,
        };
        match state.ctx.store.apply_with(&tenant, &options).await {
            Ok((_, stored)) => return Ok(Json(stored)),
            Err(store::Error::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "Conflict",
        format!("tenant {name} keeps changing; try again"),
    ))
}

/// Start the tenant's container (sets `spec.state: Running`).
#[utoipa::path(post, path = "/tenants/{name}/start", tag = "verbs",
    params(("name" = String, Path, description = "Tenant name"), WriteQuery),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn start_tenant(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<WriteQuery>,
) -> ApiResult<Json<Tenant>> {
    edit_spec(&state, &principal, &name, query.force, |t| {
        t.spec.state = DesiredState::Running
    })
    .await
}

/// Stop the tenant's container, keeping it and its data (sets `spec.state: Stopped`).
#[utoipa::path(post, path = "/tenants/{name}/stop", tag = "verbs",
    params(("name" = String, Path, description = "Tenant name"), WriteQuery),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn stop_tenant(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<WriteQuery>,
) -> ApiResult<Json<Tenant>> {
    edit_spec(&state, &principal, &name, query.force, |t| {
        t.spec.state = DesiredState::Stopped
    })
    .await
}

/// Restart the tenant's container (sets `spec.restartedAt` to now).
#[utoipa::path(post, path = "/tenants/{name}/restart", tag = "verbs",
    params(("name" = String, Path, description = "Tenant name"), WriteQuery),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn restart_tenant(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<WriteQuery>,
) -> ApiResult<Json<Tenant>> {
    restart_as(&state, &principal, &name, query.force).await
}

/// Sets `spec.state` on behalf of `principal`, exactly as the start and stop verbs do (the
/// web pages call this).
pub async fn set_state(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    desired: DesiredState,
) -> ApiResult<Tenant> {
    edit_spec(state, principal, name, false, |t| t.spec.state = desired)
        .await
        .map(|Json(t)| t)
}

/// Restarts the tenant's container on behalf of `principal`: sets `spec.restartedAt` to now,
/// exactly as the restart verb does (the web pages call this).
pub async fn restart(state: &ApiState, principal: &Principal, name: &str) -> ApiResult<Tenant> {
    restart_as(state, principal, name, false)
        .await
        .map(|Json(t)| t)
}

async fn restart_as(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    force: bool,
) -> ApiResult<Json<Tenant>> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    edit_spec(state, principal, name, force, |t| {
        t.spec.restarted_at = Some(now.clone())
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// How many of the most recent events (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// The tenant's deployment log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Event>,
}

/// The deployment log: what the reconciler did and how it went, newest first.
#[utoipa::path(get, path = "/tenants/{name}/events", tag = "observe",
    params(("name" = String, Path, description = "Tenant name"), EventsQuery),
    responses((status = 200, body = EventList), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn tenant_events(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> ApiResult<Json<EventList>> {
    visible(&state, &principal, &name).await?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000").with_field("limit"));
    }
    let items = state.ctx.store.events(&name, limit).await?;
    Ok(Json(EventList { items }))
}
