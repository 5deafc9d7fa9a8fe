//! The six-step signup wizard (`/signup`): account, intended use, subdomain, terms,
//! deployment with live progress, success. The main way a new customer gets a tenant: it
//! writes a Tenant spec owned by the user, and the reconciler does the rest.
//!
//! Layout:
//! - [`wizard`]: the steps and which of them may be shown (pure).
//! - [`session`]: the wizard's cookie and its `signup_sessions` row (one hour, sliding).
//! - [`steps`]: steps 1 to 4. [`deploy`]: steps 5 and 6 and the progress stream.
//! - [`subdomain`]: availability and suggestions. [`progress`]: checklist, estimate and
//!   failures in plain words (pure). [`terms`]: the text of step 4. [`view`]: templates.
//!
//! # Guarantees
//! - Steps cannot be skipped: a step's page and its POST both check that every earlier
//!   step is complete, and redirect to the first incomplete one otherwise.
//! - The subdomain is checked and the tenant written through the same validation as the
//!   API; the tenant is created, never overwritten.
//! - Every form carries a CSRF token; a forged one is a 403 and changes nothing.

pub mod deploy;
pub mod progress;
pub mod session;
pub mod steps;
pub mod subdomain;
pub mod terms;
pub mod view;
pub mod wizard;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use self::session::WizardCookie;
use self::wizard::Step;
use super::PortalState;
use crate::web::chrome::Chrome;
use crate::web::pages::NotFoundPage;

/// The wizard's routes.
pub fn routes() -> Router<PortalState> {
    Router::new()
        .route("/signup", get(steps::resume))
        .route(
            "/signup/account",
            get(steps::account).post(steps::save_account),
        )
        .route(
            "/signup/use",
            get(steps::intended_use).post(steps::save_intended_use),
        )
        .route(
            "/signup/subdomain",
            get(steps::choose_subdomain).post(steps::save_subdomain),
        )
        .route("/signup/subdomain/check", get(steps::check_subdomain))
        .route("/signup/terms", get(steps::terms).post(steps::accept_terms))
        .route(
            "/signup/deploy",
            get(deploy::deploy).post(deploy::start_deploy),
        )
        .route("/signup/deploy/retry", axum::routing::post(deploy::retry))
        .route("/signup/deploy/events", get(deploy::events))
        .route("/signup/done", get(deploy::done))
}

/// A 303 to `step`, refreshing the wizard's cookie.
pub fn go(cookie: WizardCookie, step: Step) -> Response {
    (cookie, Redirect::to(&step.path())).into_response()
}

/// Why a wizard request could not be answered with its page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No live wizard session: it expired (an hour unused) or the cookie is gone.
    #[error("the signup session expired")]
    Expired,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Accounts(#[from] crate::accounts::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("{0:?}")]
    Api(crate::api::error::ApiError),
}

impl From<crate::api::error::ApiError> for PageError {
    fn from(error: crate::api::error::ApiError) -> Self {
        PageError::Api(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Expired => (
                StatusCode::GONE,
                view::ExpiredPage {
                    chrome: Chrome::anonymous("signup"),
                },
            )
                .into_response(),
            PageError::NotFound => NotFoundPage {
                chrome: Chrome::anonymous(""),
                path: "/signup".into(),
            }
            .into_response(),
            PageError::Accounts(e) => e.into_response(),
            PageError::Api(e) => e.into_response(),
            PageError::Store(e) => {
                tracing::error!(error = %e, "signup: storage failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side; try again in a moment.",
                )
                    .into_response()
            }
        }
    }
}
