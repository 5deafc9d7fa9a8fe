//! The HTTP API under `/api/v1`: tenant resources, verbs, the deployment log, a watch
//! stream, the OpenAPI document and the resource's JSON Schema.
//!
//! Layout:
//! - [`tenants`]: list, get, put (with dry run), patch, delete, and the start/stop/restart verbs.
//! - [`watch`]: server-sent events of tenant changes, resumable from a resourceVersion.
//! - [`observe`]: a tenant container's logs (streamed when following) and its resource usage.
//! - [`sync`]: the status of the watched specs folder.
//! - [`auth`], [`limits`]: bearer tokens and session cookies, callers' visibility, write rate limits, timeouts.
//! - [`diff`]: what a dry run would change, field by field, and why each step is planned.
//! - [`error`]: the one error shape. [`selector`], [`merge_patch`]: pure helpers.
//! - [`openapi`]: the document, generated from the handlers' annotations.
//!
//! # Guarantees
//! - Every route under `/api/v1` except the two documents requires a valid bearer token or a
//!   web session cookie; a cookie-authenticated write also needs the session's `X-CSRF-Token`.
//! - A bad request is refused whole with `{code, message, field}`; nothing is half-applied.

pub mod auth;
pub mod diff;
pub mod error;
pub mod limits;
pub mod merge_patch;
pub mod observe;
pub mod openapi;
pub mod selector;
pub mod sync;
pub mod tenants;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa_axum::router::OpenApiRouter;

use crate::reconcile::Context;

/// Shared by every handler.
#[derive(Clone)]
pub struct ApiState {
    pub ctx: Arc<Context>,
    pub tokens: Arc<auth::Tokens>,
    /// Web accounts: session cookies authenticate API calls too (with a CSRF header on writes).
    /// The one instance of the process, shared with the pages and the login form.
    pub accounts: Arc<crate::accounts::Accounts>,
    pub write_limiter: Arc<limits::WriteLimiter>,
    pub request_timeout: Duration,
    /// Validation bound for `spec.resources.cpus`.
    pub host_cpus: f64,
    /// Bumped whenever a tenant or its status changes (one LISTEN for all watchers).
    pub changes: tokio::sync::watch::Receiver<u64>,
    /// Becomes true on shutdown; open streams end so the server can stop.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The specs folder sync's report, when `serve` runs one (`--specs-dir`).
    pub sync: Option<Arc<crate::sync::SyncStatus>>,
}

/// Limits of the API, from the config.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub admin_tokens: Vec<String>,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    pub write_rate_per_second: f64,
    pub write_burst: f64,
    /// Cookies, rate limits and proxy trust of web accounts.
    pub accounts: crate::accounts::AccountsConfig,
}

impl ApiState {
    pub fn new(
        ctx: Arc<Context>,
        config: &ApiConfig,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> ApiState {
        let host_cpus = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
        ApiState {
            changes: watch::spawn_change_listener(ctx.store.clone()),
            tokens: Arc::new(auth::Tokens::new(&config.admin_tokens)),
            accounts: Arc::new(crate::accounts::Accounts::new(
                ctx.store.clone(),
                config.accounts.clone(),
            )),
            write_limiter: Arc::new(limits::WriteLimiter::new(
                config.write_rate_per_second,
                config.write_burst,
            )),
            request_timeout: config.request_timeout,
            host_cpus,
            shutdown,
            sync: None,
            ctx,
        }
    }

    /// The state with the specs folder sync's report (`None`: no sync runs).
    pub fn with_sync(mut self, sync: Option<Arc<crate::sync::SyncStatus>>) -> ApiState {
        self.sync = sync;
        self
    }
}

/// The routes with their OpenAPI description, before state and middleware.
pub fn openapi_router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(tenants::router())
        .merge(watch::router())
        .merge(observe::router())
        .merge(sync::router())
}

/// `/api/v1/...`, ready to be merged into the server's router.
pub fn router(state: ApiState, body_limit_bytes: usize) -> Router {
    let (protected, document) = openapi_router().split_for_parts();
    let document = openapi::finish(document);
    let protected = protected
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::limit_writes,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_auth,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::timeout,
        ))
        .layer(DefaultBodyLimit::max(body_limit_bytes))
        .with_state(state);
    let public = openapi::router(document);
    Router::new().nest("/api/v1", protected.merge(public))
}
