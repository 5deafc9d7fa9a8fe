//! Extractors for pages and form handlers: the current session, the CSRF token to render,
//! and the client's address.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, IntoResponseParts, Redirect, Response, ResponseParts};

use super::{Accounts, Client, Session};

/// The logged-in session, if any (the expiry slides as a side effect).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Option<Session>);

impl<S> FromRequestParts<S> for CurrentUser
where
    Arc<Accounts>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(current) = parts.extensions.get::<CurrentUser>() {
            return Ok(current.clone());
        }
        let accounts = Arc::<Accounts>::from_ref(state);
        let session = accounts
            .session(&parts.headers)
            .await
            .map_err(IntoResponse::into_response)?;
        let current = CurrentUser(session);
        // Later extractors of the same request (CsrfToken) reuse it instead of querying again.
        parts.extensions.insert(current.clone());
        Ok(current)
    }
}

/// A logged-in session; anonymous visitors are sent to `/login?next=<this path>` (303).
#[derive(Debug, Clone)]
pub struct RequireUser(pub Session);

impl<S> FromRequestParts<S> for RequireUser
where
    Arc<Accounts>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match CurrentUser::from_request_parts(parts, state).await? {
            CurrentUser(Some(session)) => Ok(RequireUser(session)),
            CurrentUser(None) => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let target = format!("/login?next={}", encode_query_value(&next));
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

/// The CSRF token to render into forms (hidden field `csrf`): the session's token when
/// logged in, else the anonymous double-submit token. Return `(csrf.cookie(), page)` so the
/// anonymous cookie is set when it was new.
#[derive(Debug, Clone)]
pub struct CsrfToken {
    token: String,
    set_cookie: Option<HeaderValue>,
}

impl CsrfToken {
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The `Set-Cookie` for a new anonymous token (nothing otherwise).
    pub fn cookie(&self) -> CsrfCookie {
        CsrfCookie(self.set_cookie.clone())
    }
}

/// Response part that sets the anonymous CSRF cookie when it is new.
#[derive(Debug, Clone)]
pub struct CsrfCookie(Option<HeaderValue>);

impl IntoResponseParts for CsrfCookie {
    type Error = std::convert::Infallible;
    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        if let Some(cookie) = self.0 {
            res.headers_mut().append(SET_COOKIE, cookie);
        }
        Ok(res)
    }
}

impl<S> FromRequestParts<S> for CsrfToken
where
    Arc<Accounts>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let CurrentUser(session) = CurrentUser::from_request_parts(parts, state).await?;
        Ok(match session {
            Some(session) => CsrfToken {
                token: session.csrf_token,
                set_cookie: None,
            },
            None => {
                let accounts = Arc::<Accounts>::from_ref(state);
                let (token, set_cookie) = accounts.anonymous_csrf(&parts.headers);
                CsrfToken { token, set_cookie }
            }
        })
    }
}

impl<S> FromRequestParts<S> for Client
where
    Arc<Accounts>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let accounts = Arc::<Accounts>::from_ref(state);
        Ok(client_of(parts, accounts.config().trust_forwarded_for))
    }
}

/// The caller's IP and user agent. With `trust_forwarded_for`, the last `X-Forwarded-For`
/// entry (the one the trusted proxy appended; earlier ones are the client's to choose).
pub fn client_of(parts: &Parts, trust_forwarded_for: bool) -> Client {
    let forwarded = trust_forwarded_for
        .then(|| {
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .rfind(|ip| !ip.is_empty())
                .map(str::to_owned)
        })
        .flatten();
    let connected = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string());
    Client {
        ip: forwarded.or(connected),
        user_agent: parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
    }
}

/// Percent-encodes a query value: everything but unreserved characters and `/` (which a
/// query may hold as it is, and which keeps a `next=` path readable).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_parameter_is_percent_encoded() {
        assert_eq!(
            encode_query_value("/dashboard?q=a b&x=1"),
            "/dashboard%3Fq%3Da%20b%26x%3D1"
        );
    }

    #[test]
    fn only_a_trusted_proxy_chooses_the_client_ip() {
        let (mut parts, ()) = axum::http::Request::builder()
            .header("x-forwarded-for", "6.6.6.6, 10.0.0.7")
            .body(())
            .unwrap()
            .into_parts();
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
        assert_eq!(client_of(&parts, true).ip.as_deref(), Some("10.0.0.7"));
        assert_eq!(client_of(&parts, false).ip.as_deref(), Some("127.0.0.1"));
    }
}
