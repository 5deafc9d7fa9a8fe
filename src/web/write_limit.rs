//! The API's per-user write limit, applied to the pages that write tenants too (the
//! dashboard's actions and edits, the wizard's deploy and retry), so a form is no way around it.
//!
//! # Guarantees
//! - A user's tenant writes from the pages and from the API draw on one bucket (the
//!   [`WriteLimiter`](crate::api::limits::WriteLimiter) keyed by [`Principal::rate_key`]), so
//!   the limit holds whichever way they come.
//! - A refused write gets a 429 page that says when to try again (and `Retry-After`), and
//!   its handler does not run, so nothing changes.
//! - Only logged-in POSTs under [`TENANT_WRITE_PATHS`] are counted. Anonymous ones pass to
//!   their handlers, which send the visitor to log in; the session found here is reused by
//!   the handler's own extractor, so this costs no extra query.

use std::time::Instant;

use askama::Template;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::PortalState;
use super::chrome::Chrome;
use crate::accounts::CurrentUser;
use crate::api::auth::Principal;

/// Path prefixes whose POSTs write tenants.
pub const TENANT_WRITE_PATHS: &[&str] = &["/dashboard/", "/signup/deploy"];

/// The page for a refused write.
#[derive(Debug, Template)]
#[template(path = "too_many_writes.html")]
pub struct TooManyWritesPage {
    pub chrome: Chrome,
    pub retry_after_seconds: u64,
}

/// Middleware: a logged-in user's tenant writes beyond their rate get the 429 page.
pub async fn limit_tenant_writes(
    State(state): State<PortalState>,
    request: Request,
    next: Next,
) -> Response {
    if !is_tenant_write(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let session = match CurrentUser::from_request_parts(&mut parts, &state).await {
        Ok(CurrentUser(session)) => session,
        Err(rejection) => return rejection,
    };
    if let Some(session) = &session {
        let key = Principal::of_session(session).rate_key();
        if let Err(wait) = state.api.write_limiter.take(&key, Instant::now()) {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            let page = TooManyWritesPage {
                chrome: Chrome::of_session(session, "dashboard"),
                retry_after_seconds: seconds,
            };
            let mut response =
                (StatusCode::TOO_MANY_REQUESTS, askama_web::WebTemplate(page)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            return response;
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Whether a request writes tenants (and so draws on the write limit).
fn is_tenant_write(method: &Method, path: &str) -> bool {
    *method == Method::POST && TENANT_WRITE_PATHS.iter().any(|p| path.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_posts_that_write_tenants_are_counted() {
        assert!(is_tenant_write(
            &Method::POST,
            "/dashboard/tenants/acme/restart"
        ));
        assert!(is_tenant_write(&Method::POST, "/signup/deploy"));
        assert!(is_tenant_write(&Method::POST, "/signup/deploy/retry"));
        assert!(!is_tenant_write(&Method::GET, "/dashboard/tenants/acme"));
        assert!(!is_tenant_write(&Method::POST, "/signup/account"));
        assert!(!is_tenant_write(&Method::POST, "/login"));
        assert!(!is_tenant_write(&Method::POST, "/dashboardx"));
    }
}
