//! The dashboard (`/dashboard`): the logged-in user's tenants (an admin's: all), each with its
//! status badge, address and quick actions (start, stop, restart).
//!
//! # Guarantees
//! - A user sees and acts on only the tenants it owns; someone else's tenant is a 404,
//!   decided by the API's own rule ([`Principal::can_see`]).
//! - Every action is a POST with the session's CSRF token (a forged one is a 403 and
//!   changes nothing) and goes through the API's verbs, answered with a 303 back here.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::PortalState;
use super::chrome::Chrome;
use super::pages::NotFoundPage;
use crate::accounts::RequireUser;
use crate::api::auth::Principal;
use crate::api::tenants::{phase_of, restart, set_state};
use crate::resource::{DesiredState, Tenant, condition};

/// The routes of the dashboard.
pub fn routes() -> Router<PortalState> {
    Router::new()
        .route("/dashboard", get(overview))
        .route("/dashboard/tenants/{name}/{action}", post(act))
}

/// One tenant as a card.
#[derive(Debug, Clone)]
pub struct TenantCard {
    pub name: String,
    pub url: String,
    pub phase: &'static str,
    /// The badge's class suffix (`ready`, `stopped`, …).
    pub badge: String,
    /// What the Ready condition says, for a person.
    pub message: String,
    pub running: bool,
}

impl TenantCard {
    pub fn of(tenant: &Tenant, url: String) -> TenantCard {
        let phase = phase_of(tenant).as_str();
        TenantCard {
            name: tenant.metadata.name.clone(),
            url,
            phase,
            badge: phase.to_lowercase(),
            message: tenant
                .status
                .as_ref()
                .and_then(|s| s.condition(condition::READY))
                .map(|c| c.message.clone())
                .unwrap_or_else(|| "waiting for the reconciler".into()),
            running: tenant.spec.state == DesiredState::Running,
        }
    }
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub tenants: Vec<TenantCard>,
    /// A one-line notice about the last action.
    pub notice: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct OverviewQuery {
    pub done: Option<String>,
    pub name: Option<String>,
}

/// The notice shown after an action, from the redirect's query (only known words are shown).
pub fn notice(done: Option<&str>, name: Option<&str>) -> Option<String> {
    let name = name.filter(|n| crate::resource::name_errors("name", n).is_empty())?;
    let what = match done? {
        "start" => "is starting",
        "stop" => "is stopping",
        "restart" => "is restarting",
        _ => return None,
    };
    Some(format!("{name} {what}."))
}

async fn overview(
    State(state): State<PortalState>,
    RequireUser(session): RequireUser,
    Query(query): Query<OverviewQuery>,
) -> crate::api::error::ApiResult<Response> {
    let principal = Principal::of_session(&session);
    let platform = &state.api.ctx.platform;
    let tenants = state
        .api
        .ctx
        .store
        .list()
        .await?
        .iter()
        .filter(|t| principal.can_see(t))
        .map(|t| TenantCard::of(t, platform.public_url(t)))
        .collect();
    Ok(DashboardPage {
        chrome: Chrome::of_session(&session, "dashboard"),
        csrf: session.csrf_token.clone(),
        tenants,
        notice: notice(query.done.as_deref(), query.name.as_deref()),
    }
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    pub csrf: Option<String>,
}

async fn act(
    State(state): State<PortalState>,
    RequireUser(session): RequireUser,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Err(e) = state
        .site
        .accounts
        .verify_csrf(Some(&session), &headers, form.csrf.as_deref())
    {
        return e.into_response();
    }
    let principal = Principal::of_session(&session);
    let result = match action.as_str() {
        "start" => set_state(&state.api, &principal, &name, DesiredState::Running).await,
        "stop" => set_state(&state.api, &principal, &name, DesiredState::Stopped).await,
        "restart" => restart(&state.api, &principal, &name).await,
        _ => return not_found(),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/dashboard?done={action}&name={name}")).into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND => not_found(),
        Err(e) => e.into_response(),
    }
}

fn not_found() -> Response {
    NotFoundPage {
        chrome: Chrome::anonymous(""),
        path: "/dashboard".into(),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_show_only_known_actions_and_valid_names() {
        assert_eq!(
            notice(Some("stop"), Some("acme")).as_deref(),
            Some("acme is stopping.")
        );
        assert_eq!(notice(Some("drop"), Some("acme")), None);
        assert_eq!(notice(Some("stop"), Some("<script>")), None);
        assert_eq!(notice(None, Some("acme")), None);
    }
}
