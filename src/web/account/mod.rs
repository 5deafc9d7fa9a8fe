//! The account pages and forms: logging in and out (`POST /login`, `POST /logout`), the
//! settings page (`/settings`: change the password, see and verify the email address) and
//! the email verification link (`GET /verify-email`). The policy (hashing, sessions, CSRF,
//! rate limits, verification tokens) is `crate::accounts`; this module renders its answers.
//!
//! Layout:
//! - [`login`]: `POST /login` (the form page itself is `pages::login`) and `POST /logout`.
//! - [`settings`]: `GET /settings`, `POST /settings/password`, `POST /settings/verification`.
//! - [`verify`]: `GET /verify-email?token=…`.
//!
//! # Guarantees
//! - Every form handler checks the CSRF token first; a missing or forged token is a 403
//!   (the form shown again with a fresh token) and changes nothing.
//! - Bad input re-renders the page with the message next to its field (status 4xx) and
//!   changes nothing; success is a 303 (post/redirect/get).

pub mod login;
pub mod settings;
pub mod verify;

use axum::Router;
use axum::routing::{get, post};

use super::PortalState;

/// The routes of the account pages and forms.
pub fn routes() -> Router<PortalState> {
    Router::new()
        .route("/login", post(login::login))
        .route("/logout", post(login::logout))
        .route("/settings", get(settings::show))
        .route("/settings/password", post(settings::change_password))
        .route(
            "/settings/verification",
            post(settings::resend_verification),
        )
        .route("/verify-email", get(verify::verify_email))
}
