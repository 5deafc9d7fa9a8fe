//! Web accounts: users, password hashing, login sessions in Postgres, CSRF tokens, login
//! rate limits, email verification and the admin bootstrap. This is the domain layer: no
//! SQL (it lives in `store::accounts` and `store::verification`) and no pages (the forms and
//! pages that use it are in `web::account`).
//!
//! # Interface for pages
//!
//! The one [`Accounts`] value lives in `api::ApiState::accounts` (so the API and the pages
//! share sessions and rate limits); a page router's state provides it with
//! `impl FromRef<YourState> for Arc<Accounts>`. Then:
//!
//! - [`CurrentUser`] (extractor): `CurrentUser(Option<Session>)` from the session cookie,
//!   sliding its expiry. [`RequireUser`] (extractor): a [`Session`], or a 303 to
//!   `/login?next=<path>` for anonymous visitors.
//! - [`CsrfToken`] (extractor): `csrf.token()` goes into every form as
//!   `<input type="hidden" name="csrf" value="…">`. For anonymous visitors it is a
//!   double-submit cookie token: return `(csrf.cookie(), page)` so the cookie is set.
//! - [`Accounts::verify_csrf`]`(session, headers, form_token)`: call first in every form
//!   handler; on `Err` answer 403 and change nothing.
//! - [`Accounts::register`]`(email, password, &client) -> Result<User>`: validates (field
//!   errors on `email` and `password`), rate-limits per IP, hashes, stores.
//! - [`Accounts::login`]`(email, password, remember, &client) -> Result<(User, SessionCookie)>`:
//!   put the [`SessionCookie`] into the response (it implements `IntoResponseParts`).
//! - [`Accounts::logout`]`(&session)`, [`Accounts::change_password`]`(&session, current, new)`.
//! - [`Accounts::start_email_verification`]`(&user)` (after registering),
//!   [`Accounts::resend_email_verification`]`(&session)`, [`Accounts::verify_email`]`(token)`
//!   ([`verification`]; mails go to the [`mail`] outbox).
//! - [`Accounts::bootstrap_admins`]`(emails)` at startup ([`admins`]).
//! - [`Accounts::clear_session_cookie`] after logout.
//! - [`Client`] (extractor): the caller's IP (for rate limits) and user agent.
//! - [`Error`] implements `IntoResponse` as a plain-text message with the right status
//!   (422 with one line per field error, 401, 403, 409, 429 with `Retry-After`); pages
//!   that show errors next to fields match on [`Error::Invalid`] instead.
//!
//! The pages and form endpoints (`/login`, `/logout`, `/settings`, `/verify-email`) are in
//! `web::account`.
//!
//! # Guarantees
//! - Passwords are stored only as argon2id hashes ([`password`]).
//! - The session cookie holds 256 random bits; the database holds only their SHA-256, so a
//!   database leak yields no usable cookie. Cookies are `HttpOnly; SameSite=Lax; Path=/`, and
//!   `Secure` with the `__Host-` prefix when served over https.
//! - A wrong password and an unknown email get the same error, after the same hashing work.
//! - Changing the password ends every other session of the user.
//!
//! # Caveats
//! - Rate limits are in memory ([`limits`]): one tenantd process, counters reset on restart.
//! - A remembered session's cookie lasts 30 days from login; the server-side expiry slides
//!   with use (12 hours idle without "remember me", 30 days with it).

pub mod admins;
pub mod csrf;
pub mod email;
mod extract;
pub mod limits;
pub mod mail;
pub mod password;
pub mod verification;

use std::time::{Duration, Instant};

use axum::http::header::{COOKIE, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use chrono::Utc;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use extract::{CsrfToken, CurrentUser, RequireUser, encode_query_value};

use crate::resource::{FieldError, ValidationErrors};
use crate::store::{self, NewSession, SessionRecord, Store, UserRecord};

/// Idle timeout of a session without "remember me" (its cookie lasts the browser session).
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// Idle timeout and cookie lifetime of a remembered session.
pub const REMEMBER_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// A session's expiry is moved forward at most this often (one write per minute of use).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// Wrong password or unknown email: one message, so accounts cannot be enumerated.
    #[error("wrong email or password")]
    BadCredentials,
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("an account with this email already exists; log in instead")]
    EmailTaken,
    #[error("too many attempts; try again in {} minute(s)", retry_after.as_secs().div_ceil(60).max(1))]
    RateLimited { retry_after: Duration },
    #[error("the form expired or was not sent by this site; reload the page and try again")]
    Csrf,
    #[error("log in first")]
    NotLoggedIn,
    #[error("sending mail failed: {0}")]
    Mail(#[from] mail::Error),
    #[error("account storage failed: {0}")]
    Store(#[from] store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::BadCredentials | Error::WrongCurrentPassword | Error::NotLoggedIn => {
                StatusCode::UNAUTHORIZED
            }
            Error::EmailTaken => StatusCode::CONFLICT,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Csrf => StatusCode::FORBIDDEN,
            Error::Store(_) | Error::Mail(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    /// A plain-text message; internal errors are logged and not shown.
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Error::Store(_) | Error::Mail(_) => {
                tracing::error!(error = %self, "accounts: internal error");
                "internal error; the server log has the details".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (status, message).into_response();
        if let Error::RateLimited { retry_after } = self {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
        }
        response
    }
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sees and acts on the tenants it owns (`metadata.owner` = its id).
    User,
    /// Sees and acts on every tenant, like an admin token.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

/// A user, as pages see it (no password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub email_verified: bool,
}

impl From<&UserRecord> for User {
    fn from(record: &UserRecord) -> User {
        User {
            id: record.id,
            email: record.email.clone(),
            role: if record.role == "admin" {
                Role::Admin
            } else {
                Role::User
            },
            email_verified: record.email_verified_at.is_some(),
        }
    }
}

/// A logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    /// The synchronizer CSRF token: forms carry it as `csrf`, scripts as `X-CSRF-Token`.
    pub csrf_token: String,
    pub remember: bool,
    /// SHA-256 of the cookie's token (the row's key).
    id: [u8; 32],
}

/// The `Set-Cookie` of a new session; put it into the response.
#[derive(Debug, Clone)]
pub struct SessionCookie(HeaderValue);

impl IntoResponseParts for SessionCookie {
    type Error = std::convert::Infallible;
    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.headers_mut().append(SET_COOKIE, self.0);
        Ok(res)
    }
}

impl SessionCookie {
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

/// Who is calling, for rate limits and the session list.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Policy knobs; [`AccountsConfig::default`] holds the production values.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// `Secure` cookies with the `__Host-` prefix (on when the site is served over https).
    pub cookie_secure: bool,
    /// Take the client IP from the last `X-Forwarded-For` entry (set when a trusted proxy
    /// such as Traefik is in front; otherwise anyone could pick their own IP).
    pub trust_forwarded_for: bool,
    /// Login attempts per account (also: signups per email, password changes per user), and
    /// login attempts per IP, in each window.
    pub login_per_account: u32,
    pub login_per_ip: u32,
    /// Signups per IP in each window.
    pub signup_per_ip: u32,
    /// Verification mails a user may ask to be resent in each window.
    pub verification_mails_per_account: u32,
    pub window: Duration,
    /// The site's public address (`https://portal.example.org`, no trailing slash needed):
    /// links in mails point there.
    pub public_url: String,
    /// Where mails are written, one RFC 5322 `.eml` file each ([`mail::Outbox`]).
    pub mail_outbox_dir: std::path::PathBuf,
    /// The `From` of every mail.
    pub mail_from: String,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            cookie_secure: false,
            trust_forwarded_for: false,
            login_per_account: 10,
            login_per_ip: 30,
            signup_per_ip: 10,
            verification_mails_per_account: 5,
            window: Duration::from_secs(15 * 60),
            public_url: "http://tenants.localhost".into(),
            mail_outbox_dir: ".dev/mail-outbox".into(),
            mail_from: "tenantd <no-reply@tenants.localhost>".into(),
        }
    }
}

/// Accounts, sessions and their limits. One per process (the rate limits live here).
pub struct Accounts {
    store: Store,
    config: AccountsConfig,
    login_by_account: limits::RateLimiter,
    login_by_ip: limits::RateLimiter,
    signup_by_ip: limits::RateLimiter,
    signup_by_account: limits::RateLimiter,
    verification_by_account: limits::RateLimiter,
}

impl Accounts {
    pub fn new(store: Store, config: AccountsConfig) -> Accounts {
        Accounts {
            login_by_account: limits::RateLimiter::new(config.login_per_account, config.window),
            login_by_ip: limits::RateLimiter::new(config.login_per_ip, config.window),
            signup_by_ip: limits::RateLimiter::new(config.signup_per_ip, config.window),
            signup_by_account: limits::RateLimiter::new(config.login_per_account, config.window),
            verification_by_account: limits::RateLimiter::new(
                config.verification_mails_per_account,
                config.window,
            ),
            store,
            config,
        }
    }

    pub fn config(&self) -> &AccountsConfig {
        &self.config
    }

    /// The session cookie's name: `__Host-` prefixed when secure, so no subdomain can set it.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.config.cookie_secure {
            "__Host-tenantd_session"
        } else {
            "tenantd_session"
        }
    }

    /// The anonymous forms' double-submit CSRF cookie's name.
    pub fn csrf_cookie_name(&self) -> &'static str {
        if self.config.cookie_secure {
            "__Host-tenantd_csrf"
        } else {
            "tenantd_csrf"
        }
    }

    /// `name=value; HttpOnly; SameSite=Lax; Path=/[; Secure][; Max-Age=…]`.
    fn cookie(&self, name: &str, value: &str, max_age: Option<Duration>) -> HeaderValue {
        let mut cookie = format!("{name}={value}; HttpOnly; SameSite=Lax; Path=/");
        if self.config.cookie_secure {
            cookie.push_str("; Secure");
        }
        if let Some(max_age) = max_age {
            cookie.push_str(&format!("; Max-Age={}", max_age.as_secs()));
        }
        HeaderValue::from_str(&cookie).expect("cookie names and hex values are valid header text")
    }

    /// A `Set-Cookie` that removes the session cookie.
    pub fn clear_session_cookie(&self) -> SessionCookie {
        SessionCookie(self.cookie(self.session_cookie_name(), "", Some(Duration::ZERO)))
    }

    /// Creates an account. Validates the email and password (field errors on `email` and
    /// `password`), rate-limits signups per IP and per email (invalid input costs no attempt).
    ///
    /// # Errors
    /// [`Error::Invalid`], [`Error::EmailTaken`], [`Error::RateLimited`], [`Error::Store`].
    pub async fn register(&self, email: &str, password: &str, client: &Client) -> Result<User> {
        self.register_with_role(email, password, Role::User, client)
            .await
    }

    /// [`Accounts::register`] with a role (admins are made by operators, not by the wizard).
    pub async fn register_with_role(
        &self,
        email: &str,
        password: &str,
        role: Role,
        client: &Client,
    ) -> Result<User> {
        let mut errors = Vec::new();
        let email = match email::normalize(email, "email") {
            Ok(email) => email,
            Err(error) => {
                errors.push(error);
                String::new()
            }
        };
        if let Err(e) = password::check(password, &email, "password") {
            errors.extend(e.0);
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(ValidationErrors(errors)));
        }
        limit(&self.signup_by_ip, &ip_key(client))?;
        limit(
            &self.signup_by_account,
            &format!("account:{}", email.to_lowercase()),
        )?;
        let password = password.to_owned();
        let hash = blocking(move || password::hash(&password)).await;
        match self.store.create_user(&email, &hash, role.as_str()).await {
            Ok(record) => Ok(User::from(&record)),
            Err(store::Error::EmailTaken { .. }) => Err(Error::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks the password and opens a session. Every attempt counts against the IP's and
    /// the account's limits; a wrong password and an unknown email are the same error.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        remember: bool,
        client: &Client,
    ) -> Result<(User, SessionCookie)> {
        let email = email.trim().to_lowercase();
        limit(&self.login_by_ip, &ip_key(client))?;
        limit(&self.login_by_account, &format!("account:{email}"))?;
        let record = self.store.user_by_email(&email).await?;
        let stored = record.as_ref().map_or_else(
            || password::dummy_hash().to_owned(),
            |r| r.password_hash.clone(),
        );
        let presented = password.to_owned();
        let (ok, rehash) = blocking(move || {
            let ok = password::verify(&presented, &stored);
            (ok, ok && password::needs_rehash(&stored))
        })
        .await;
        let Some(record) = record.filter(|_| ok) else {
            return Err(Error::BadCredentials);
        };
        if rehash {
            let password = password.to_owned();
            let hash = blocking(move || password::hash(&password)).await;
            self.store.rehash_password(record.id, &hash).await?;
        }
        let cookie = self.open_session(&record, remember, client).await?;
        // Expired sessions are swept here, a cheap indexed delete, instead of by a timer.
        self.store.delete_expired_sessions().await?;
        Ok((User::from(&record), cookie))
    }

    async fn open_session(
        &self,
        record: &UserRecord,
        remember: bool,
        client: &Client,
    ) -> Result<SessionCookie> {
        let token = csrf::new_token();
        let idle = if remember { REMEMBER_FOR } else { SESSION_IDLE };
        self.store
            .create_session(&NewSession {
                id: token_hash(&token),
                user_id: record.id,
                csrf_secret: csrf::new_token(),
                remember,
                expires_at: Utc::now() + idle,
                user_agent: client.user_agent.clone(),
                ip: client.ip.clone(),
            })
            .await?;
        let max_age = remember.then_some(REMEMBER_FOR);
        Ok(SessionCookie(self.cookie(
            self.session_cookie_name(),
            &token,
            max_age,
        )))
    }

    /// The live session named by the request's cookie, sliding its expiry; `None` when there
    /// is no cookie or it names no live session.
    pub async fn session(&self, headers: &HeaderMap) -> Result<Option<Session>> {
        let Some(token) = cookie_value(headers, self.session_cookie_name()) else {
            return Ok(None);
        };
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(record) = self.store.session(&token_hash(token)).await? else {
            return Ok(None);
        };
        self.slide(&record).await?;
        Ok(Some(Session {
            user: User::from(&record.user),
            csrf_token: record.csrf_secret,
            remember: record.remember,
            id: record.id,
        }))
    }

    async fn slide(&self, record: &SessionRecord) -> Result<()> {
        let now = Utc::now();
        if (now - record.last_seen_at).to_std().unwrap_or_default() > TOUCH_EVERY {
            let idle = if record.remember {
                REMEMBER_FOR
            } else {
                SESSION_IDLE
            };
            self.store.touch_session(&record.id, now + idle).await?;
        }
        Ok(())
    }

    /// Ends the session. Repeating it is harmless.
    pub async fn logout(&self, session: &Session) -> Result<()> {
        self.store.delete_session(&session.id).await?;
        Ok(())
    }

    /// Sets a new password after checking the current one, and ends the user's other
    /// sessions (this one stays). Field errors are on `newPassword`.
    pub async fn change_password(&self, session: &Session, current: &str, new: &str) -> Result<()> {
        limit(
            &self.login_by_account,
            &format!("account:{}", session.user.email.to_lowercase()),
        )?;
        let record = self
            .store
            .user_by_id(session.user.id)
            .await?
            .ok_or(Error::NotLoggedIn)?;
        let stored = record.password_hash.clone();
        let presented = current.to_owned();
        if !blocking(move || password::verify(&presented, &stored)).await {
            return Err(Error::WrongCurrentPassword);
        }
        password::check(new, &record.email, "newPassword").map_err(Error::Invalid)?;
        let new = new.to_owned();
        let hash = blocking(move || password::hash(&new)).await;
        self.store
            .change_password(record.id, &hash, Some(&session.id))
            .await?;
        Ok(())
    }

    /// Checks a form's (or header's) CSRF token: against the session's token when logged in,
    /// else against the anonymous double-submit cookie.
    pub fn verify_csrf(
        &self,
        session: Option<&Session>,
        headers: &HeaderMap,
        presented: Option<&str>,
    ) -> Result<()> {
        let expected = match session {
            Some(session) => Some(session.csrf_token.as_str()),
            None => cookie_value(headers, self.csrf_cookie_name()),
        };
        match expected {
            Some(expected) if csrf::matches(expected, presented) => Ok(()),
            _ => Err(Error::Csrf),
        }
    }

    /// The anonymous CSRF token for a form: the cookie's, or a new one with its `Set-Cookie`.
    pub fn anonymous_csrf(&self, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
        match cookie_value(headers, self.csrf_cookie_name())
            .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            Some(token) => (token.to_owned(), None),
            None => {
                let token = csrf::new_token();
                let cookie = self.cookie(self.csrf_cookie_name(), &token, None);
                (token, Some(cookie))
            }
        }
    }

    /// The store, for pages that list a user's tenants.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// SHA-256 of a session token: the key under which the session is stored.
fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn ip_key(client: &Client) -> String {
    format!("ip:{}", client.ip.as_deref().unwrap_or("unknown"))
}

fn limit(limiter: &limits::RateLimiter, key: &str) -> Result<()> {
    limiter
        .take(key, Instant::now())
        .map_err(|retry_after| Error::RateLimited { retry_after })
}

/// Runs CPU-heavy hashing off the async workers, at most one per core at a time: hashing is
/// CPU-bound, so more at once only share the cores, and each holds 19 MiB while it runs, so
/// a burst of logins peaks at cores × 19 MiB instead of logins × 19 MiB.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    });
    let _slot = SLOTS
        .acquire()
        .await
        .expect("the semaphore is never closed");
    tokio::task::spawn_blocking(work)
        .await
        .expect("password hashing does not panic")
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// The field errors of an [`Error::Invalid`] (none for other errors), for pages that show
/// each message next to its field.
pub fn field_errors(error: &Error) -> &[FieldError] {
    match error {
        Error::Invalid(errors) => &errors.0,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_are_found_among_several_cookies_and_headers() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; tenantd_session=abc"));
        headers.append(COOKIE, HeaderValue::from_static("tenantd_csrf=def"));
        assert_eq!(cookie_value(&headers, "tenantd_session"), Some("abc"));
        assert_eq!(cookie_value(&headers, "tenantd_csrf"), Some("def"));
        assert_eq!(cookie_value(&headers, "tenantd"), None);
    }

    #[test]
    fn rate_limit_errors_say_when_to_retry() {
        let error = Error::RateLimited {
            retry_after: Duration::from_secs(90),
        };
        assert_eq!(
            error.to_string(),
            "too many attempts; try again in 2 minute(s)"
        );
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "90");
    }
}
