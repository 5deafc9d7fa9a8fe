//! Step 3's subdomain check: is a subdomain valid, reserved, taken or free, and which free
//! alternatives to offer. The rules are the API's ([`crate::resource::name_errors`]); only
//! "is it taken" needs the database, and one query answers it for the name and every
//! suggestion together.
//!
//! # Guarantees
//! - A subdomain reported available passed every rule a Tenant's subdomain must pass.
//! - Suggestions are valid, free at the time of the check, and never the name asked for.
//!   (Free now is not reserved: step 5's create decides races, and the loser is sent back
//!   here with new suggestions.)

use serde::Serialize;

use crate::resource::{MAX_NAME_LEN, name_errors};
use crate::store::{self, Store};

/// How many alternatives are offered.
pub const SUGGESTIONS: usize = 3;

/// The verdict on one subdomain, as the page and the live check show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `available`, `invalid`, `reserved` or `taken`.
    pub status: &'static str,
    /// For a person: why, and what to do.
    pub message: String,
    /// The final address, shown as a preview.
    pub url: Option<String>,
    pub suggestions: Vec<String>,
}

impl Verdict {
    pub fn available(&self) -> bool {
        self.status == "available"
    }
}

/// The rules' verdict without the database: `Err((status, message))` for invalid or
/// reserved names.
pub fn check_rules(name: &str) -> Result<(), (&'static str, String)> {
    let errors = name_errors("subdomain", name);
    if errors.is_empty() {
        return Ok(());
    }
    let status = if errors.iter().all(|e| e.rule == "reserved") {
        "reserved"
    } else {
        "invalid"
    };
    let message = errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Err((status, format!("This address {message}.")))
}

/// A valid label made from whatever was typed ("My Lab!" → "my-lab"), for suggestions.
pub fn normalize(typed: &str) -> String {
    let mut out = String::new();
    for c in typed.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.chars().take(MAX_NAME_LEN - 9).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.get(2..4) == Some("--") {
        out.replace_range(2..4, "-");
    }
    if out.is_empty() { "study".into() } else { out }
}

/// Alternatives to `typed`, best first; every one passes the rules and differs from `typed`.
pub fn candidates(typed: &str) -> Vec<String> {
    let base = normalize(typed);
    let mut out: Vec<String> = Vec::new();
    let mut push = |candidate: String| {
        if candidate != typed
            && name_errors("s", &candidate).is_empty()
            && !out.contains(&candidate)
        {
            out.push(candidate);
        }
    };
    push(base.clone());
    for suffix in ["lab", "study", "research", "team", "project"] {
        push(format!("{base}-{suffix}"));
    }
    for n in 2..=9 {
        push(format!("{base}-{n}"));
    }
    out
}

/// The full verdict for `typed`: rules first, then one query for it and its alternatives.
pub async fn check(
    store: &Store,
    typed: &str,
    scheme: &str,
    base_domain: &str,
) -> Result<Verdict, store::Error> {
    let typed = typed.trim();
    let rules = check_rules(typed);
    let mut asked = candidates(typed);
    if rules.is_ok() {
        asked.push(typed.to_owned());
    }
    let taken = store.taken_names(&asked).await?;
    let suggestions: Vec<String> = candidates(typed)
        .into_iter()
        .filter(|c| !taken.contains(c))
        .take(SUGGESTIONS)
        .collect();
    let url = |name: &str| format!("{scheme}://{name}.{base_domain}");
    Ok(match rules {
        Err((status, message)) => Verdict {
            status,
            message,
            url: None,
            suggestions,
        },
        Ok(()) if taken.contains(typed) => Verdict {
            status: "taken",
            message: format!(
                "{typed} is already taken. Try one of the suggestions, or another name."
            ),
            url: Some(url(typed)),
            suggestions,
        },
        Ok(()) => Verdict {
            status: "available",
            message: format!("{typed} is available."),
            url: Some(url(typed)),
            suggestions: Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_tell_reserved_from_invalid() {
        assert_eq!(check_rules("acme-lab"), Ok(()));
        let (status, message) = check_rules("admin").unwrap_err();
        assert_eq!(status, "reserved");
        assert!(message.contains("reserved"), "{message}");
        let (status, message) = check_rules("Acme Lab").unwrap_err();
        assert_eq!(status, "invalid");
        assert!(message.contains("lowercase"), "{message}");
        assert_eq!(check_rules("").unwrap_err().0, "invalid");
        assert_eq!(check_rules("-acme").unwrap_err().0, "invalid");
        assert_eq!(check_rules(&"a".repeat(41)).unwrap_err().0, "invalid");
    }

    #[test]
    fn what_was_typed_is_normalized_into_a_valid_base() {
        assert_eq!(normalize("  My Lab!  "), "my-lab");
        assert_eq!(normalize("Ünï Köln"), "n-k-ln", "only ASCII survives");
        assert_eq!(normalize("---"), "study");
        assert_eq!(normalize("xn--abc"), "xn-abc");
        assert!(normalize(&"a".repeat(100)).len() <= MAX_NAME_LEN - 9);
    }

    #[test]
    fn candidates_are_valid_distinct_and_never_the_typed_name() {
        for typed in [
            "acme",
            "Acme Lab",
            "admin",
            "a",
            &"x".repeat(40),
            "-",
            "www",
        ] {
            let all = candidates(typed);
            assert!(all.len() >= SUGGESTIONS, "{typed}: {all:?}");
            for c in &all {
                assert!(name_errors("s", c).is_empty(), "{typed}: {c} is invalid");
                assert_ne!(c, typed);
            }
            let mut dedup = all.clone();
            dedup.dedup();
            assert_eq!(dedup, all);
        }
        assert_eq!(&candidates("acme")[..2], ["acme-lab", "acme-study"]);
        assert_eq!(candidates("Acme Lab")[0], "acme-lab");
    }
}
