//! Who is calling: bearer tokens checked in constant time, or a web session cookie (with a
//! CSRF header on writes), and what a caller may see.
//!
//! # Guarantees
//! - A missing or wrong token gets the same 401, in time that does not depend on how much of
//!   a token matched (tokens are compared as SHA-256 digests with `subtle`).
//! - A caller that may not see a tenant gets 404, exactly as if it did not exist.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiState;
use super::error::ApiError;
use crate::accounts::{Role, Session, csrf};
use crate::resource::Tenant;

/// The header that carries the session's CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller, put into the request's extensions by [`require_auth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An admin token: sees and acts on every tenant.
    Admin { token: usize },
    /// A web user with the `admin` role (by session cookie): sees and acts on every tenant,
    /// like an admin token; tenants it creates without an owner are recorded as its own.
    AdminUser { id: String },
    /// A web user (by session cookie): sees only the tenants it owns (`metadata.owner`).
    User { id: String },
}

impl Principal {
    pub fn can_see(&self, tenant: &Tenant) -> bool {
        self.can_see_owner(tenant.metadata.owner.as_deref())
    }

    /// Whether this caller may see a tenant with this owner.
    pub fn can_see_owner(&self, owner: Option<&str>) -> bool {
        match self {
            Principal::Admin { .. } | Principal::AdminUser { .. } => true,
            Principal::User { id } => owner == Some(id.as_str()),
        }
    }

    /// Admins (tokens or users) may see platform-wide state such as the specs folder sync.
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Admin { .. } | Principal::AdminUser { .. })
    }

    /// The owner recorded on a tenant this caller creates.
    pub fn owner_for_new(&self) -> Option<String> {
        match self {
            Principal::Admin { .. } => None,
            Principal::AdminUser { id } | Principal::User { id } => Some(id.clone()),
        }
    }

    /// The key writes are rate-limited by.
    pub fn rate_key(&self) -> String {
        match self {
            Principal::Admin { token } => format!("admin:{token}"),
            Principal::AdminUser { id } | Principal::User { id } => format!("user:{id}"),
        }
    }

    /// The principal of a web session.
    pub fn of_session(session: &Session) -> Principal {
        let id = session.user.id.to_string();
        match session.user.role {
            Role::Admin => Principal::AdminUser { id },
            Role::User => Principal::User { id },
        }
    }
}

/// The configured admin tokens, kept only as digests.
pub struct Tokens {
    digests: Vec<[u8; 32]>,
}

impl Tokens {
    pub fn new(tokens: &[String]) -> Tokens {
        Tokens {
            digests: tokens.iter().map(|t| digest(t)).collect(),
        }
    }

    /// The index of the matching token. Every configured token is compared, matched or not.
    pub fn check(&self, presented: &str) -> Option<usize> {
        let presented = digest(presented);
        let mut found = None;
        for (index, known) in self.digests.iter().enumerate() {
            if bool::from(known.ct_eq(&presented)) {
                found = Some(index);
            }
        }
        found
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Middleware: resolves the caller or answers 401.
///
/// A request with an `Authorization` header is judged by its bearer token alone. Without
/// one, a web session cookie authenticates the user; then an unsafe method (anything but
/// GET, HEAD, OPTIONS) must carry the session's CSRF token in `X-CSRF-Token`, else 403 and
/// nothing happens. Bearer requests need no CSRF token: browsers never add them by themselves.
pub async fn require_auth(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = if let Some(header) = request.headers().get(AUTHORIZATION) {
        header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .and_then(|token| state.tokens.check(token))
            .map(|token| Principal::Admin { token })
            .ok_or_else(ApiError::unauthorized)?
    } else {
        let session = state
            .accounts
            .session(request.headers())
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(ApiError::unauthorized)?;
        let safe = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        let presented = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok());
        if !safe && !csrf::matches(&session.csrf_token, presented) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "a write with a session cookie needs the session's CSRF token in the X-CSRF-Token header",
            ));
        }
        Principal::of_session(&session)
    };
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_configured_token_matches_and_its_index_is_returned() {
        let tokens = Tokens::new(&["first-secret".into(), "second-secret".into()]);
        assert_eq!(tokens.check("second-secret"), Some(1));
        assert_eq!(tokens.check("second-secre"), None);
        assert_eq!(tokens.check(""), None);
    }

    #[test]
    fn users_see_only_their_own_tenants() {
        let mut tenant = Tenant {
            api_version: "tenantd/v1".into(),
            kind: "Tenant".into(),
            metadata: Default::default(),
            spec: Default::default(),
            status: None,
        };
        tenant.metadata.owner = Some("alice".into());
        assert!(Principal::User { id: "alice".into() }.can_see(&tenant));
        assert!(!Principal::User { id: "bob".into() }.can_see(&tenant));
        assert!(Principal::Admin { token: 0 }.can_see(&tenant));
        assert!(Principal::AdminUser { id: "carol".into() }.can_see(&tenant));
    }
}
