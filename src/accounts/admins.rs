//! The admin bootstrap: the `web_admins` config lists emails whose accounts get the admin
//! role at startup (so the first admin needs no database access).
//!
//! # Guarantees
//! - Only accounts whose address is **verified** are promoted. Otherwise anyone who signed
//!   up first with a listed address (which they need not own) would become an admin; a
//!   verified address proves the account holder reads that mailbox.
//! - Nobody is demoted: an admin not (or no longer) listed keeps the role, since admins can
//!   also be made otherwise (`Store::set_user_role`). Removing the role is an explicit act.
//! - Repeating it is harmless (promoting an admin changes nothing).
//!
//! # Caveats
//! - It runs at startup only: a listed user who verifies later is promoted at the next start.

use super::{Accounts, Result, Role, email};
use crate::store::UserRecord;

/// Parses a comma-separated list of emails (the `TENANTD_WEB_ADMINS` form): entries are
/// trimmed, empty ones skipped, each normalized like a signup address and lowercased, and
/// duplicates dropped. An invalid entry is an error naming it.
pub fn parse_list(text: &str) -> Result<Vec<String>, String> {
    normalize_list(text.split(','))
}

/// [`parse_list`] for a list that is already split (the config file's YAML list).
pub fn normalize_list<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, String> {
    let mut emails = Vec::new();
    for entry in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
        let email = email::normalize(entry, "web_admins")
            .map_err(|e| format!("`{entry}` is not an email address: {}", e.message))?
            .to_lowercase();
        if !emails.contains(&email) {
            emails.push(email);
        }
    }
    Ok(emails)
}

/// What the bootstrap did with each listed address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bootstrap {
    /// Made admins now.
    pub promoted: Vec<String>,
    /// Admins already.
    pub already: Vec<String>,
    /// Accounts that exist but whose address is not verified: left as they are.
    pub unverified: Vec<String>,
    /// No account with this address.
    pub missing: Vec<String>,
}

/// Decides, for the `listed` (normalized) emails and the accounts found for them, who is
/// promoted; pure, so the policy is tested without a database.
pub fn decide(listed: &[String], users: &[UserRecord]) -> Bootstrap {
    let mut outcome = Bootstrap::default();
    for email in listed {
        match users.iter().find(|u| u.email.to_lowercase() == *email) {
            None => outcome.missing.push(email.clone()),
            Some(user) if user.role == Role::Admin.as_str() => outcome.already.push(email.clone()),
            Some(user) if user.email_verified_at.is_none() => {
                outcome.unverified.push(email.clone())
            }
            Some(_) => outcome.promoted.push(email.clone()),
        }
    }
    outcome
}

impl Accounts {
    /// Gives the admin role to the verified accounts among `emails` (normalized, see
    /// [`parse_list`]), logs what it did, and returns it.
    pub async fn bootstrap_admins(&self, emails: &[String]) -> Result<Bootstrap> {
        if emails.is_empty() {
            return Ok(Bootstrap::default());
        }
        let users = self.store.users_by_emails(emails).await?;
        let outcome = decide(emails, &users);
        for email in &outcome.promoted {
            let user = users
                .iter()
                .find(|u| u.email.to_lowercase() == *email)
                .expect("decide promotes only users it was given");
            self.store
                .set_user_role(user.id, Role::Admin.as_str())
                .await?;
            tracing::info!(email = %email, "web_admins: granted the admin role");
        }
        for email in &outcome.unverified {
            tracing::warn!(
                email = %email,
                "web_admins: this account's email is not verified, so it was not made an admin; \
                 verify it (the link is in the mail outbox, or resend it from /settings) and restart"
            );
        }
        for email in &outcome.missing {
            tracing::info!(email = %email, "web_admins: no account with this email yet");
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn the_admin_list_is_trimmed_normalized_and_deduplicated() {
        assert_eq!(
            parse_list(" Ada@Example.ORG, ,bob@example.org,ada@example.org,").unwrap(),
            vec!["ada@example.org".to_owned(), "bob@example.org".to_owned()]
        );
        assert_eq!(parse_list("").unwrap(), Vec::<String>::new());
        let err = parse_list("ada@example.org, not-an-email").unwrap_err();
        assert!(err.contains("`not-an-email`"), "{err}");
    }

    fn user(email: &str, role: &str, verified: bool) -> UserRecord {
        UserRecord {
            id: uuid::Uuid::new_v4(),
            email: email.into(),
            password_hash: "$argon2id$x".into(),
            role: role.into(),
            email_verified_at: verified.then(Utc::now),
            created_at: Utc::now(),
            password_changed_at: Utc::now(),
        }
    }

    #[test]
    fn only_verified_listed_accounts_are_promoted() {
        let listed =
            parse_list("ada@example.org, bob@example.org, cy@example.org, dee@example.org")
                .unwrap();
        let users = [
            user("Ada@example.org", "user", true),
            user("bob@example.org", "user", false),
            user("cy@example.org", "admin", true),
            user("eve@example.org", "user", true),
        ];
        assert_eq!(
            decide(&listed, &users),
            Bootstrap {
                promoted: vec!["ada@example.org".into()],
                already: vec!["cy@example.org".into()],
                unverified: vec!["bob@example.org".into()],
                missing: vec!["dee@example.org".into()],
            }
        );
    }
}
