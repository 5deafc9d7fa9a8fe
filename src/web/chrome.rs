//! The page chrome every template shares: which navigation entry is current, and who is
//! logged in (for the header's Dashboard and Settings links and the logout form).
//!
//! # Guarantees
//! - The logout form in the header carries the session's CSRF token, so logging out is a
//!   POST that another site cannot forge.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::Response;

use crate::accounts::{Accounts, CurrentUser, Role, Session};

/// What `base.html` needs: the current navigation entry and the logged-in user, if any.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// The navigation entry marked `aria-current="page"` (`""` for none): `dashboard`,
    /// `support`, `settings` (logged in), `login` (anonymous), `signup` (the wizard).
    pub active: &'static str,
    pub user: Option<ChromeUser>,
}

/// The logged-in user, as the header shows it.
#[derive(Debug, Clone)]
pub struct ChromeUser {
    pub email: String,
    pub admin: bool,
    /// The session's CSRF token, for the header's logout form.
    pub csrf: String,
}

impl Chrome {
    /// The chrome of an anonymous visitor with `active` marked.
    pub fn anonymous(active: &'static str) -> Chrome {
        Chrome { active, user: None }
    }

    /// The chrome of a logged-in session with `active` marked.
    pub fn of_session(session: &Session, active: &'static str) -> Chrome {
        Chrome {
            active,
            user: Some(ChromeUser {
                email: session.user.email.clone(),
                admin: session.user.role == Role::Admin,
                csrf: session.csrf_token.clone(),
            }),
        }
    }

    /// The same chrome with another navigation entry marked.
    pub fn at(self, active: &'static str) -> Chrome {
        Chrome { active, ..self }
    }

    pub fn logged_in(&self) -> bool {
        self.user.is_some()
    }
}

/// From the session cookie (shares the request's [`CurrentUser`] lookup); nothing marked.
impl<S> FromRequestParts<S> for Chrome
where
    Arc<Accounts>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let CurrentUser(session) = CurrentUser::from_request_parts(parts, state).await?;
        Ok(match session {
            Some(session) => Chrome::of_session(&session, ""),
            None => Chrome::anonymous(""),
        })
    }
}
