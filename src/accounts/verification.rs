//! Email verification: a single-use link with a 256-bit random token, mailed to the address
//! (through the [`mail`] outbox), valid for 24 hours. Following it marks the user verified.
//!
//! # Guarantees
//! - Only the SHA-256 of a token is stored ([`token_key`]); the token exists only in the mail.
//! - A link works once and for [`LINK_LIFETIME`]; a used, expired, forged or malformed token
//!   changes nothing (the store consumes a link in one transaction, see
//!   `store::verification`).
//! - A link verifies only the address it was sent to.
//! - Resending is rate-limited per account ([`Accounts::resend_email_verification`]).
//!
//! # Caveats
//! - Every link sent stays valid until used or expired; resending does not revoke earlier
//!   links (each verifies the same address, so none grants more than another).

use std::time::Duration;

use chrono::Utc;
use sha2::{Digest, Sha256};

use super::mail::{Mail, Outbox};
use super::{Accounts, Error, Result, Session, User, csrf, limit};
use crate::store::Consumed;

/// How long a verification link works.
pub const LINK_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What following a link did, as the page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The address is verified now.
    Verified,
    /// The link was used before (the address may well be verified already).
    AlreadyUsed,
    Expired,
    /// Not a link we sent: mistyped, cut off, forged, or for an address changed since.
    Invalid,
}

/// The stored key of a link's token: the SHA-256 of its text, when the token has the shape
/// of ours (64 hex digits); `None` otherwise, so garbage never reaches the database.
pub fn token_key(token: &str) -> Option<[u8; 32]> {
    (token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| Sha256::digest(token.to_ascii_lowercase().as_bytes()).into())
}

/// `<public_url>/verify-email?token=<token>` (the token is hex, so it needs no escaping).
pub fn link(public_url: &str, token: &str) -> String {
    format!(
        "{}/verify-email?token={token}",
        public_url.trim_end_matches('/')
    )
}

/// The verification mail for `to` with its link.
pub fn message(from: &str, to: &str, link: &str) -> Mail {
    Mail {
        from: from.to_owned(),
        to: to.to_owned(),
        subject: "Verify your email address for tenantd".into(),
        body: format!(
            "Hello,\n\
             \n\
             please confirm that {to} is your email address by opening this link:\n\
             \n\
             {link}\n\
             \n\
             The link works once and for 24 hours. If it has expired, log in and choose\n\
             \"Resend verification email\" on your settings page.\n\
             \n\
             If you did not create an account on tenantd, ignore this message.\n\
             \n\
             -- \n\
             tenantd, hosted Network Canvas Fresco\n"
        ),
    }
}

/// The domain of a `Name <user@domain>` or `user@domain` address (for Message-IDs).
fn domain_of(from: &str) -> &str {
    from.rsplit_once('@').map_or("localhost", |(_, domain)| {
        domain.trim_end_matches('>').trim()
    })
}

impl Accounts {
    /// Creates a verification link for the user's address and writes its mail to the
    /// outbox. The signup wizard calls it right after registering.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Mail`] (the link is recorded but its mail was not written:
    /// the user can resend it from the settings page).
    pub async fn start_email_verification(&self, user: &User) -> Result<()> {
        let token = csrf::new_token();
        let key = token_key(&token).expect("csrf::new_token gives 64 hex digits");
        let expires_at = Utc::now()
            + chrono::Duration::from_std(LINK_LIFETIME).expect("24 hours fit a chrono duration");
        self.store
            .create_email_verification(&key, user.id, &user.email, expires_at)
            .await?;
        let from = &self.config.mail_from;
        let mail = message(from, &user.email, &link(&self.config.public_url, &token));
        let path = Outbox::new(&self.config.mail_outbox_dir)
            .send(&mail, domain_of(from))
            .await?;
        tracing::info!(user = %user.id, path = %path.display(), "verification mail written to the outbox");
        Ok(())
    }

    /// [`Accounts::start_email_verification`] for the settings page's "resend" button:
    /// nothing when the address is verified already (returns false), and at most
    /// `verification_mails_per_account` mails per window.
    ///
    /// # Errors
    /// [`Error::RateLimited`], and those of [`Accounts::start_email_verification`].
    pub async fn resend_email_verification(&self, session: &Session) -> Result<bool> {
        let record = self
            .store
            .user_by_id(session.user.id)
            .await?
            .ok_or(Error::NotLoggedIn)?;
        let user = User::from(&record);
        if user.email_verified {
            return Ok(false);
        }
        limit(
            &self.verification_by_account,
            &format!("account:{}", user.email.to_lowercase()),
        )?;
        self.start_email_verification(&user).await?;
        Ok(true)
    }

    /// Follows a verification link's token.
    pub async fn verify_email(&self, token: &str) -> Result<Outcome> {
        let Some(key) = token_key(token.trim()) else {
            return Ok(Outcome::Invalid);
        };
        Ok(match self.store.consume_email_verification(&key).await? {
            Consumed::Verified { user_id } => {
                tracing::info!(user = %user_id, "email address verified");
                Outcome::Verified
            }
            Consumed::AlreadyUsed => Outcome::AlreadyUsed,
            Consumed::Expired => Outcome::Expired,
            Consumed::Unknown => Outcome::Invalid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_stored_as_the_sha256_of_its_text_and_only_our_shape_is_looked_up() {
        let token = "ab".repeat(32);
        let expected: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        assert_eq!(token_key(&token), Some(expected));
        assert_eq!(
            token_key(&token.to_uppercase()),
            Some(expected),
            "hex is case-insensitive, as a mail client may change it"
        );
        assert_ne!(token_key(&"cd".repeat(32)), Some(expected));
        for bad in [
            "",
            "abc",
            &"ab".repeat(31),
            &format!("{}zz", "ab".repeat(31)),
            &"ab".repeat(33),
        ] {
            assert_eq!(token_key(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_mail_carries_the_link_under_the_public_url() {
        let token = "0f".repeat(32);
        let link = link("https://portal.example.org/", &token);
        assert_eq!(
            link,
            format!("https://portal.example.org/verify-email?token={token}")
        );
        let mail = message("tenantd <no-reply@example.org>", "ada@example.org", &link);
        assert_eq!(mail.to, "ada@example.org");
        assert!(
            mail.body.contains(&format!("\n{link}\n")),
            "the link is on its own line"
        );
        assert!(mail.body.contains("24 hours"));
        let eml = mail.to_eml(Utc::now(), "<1@example.org>").unwrap();
        assert!(eml.lines().all(|l| l.len() <= 998), "RFC 5322 line limit");
    }

    #[test]
    fn message_ids_take_the_domain_of_the_sender() {
        assert_eq!(
            domain_of("tenantd <no-reply@tenants.example.org>"),
            "tenants.example.org"
        );
        assert_eq!(domain_of("no-reply@example.org"), "example.org");
        assert_eq!(domain_of("nobody"), "localhost");
    }
}
