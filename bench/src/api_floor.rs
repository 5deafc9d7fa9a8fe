//! Scenario 5's HTTP floor: a server with tenantd's routes for one tenant (`GET` and `PUT
//! /api/v1/tenants/{name}`) that keeps the tenants in memory. The load connections send it
//! exactly what they send tenantd, so the difference is what tenantd does beyond HTTP and
//! JSON: authentication by digest, validation, the store's round trips to Postgres, the
//! NOTIFY and the reconcile each write triggers.
//!
//! # Guarantees
//! - The same stack as tenantd's app: axum and hyper on this runtime, on loopback, answering
//!   with the whole tenant as JSON; a PUT parses its body into a [`Tenant`] and stores it
//!   under a new resourceVersion.
//! - A request without the bearer token gets 401 and an unknown tenant 404, so a floor that
//!   served nothing cannot pass for a fast one.
//! - Nothing else: no validation, no persistence, no I/O beyond the socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tenantd::resource::Tenant;

struct Memory {
    authorization: String,
    tenants: RwLock<HashMap<String, Tenant>>,
    version: AtomicU64,
}

/// The floor server, serving until dropped.
pub struct FloorServer {
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FloorServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `tenants` from memory on a free loopback port, for callers with `token`.
pub async fn serve(tenants: &[Tenant], token: &str) -> anyhow::Result<FloorServer> {
    let memory = Arc::new(Memory {
        authorization: format!("Bearer {token}"),
        tenants: RwLock::new(
            tenants
                .iter()
                .map(|t| (t.metadata.name.clone(), t.clone()))
                .collect(),
        ),
        version: AtomicU64::new(1),
    });
    let app = axum::Router::new()
        .route("/api/v1/tenants/{name}", axum::routing::get(get).put(put))
        .with_state(memory);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("listening on 127.0.0.1 for the HTTP floor")?;
    let base = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(FloorServer { base, task })
}

fn authorized(memory: &Memory, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == memory.authorization.as_bytes())
}

async fn get(
    State(memory): State<Arc<Memory>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if !authorized(&memory, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let found = memory
        .tenants
        .read()
        .expect("not poisoned")
        .get(&name)
        .cloned();
    match found {
        Some(tenant) => Json(tenant).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn put(
    State(memory): State<Arc<Memory>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(mut tenant): Json<Tenant>,
) -> Response {
    if !authorized(&memory, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut tenants = memory.tenants.write().expect("not poisoned");
    let Some(stored) = tenants.get_mut(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let version = memory.version.fetch_add(1, Ordering::Relaxed) + 1;
    tenant.metadata.resource_version = Some(version.to_string());
    tenant.status = stored.status.take();
    *stored = tenant;
    Json(stored.clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> Tenant {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "tenantd/v1", "kind": "Tenant",
            "metadata": {"name": name}, "spec": {}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn it_serves_what_was_put_and_refuses_strangers_and_unknown_names() {
        let server = serve(&[tenant("acme")], "secret").await.unwrap();
        let http = reqwest::Client::new();
        let url = format!("{}/api/v1/tenants/acme", server.base);
        let mut changed = tenant("acme");
        changed.metadata.labels.insert("k".into(), "v".into());
        let put: Tenant = http
            .put(&url)
            .bearer_auth("secret")
            .json(&changed)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(put.metadata.labels["k"], "v");
        assert_eq!(put.metadata.resource_version.as_deref(), Some("2"));
        let got: Tenant = http
            .get(&url)
            .bearer_auth("secret")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got.metadata.labels["k"], "v");
        let stranger = http.get(&url).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
        let unknown = http
            .get(format!("{}/api/v1/tenants/nobody", server.base))
            .bearer_auth("secret")
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    }
}
