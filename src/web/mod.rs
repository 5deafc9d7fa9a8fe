//! The server-rendered web pages: landing, login, support, the signup wizard, the tenant
//! dashboard and the account pages, in one layout and design system.
//!
//! Layout:
//! - [`pages`]: the public pages (landing, login form, support, 404).
//! - [`signup`]: the six-step signup wizard (`/signup`).
//! - [`dashboard`]: the user's tenants (`/dashboard`): overview, detail, logs.
//! - [`account`]: settings and the account forms rendered with their errors.
//! - [`chrome`]: what the layout needs of every request (current nav entry, logged-in user).
//! - [`assets`]: the stylesheet, script and icon, compiled into the binary.
//! - [`logs`]: a tenant's logs page: last lines, filter, download, live tail over SSE.
//! - [`write_limit`]: the API's per-user write limit on the pages' tenant writes.
//!
//! State: the public pages need only [`WebState`]; the wizard, dashboard and account pages
//! act on tenants through the API's own functions and get [`PortalState`] (the site and the
//! [`crate::api::ApiState`]), so a page and the API validate and authorize alike.
//!
//! Templates live in `src/web/templates/` (see `askama.toml`); `base.html` is the layout.
//!
//! # Guarantees
//! - Pages work without JavaScript; `app.js` only enhances them.
//! - Every HTML response carries a Content-Security-Policy that allows only this origin's
//!   scripts and styles (no inline script or style), and forbids framing.
//! - An unknown path gets the 404 page in the layout; under `/api/` it gets the API's JSON error.

pub mod account;
pub mod assets;
pub mod chrome;
pub mod dashboard;
pub mod logs;
pub mod pages;
pub mod signup;
pub mod write_limit;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::get;

/// The product name shown in the header and in every page title.
pub const PRODUCT_NAME: &str = "tenantd — hosted Network Canvas Fresco";

/// What the pages need from the platform.
#[derive(Clone)]
pub struct WebState {
    /// Tenants are served at `<subdomain>.<base_domain>`; pages show example addresses.
    pub base_domain: Arc<str>,
    /// `http` or `https`: how tenant addresses are shown.
    pub public_scheme: Arc<str>,
    /// The public Fresco sandbox the wizard suggests for testing and learning.
    pub sandbox_url: Arc<str>,
    /// Sessions and CSRF tokens, shared with the API and the account form handlers.
    pub accounts: Arc<crate::accounts::Accounts>,
}

impl WebState {
    pub fn new(
        config: &crate::config::Config,
        accounts: Arc<crate::accounts::Accounts>,
    ) -> WebState {
        WebState {
            base_domain: config.base_domain.as_str().into(),
            public_scheme: config.public_scheme.as_str().into(),
            sandbox_url: config.web_sandbox_url.as_str().into(),
            accounts,
        }
    }
}

impl axum::extract::FromRef<WebState> for Arc<crate::accounts::Accounts> {
    fn from_ref(state: &WebState) -> Self {
        state.accounts.clone()
    }
}

/// The state of the pages that act on tenants: the site, and the API's state (the store,
/// the engine, the change notifications and the shutdown signal).
#[derive(Clone)]
pub struct PortalState {
    pub site: WebState,
    pub api: crate::api::ApiState,
}

impl axum::extract::FromRef<PortalState> for Arc<crate::accounts::Accounts> {
    fn from_ref(state: &PortalState) -> Self {
        state.site.accounts.clone()
    }
}

impl axum::extract::FromRef<PortalState> for WebState {
    fn from_ref(state: &PortalState) -> Self {
        state.site.clone()
    }
}

/// A state for unit tests of pages that never reach the database (the pool is lazy).
#[cfg(test)]
pub(crate) fn test_state() -> WebState {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://unused@127.0.0.1:1/unused")
        .expect("a lazy pool never connects up front");
    let accounts = crate::accounts::Accounts::new(
        crate::store::Store::from_pool(pool),
        crate::accounts::AccountsConfig::default(),
    );
    WebState {
        base_domain: Arc::from("tenants.test"),
        public_scheme: Arc::from("https"),
        sandbox_url: Arc::from("https://sandbox.example.test"),
        accounts: Arc::new(accounts),
    }
}

/// Every page and `/assets/`, with the 404 page as the fallback; merge into the server's
/// router.
pub fn router<S: Clone + Send + Sync + 'static>(
    site: WebState,
    api: crate::api::ApiState,
) -> Router<S> {
    let portal = PortalState {
        site: site.clone(),
        api,
    };
    let portal: Router<S> = Router::new()
        .merge(signup::routes())
        .merge(dashboard::routes())
        .merge(logs::routes())
        .merge(account::routes())
        .layer(middleware::from_fn_with_state(
            portal.clone(),
            write_limit::limit_tenant_writes,
        ))
        .layer(middleware::map_response(security_headers))
        .with_state(portal);
    portal.merge(public_router(site))
}

/// The public pages and `/assets/`, with the 404 page as the fallback (no tenant access).
pub fn public_router<S: Clone + Send + Sync + 'static>(state: WebState) -> Router<S> {
    Router::new()
        .route("/", get(pages::landing))
        .route("/login", get(pages::login))
        .route("/support", get(pages::support))
        .route("/assets/{file}", get(assets::serve))
        .fallback(pages::not_found)
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
                   object-src 'none'";

/// Browser hardening for everything this router serves.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    /// Serves the web router alone on a loopback port.
    async fn serve() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app: Router = public_router(test_state());
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn router_should_serve_pages_assets_and_the_404_page_with_security_headers() {
        let base = serve().await;
        let client = reqwest::Client::new();
        for (path, status) in [
            ("/", 200),
            ("/login", 200),
            ("/support", 200),
            ("/signup-not-yet", 404),
        ] {
            let response = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(response.status().as_u16(), status, "{path}");
            let headers = response.headers();
            assert_eq!(
                headers[header::CONTENT_TYPE],
                "text/html; charset=utf-8",
                "{path}"
            );
            assert!(
                headers[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .unwrap()
                    .contains("frame-ancestors 'none'"),
                "{path} carries the CSP"
            );
            let body = response.text().await.unwrap();
            assert!(body.contains(PRODUCT_NAME), "{path} is in the layout");
        }
    }

    /// The accounts module serves `POST /login` from its own router; merged, both methods work.
    #[tokio::test]
    async fn login_form_page_should_merge_with_a_post_handler_on_the_same_path() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/login", axum::routing::post(|| async { "posted" }))
            .merge(public_router(test_state()));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        let url = format!("http://{address}/login");
        let page = client.get(&url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let posted = client.post(&url).send().await.unwrap();
        assert_eq!(posted.text().await.unwrap(), "posted");
    }

    #[tokio::test]
    async fn assets_should_be_cached_by_version_and_revalidated_otherwise() {
        let base = serve().await;
        let client = reqwest::Client::new();
        let versioned = format!("{base}/assets/app.css?v={}", assets::version());
        let response = client.get(&versioned).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let etag = response.headers()[header::ETAG].clone();
        assert!(response.text().await.unwrap().contains(":focus-visible"));

        let stale = client
            .get(format!("{base}/assets/app.css?v=old"))
            .send()
            .await
            .unwrap();
        assert_eq!(stale.headers()[header::CACHE_CONTROL], "no-cache");

        let revalidated = client
            .get(&versioned)
            .header(header::IF_NONE_MATCH, etag)
            .send()
            .await
            .unwrap();
        assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);

        let js = client
            .get(format!("{base}/assets/app.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            js.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let missing = client
            .get(format!("{base}/assets/nope.css"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
}
