//! `GET /verify-email?token=…`: the link in the verification mail.
//!
//! # Guarantees
//! - A valid link marks the address verified and says so (200); a used (409), expired
//!   (410) or unknown (400) link changes nothing and says what to do instead.
//! - Works without logging in (a mail is often opened on another device).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::accounts::Error;
use crate::accounts::verification::Outcome;
use crate::web::PortalState;
use crate::web::chrome::Chrome;

#[derive(Debug, Template, WebTemplate)]
#[template(path = "verify_email.html")]
pub struct VerifyEmailPage {
    pub chrome: Chrome,
    /// `verified`, `used`, `expired` or `invalid`: picks the page's wording.
    pub outcome: &'static str,
}

#[derive(Debug, Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    pub token: String,
}

/// The page's wording key and status for an outcome.
pub fn answer(outcome: Outcome) -> (&'static str, StatusCode) {
    match outcome {
        Outcome::Verified => ("verified", StatusCode::OK),
        Outcome::AlreadyUsed => ("used", StatusCode::CONFLICT),
        Outcome::Expired => ("expired", StatusCode::GONE),
        Outcome::Invalid => ("invalid", StatusCode::BAD_REQUEST),
    }
}

pub async fn verify_email(
    State(state): State<PortalState>,
    chrome: Chrome,
    Query(query): Query<VerifyQuery>,
) -> Result<Response, Error> {
    let outcome = state.site.accounts.verify_email(&query.token).await?;
    let (outcome, status) = answer(outcome);
    Ok((status, VerifyEmailPage { chrome, outcome }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_says_what_happened_and_what_to_do() {
        for (outcome, status, words) in [
            (Outcome::Verified, 200, "Your email address is verified"),
            (Outcome::AlreadyUsed, 409, "already been used"),
            (Outcome::Expired, 410, "expired"),
            (Outcome::Invalid, 400, "does not work"),
        ] {
            let (key, code) = answer(outcome);
            assert_eq!(code.as_u16(), status);
            let html = VerifyEmailPage {
                chrome: Chrome::anonymous(""),
                outcome: key,
            }
            .render()
            .unwrap();
            assert!(html.contains(words), "{outcome:?}: {html}");
            if outcome != Outcome::Verified {
                assert!(
                    html.contains(r#"href="/settings""#),
                    "{outcome:?} points to resend"
                );
            }
        }
    }
}
