//! Step 5's progress: the checklist a person sees while their tenant is provisioned, the
//! estimate of the time left, and a failure in plain words. Pure: computed from the
//! tenant's status (its conditions) and recent provisioning times.
//!
//! # Guarantees
//! - An item is ticked only when the condition behind it is True for the current
//!   generation; a stale status ticks nothing.
//! - A failure is reported only for a Degraded tenant, with what the person can do.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::resource::{ConditionStatus, Phase, Tenant, condition};

/// What to assume when no tenant has been provisioned yet on this platform.
pub const DEFAULT_ESTIMATE_SECONDS: f64 = 30.0;

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub key: &'static str,
    pub label: &'static str,
    pub done: bool,
}

/// Everything the progress page and its live updates show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub phase: &'static str,
    pub items: Vec<Item>,
    pub ready: bool,
    /// Seconds left, roughly; `None` once ready or failed.
    pub eta_seconds: Option<u64>,
    /// Why it failed and what to do, when it did.
    pub failure: Option<String>,
    /// The tenant's public address.
    pub url: Option<String>,
}

/// The checklist and estimate of `tenant` at `now`, given recent provisioning durations.
pub fn progress(tenant: &Tenant, recent_seconds: &[f64], now: DateTime<Utc>) -> Progress {
    let status = tenant
        .status
        .as_ref()
        .filter(|s| Some(s.observed_generation) == tenant.metadata.generation);
    let is_true = |type_: &str| {
        status
            .and_then(|s| s.condition(type_))
            .is_some_and(|c| c.status == ConditionStatus::True)
    };
    let ready = is_true(condition::READY);
    let items = vec![
        Item {
            key: "requested",
            label: "Your study server is requested",
            done: true,
        },
        Item {
            key: "database",
            label: "Your own database is created",
            done: is_true(condition::DATABASE_READY),
        },
        Item {
            key: "container",
            label: "Fresco is started and answers its health check",
            done: is_true(condition::CONTAINER_READY),
        },
        Item {
            key: "ready",
            label: "Your address is live",
            done: ready,
        },
    ];
    let phase = status.map_or(Phase::Pending, |s| s.phase);
    let failure = (phase == Phase::Degraded).then(|| {
        let reason = status
            .and_then(|s| s.condition(condition::READY))
            .map_or("", |c| c.reason.as_str());
        plain_failure(reason)
    });
    let eta_seconds = (!ready && failure.is_none()).then(|| {
        let elapsed = tenant.metadata.creation_timestamp.map_or(0.0, |created| {
            (now - created).num_milliseconds() as f64 / 1000.0
        });
        let estimate = estimate_seconds(recent_seconds);
        // Never "0 seconds left" while it is still working: a few seconds at least.
        (estimate - elapsed).max(5.0).round() as u64
    });
    Progress {
        phase: phase.as_str(),
        items,
        ready,
        eta_seconds,
        failure,
        url: status.and_then(|s| s.url.clone()),
    }
}

/// The median of recent provisioning times (outliers over ten minutes ignored), or the
/// default when there are none.
pub fn estimate_seconds(recent: &[f64]) -> f64 {
    let mut usable: Vec<f64> = recent
        .iter()
        .copied()
        .filter(|s| s.is_finite() && (0.0..600.0).contains(s))
        .collect();
    if usable.is_empty() {
        return DEFAULT_ESTIMATE_SECONDS;
    }
    usable.sort_by(f64::total_cmp);
    let mid = usable.len() / 2;
    if usable.len().is_multiple_of(2) {
        (usable[mid - 1] + usable[mid]) / 2.0
    } else {
        usable[mid]
    }
}

/// A condition reason in plain words, with what to do.
pub fn plain_failure(reason: &str) -> String {
    match reason {
        "ImageMissing" | "ImagePending" => {
            "The Fresco software could not be found on our servers. This is on our side: press \
             Retry in a few minutes, or contact support if it keeps happening."
        }
        "Unhealthy" => {
            "Fresco started but does not answer its health check. Press Retry to start it \
             again; if that does not help, contact support."
        }
        "CrashLooping" => {
            "Fresco keeps stopping right after it starts. Press Retry; if it happens again, \
             contact support and we will look at its logs."
        }
        "Paused" => "Your server was paused by an operator. Contact support.",
        _ => {
            "Setting up your server failed. Press Retry to try again; if it keeps failing, \
             contact support."
        }
    }
    .to_owned()
}

/// "about 20 seconds", "about 2 minutes".
pub fn eta_words(seconds: u64) -> String {
    match seconds {
        0..=59 => format!("about {seconds} seconds"),
        60..=119 => "about a minute".to_owned(),
        _ => format!("about {} minutes", seconds.div_ceil(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Condition, ObjectMeta, TenantSpec, TenantStatus};

    fn tenant(conditions: &[(&str, ConditionStatus, &str)], phase: Phase, observed: i64) -> Tenant {
        let at = "2026-12-02T10:00:00Z".parse().unwrap();
        Tenant {
            api_version: crate::resource::API_VERSION.into(),
            kind: crate::resource::KIND.into(),
            metadata: ObjectMeta {
                name: "acme".into(),
                generation: Some(2),
                creation_timestamp: Some(at),
                ..ObjectMeta::default()
            },
            spec: TenantSpec::default(),
            status: Some(TenantStatus {
                phase,
                observed_generation: observed,
                conditions: conditions
                    .iter()
                    .map(|(t, s, r)| Condition {
                        type_: (*t).into(),
                        status: *s,
                        reason: (*r).into(),
                        message: String::new(),
                        last_transition_time: at,
                    })
                    .collect(),
                url: Some("https://acme.tenants.test".into()),
                container_id: None,
                image_id: None,
            }),
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        "2026-12-02T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + chrono::Duration::seconds(seconds)
    }

    use ConditionStatus::{False, True};

    #[test]
    fn items_tick_as_their_conditions_turn_true() {
        let t = tenant(
            &[
                ("DatabaseReady", True, "Provisioned"),
                ("ContainerReady", False, "Starting"),
                ("Ready", False, "Starting"),
            ],
            Phase::Provisioning,
            2,
        );
        let p = progress(&t, &[], at(3));
        let done: Vec<bool> = p.items.iter().map(|i| i.done).collect();
        assert_eq!(done, [true, true, false, false]);
        assert!(!p.ready);
        assert_eq!(
            p.eta_seconds,
            Some(27),
            "the default 30 s estimate minus 3 s elapsed"
        );
        assert_eq!(p.failure, None);

        let ready = tenant(
            &[
                ("DatabaseReady", True, ""),
                ("ContainerReady", True, "Healthy"),
                ("Ready", True, "Ready"),
            ],
            Phase::Ready,
            2,
        );
        let p = progress(&ready, &[], at(40));
        assert!(p.ready && p.items.iter().all(|i| i.done));
        assert_eq!(p.eta_seconds, None);
        assert_eq!(p.url.as_deref(), Some("https://acme.tenants.test"));
    }

    #[test]
    fn a_status_of_an_older_generation_ticks_nothing() {
        let stale = tenant(
            &[("Ready", True, "Ready"), ("DatabaseReady", True, "")],
            Phase::Ready,
            1,
        );
        let p = progress(&stale, &[], at(1));
        assert!(!p.ready);
        assert_eq!(
            p.items.iter().filter(|i| i.done).count(),
            1,
            "only 'requested'"
        );
        assert_eq!(p.phase, "Pending");
    }

    #[test]
    fn a_degraded_tenant_reports_the_failure_in_plain_words() {
        let t = tenant(&[("Ready", False, "CrashLooping")], Phase::Degraded, 2);
        let p = progress(&t, &[], at(10));
        let failure = p.failure.expect("a failure");
        assert!(
            failure.contains("keeps stopping") && failure.contains("Retry"),
            "{failure}"
        );
        assert_eq!(p.eta_seconds, None);
        assert!(plain_failure("SomethingNew").contains("Retry"));
        assert!(plain_failure("ImageMissing").contains("on our side"));
    }

    #[test]
    fn the_estimate_is_the_median_of_recent_times_and_never_below_five_seconds() {
        assert_eq!(estimate_seconds(&[]), DEFAULT_ESTIMATE_SECONDS);
        assert_eq!(estimate_seconds(&[10.0, 20.0, 900.0, f64::NAN]), 15.0);
        assert_eq!(estimate_seconds(&[12.0, 8.0, 30.0]), 12.0);
        let t = tenant(&[], Phase::Provisioning, 2);
        assert_eq!(progress(&t, &[10.0], at(60)).eta_seconds, Some(5));
    }

    #[test]
    fn eta_reads_like_a_person_would_say_it() {
        assert_eq!(eta_words(20), "about 20 seconds");
        assert_eq!(eta_words(75), "about a minute");
        assert_eq!(eta_words(150), "about 3 minutes");
    }
}
