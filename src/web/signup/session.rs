//! The wizard's own session: a cookie naming a `signup_sessions` row (see
//! [`crate::store::signup`]), separate from the login session because the wizard starts
//! before there is an account.
//!
//! # Guarantees
//! - The cookie holds 256 random bits; the database holds only their SHA-256.
//! - The cookie is `HttpOnly; SameSite=Lax; Path=/signup` (and `Secure` with the `__Host-`
//!   prefix over https, where the path must then be `/`). Every wizard response sets it again
//!   with one hour to live, so it slides with the row's expiry.
//! - An expired or unknown cookie starts a new wizard; it never resurrects an old one.

use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponseParts, ResponseParts};
use sha2::{Digest, Sha256};

use crate::accounts::{Accounts, cookie_value, csrf};
use crate::store::signup::{SIGNUP_IDLE, SignupRecord};
use crate::store::{self, Store};

/// A live wizard session.
#[derive(Debug, Clone)]
pub struct WizardSession {
    /// SHA-256 of the cookie's token: the row's key.
    pub id: [u8; 32],
    pub record: SignupRecord,
}

/// The `Set-Cookie` of the wizard session, refreshed to one more hour.
#[derive(Debug, Clone)]
pub struct WizardCookie(Option<HeaderValue>);

impl IntoResponseParts for WizardCookie {
    type Error = std::convert::Infallible;
    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        if let Some(cookie) = self.0 {
            res.headers_mut().append(SET_COOKIE, cookie);
        }
        Ok(res)
    }
}

fn cookie_name(accounts: &Accounts) -> &'static str {
    if accounts.config().cookie_secure {
        "__Host-tenantd_signup"
    } else {
        "tenantd_signup"
    }
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The live wizard session named by the request's cookie, with its refreshed cookie.
pub async fn current(
    accounts: &Accounts,
    headers: &HeaderMap,
) -> Result<Option<(WizardSession, WizardCookie)>, store::Error> {
    let Some(token) = cookie_value(headers, cookie_name(accounts))
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return Ok(None);
    };
    let id = token_hash(token);
    Ok(accounts
        .store()
        .signup_session(&id)
        .await?
        .map(|record| (WizardSession { id, record }, cookie(accounts, token))))
}

/// The live wizard session, or a new one (for `user`, when logged in), with its cookie.
pub async fn current_or_start(
    accounts: &Accounts,
    headers: &HeaderMap,
    user: Option<uuid::Uuid>,
) -> Result<(WizardSession, WizardCookie), store::Error> {
    if let Some(found) = current(accounts, headers).await? {
        return Ok(found);
    }
    start(accounts, accounts.store(), user).await
}

async fn start(
    accounts: &Accounts,
    store: &Store,
    user: Option<uuid::Uuid>,
) -> Result<(WizardSession, WizardCookie), store::Error> {
    // Expired rows are swept when a wizard starts: a cheap indexed delete, no timer.
    store.delete_expired_signup_sessions().await?;
    let token = csrf::new_token();
    let id = token_hash(&token);
    let record = store.create_signup_session(&id, user).await?;
    Ok((WizardSession { id, record }, cookie(accounts, &token)))
}

fn cookie(accounts: &Accounts, token: &str) -> WizardCookie {
    let mut cookie = format!(
        "{}={token}; HttpOnly; SameSite=Lax; Max-Age={}",
        cookie_name(accounts),
        SIGNUP_IDLE.num_seconds()
    );
    // `__Host-` cookies must have `Path=/`; without the prefix the wizard's path suffices.
    cookie.push_str(if accounts.config().cookie_secure {
        "; Path=/; Secure"
    } else {
        "; Path=/signup"
    });
    WizardCookie(Some(
        HeaderValue::from_str(&cookie).expect("cookie names and hex tokens are header text"),
    ))
}
