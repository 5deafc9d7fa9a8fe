//! The dashboard: the logged-in user's tenants (an admin's: all) and what can be done to them.
//!
//! Layout:
//! - [`overview`]: `/dashboard`, the tenants as cards with status badge, CPU and memory now,
//!   search and a status filter ([`filter`]).
//! - [`actions`]: the quick actions start, stop and restart (POSTs, the API's verbs).
//! - [`detail`]: `/dashboard/tenants/{name}`, conditions, events, usage charts ([`charts`],
//!   [`usage`]) and the environment editor ([`env_form`]).
//! - [`delete`]: the confirmation on which the tenant's name must be typed.
//!
//! The logs page (`/dashboard/tenants/{name}/logs`) is its own module; the detail page links to it.
//!
//! # Guarantees
//! - A user sees and acts on only the tenants it owns; someone else's tenant is a 404,
//!   decided by the API's own rule ([`Principal::can_see`](crate::api::auth::Principal::can_see)).
//! - Every change is a POST with the session's CSRF token (a forged one is a 403 and changes
//!   nothing) and goes through the API's functions ([`crate::api::tenants`]), so the pages
//!   validate and authorize exactly as the API does.

pub mod actions;
pub mod charts;
pub mod delete;
pub mod detail;
pub mod env_form;
pub mod filter;
pub mod overview;
pub mod usage;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::PortalState;
use super::chrome::Chrome;
use super::pages::NotFoundPage;
use crate::accounts::Session;
use crate::api::tenants::phase_of;
use crate::resource::{DesiredState, Tenant, condition};

/// The routes of the dashboard.
pub fn routes() -> Router<PortalState> {
    Router::new()
        .route("/dashboard", get(overview::page))
        .route("/dashboard/tenants/{name}", get(detail::page))
        .route("/dashboard/tenants/{name}/env", post(env_form::save))
        .route(
            "/dashboard/tenants/{name}/delete",
            get(delete::confirm).post(delete::submit),
        )
        .route("/dashboard/tenants/{name}/{action}", post(actions::act))
}

/// One tenant as the overview's card and the detail page's header show it.
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
    /// CPU and memory now (the sampler's latest reading), when the container runs.
    pub usage: Option<usage::Usage>,
    /// Passes the overview's filter. Cards that do not are rendered `hidden`, so that
    /// filter-as-you-type in `app.js` can show them again without asking the server.
    pub shown: bool,
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
            usage: None,
            shown: true,
        }
    }
}

/// The notice shown after an action, from the redirect's query (only known words are shown).
pub fn notice(done: Option<&str>, name: Option<&str>) -> Option<String> {
    let name = name.filter(|n| crate::resource::name_errors("name", n).is_empty())?;
    let what = match done? {
        "start" => "is starting",
        "stop" => "is stopping",
        "restart" => "is restarting",
        "delete" => {
            "is being deleted; it disappears from this list once its container and data are gone"
        }
        _ => return None,
    };
    Some(format!("{name} {what}."))
}

/// The 404 page for a tenant this session may not see (or that does not exist).
pub fn not_found(session: &Session) -> Response {
    NotFoundPage {
        chrome: Chrome::of_session(session, "dashboard"),
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
        assert!(
            notice(Some("delete"), Some("acme"))
                .unwrap()
                .starts_with("acme is being deleted")
        );
        assert_eq!(notice(Some("drop"), Some("acme")), None);
        assert_eq!(notice(Some("stop"), Some("<script>")), None);
        assert_eq!(notice(None, Some("acme")), None);
    }
}
