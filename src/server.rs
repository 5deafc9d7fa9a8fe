//! The HTTP listener of `tenantd serve`: `/healthz`, `/readyz` and Prometheus `/metrics`.
//!
//! # Guarantees
//! - `/healthz` answers 200 while the process runs; `/readyz` answers 200 only once the
//!   controller finished its first observation of Docker and Postgres.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::reconcile::Context;

#[derive(Clone)]
pub struct ServerState {
    pub ctx: Arc<Context>,
    pub ready: Arc<AtomicBool>,
}

/// Health, readiness and metrics; merge the API router into it for `tenantd serve`.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<ServerState>) -> impl IntoResponse {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: first observation not complete",
        )
    }
}

async fn metrics(State(state): State<ServerState>) -> impl IntoResponse {
    let body = state
        .ctx
        .metrics
        .render(&state.ctx.engine.stats(), &state.ctx.tenantdb.stats());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}
