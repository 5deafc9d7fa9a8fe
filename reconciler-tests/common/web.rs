//! A visitor of the web pages over plain HTTP: a cookie jar (session and anonymous CSRF
//! cookies), no redirects followed, and the CSRF token read back from the last page.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::LOCATION;

use super::World;

/// The password test users get (passes the strength rules).
pub const PASSWORD: &str = "Correct-Horse-42";

/// One browser's worth of cookies, without a browser.
pub struct Visitor {
    pub base: String,
    pub http: reqwest::Client,
    /// The `csrf` hidden field of the last page fetched with [`Visitor::page`].
    pub csrf: Option<String>,
}

impl Visitor {
    pub fn new(base: &str) -> Visitor {
        Visitor {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("building an HTTP client"),
            csrf: None,
        }
    }

    /// GETs a page; returns its status and body and remembers its CSRF token.
    pub async fn page(&mut self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status();
        let body = response.text().await.expect("reading a page");
        if let Some(token) = hidden_value(&body, "csrf") {
            self.csrf = Some(token);
        }
        (status, body)
    }

    /// POSTs a form with the remembered CSRF token added (unless the form has its own `csrf`).
    /// Returns the status, the `Location` (for a redirect) and the body.
    pub async fn post(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let mut form: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if !fields.iter().any(|(k, _)| *k == "csrf")
            && let Some(token) = &self.csrf
        {
            form.push(("csrf".into(), token.clone()));
        }
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.expect("reading a response");
        if let Some(token) = hidden_value(&body, "csrf") {
            self.csrf = Some(token);
        }
        (status, location, body)
    }

    /// Logs in through `POST /login` (after fetching the form for its CSRF token).
    pub async fn log_in(&mut self, email: &str, password: &str) {
        self.page("/login").await;
        let (status, location, body) = self
            .post("/login", &[("email", email), ("password", password)])
            .await;
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "logging in as {email} failed: {body}"
        );
        assert_eq!(location.as_deref(), Some("/dashboard"));
        // The session has its own CSRF token: read it from a page.
        self.page("/dashboard").await;
    }
}

/// The `value` of `<input type="hidden" name="{name}" value="…">` in a page.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// Registers a user directly through the accounts module (not the wizard).
pub async fn register_user(world: &World, email: &str) -> tenantd::accounts::User {
    let accounts = tenantd::accounts::Accounts::new(world.ctx.store.clone(), Default::default());
    accounts
        .register(email, PASSWORD, &tenantd::accounts::Client::default())
        .await
        .unwrap_or_else(|e| panic!("registering {email}: {e}"))
}
