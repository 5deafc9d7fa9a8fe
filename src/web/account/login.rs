//! `POST /login` and `POST /logout`.
//!
//! # Guarantees
//! - A wrong password and an unknown email get the same page, message and status (401), so
//!   the form does not tell which accounts exist.
//! - A rate-limited login is a 429 with `Retry-After` and a message saying when to retry,
//!   even with the right password.
//! - A failed login sets no session cookie; the typed email is kept, the password is not.

use axum::Form;
use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::accounts::{Client, CsrfToken, CurrentUser, Error};
use crate::web::PortalState;
use crate::web::pages::LoginPage;
use crate::web::signup::steps::sentence;

/// The one message for a wrong password and an unknown email.
pub const BAD_CREDENTIALS: &str = "The email or password is not right. Check both and try again.";

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    /// An HTML checkbox: present (any value but `false`/`0`/`off`) means "remember me".
    pub remember: Option<String>,
    pub csrf: Option<String>,
    /// Where to go after logging in; only a path on this site is followed.
    pub next: Option<String>,
}

/// `POST /login`: opens a session and redirects to `next` (default `/dashboard`); on
/// failure, the login page again with the message next to its field.
pub async fn login(
    State(state): State<PortalState>,
    CurrentUser(current): CurrentUser,
    csrf: CsrfToken,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, Error> {
    let accounts = &state.site.accounts;
    let remember = form
        .remember
        .as_deref()
        .is_some_and(|v| !matches!(v, "" | "false" | "0" | "off"));
    let mut page = LoginPage {
        email: form.email.trim().to_owned(),
        remember,
        next: safe_next(form.next.as_deref()).map(str::to_owned),
        ..LoginPage::new(csrf.token().to_owned())
    };
    if let Some(session) = &current {
        page.chrome = crate::web::chrome::Chrome::of_session(session, "login");
    }
    if let Err(e) = accounts.verify_csrf(current.as_ref(), &headers, form.csrf.as_deref()) {
        // The form is shown again with a token that works (a new cookie when it was missing).
        page.form_error = Some(sentence(&e.to_string()));
        return Ok((StatusCode::FORBIDDEN, csrf.cookie(), page).into_response());
    }
    if page.email.is_empty() || form.password.is_empty() {
        if page.email.is_empty() {
            page.email_error = Some("Enter your email address.".into());
        }
        if form.password.is_empty() {
            page.password_error = Some("Enter your password.".into());
        }
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf.cookie(), page).into_response());
    }
    let cookie = match accounts
        .login(&form.email, &form.password, remember, &client)
        .await
    {
        Ok((_, cookie)) => cookie,
        Err(Error::BadCredentials) => {
            page.password_error = Some(BAD_CREDENTIALS.into());
            return Ok((StatusCode::UNAUTHORIZED, csrf.cookie(), page).into_response());
        }
        Err(e @ Error::RateLimited { retry_after }) => {
            page.form_error = Some(sentence(&e.to_string()));
            let retry = HeaderValue::from(retry_after.as_secs().max(1));
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                [(RETRY_AFTER, retry)],
                csrf.cookie(),
                page,
            )
                .into_response());
        }
        Err(e) => return Err(e),
    };
    // A browser logging in again leaves no orphaned session behind.
    if let Some(previous) = &current {
        accounts.logout(previous).await?;
    }
    let target = page.next.as_deref().unwrap_or("/dashboard");
    Ok((cookie, Redirect::to(target)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

/// `POST /logout`: ends the session and redirects to `/`.
pub async fn logout(
    State(state): State<PortalState>,
    CurrentUser(current): CurrentUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    let accounts = &state.site.accounts;
    let Some(session) = current else {
        // Nothing to end; clear a stale cookie anyway.
        return Ok((accounts.clear_session_cookie(), Redirect::to("/")).into_response());
    };
    accounts.verify_csrf(Some(&session), &headers, form.csrf.as_deref())?;
    accounts.logout(&session).await?;
    Ok((accounts.clear_session_cookie(), Redirect::to("/")).into_response())
}

/// `next` when it is a path on this site (`/x`, not `//host` or `/\host`, no scheme).
pub fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.starts_with("/\\")
            && !n.chars().any(|c| c.is_control())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/dashboard?x=1")), Some("/dashboard?x=1"));
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "dashboard",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
        assert_eq!(safe_next(None), None);
    }
}
