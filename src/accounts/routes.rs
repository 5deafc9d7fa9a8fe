//! Form endpoints that are not pages: `POST /login`, `POST /logout`, `POST /settings/password`.
//! Each answers with a 303 redirect on success, or a plain-text 4xx (the pages built on
//! top show these next to the fields instead).
//!
//! # Guarantees
//! - Every handler checks the form's CSRF token first; a missing or forged token is a 403
//!   and changes nothing.

use std::sync::Arc;

use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;

use super::{Accounts, Client, CurrentUser, Error};

/// The form routes, with their state; merge into the server's router.
pub fn router(accounts: Arc<Accounts>) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/settings/password", post(change_password))
        .with_state(accounts)
}

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

/// `POST /login`: opens a session and redirects to `next` (default `/dashboard`).
async fn login(
    State(accounts): State<Arc<Accounts>>,
    CurrentUser(current): CurrentUser,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, Error> {
    accounts.verify_csrf(current.as_ref(), &headers, form.csrf.as_deref())?;
    let remember = form
        .remember
        .as_deref()
        .is_some_and(|v| !matches!(v, "" | "false" | "0" | "off"));
    let (_, cookie) = accounts
        .login(&form.email, &form.password, remember, &client)
        .await?;
    // A browser logging in again leaves no orphaned session behind.
    if let Some(previous) = &current {
        accounts.logout(previous).await?;
    }
    let target = safe_next(form.next.as_deref()).unwrap_or("/dashboard");
    Ok((cookie, Redirect::to(target)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

/// `POST /logout`: ends the session and redirects to `/`.
async fn logout(
    State(accounts): State<Arc<Accounts>>,
    CurrentUser(current): CurrentUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    let Some(session) = current else {
        // Nothing to end; clear a stale cookie anyway.
        return Ok((accounts.clear_session_cookie(), Redirect::to("/")).into_response());
    };
    accounts.verify_csrf(Some(&session), &headers, form.csrf.as_deref())?;
    accounts.logout(&session).await?;
    Ok((accounts.clear_session_cookie(), Redirect::to("/")).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct ChangePasswordForm {
    pub csrf: Option<String>,
    #[serde(default)]
    pub current_password: String,
    #[serde(default)]
    pub new_password: String,
    #[serde(default)]
    pub confirm_password: String,
}

/// `POST /settings/password`: checks the current password, sets the new one, ends the
/// user's other sessions, and redirects to `/settings?password=changed`.
async fn change_password(
    State(accounts): State<Arc<Accounts>>,
    CurrentUser(current): CurrentUser,
    headers: HeaderMap,
    Form(form): Form<ChangePasswordForm>,
) -> Result<Response, Error> {
    let Some(session) = current else {
        return Err(Error::NotLoggedIn);
    };
    accounts.verify_csrf(Some(&session), &headers, form.csrf.as_deref())?;
    if form.new_password != form.confirm_password {
        return Err(Error::Invalid(crate::resource::ValidationErrors(vec![
            crate::resource::FieldError {
                field: "confirmPassword".into(),
                rule: "matches".into(),
                message: "does not match the new password".into(),
            },
        ])));
    }
    accounts
        .change_password(&session, &form.current_password, &form.new_password)
        .await?;
    Ok(Redirect::to("/settings?password=changed").into_response())
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

    /// The pages serve `GET /login` from their own router; merging must keep both methods.
    #[tokio::test]
    async fn the_form_routes_merge_with_page_routes_on_the_same_paths() {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("a lazy pool does not connect");
        let accounts = Arc::new(Accounts::new(
            crate::store::Store::from_pool(pool),
            Default::default(),
        ));
        let pages = Router::new().route("/login", axum::routing::get(|| async { "login page" }));
        let app = pages.merge(router(accounts));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let page = http.get(format!("{base}/login")).send().await.unwrap();
        assert_eq!(page.text().await.unwrap(), "login page");
        let post = http
            .post(format!("{base}/login"))
            .form(&[("email", "a@b.io"), ("password", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            post.status(),
            axum::http::StatusCode::FORBIDDEN,
            "no CSRF token: refused before any database access"
        );
    }

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
