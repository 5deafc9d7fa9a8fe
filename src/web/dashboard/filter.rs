//! The overview's search and status filter: what `?q=` and `?status=` mean.
//!
//! # Guarantees
//! - Pure, and forgiving: an unknown status shows every tenant (and says so) rather than
//!   failing; the search is a case-insensitive substring of the name or the address.
//! - The same rules run in `app.js` for filter-as-you-type; this one decides without it.

use crate::resource::Phase;

/// The statuses a person can filter by, in the order the select lists them.
pub const STATUSES: [Phase; 6] = [
    Phase::Ready,
    Phase::Provisioning,
    Phase::Pending,
    Phase::Stopped,
    Phase::Degraded,
    Phase::Terminating,
];

/// The longest search kept (a tenant name is at most 40 characters; an address a bit more).
const MAX_QUERY_CHARS: usize = 100;

/// A parsed filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The search as typed (trimmed, cut to a sane length); empty for none.
    pub query: String,
    /// Only tenants in this phase; `None` for all.
    pub status: Option<Phase>,
    /// The `status` parameter named no phase (shown as a hint; the filter is off).
    pub unknown_status: bool,
}

impl Filter {
    /// From the query parameters.
    pub fn parse(query: Option<&str>, status: Option<&str>) -> Filter {
        let query: String = query
            .unwrap_or("")
            .trim()
            .chars()
            .take(MAX_QUERY_CHARS)
            .collect();
        let status_text = status.unwrap_or("").trim();
        let status = STATUSES
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(status_text));
        Filter {
            query,
            unknown_status: status.is_none() && !status_text.is_empty(),
            status,
        }
    }

    /// Whether any filter is on.
    pub fn is_active(&self) -> bool {
        !self.query.is_empty() || self.status.is_some()
    }

    /// Whether a tenant with this name, address and phase passes.
    pub fn matches(&self, name: &str, url: &str, phase: Phase) -> bool {
        if self.status.is_some_and(|wanted| wanted != phase) {
            return false;
        }
        if self.query.is_empty() {
            return true;
        }
        let needle = self.query.to_lowercase();
        name.to_lowercase().contains(&needle) || url.to_lowercase().contains(&needle)
    }

    /// The lower-case name of the status filter, as the select's value (`""` for all).
    pub fn status_value(&self) -> String {
        self.status
            .map(|p| p.as_str().to_lowercase())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_parameters_mean_no_filter() {
        let filter = Filter::parse(None, None);
        assert!(!filter.is_active());
        assert!(filter.matches("acme", "https://acme.example.test", Phase::Stopped));
        assert_eq!(filter.status_value(), "");
    }

    #[test]
    fn the_search_is_a_case_insensitive_substring_of_name_or_address() {
        let filter = Filter::parse(Some("  LAB "), None);
        assert_eq!(filter.query, "LAB");
        assert!(filter.matches("acme-lab", "https://acme-lab.t", Phase::Ready));
        assert!(filter.matches("x", "https://my-lab.t", Phase::Ready));
        assert!(!filter.matches("acme", "https://acme.t", Phase::Ready));
    }

    #[test]
    fn the_status_filter_keeps_only_that_phase_whatever_its_case() {
        let filter = Filter::parse(None, Some("stopped"));
        assert_eq!(filter.status, Some(Phase::Stopped));
        assert_eq!(filter.status_value(), "stopped");
        assert!(filter.matches("a", "u", Phase::Stopped));
        assert!(!filter.matches("a", "u", Phase::Ready));
        assert_eq!(
            Filter::parse(None, Some("READY")).status,
            Some(Phase::Ready)
        );
    }

    #[test]
    fn search_and_status_combine() {
        let filter = Filter::parse(Some("lab"), Some("ready"));
        assert!(filter.matches("lab-1", "u", Phase::Ready));
        assert!(!filter.matches("lab-1", "u", Phase::Stopped));
        assert!(!filter.matches("other", "u", Phase::Ready));
    }

    #[test]
    fn an_unknown_status_turns_the_status_filter_off_and_is_flagged() {
        let filter = Filter::parse(None, Some("sleeping"));
        assert_eq!(filter.status, None);
        assert!(filter.unknown_status);
        assert!(filter.matches("a", "u", Phase::Degraded));
        assert!(
            !Filter::parse(None, Some("")).unknown_status,
            "the select's All"
        );
    }

    #[test]
    fn a_huge_search_is_cut_short() {
        let filter = Filter::parse(Some(&"x".repeat(10_000)), None);
        assert_eq!(filter.query.chars().count(), MAX_QUERY_CHARS);
    }
}
