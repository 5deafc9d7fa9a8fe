//! The overview (`/dashboard`): the user's tenants as cards with their status badge, address,
//! CPU and memory now, and the quick actions; narrowed by a search and a status filter
//! (`?q=` and `?status=`, a GET form that works without JavaScript).
//!
//! # Guarantees
//! - Only tenants the session's principal may see are listed, before any filter runs.
//! - One store query and no engine call per page: usage comes from the sampler's history.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;

use super::filter::{Filter, STATUSES};
use super::usage::Usage;
use super::{PortalState, TenantCard, notice};
use crate::accounts::RequireUser;
use crate::api::auth::Principal;
use crate::api::tenants::phase_of;
use crate::engine::RunState;
use crate::web::chrome::Chrome;

/// How far back the "now" reading may be: older readings are not shown as current.
const NOW_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// One option of the status select: its value and its label.
#[derive(Debug, Clone)]
pub struct StatusOption {
    pub value: String,
    pub label: &'static str,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub chrome: Chrome,
    pub csrf: String,
    /// Every tenant the user may see; those that fail the filter are not `shown`.
    pub tenants: Vec<TenantCard>,
    /// How many pass the filter.
    pub shown: usize,
    pub filter: Filter,
    pub statuses: Vec<StatusOption>,
    /// A one-line notice about the last action.
    pub notice: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct OverviewQuery {
    pub done: Option<String>,
    pub name: Option<String>,
    pub q: Option<String>,
    pub status: Option<String>,
}

pub async fn page(
    State(state): State<PortalState>,
    RequireUser(session): RequireUser,
    Query(query): Query<OverviewQuery>,
) -> crate::api::error::ApiResult<Response> {
    let principal = Principal::of_session(&session);
    let ctx = &state.api.ctx;
    let filter = Filter::parse(query.q.as_deref(), query.status.as_deref());
    let visible: Vec<_> = ctx
        .store
        .list()
        .await?
        .into_iter()
        .filter(|t| principal.can_see(t))
        .collect();
    let since = Utc::now() - NOW_WINDOW;
    let tenants: Vec<TenantCard> = visible
        .iter()
        .map(|t| {
            let url = ctx.platform.public_url(t);
            let shown = filter.matches(&t.metadata.name, &url, phase_of(t));
            TenantCard {
                shown,
                ..TenantCard::of(t, url)
            }
        })
        .map(|mut card| {
            let running = ctx
                .engine
                .primary_container(&card.name)
                .is_some_and(|c| c.state == RunState::Running);
            card.usage = Usage::latest(&ctx.engine.history().since(&card.name, since), running);
            card
        })
        .collect();
    Ok(DashboardPage {
        chrome: Chrome::of_session(&session, "dashboard"),
        csrf: session.csrf_token.clone(),
        shown: tenants.iter().filter(|t| t.shown).count(),
        tenants,
        statuses: STATUSES
            .into_iter()
            .map(|p| StatusOption {
                value: p.as_str().to_lowercase(),
                label: p.as_str(),
            })
            .collect(),
        filter,
        notice: notice(query.done.as_deref(), query.name.as_deref()),
    }
    .into_response())
}
