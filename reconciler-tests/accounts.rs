//! Web accounts over real HTTP against real Postgres: login sets a hashed session with the
//! right cookie flags, a session cookie uses the API and sees only its own tenants, CSRF
//! tokens guard every cookie-authenticated write, logout and password changes end sessions,
//! and logins are rate-limited per account and per IP without revealing which emails exist.
//! Email verification links from the mail outbox verify an address once; `web_admins` makes
//! verified accounts admins at startup.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ADMIN_TOKEN, World};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tenantd::accounts::{Accounts, AccountsConfig, Client, Role, Session};

const PASSWORD: &str = "Correct-Horse-42";
/// The anonymous double-submit token a login page would have set and rendered.
const FORM_TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The API and the pages (with the account forms) of one world, served on 127.0.0.1:0 with
/// connection info.
struct Site {
    base: String,
    http: reqwest::Client,
    accounts: Arc<Accounts>,
}

impl Site {
    async fn serve(world: &World, adjust: impl FnOnce(&mut AccountsConfig)) -> Site {
        let mut api = tenantd::app::api_config(&world.api_test_config());
        adjust(&mut api.accounts);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        // Kept alive for the test's duration: dropping the sender would end watch streams.
        std::mem::forget(stop);
        let state = tenantd::api::ApiState::new(world.ctx.clone(), &api, stopped);
        let accounts = state.accounts.clone();
        let web = tenantd::web::router(
            tenantd::web::WebState::new(&world.config, accounts.clone()),
            state.clone(),
        );
        let app = tenantd::api::router(state, api.body_limit_bytes).merge(web);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
        });
        Site {
            base: format!("http://{address}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            accounts,
        }
    }

    async fn register(&self, email: &str) -> tenantd::accounts::User {
        self.accounts
            .register(email, PASSWORD, &Client::default())
            .await
            .expect("registering a test user")
    }

    /// `POST /login` as a browser whose login page set the anonymous CSRF cookie.
    async fn login_from(
        &self,
        ip: Option<&str>,
        email: &str,
        password: &str,
        remember: bool,
    ) -> reqwest::Response {
        let mut form = vec![
            ("email", email),
            ("password", password),
            ("csrf", FORM_TOKEN),
            ("next", "/dashboard?tab=mine"),
        ];
        if remember {
            form.push(("remember", "on"));
        }
        let mut request = self
            .http
            .post(format!("{}/login", self.base))
            .header(COOKIE, format!("tenantd_csrf={FORM_TOKEN}"))
            .form(&form);
        if let Some(ip) = ip {
            request = request.header("x-forwarded-for", ip);
        }
        request.send().await.expect("the server answers")
    }

    /// Logs in and returns the session cookie (`name=value`) and its CSRF token.
    async fn login(&self, email: &str, password: &str) -> (String, String) {
        let response = self.login_from(None, email, password, false).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "login of {email} succeeds"
        );
        let cookie = session_cookie(&response).expect("a session cookie is set");
        let pair = cookie.split(';').next().unwrap().to_owned();
        let session = self
            .session(&pair)
            .await
            .expect("the cookie names a live session");
        (pair, session.csrf_token)
    }

    /// The session a cookie names, as the pages would see it (the token a page renders).
    async fn session(&self, cookie: &str) -> Option<Session> {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(axum::http::header::COOKIE, cookie.parse().unwrap());
        self.accounts.session(&headers).await.unwrap()
    }

    /// An API call with a session cookie and optionally an `X-CSRF-Token`.
    async fn api(
        &self,
        cookie: Option<&str>,
        csrf: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}/api/v1{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        } else {
            request = request.bearer_auth(ADMIN_TOKEN);
        }
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            let content_type = if method == Method::PATCH {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            request = request
                .header("content-type", content_type)
                .body(body.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn form(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, cookie)
            .form(form)
            .send()
            .await
            .expect("the server answers")
    }
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("tenantd_session=") || c.starts_with("__Host-tenantd_session="))
}

/// The text of the element with this `id` in a page (up to its first closing tag).
fn message_in(page: &str, id: &str) -> String {
    page.split(&format!(r#"id="{id}""#))
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split("</").next())
        .unwrap_or_else(|| panic!("the page has no #{id}: {page}"))
        .trim()
        .to_owned()
}

async fn session_count(world: &World) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&world.admin)
        .await
        .unwrap()
}

/// Login sets an HttpOnly, SameSite=Lax cookie holding 256 random bits whose SHA-256 alone
/// is stored; "remember me" makes it persistent for 30 days; https makes it `Secure` with
/// the `__Host-` prefix. A wrong password and an unknown email get the same answer, and a
/// login form without the matching CSRF token is refused and opens no session.
#[tokio::test]
async fn login_sets_a_hashed_session_cookie_with_the_right_flags() {
    let world = World::without_controller("acct-login").await;
    let site = Site::serve(&world, |_| {}).await;
    site.register("Ada@Example.org").await;

    let response = site
        .login_from(None, "ada@example.org", PASSWORD, false)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/dashboard?tab=mine");
    let cookie = session_cookie(&response).unwrap();
    let token = cookie
        .strip_prefix("tenantd_session=")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    assert_eq!(token.len(), 64, "256 bits in hex: {cookie}");
    assert_eq!(
        cookie,
        format!("tenantd_session={token}; HttpOnly; SameSite=Lax; Path=/"),
        "a browser-session cookie, not Secure over http"
    );
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(&world.admin)
        .await
        .unwrap();
    assert_eq!(
        stored,
        vec![Sha256::digest(token.as_bytes()).to_vec()],
        "only the hash is stored"
    );

    let remembered = site
        .login_from(None, "ADA@example.org", PASSWORD, true)
        .await;
    let cookie = session_cookie(&remembered).unwrap();
    assert!(
        cookie.ends_with("; Max-Age=2592000"),
        "remember me lasts 30 days: {cookie}"
    );
    let expires_in: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM max(expires_at) - now())::float8 FROM sessions WHERE remember",
    )
    .fetch_one(&world.admin)
    .await
    .unwrap();
    assert!(expires_in > 29.9 * 86400.0, "{expires_in}");

    let wrong = site
        .login_from(None, "ada@example.org", "Wrong-Horse-42", false)
        .await;
    let (wrong_status, wrong_body) = (wrong.status(), wrong.text().await.unwrap());
    let unknown = site
        .login_from(None, "nobody@example.org", PASSWORD, false)
        .await;
    let (unknown_status, unknown_body) = (unknown.status(), unknown.text().await.unwrap());
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (
            wrong_status,
            wrong_body.replace(r#"value="ada@example.org""#, "EMAIL")
        ),
        (
            unknown_status,
            unknown_body.replace(r#"value="nobody@example.org""#, "EMAIL")
        ),
        "no account enumeration: the same page but for the typed email"
    );
    assert!(
        wrong_body.contains(&format!(
            r#"<p class="field-error" id="password-error">{}</p>"#,
            tenantd::web::account::login::BAD_CREDENTIALS
        )),
        "the message is next to the password field: {wrong_body}"
    );
    assert!(
        wrong_body.contains(r#"value="ada@example.org""#),
        "the typed email is kept"
    );

    let before = session_count(&world).await;
    for (cookie, field) in [
        (format!("tenantd_csrf={FORM_TOKEN}"), None),
        (format!("tenantd_csrf={FORM_TOKEN}"), Some("f".repeat(64))),
        (String::new(), Some(FORM_TOKEN.to_owned())),
    ] {
        let mut form = vec![
            ("email", "ada@example.org".to_owned()),
            ("password", PASSWORD.to_owned()),
        ];
        if let Some(field) = field {
            form.push(("csrf", field));
        }
        let response = site
            .http
            .post(format!("{}/login", site.base))
            .header(COOKIE, cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(session_cookie(&response).is_none());
    }
    assert_eq!(
        session_count(&world).await,
        before,
        "a refused login opens no session"
    );

    let secure = Site::serve(&world, |c| c.cookie_secure = true).await;
    let response = secure
        .http
        .post(format!("{}/login", secure.base))
        .header(COOKIE, format!("__Host-tenantd_csrf={FORM_TOKEN}"))
        .form(&[
            ("email", "ada@example.org"),
            ("password", PASSWORD),
            ("csrf", FORM_TOKEN),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/dashboard");
    let cookie = session_cookie(&response).unwrap();
    assert!(
        cookie.starts_with("__Host-tenantd_session=")
            && cookie.ends_with("; HttpOnly; SameSite=Lax; Path=/; Secure"),
        "{cookie}"
    );
    world.cleanup().await;
}

/// A session cookie authenticates API calls as its user: the user's tenants are its own,
/// another user's tenant is a 404 for reads, patches, deletes and verbs (and its name is
/// taken for a PUT), an admin token and an admin user see everything, and a cookie write
/// without the session's CSRF token is a 403 that changes nothing.
#[tokio::test]
async fn a_session_cookie_uses_the_api_and_sees_only_its_own_tenants() {
    let world = World::without_controller("acct-api").await;
    let site = Site::serve(&world, |_| {}).await;
    let alice = site.register("alice@example.org").await;
    site.register("bob@example.org").await;
    let carol = site.register("carol@example.org").await;
    world
        .ctx
        .store
        .set_user_role(carol.id, Role::Admin.as_str())
        .await
        .unwrap();
    let (alice_cookie, alice_csrf) = site.login("alice@example.org", PASSWORD).await;
    let (bob_cookie, bob_csrf) = site.login("bob@example.org", PASSWORD).await;
    let (carol_cookie, _) = site.login("carol@example.org", PASSWORD).await;

    let name = world.name("mine");
    let path = format!("/tenants/{name}");
    let body = serde_json::to_value(world.tenant("mine")).unwrap();
    for forged in [None, Some("0".repeat(64).as_str()), Some(bob_csrf.as_str())] {
        let (status, error) = site
            .api(Some(&alice_cookie), forged, Method::PUT, &path, Some(&body))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
        assert_eq!(error["code"], "Forbidden");
    }
    assert!(
        world.get(&name).await.is_none(),
        "a refused write changes nothing"
    );

    let (status, created) = site
        .api(
            Some(&alice_cookie),
            Some(&alice_csrf),
            Method::PUT,
            &path,
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["owner"], alice.id.to_string());
    let (status, _) = site
        .api(Some(&alice_cookie), None, Method::GET, &path, None)
        .await;
    assert_eq!(status, StatusCode::OK, "reads need no CSRF token");

    // Bob: as if the tenant did not exist.
    let (status, list) = site
        .api(Some(&bob_cookie), None, Method::GET, "/tenants", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
    let patch = json!({"spec": {"env": {"GREETING": "pwned"}}});
    for (method, path, body, expected) in [
        (Method::GET, path.clone(), None, StatusCode::NOT_FOUND),
        (
            Method::PATCH,
            path.clone(),
            Some(&patch),
            StatusCode::NOT_FOUND,
        ),
        (Method::DELETE, path.clone(), None, StatusCode::NOT_FOUND),
        (
            Method::POST,
            format!("{path}/stop"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            format!("{path}/restart"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            format!("{path}/events"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (Method::PUT, path.clone(), Some(&body), StatusCode::CONFLICT),
    ] {
        let (status, error) = site
            .api(
                Some(&bob_cookie),
                Some(&bob_csrf),
                method.clone(),
                &path,
                body,
            )
            .await;
        assert_eq!(status, expected, "{method} {path}: {error}");
    }
    let stored = world.get(&name).await.unwrap();
    assert_eq!(stored.spec.env["GREETING"], "hello", "bob changed nothing");
    assert!(stored.metadata.deletion_timestamp.is_none());
    assert_eq!(
        stored.metadata.owner.as_deref(),
        Some(alice.id.to_string().as_str())
    );

    // Admins see all: by token and by an admin user's session.
    let (status, list) = site.api(None, None, Method::GET, "/tenants", None).await;
    assert_eq!(
        (status, list["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let (status, _) = site
        .api(Some(&carol_cookie), None, Method::GET, &path, None)
        .await;
    assert_eq!(status, StatusCode::OK, "an admin user sees every tenant");

    // Alice acts on her own tenant with her token.
    let (status, _) = site
        .api(
            Some(&alice_cookie),
            Some(&alice_csrf),
            Method::POST,
            &format!("{path}/stop"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = site
        .api(
            Some(&alice_cookie),
            Some(&alice_csrf),
            Method::DELETE,
            &path,
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");

    let (status, _) = site
        .api(
            Some("tenantd_session=nonsense"),
            None,
            Method::GET,
            "/tenants",
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an unknown cookie is no session"
    );
    world.cleanup().await;
}

/// Logout needs the session's CSRF token, deletes the session and clears the cookie; the
/// old cookie is then refused by the API.
#[tokio::test]
async fn logout_ends_the_session() {
    let world = World::without_controller("acct-logout").await;
    let site = Site::serve(&world, |_| {}).await;
    site.register("dora@example.org").await;
    let (cookie, csrf) = site.login("dora@example.org", PASSWORD).await;

    let forged = site
        .form("/logout", &cookie, &[("csrf", &"1".repeat(64))])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        site.session(&cookie).await.is_some(),
        "a forged logout changes nothing"
    );

    let response = site.form("/logout", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/");
    let cleared = session_cookie(&response).unwrap();
    assert!(
        cleared.starts_with("tenantd_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(session_count(&world).await, 0);
    let (status, _) = site
        .api(Some(&cookie), None, Method::GET, "/tenants", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    world.cleanup().await;
}

/// Changing the password checks the current one and the rules, keeps this session, ends
/// every other session, and only the new password logs in afterwards.
#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let world = World::without_controller("acct-password").await;
    let site = Site::serve(&world, |_| {}).await;
    site.register("emil@example.org").await;
    let (here, csrf) = site.login("emil@example.org", PASSWORD).await;
    let (elsewhere, _) = site.login("emil@example.org", PASSWORD).await;
    let new = "Battery-Staple-77";

    for (form, expected, field) in [
        (
            vec![
                ("csrf", "x"),
                ("current_password", PASSWORD),
                ("new_password", new),
                ("confirm_password", new),
            ],
            StatusCode::FORBIDDEN,
            "form-error",
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("current_password", "Wrong-Horse-42"),
                ("new_password", new),
                ("confirm_password", new),
            ],
            StatusCode::UNAUTHORIZED,
            "current_password-error",
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("current_password", PASSWORD),
                ("new_password", new),
                ("confirm_password", "other"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirm_password-error",
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("current_password", PASSWORD),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "new_password-error",
        ),
    ] {
        let response = site.form("/settings/password", &here, &form).await;
        let status = response.status();
        let page = response.text().await.unwrap();
        assert_eq!(status, expected, "{page}");
        assert!(
            message_in(&page, field).len() > 10,
            "a message in #{field}: {page}"
        );
    }
    assert!(
        site.session(&elsewhere).await.is_some(),
        "refused changes end nothing"
    );

    let response = site
        .form(
            "/settings/password",
            &here,
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("new_password", new),
                ("confirm_password", new),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        site.session(&here).await.is_some(),
        "the changing session stays"
    );
    assert!(
        site.session(&elsewhere).await.is_none(),
        "other sessions end"
    );
    let (status, _) = site
        .api(Some(&elsewhere), None, Method::GET, "/tenants", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let old = site
        .login_from(None, "emil@example.org", PASSWORD, false)
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    site.login("emil@example.org", new).await;
    world.cleanup().await;
}

/// Ten attempts per account (from any IP) and thirty per IP (on any accounts) in 15 minutes;
/// then 429 with Retry-After, even with the right password, while other accounts and other
/// addresses are unaffected.
#[tokio::test]
async fn logins_are_rate_limited_per_account_and_per_ip() {
    let world = World::without_controller("acct-limits").await;
    let site = Site::serve(&world, |c| c.trust_forwarded_for = true).await;
    site.register("fred@example.org").await;
    site.register("gina@example.org").await;

    for attempt in 0..10 {
        let ip = format!("10.0.0.{attempt}");
        let response = site
            .login_from(Some(&ip), "fred@example.org", "Wrong-Horse-42", false)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let limited = site
        .login_from(Some("10.0.1.1"), "fred@example.org", PASSWORD, false)
        .await;
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the account's limit holds on a new IP"
    );
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=90).contains(&retry),
        "one attempt refills every 90 s: {retry}"
    );
    let page = limited.text().await.unwrap();
    assert!(
        page.contains(
            r#"role="alert" id="form-error">Too many attempts; try again in 2 minute(s).</div>"#
        ) || page.contains(
            r#"role="alert" id="form-error">Too many attempts; try again in 1 minute(s).</div>"#
        ),
        "the login page says when to retry: {page}"
    );
    let other = site
        .login_from(Some("10.0.1.1"), "gina@example.org", PASSWORD, false)
        .await;
    assert_eq!(
        other.status(),
        StatusCode::SEE_OTHER,
        "other accounts are unaffected"
    );

    for attempt in 0..29 {
        let email = format!("guess{attempt}@example.org");
        let response = site
            .login_from(Some("10.9.9.9"), &email, PASSWORD, false)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let last = site
        .login_from(Some("10.9.9.9"), "gina@example.org", PASSWORD, false)
        .await;
    assert_eq!(
        last.status(),
        StatusCode::SEE_OTHER,
        "the 30th attempt from an IP is allowed"
    );
    let limited = site
        .login_from(Some("10.9.9.9"), "gina@example.org", PASSWORD, false)
        .await;
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the 31st is not"
    );
    let elsewhere = site
        .login_from(Some("10.9.9.10"), "gina@example.org", PASSWORD, false)
        .await;
    assert_eq!(
        elsewhere.status(),
        StatusCode::SEE_OTHER,
        "other addresses are unaffected"
    );
    world.cleanup().await;
}

/// A session's expiry slides with use (12 hours idle without "remember me"), and an expired
/// session is no session, for the pages and the API alike.
#[tokio::test]
async fn sessions_slide_with_use_and_expire_when_idle() {
    let world = World::without_controller("acct-expiry").await;
    let site = Site::serve(&world, |_| {}).await;
    site.register("hana@example.org").await;
    let (cookie, _) = site.login("hana@example.org", PASSWORD).await;

    // Last used two minutes ago, one minute left: using it moves the expiry 12 hours ahead.
    sqlx::query(
        "UPDATE sessions SET last_seen_at = now() - interval '2 minutes', \
         expires_at = now() + interval '1 minute'",
    )
    .execute(&world.admin)
    .await
    .unwrap();
    let (status, _) = site
        .api(Some(&cookie), None, Method::GET, "/tenants", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let left: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM expires_at - now())::float8 FROM sessions")
            .fetch_one(&world.admin)
            .await
            .unwrap();
    assert!(left > 11.9 * 3600.0 && left <= 12.0 * 3600.0, "{left}");

    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(&world.admin)
        .await
        .unwrap();
    let (status, _) = site
        .api(Some(&cookie), None, Method::GET, "/tenants", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(site.session(&cookie).await.is_none());
    world.cleanup().await;
}

/// The `.eml` files in an outbox folder, oldest first (the names start with the time).
fn outbox_mails(dir: &std::path::Path) -> Vec<String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The verification link in a mail (`<public url>/verify-email?token=…`), as a path.
fn verification_path(mail: &str, public_url: &str) -> String {
    let start = mail
        .find(&format!("{public_url}/verify-email?token="))
        .unwrap_or_else(|| panic!("the mail has a verification link under {public_url}: {mail}"));
    let link = mail[start..].split_whitespace().next().unwrap();
    link.strip_prefix(public_url).unwrap().to_owned()
}

async fn verified_at(world: &World, email: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    world
        .ctx
        .store
        .user_by_email(email)
        .await
        .unwrap()
        .expect("the user exists")
        .email_verified_at
}

/// Signing up through the wizard writes an RFC 5322 mail into the outbox whose link, under
/// the configured public URL, verifies the address (as the store sees it) exactly once; a
/// second use, a forged token and an expired link are refused with a page that says what to
/// do, and change nothing. A logged-in user can have the link resent from the settings page.
#[tokio::test]
async fn the_mailed_link_verifies_the_address_once() {
    let world = World::without_controller("acct-verify").await;
    let outbox = std::env::temp_dir().join(format!("tenantd-outbox-{}", common::random_suffix()));
    let public_url = "https://portal.example.test";
    let site = Site::serve(&world, |c| {
        c.mail_outbox_dir = outbox.clone();
        c.public_url = public_url.into();
        c.mail_from = "tenantd <no-reply@portal.example.test>".into();
    })
    .await;

    let mut visitor = common::web::Visitor::new(&site.base);
    let (status, _) = visitor.page("/signup/account").await;
    assert_eq!(status, StatusCode::OK);
    let (status, location, body) = visitor
        .post(
            "/signup/account",
            &[
                ("email", "ivy@example.org"),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location.as_deref(), Some("/signup/use"));
    assert_eq!(verified_at(&world, "ivy@example.org").await, None);

    let mails = outbox_mails(&outbox);
    assert_eq!(mails.len(), 1, "one mail per signup");
    let mail = &mails[0];
    let (head, _) = mail
        .split_once("\r\n\r\n")
        .expect("header, blank line, body");
    for header in [
        "From: tenantd <no-reply@portal.example.test>",
        "To: ivy@example.org",
        "Subject: Verify your email address for tenantd",
        "MIME-Version: 1.0",
    ] {
        assert!(head.lines().any(|l| l == header), "{header:?} in:\n{head}");
    }
    assert!(head.contains("\r\nDate: ") && head.contains("\r\nMessage-ID: <"));
    let path = verification_path(mail, public_url);

    let forged = format!("/verify-email?token={}", "a".repeat(64));
    for (path, status, words) in [
        (forged.as_str(), StatusCode::BAD_REQUEST, "does not work"),
        (
            "/verify-email?token=short",
            StatusCode::BAD_REQUEST,
            "does not work",
        ),
        ("/verify-email", StatusCode::BAD_REQUEST, "does not work"),
    ] {
        let (got, page) = visitor.page(path).await;
        assert_eq!(got, status, "{path}");
        assert!(
            page.contains(words) && page.contains("Resend verification email"),
            "{page}"
        );
    }
    assert_eq!(
        verified_at(&world, "ivy@example.org").await,
        None,
        "a forged token verifies nothing"
    );

    let (status, page) = visitor.page(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Your email address is verified"), "{page}");
    let first = verified_at(&world, "ivy@example.org")
        .await
        .expect("the link verified the address");
    let (status, page) = visitor.page(&path).await;
    assert_eq!(status, StatusCode::CONFLICT, "a link works once");
    assert!(page.contains("already been used"), "{page}");
    assert_eq!(verified_at(&world, "ivy@example.org").await, Some(first));
    let used: i64 =
        sqlx::query_scalar("SELECT count(*) FROM email_verifications WHERE used_at IS NOT NULL")
            .fetch_one(&world.admin)
            .await
            .unwrap();
    assert_eq!(used, 1);
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM email_verifications")
        .fetch_all(&world.admin)
        .await
        .unwrap();
    let token = path.rsplit('=').next().unwrap();
    assert_eq!(
        stored,
        vec![Sha256::digest(token.as_bytes()).to_vec()],
        "only the token's hash is stored"
    );

    // An unverified user asks for a new link on the settings page; an expired one is refused.
    site.register("jay@example.org").await;
    let mut jay = common::web::Visitor::new(&site.base);
    jay.log_in("jay@example.org", PASSWORD).await;
    let (status, page) = jay.page("/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Not verified") && page.contains("jay@example.org"));
    let (status, location, _) = jay.post("/settings/verification", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/settings?verification=sent"));
    let (_, page) = jay.page("/settings?verification=sent").await;
    assert!(page.contains("We sent a new verification link to jay@example.org"));
    let mails = outbox_mails(&outbox);
    assert_eq!(mails.len(), 2);
    let jay_mail = mails
        .iter()
        .find(|m| m.contains("\r\nTo: jay@example.org\r\n"))
        .expect("a mail to jay");
    let (status, _, _) = jay
        .post("/settings/verification", &[("csrf", &"0".repeat(64))])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a forged resend is refused");
    assert_eq!(outbox_mails(&outbox).len(), 2, "and sends nothing");

    sqlx::query("UPDATE email_verifications SET expires_at = now() - interval '1 minute' WHERE used_at IS NULL")
        .execute(&world.admin)
        .await
        .unwrap();
    let (status, page) = jay.page(&verification_path(jay_mail, public_url)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("expired"), "{page}");
    assert_eq!(verified_at(&world, "jay@example.org").await, None);

    let _ = std::fs::remove_dir_all(&outbox);
    world.cleanup().await;
}

/// At startup (`tenantd::app::serve`), the verified accounts listed in `web_admins` become
/// admins and see another user's tenant through the API; a listed account whose address is
/// not verified stays a user and still sees only its own tenants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_accounts_listed_in_web_admins_are_admins_after_startup() {
    let world = World::without_controller("acct-admins").await;
    let accounts = Accounts::new(world.ctx.store.clone(), AccountsConfig::default());
    let register = |email: &'static str| {
        let accounts = &accounts;
        async move {
            accounts
                .register(email, PASSWORD, &Client::default())
                .await
                .unwrap()
        }
    };
    let kim = register("Kim@Example.org").await;
    register("lou@example.org").await;
    let mia = register("mia@example.org").await;
    sqlx::query("UPDATE users SET email_verified_at = now() WHERE id = $1")
        .bind(kim.id)
        .execute(&world.admin)
        .await
        .unwrap();
    let mut tenant = world.tenant("mias");
    tenant.metadata.owner = Some(mia.id.to_string());
    tenant.spec.state = tenantd::resource::DesiredState::Stopped;
    let name = world.apply(&tenant).await.metadata.name;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = world.config.clone();
    config.listen = format!("127.0.0.1:{port}").parse().unwrap();
    config
        .apply_env(|var| {
            (var == "TENANTD_WEB_ADMINS").then(|| "kim@example.org, LOU@example.org".to_owned())
        })
        .unwrap();
    config.metrics_sample_period = Duration::ZERO;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tenantd::app::serve(config, async move {
        let _ = stopped.await;
    }));
    let base = format!("http://127.0.0.1:{port}");
    let site = Site {
        base: base.clone(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        accounts: Arc::new(accounts),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while site
        .http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline && !server.is_finished(),
            "tenantd serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let role = |email: &'static str| {
        let store = world.ctx.store.clone();
        async move { store.user_by_email(email).await.unwrap().unwrap().role }
    };
    assert_eq!(
        role("kim@example.org").await,
        "admin",
        "listed and verified"
    );
    assert_eq!(
        role("lou@example.org").await,
        "user",
        "listed but not verified"
    );
    assert_eq!(role("mia@example.org").await, "user", "not listed");

    let path = format!("/tenants/{name}");
    let (kim_cookie, _) = site.login("kim@example.org", PASSWORD).await;
    let (status, seen) = site
        .api(Some(&kim_cookie), None, Method::GET, &path, None)
        .await;
    assert_eq!(status, StatusCode::OK, "an admin sees mia's tenant: {seen}");
    let (lou_cookie, _) = site.login("lou@example.org", PASSWORD).await;
    let (status, _) = site
        .api(Some(&lou_cookie), None, Method::GET, &path, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "lou is no admin");

    stop.send(()).unwrap();
    server
        .await
        .expect("the server task does not panic")
        .expect("tenantd serve stops cleanly");
    world.cleanup().await;
}
