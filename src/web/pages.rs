//! One template type per page. Each derives askama's `Template` (rendering) and askama_web's
//! `WebTemplate` (an axum response: 200, `text/html; charset=utf-8`; a render failure is
//! logged and becomes a 500).
//!
//! Every page has a `chrome` field ([`Chrome`]): the navigation entry to mark as current and
//! the logged-in user; `base.html` reads it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use serde::Deserialize;

use super::WebState;
use super::chrome::Chrome;
use crate::accounts::CsrfToken;

/// `/`: the Fresco value proposition and the call to action to `/signup`.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "landing.html")]
pub struct LandingPage {
    pub chrome: Chrome,
    pub base_domain: String,
}

/// `/login`: the form only; `POST /login` is the accounts module's handler, which renders this
/// page again with the errors filled in.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    /// The CSRF token, sent back in the hidden `csrf` field.
    pub csrf: String,
    /// The email to fill in again after a failed attempt.
    pub email: String,
    pub remember: bool,
    /// Where to go after logging in (`/login?next=/dashboard`), sent back in a hidden field;
    /// the `POST /login` handler follows only paths on this site.
    pub next: Option<String>,
    /// A message about the whole form ("email or password is wrong"), shown above it.
    pub form_error: Option<String>,
    pub email_error: Option<String>,
    pub password_error: Option<String>,
}

impl LoginPage {
    /// An empty form carrying `csrf`.
    pub fn new(csrf: String) -> LoginPage {
        LoginPage {
            chrome: Chrome::anonymous("login"),
            csrf,
            email: String::new(),
            remember: false,
            next: None,
            form_error: None,
            email_error: None,
            password_error: None,
        }
    }
}

/// `/support`: a short FAQ.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "support.html")]
pub struct SupportPage {
    pub chrome: Chrome,
    pub base_domain: String,
}

/// Any unknown page, in the layout.
#[derive(Debug, Template)]
#[template(path = "not_found.html")]
pub struct NotFoundPage {
    pub chrome: Chrome,
    pub path: String,
}

impl IntoResponse for NotFoundPage {
    fn into_response(self) -> Response {
        (StatusCode::NOT_FOUND, askama_web::WebTemplate(self)).into_response()
    }
}

pub async fn landing(State(state): State<WebState>, chrome: Chrome) -> LandingPage {
    LandingPage {
        chrome,
        base_domain: state.base_domain.to_string(),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// The login form, with a CSRF token (a double-submit cookie for anonymous visitors).
pub async fn login(csrf: CsrfToken, Query(query): Query<LoginQuery>) -> impl IntoResponse {
    (csrf.cookie(), login_page(csrf.token(), query.next))
}

/// The login page for a CSRF token and a `?next=` (kept only when it is a path on this site).
pub fn login_page(csrf_token: &str, next: Option<String>) -> LoginPage {
    LoginPage {
        next: next.filter(|next| next.starts_with('/')),
        ..LoginPage::new(csrf_token.to_owned())
    }
}

pub async fn support(State(state): State<WebState>, chrome: Chrome) -> SupportPage {
    SupportPage {
        chrome: chrome.at("support"),
        base_domain: state.base_domain.to_string(),
    }
}

/// The fallback: the 404 page, or the API's JSON error for paths under `/api/`.
pub async fn not_found(chrome: Chrome, uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return crate::api::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no route {}", uri.path()),
        )
        .into_response();
    }
    NotFoundPage {
        chrome: chrome.at(""),
        path: uri.path().to_owned(),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn state() -> WebState {
        WebState {
            base_domain: Arc::from("tenants.example.test"),
            ..crate::web::test_state()
        }
    }

    /// The layout every page shares: language, viewport, skip link, header, nav, footer.
    fn assert_layout(html: &str, title: &str) {
        assert!(
            html.starts_with("<!doctype html>"),
            "a page starts with the doctype"
        );
        assert!(
            html.contains(r#"<html lang="en">"#),
            "the layout declares the language"
        );
        assert!(
            html.contains(r#"name="viewport""#),
            "the layout has a viewport meta"
        );
        assert!(
            html.contains(&format!(
                "<title>{title} · tenantd — hosted Network Canvas Fresco</title>"
            )),
            "title {title:?} with the product name in:\n{html}"
        );
        assert!(
            html.contains(r##"<a class="skip-link" href="#main">"##),
            "skip link"
        );
        assert!(
            html.contains(r#"<main id="main" tabindex="-1">"#),
            "skip link target"
        );
        assert!(
            html.contains(r#"<nav class="site-nav" aria-label="Main">"#),
            "main nav"
        );
        assert!(html.contains(r#"<footer class="site-footer">"#), "footer");
        let css = format!("/assets/app.css?v={}", crate::web::assets::version());
        assert!(
            html.contains(&css),
            "the stylesheet is linked with its version"
        );
    }

    #[tokio::test]
    async fn landing_should_state_the_offer_and_link_to_signup() {
        let html = landing(State(state()), Chrome::anonymous(""))
            .await
            .render()
            .unwrap();
        assert_layout(&html, "Network Canvas Fresco, hosted for your study");
        assert!(html.contains("<h1 id=\"hero-title\">"), "one headline");
        assert!(html.contains(r#"id="hero-cta" class="btn btn-primary btn-lg" href="/signup""#));
        assert!(html.contains("offline") || html.contains("connection drops"));
        assert!(
            html.contains("your-lab.tenants.example.test"),
            "the base domain is shown"
        );
        assert!(html.contains("Your own database"));
    }

    #[tokio::test]
    async fn login_should_render_a_labelled_form_with_the_csrf_field() {
        let html = login_page("csrf-token-1", None).render().unwrap();
        assert!(
            !html.contains(r#"name="next""#),
            "no next field without ?next="
        );
        assert_layout(&html, "Log in");
        assert!(html.contains(r#"<form class="form" method="post" action="/login""#));
        assert!(html.contains(&format!(
            r#"<input type="hidden" name="csrf" value="{}">"#,
            "csrf-token-1"
        )));
        for id in ["email", "password", "remember"] {
            assert!(html.contains(&format!(r#"for="{id}""#)), "{id} has a label");
            assert!(
                html.contains(&format!(r#"id="{id}" name="{id}""#)),
                "{id} input"
            );
        }
        assert!(html.contains(r#"aria-describedby="email-error""#));
        assert!(
            html.contains(r#"<a href="/login" aria-current="page">"#),
            "nav marks Log in"
        );
        assert!(
            !html.contains("aria-invalid"),
            "an empty form shows no errors"
        );
    }

    #[tokio::test]
    async fn login_should_carry_next_to_the_form() {
        let html = login_page("t", Some("/dashboard?q=a&b".into()))
            .render()
            .unwrap();
        assert!(
            !login_page("t", Some("https://evil.test/".into()))
                .render()
                .unwrap()
                .contains(r#"name="next""#),
            "only paths on this site are carried"
        );
        assert!(
            html.contains(r#"<input type="hidden" name="next" value="/dashboard?q=a&#38;b">"#),
            "{html}"
        );
    }

    #[test]
    fn login_should_show_errors_next_to_their_fields_escaped() {
        let page = LoginPage {
            email: "a@b\"><script>".into(),
            email_error: Some("Enter an email address like name@example.org".into()),
            form_error: Some("Email or password is wrong <b>".into()),
            ..LoginPage::new("t0k3n".into())
        };
        let html = page.render().unwrap();
        assert!(html.contains(r#"aria-describedby="email-error" aria-invalid="true""#));
        assert!(html.contains("Enter an email address like name@example.org</p>"));
        assert!(html.contains(r#"role="alert""#));
        assert!(!html.contains("<script>"), "user input is escaped");
        assert!(!html.contains("<b>"), "messages are escaped");
    }

    #[tokio::test]
    async fn support_should_answer_the_common_questions() {
        let html = support(State(state()), Chrome::anonymous(""))
            .await
            .render()
            .unwrap();
        assert_layout(&html, "Support and FAQ");
        assert!(html.matches("<details>").count() >= 5, "a short FAQ");
        assert!(html.contains("<summary>Where is my study data stored?</summary>"));
        assert!(html.contains(r#"<a href="/support" aria-current="page">"#));
    }

    #[tokio::test]
    async fn not_found_should_be_a_404_page_in_the_layout() {
        let response = not_found(Chrome::anonymous(""), "/nowhere?x=1".parse().unwrap()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let page = NotFoundPage {
            chrome: Chrome::anonymous(""),
            path: "/nowhere".into(),
        };
        let html = page.render().unwrap();
        assert_layout(&html, "Page not found");
        assert!(html.contains("<code>/nowhere</code>"));
    }

    #[tokio::test]
    async fn unknown_api_paths_should_get_the_api_error_shape() {
        let response = not_found(Chrome::anonymous(""), "/api/v1/nothing".parse().unwrap()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "NotFound");
    }
}
