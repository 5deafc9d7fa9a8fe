//! The quick actions start, stop and restart (`POST /dashboard/tenants/{name}/{action}`), on
//! the overview's cards and the detail page.
//!
//! # Guarantees
//! - Each is the API's verb ([`set_state`], [`restart`]): an edit of `spec.state` or
//!   `spec.restartedAt`; the reconciler does the work.
//! - An unknown action or someone else's tenant is a 404; a forged CSRF token a 403.
//! - The answer is a 303 back to where the action was taken (`back=detail`: the detail page).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{PortalState, not_found};
use crate::accounts::RequireUser;
use crate::api::auth::Principal;
use crate::api::tenants::{restart, set_state};
use crate::resource::DesiredState;

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    pub csrf: Option<String>,
    /// `detail` to come back to the tenant's page instead of the overview.
    pub back: Option<String>,
}

pub async fn act(
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
        _ => return not_found(&session),
    };
    match result {
        Ok(_) if form.back.as_deref() == Some("detail") => {
            Redirect::to(&format!("/dashboard/tenants/{name}?done={action}")).into_response()
        }
        Ok(_) => Redirect::to(&format!("/dashboard?done={action}&name={name}")).into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND => not_found(&session),
        Err(e) => e.into_response(),
    }
}
