//! `GET /watch/tenants`: server-sent events of tenant changes (spec and status), resumable.
//!
//! # Guarantees
//! - Level-triggered like the reconciler: a notification only says "look again"; the stream
//!   then sends every change after the last resourceVersion it sent, so nothing is skipped
//!   even if notifications are lost or coalesced.
//! - Resuming from a resourceVersion (query or `Last-Event-ID`) sends what changed after it,
//!   deletions included; one too old to resume from gets 410 Gone.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::Principal;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::selector::Selector;
use super::tenants::ApiQuery;
use crate::resource::Tenant;
use crate::store::{Change, Store};

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(watch_tenants))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WatchQuery {
    /// Send changes after this resourceVersion (else: every tenant as ADDED, then changes).
    pub resource_version: Option<i64>,
    /// Only tenants whose labels match.
    pub label_selector: Option<String>,
}

/// One event of the stream (the SSE `event` field carries `type`, `id` the resourceVersion).
#[derive(Debug, Serialize, ToSchema)]
pub struct WatchEvent {
    /// ADDED (initial list), MODIFIED or DELETED.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// The tenant; for DELETED only its name and uid.
    #[schema(value_type = Object)]
    pub object: serde_json::Value,
}

/// Server-sent events of tenant changes, resumable from a resourceVersion.
#[utoipa::path(get, path = "/watch/tenants", tag = "observe", params(WatchQuery),
    responses((status = 200, content_type = "text/event-stream", body = WatchEvent),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 410, body = ErrorBody)),
    security(("bearer" = [])))]
async fn watch_tenants(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<WatchQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let selector = Selector::parse(query.label_selector.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()).with_field("labelSelector"))?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let since = query.resource_version.or(last_event_id);
    let store = state.ctx.store.clone();
    let (initial, start) = match since {
        Some(since) => {
            if !store.can_resume_from(since).await? {
                return Err(ApiError::new(
                    StatusCode::GONE,
                    "Gone",
                    format!(
                        "resourceVersion {since} is too old to resume from; watch without it to start over"
                    ),
                ));
            }
            (Vec::new(), since)
        }
        None => {
            // Read the version first: anything after it is picked up by the change loop
            // (perhaps twice, which a level-triggered client does not mind).
            let start = store.current_version().await?;
            let added: Vec<Event> = store
                .list()
                .await?
                .into_iter()
                .filter(|t| principal.can_see(t) && selector.matches(&t.metadata.labels))
                .map(|t| upsert_event("ADDED", start, &t))
                .collect();
            (added, start)
        }
    };
    let watcher = Watcher {
        pending: initial.into_iter(),
        last: start,
        changes: state.changes.clone(),
        shutdown: state.shutdown.clone(),
        store,
        principal,
        selector,
    };
    let stream = futures::stream::unfold((watcher, true), |(mut w, mut first)| async move {
        loop {
            if let Some(event) = w.pending.next() {
                return Some((Ok(event), (w, first)));
            }
            // The first round looks right away (a resume); later rounds wait for news.
            if !first {
                tokio::select! {
                    changed = w.changes.changed() => if changed.is_err() { return None },
                    _ = w.shutdown.wait_for(|stop| *stop) => return None,
                }
            }
            first = false;
            let batch = match w.store.changes_since(w.last).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "watch: cannot read changes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    first = true;
                    continue;
                }
            };
            let mut events = Vec::new();
            for change in batch {
                w.last = w.last.max(change.version());
                if let Some(event) = change_event(&change, &w.principal, &w.selector) {
                    events.push(event);
                }
            }
            w.pending = events.into_iter();
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The state of one watch stream between events.
struct Watcher {
    pending: std::vec::IntoIter<Event>,
    /// The newest resourceVersion already sent (or skipped as invisible).
    last: i64,
    changes: tokio::sync::watch::Receiver<u64>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    store: Store,
    principal: Principal,
    selector: Selector,
}

fn upsert_event(type_: &'static str, version: i64, tenant: &Tenant) -> Event {
    let body = WatchEvent {
        type_,
        object: serde_json::to_value(tenant).expect("a Tenant always serializes"),
    };
    Event::default()
        .event(type_)
        .id(version.to_string())
        .json_data(body)
        .expect("a WatchEvent always serializes")
}

fn change_event(change: &Change, principal: &Principal, selector: &Selector) -> Option<Event> {
    match change {
        Change::Upserted { version, tenant } => (principal.can_see(tenant)
            && selector.matches(&tenant.metadata.labels))
        .then(|| upsert_event("MODIFIED", *version, tenant)),
        Change::Deleted {
            version,
            name,
            uid,
            owner,
        } => {
            let visible = principal.can_see_owner(owner.as_deref());
            visible.then(|| {
                let body = WatchEvent {
                    type_: "DELETED",
                    object: serde_json::json!({"metadata": {"name": name, "uid": uid}}),
                };
                Event::default()
                    .event("DELETED")
                    .id(version.to_string())
                    .json_data(body)
                    .expect("a WatchEvent always serializes")
            })
        }
    }
}

/// One LISTEN connection for all watchers: bumps the returned counter on every tenant or
/// status change, and once after each reconnect (notifications may have been missed).
pub fn spawn_change_listener(store: Store) -> tokio::sync::watch::Receiver<u64> {
    let (tx, rx) = tokio::sync::watch::channel(0u64);
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        loop {
            let listener = async {
                let mut listener = PgListener::connect_with(store.pool()).await?;
                listener
                    .listen_all(["tenantd_tenants", "tenantd_status"])
                    .await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = match listener.await {
                Ok(listener) => listener,
                // Nobody watches any more (the server stopped): stop rather than retry
                // forever against a pool that may be closed.
                Err(_) if tx.is_closed() => return,
                Err(e) => {
                    tracing::warn!(error = %e, "watch: cannot listen for changes; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            delay = Duration::from_millis(100);
            tx.send_modify(|n| *n += 1);
            loop {
                tokio::select! {
                    received = listener.try_recv() => match received {
                        Ok(Some(_)) => tx.send_modify(|n| *n += 1),
                        Ok(None) | Err(_) => break,
                    },
                    // The last watcher is gone (the server stopped): give the LISTEN
                    // connection back now, so that closing the pool does not wait for the
                    // next notification (which may never come).
                    () = tx.closed() => return,
                }
            }
        }
    });
    rx
}
