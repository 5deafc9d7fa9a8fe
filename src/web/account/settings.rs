//! The settings page (`/settings`): the email address and whether it is verified (with a
//! "resend verification email" button), and the change-password form.
//!
//! # Guarantees
//! - Only for a logged-in user; an anonymous visitor is sent to `/login?next=/settings`.
//! - A new password follows the signup rules (`accounts::password`); a wrong current
//!   password, a weak new one or a mismatched confirmation is shown next to its field and
//!   changes nothing (no session ends, the old password keeps working).
//! - A changed password ends every other session of the user (`Accounts::change_password`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::accounts::{CurrentUser, Error, RequireUser, Session, password};
use crate::web::PortalState;
use crate::web::chrome::Chrome;
use crate::web::signup::steps::{password_words, sentence};

/// Where an anonymous visitor of a settings form is sent.
const LOGIN_FIRST: &str = "/login?next=/settings";

#[derive(Debug, Template, WebTemplate)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub email: String,
    pub verified: bool,
    /// What the last action did (after its redirect), shown at the top.
    pub notice: Option<String>,
    /// A message about the whole password form (expired form, rate limit).
    pub form_error: Option<String>,
    pub current_error: Option<String>,
    pub new_error: Option<String>,
    pub confirm_error: Option<String>,
    /// Why the verification mail was not sent.
    pub verification_error: Option<String>,
}

impl SettingsPage {
    /// The page of `session`'s user as stored now (`verified` may have changed since the
    /// session was read, e.g. by a link followed in another tab).
    async fn of(state: &PortalState, session: &Session) -> Result<SettingsPage, Error> {
        let record = state
            .site
            .accounts
            .store()
            .user_by_id(session.user.id)
            .await?;
        let verified = record.is_some_and(|r| r.email_verified_at.is_some());
        Ok(SettingsPage {
            chrome: Chrome::of_session(session, "settings"),
            csrf: session.csrf_token.clone(),
            email: session.user.email.clone(),
            verified,
            notice: None,
            form_error: None,
            current_error: None,
            new_error: None,
            confirm_error: None,
            verification_error: None,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct SettingsQuery {
    pub password: Option<String>,
    pub verification: Option<String>,
}

/// The notice for a `?password=changed` or `?verification=sent|verified` after a redirect.
pub fn notice(query: &SettingsQuery, email: &str) -> Option<String> {
    if query.password.as_deref() == Some("changed") {
        return Some(
            "Your password was changed. Any other browser logged in as you was logged out.".into(),
        );
    }
    match query.verification.as_deref() {
        Some("sent") => Some(format!(
            "We sent a new verification link to {email}. It works once, for 24 hours."
        )),
        Some("verified") => Some("Your email address is verified already.".into()),
        _ => None,
    }
}

/// `GET /settings`.
pub async fn show(
    State(state): State<PortalState>,
    RequireUser(session): RequireUser,
    Query(query): Query<SettingsQuery>,
) -> Result<SettingsPage, Error> {
    let mut page = SettingsPage::of(&state, &session).await?;
    page.notice = notice(&query, &page.email);
    Ok(page)
}

#[derive(Debug, Deserialize)]
pub struct ChangePasswordForm {
    pub csrf: Option<String>,
    #[serde(default)]
    pub current_password: String,
    #[serde(default)]
    pub new_password: String,
    #[serde(default)]
    pub confirm_password: String,
}

/// `POST /settings/password`: checks the form, then the current password; sets the new
/// one and redirects to `/settings?password=changed`.
pub async fn change_password(
    State(state): State<PortalState>,
    CurrentUser(current): CurrentUser,
    headers: HeaderMap,
    Form(form): Form<ChangePasswordForm>,
) -> Result<Response, Error> {
    let Some(session) = current else {
        return Ok(Redirect::to(LOGIN_FIRST).into_response());
    };
    let accounts = &state.site.accounts;
    let mut page = SettingsPage::of(&state, &session).await?;
    if let Err(e) = accounts.verify_csrf(Some(&session), &headers, form.csrf.as_deref()) {
        page.form_error = Some(sentence(&e.to_string()));
        return Ok((StatusCode::FORBIDDEN, page).into_response());
    }
    // The form's own checks first, all reported at once; they cost no login attempt.
    if form.current_password.is_empty() {
        page.current_error = Some("Enter your current password.".into());
    }
    if let Err(weak) = password::check(&form.new_password, &session.user.email, "newPassword") {
        page.new_error = Some(password_words(&weak));
    }
    if form.new_password != form.confirm_password {
        page.confirm_error = Some("Does not match the new password. Type it again.".into());
    }
    if page.current_error.is_some() || page.new_error.is_some() || page.confirm_error.is_some() {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    match accounts
        .change_password(&session, &form.current_password, &form.new_password)
        .await
    {
        Ok(()) => Ok(Redirect::to("/settings?password=changed").into_response()),
        Err(Error::WrongCurrentPassword) => {
            page.current_error = Some("This is not your current password. Type it again.".into());
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        Err(Error::Invalid(errors)) => {
            page.new_error = Some(password_words(&errors));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e @ Error::RateLimited { retry_after }) => {
            page.form_error = Some(sentence(&e.to_string()));
            Ok(rate_limited(retry_after, page))
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

/// `POST /settings/verification`: mails a new verification link (unless the address is
/// verified already) and redirects to `/settings?verification=sent|verified`.
pub async fn resend_verification(
    State(state): State<PortalState>,
    CurrentUser(current): CurrentUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    let Some(session) = current else {
        return Ok(Redirect::to(LOGIN_FIRST).into_response());
    };
    let accounts = &state.site.accounts;
    let mut page = SettingsPage::of(&state, &session).await?;
    if let Err(e) = accounts.verify_csrf(Some(&session), &headers, form.csrf.as_deref()) {
        page.verification_error = Some(sentence(&e.to_string()));
        return Ok((StatusCode::FORBIDDEN, page).into_response());
    }
    match accounts.resend_email_verification(&session).await {
        Ok(true) => Ok(Redirect::to("/settings?verification=sent").into_response()),
        Ok(false) => Ok(Redirect::to("/settings?verification=verified").into_response()),
        Err(e @ Error::RateLimited { retry_after }) => {
            page.verification_error = Some(sentence(&e.to_string()));
            Ok(rate_limited(retry_after, page))
        }
        Err(Error::Mail(e)) => {
            tracing::error!(error = %e, "settings: the verification mail was not written");
            page.verification_error =
                Some("The email could not be sent just now. Try again in a few minutes.".into());
            Ok((StatusCode::SERVICE_UNAVAILABLE, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// A 429 with `Retry-After` and the page.
fn rate_limited(retry_after: std::time::Duration, page: SettingsPage) -> Response {
    let retry = HeaderValue::from(retry_after.as_secs().max(1));
    (StatusCode::TOO_MANY_REQUESTS, [(RETRY_AFTER, retry)], page).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> SettingsPage {
        SettingsPage {
            chrome: Chrome::default().at("settings"),
            csrf: "tok3n".into(),
            email: "ada@example.org".into(),
            verified: false,
            notice: None,
            form_error: None,
            current_error: None,
            new_error: None,
            confirm_error: None,
            verification_error: None,
        }
    }

    #[test]
    fn the_settings_page_shows_each_error_next_to_its_field() {
        let html = SettingsPage {
            current_error: Some("Wrong <b>".into()),
            confirm_error: Some("Does not match.".into()),
            ..page()
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"id="current_password" name="current_password""#));
        assert!(
            html.contains(r#"aria-describedby="current_password-error" aria-invalid="true""#),
            "{html}"
        );
        assert!(html.contains(
            r#"<p class="field-error" id="current_password-error">Wrong &#60;b&#62;</p>"#
        ));
        assert!(
            html.contains(
                r#"<p class="field-error" id="confirm_password-error">Does not match.</p>"#
            )
        );
        assert!(html.contains(r#"<p class="field-error" id="new_password-error"></p>"#));
        assert!(
            html.contains(r#"data-strength-of="new_password""#),
            "the signup meter"
        );
        assert_eq!(
            html.matches(r#"name="csrf" value="tok3n""#).count(),
            2,
            "both forms"
        );
        assert!(html.contains("Not verified"));
        assert!(html.contains(r#"action="/settings/verification""#));
    }

    #[test]
    fn the_header_links_settings_between_support_and_log_out_and_marks_it_current() {
        let html = SettingsPage {
            chrome: Chrome {
                active: "settings",
                user: Some(crate::web::chrome::ChromeUser {
                    email: "ada@example.org".into(),
                    admin: false,
                    csrf: "tok3n".into(),
                }),
            },
            ..page()
        }
        .render()
        .unwrap();
        let support = html
            .find(r#"<a href="/support">Support</a>"#)
            .expect("support");
        let settings = html
            .find(r#"<a href="/settings" aria-current="page">Settings</a>"#)
            .expect("settings, marked current");
        let logout = html.find(r#"action="/logout""#).expect("log out");
        assert!(support < settings && settings < logout, "{html}");
    }

    #[test]
    fn a_verified_address_offers_no_resend() {
        let html = SettingsPage {
            verified: true,
            ..page()
        }
        .render()
        .unwrap();
        assert!(html.contains("Verified"));
        assert!(!html.contains(r#"action="/settings/verification""#));
    }

    #[test]
    fn notices_follow_the_redirect_query() {
        let query = |password: Option<&str>, verification: Option<&str>| SettingsQuery {
            password: password.map(str::to_owned),
            verification: verification.map(str::to_owned),
        };
        assert!(
            notice(&query(Some("changed"), None), "a@b.org")
                .unwrap()
                .contains("password was changed")
        );
        assert!(
            notice(&query(None, Some("sent")), "a@b.org")
                .unwrap()
                .contains("a@b.org")
        );
        assert!(notice(&query(None, Some("verified")), "a@b.org").is_some());
        assert_eq!(notice(&query(Some("<x>"), Some("?")), "a@b.org"), None);
    }
}
