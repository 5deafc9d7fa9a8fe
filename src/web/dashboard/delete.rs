//! Deleting a tenant from the dashboard: a confirmation page on which the tenant's name must
//! be typed (`GET` and `POST /dashboard/tenants/{name}/delete`).
//!
//! # Guarantees
//! - Nothing is deleted unless the typed name equals the tenant's name exactly (no trimming,
//!   no case folding); a wrong name is shown next to the field and changes nothing.
//! - The delete is the API's own ([`crate::api::tenants::delete`]): the tenant's deletion
//!   policy applies (`BackupThenDelete` dumps the data first), and the reconciler's finalizer
//!   tears down before the tenant disappears.
//! - Someone else's tenant is a 404; a forged CSRF token is a 403; neither changes anything.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{PortalState, TenantCard, not_found};
use crate::accounts::{RequireUser, Session};
use crate::api::auth::Principal;
use crate::api::tenants::{delete, visible};
use crate::resource::{DeletionPolicy, Tenant};
use crate::web::chrome::Chrome;

#[derive(Debug, Template, WebTemplate)]
#[template(path = "tenant_delete.html")]
pub struct DeletePage {
    pub chrome: Chrome,
    pub csrf: String,
    pub tenant: TenantCard,
    /// What happens to the data, in plain words (from the deletion policy).
    pub data_fate: &'static str,
    /// What was typed, shown again after a mismatch.
    pub typed: String,
    pub error: Option<String>,
    /// A refusal of the delete itself (managed by a specs file, already being deleted).
    pub form_error: Option<String>,
}

/// What the deletion policy does to the tenant's database, for a person.
pub fn data_fate(policy: DeletionPolicy) -> &'static str {
    match policy {
        DeletionPolicy::Delete => {
            "Its database (every interview and file stored in it) is dropped. This cannot be undone."
        }
        DeletionPolicy::Retain => {
            "Its database is kept on the server; ask support if you need it back."
        }
        DeletionPolicy::BackupThenDelete => {
            "Its database is backed up first, then dropped; ask support for the backup."
        }
    }
}

/// Whether `typed` confirms deleting `name`: exactly the same characters.
pub fn confirms(typed: &str, name: &str) -> bool {
    typed == name
}

fn page(session: &Session, state: &PortalState, tenant: &Tenant) -> DeletePage {
    DeletePage {
        chrome: Chrome::of_session(session, "dashboard"),
        csrf: session.csrf_token.clone(),
        tenant: TenantCard::of(tenant, state.api.ctx.platform.public_url(tenant)),
        data_fate: data_fate(tenant.spec.database.deletion_policy),
        typed: String::new(),
        error: None,
        form_error: None,
    }
}

/// `GET /dashboard/tenants/{name}/delete`: the confirmation.
pub async fn confirm(
    State(state): State<PortalState>,
    RequireUser(session): RequireUser,
    Path(name): Path<String>,
) -> Response {
    let principal = Principal::of_session(&session);
    match visible(&state.api, &principal, &name).await {
        Ok(tenant) => page(&session, &state, &tenant).into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND => not_found(&session),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    pub csrf: Option<String>,
    #[serde(default)]
    pub confirm_name: String,
}

/// `POST /dashboard/tenants/{name}/delete`.
pub async fn submit(
    State(state): State<PortalState>,
    RequireUser(session): RequireUser,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    if let Err(e) = state
        .site
        .accounts
        .verify_csrf(Some(&session), &headers, form.csrf.as_deref())
    {
        return e.into_response();
    }
    let principal = Principal::of_session(&session);
    let tenant = match visible(&state.api, &principal, &name).await {
        Ok(tenant) => tenant,
        Err(e) if e.status == StatusCode::NOT_FOUND => return not_found(&session),
        Err(e) => return e.into_response(),
    };
    if !confirms(&form.confirm_name, &name) {
        let error = if form.confirm_name.is_empty() {
            format!("type {name} to confirm")
        } else {
            format!("that is not the name; type {name} exactly to confirm")
        };
        let refused = DeletePage {
            typed: form.confirm_name,
            error: Some(error),
            ..page(&session, &state, &tenant)
        };
        return (StatusCode::UNPROCESSABLE_ENTITY, refused).into_response();
    }
    match delete(&state.api, &principal, &name).await {
        Ok(_) => Redirect::to(&format!("/dashboard?done=delete&name={name}")).into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND => not_found(&session),
        Err(e) if e.status.is_client_error() => {
            let refused = DeletePage {
                typed: form.confirm_name,
                form_error: Some(e.body.message),
                ..page(&session, &state, &tenant)
            };
            (e.status, refused).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_name_confirms() {
        assert!(confirms("acme-lab", "acme-lab"));
        for wrong in [
            "",
            "acme",
            "ACME-LAB",
            " acme-lab",
            "acme-lab ",
            "acme-lab2",
        ] {
            assert!(!confirms(wrong, "acme-lab"), "{wrong:?}");
        }
    }

    #[test]
    fn every_policy_says_what_happens_to_the_data() {
        assert!(data_fate(DeletionPolicy::Delete).contains("cannot be undone"));
        assert!(data_fate(DeletionPolicy::Retain).contains("kept"));
        assert!(data_fate(DeletionPolicy::BackupThenDelete).contains("backed up first"));
    }
}
