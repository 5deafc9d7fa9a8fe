//! The tenant detail page (`/dashboard/tenants/{name}`): status and address, CPU and memory
//! now and over the last 15 minutes (SVG charts drawn here), the conditions, the events
//! timeline (the deployment log the API serves), the environment editor, and links to the
//! logs and to deletion.
//!
//! # Guarantees
//! - Someone else's tenant is a 404, decided by the API's own rule ([`visible`]).
//! - Rendering makes no engine call: usage comes from the sampler's history and the running
//!   state from the engine cache, so the page is cheap to reload — which `app.js` does once a
//!   sample (live update of usage, conditions and events; the env form is never touched).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::charts::Chart;
use super::env_form::EnvForm;
use super::usage::{self, CHART_WINDOW, Usage};
use super::{PortalState, TenantCard, not_found};
use crate::accounts::{RequireUser, Session};
use crate::api::auth::Principal;
use crate::api::tenants::visible;
use crate::engine::RunState;
use crate::resource::{ConditionStatus, Tenant};
use crate::web::chrome::Chrome;

/// How many of the most recent events the timeline shows.
const EVENTS_SHOWN: i64 = 50;
/// The fastest the page refreshes itself, whatever the sampler's period.
const MIN_REFRESH_SECONDS: u64 = 2;

/// The live refresh interval for a sampler period: one sample per refresh, not too often.
fn refresh_seconds(period: std::time::Duration) -> u64 {
    if period.is_zero() {
        return 0;
    }
    period.as_secs_f64().ceil().max(MIN_REFRESH_SECONDS as f64) as u64
}

/// A message at the top of the page about the last thing done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    /// `info` or `error`: the alert's class suffix.
    pub kind: &'static str,
}

impl Notice {
    fn info(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            kind: "info",
        }
    }

    /// The env form lost a race with another writer.
    pub fn conflict() -> Notice {
        Notice {
            text: "Not saved: someone else changed this study server at the same time.".into(),
            kind: "error",
        }
    }

    /// The notice for the redirect's query (only known words are shown).
    pub fn of_query(query: &DetailQuery, name: &str) -> Option<Notice> {
        match (query.saved.as_deref(), query.done.as_deref()) {
            (Some("env"), _) => Some(Notice::info(
                "Environment saved. The container is being recreated with it; this takes a few seconds.",
            )),
            (Some("unchanged"), _) => Some(Notice::info(
                "Nothing to save: the variables are unchanged.",
            )),
            (_, Some(done)) => super::notice(Some(done), Some(name)).map(Notice::info),
            _ => None,
        }
    }
}

/// One condition, for the table.
#[derive(Debug, Clone)]
pub struct ConditionRow {
    pub type_: String,
    /// True, False or Unknown.
    pub status: &'static str,
    /// The status badge's class suffix.
    pub badge: &'static str,
    pub reason: String,
    pub message: String,
    pub since: Timestamp,
}

/// One entry of the events timeline.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub at: Timestamp,
    pub warning: bool,
    pub action: String,
    pub reason: String,
    pub message: String,
    /// How many times it happened (repeats fold into one entry).
    pub count: i32,
}

/// A time as the page shows it: machine-readable and for a person.
#[derive(Debug, Clone)]
pub struct Timestamp {
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    /// "2025-01-31 12:00:05 UTC".
    pub text: String,
}

impl Timestamp {
    pub fn of(at: DateTime<Utc>) -> Timestamp {
        Timestamp {
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            text: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }
    }
}

/// A chart with its text alternative.
#[derive(Debug, Clone)]
pub struct ChartView {
    pub title: &'static str,
    pub unit: &'static str,
    /// SVG markup drawn by [`super::charts`] from numbers only; `None` without samples.
    pub svg: Option<String>,
    pub summary: String,
}

impl ChartView {
    fn of(chart: &Chart) -> ChartView {
        ChartView {
            title: chart.title,
            unit: chart.unit,
            svg: chart.svg(),
            summary: chart.summary(),
        }
    }
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "tenant_detail.html")]
pub struct DetailPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub tenant: TenantCard,
    pub notice: Option<Notice>,
    pub terminating: bool,
    pub image: String,
    pub memory_limit: String,
    pub cpus: String,
    pub deletion_policy: &'static str,
    pub created: Option<Timestamp>,
    pub usage: Option<Usage>,
    /// "every 15 s", or `None` when no sampler runs.
    pub sample_period: Option<String>,
    /// How often `app.js` refreshes usage, conditions and events in place (seconds; at
    /// least [`MIN_REFRESH_SECONDS`], 0 for never: without a sampler nothing new arrives).
    pub refresh_seconds: u64,
    pub window_minutes: i64,
    pub charts: Vec<ChartView>,
    pub conditions: Vec<ConditionRow>,
    pub events: Vec<EventRow>,
    pub env: EnvForm,
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    pub saved: Option<String>,
    pub done: Option<String>,
}

/// `GET /dashboard/tenants/{name}`.
pub async fn page(
    State(state): State<PortalState>,
    RequireUser(session): RequireUser,
    Path(name): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Response {
    let principal = Principal::of_session(&session);
    let tenant = match visible(&state.api, &principal, &name).await {
        Ok(tenant) => tenant,
        Err(e) if e.status == StatusCode::NOT_FOUND => return not_found(&session),
        Err(e) => return e.into_response(),
    };
    let version = tenant.metadata.resource_version.clone().unwrap_or_default();
    let env = EnvForm::of_spec(&tenant.spec.env, &version);
    let notice = Notice::of_query(&query, &name);
    render(&state, &session, tenant, env, notice, StatusCode::OK).await
}

/// The page for `tenant` with the env editor in the state `env` (as stored, or as posted
/// with its errors), answered with `status`.
pub async fn render(
    state: &PortalState,
    session: &Session,
    tenant: Tenant,
    env: EnvForm,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let ctx = &state.api.ctx;
    let name = tenant.metadata.name.clone();
    let events = match ctx.store.events(&name, EVENTS_SHOWN).await {
        Ok(events) => events,
        Err(e) => return crate::api::error::ApiError::from(e).into_response(),
    };
    let engine = &ctx.engine;
    let running = engine
        .primary_container(&name)
        .is_some_and(|c| c.state == RunState::Running);
    let now = Utc::now();
    let samples = engine.history().since(&name, now - CHART_WINDOW);
    let period = engine.history().period();
    let platform = &ctx.platform;
    let resources = &tenant.spec.resources;
    let page = DetailPage {
        chrome: Chrome::of_session(session, "dashboard"),
        csrf: session.csrf_token.clone(),
        tenant: TenantCard::of(&tenant, platform.public_url(&tenant)),
        notice,
        terminating: tenant.metadata.deletion_timestamp.is_some(),
        image: platform.image_of(&tenant).to_owned(),
        memory_limit: resources.memory.as_ref().map_or_else(
            || format!("{} MiB (default)", platform.default_memory_bytes >> 20),
            ToString::to_string,
        ),
        cpus: resources.cpus.as_ref().map_or_else(
            || format!("{} (default)", platform.default_nano_cpus as f64 / 1e9),
            ToString::to_string,
        ),
        deletion_policy: match tenant.spec.database.deletion_policy {
            crate::resource::DeletionPolicy::Delete => "Delete",
            crate::resource::DeletionPolicy::Retain => "Retain",
            crate::resource::DeletionPolicy::BackupThenDelete => "BackupThenDelete",
        },
        created: tenant.metadata.creation_timestamp.map(Timestamp::of),
        usage: Usage::latest(&samples, running),
        sample_period: (!period.is_zero())
            .then(|| format!("every {}", humantime::format_duration(period))),
        refresh_seconds: refresh_seconds(period),
        window_minutes: CHART_WINDOW.num_minutes(),
        charts: vec![
            ChartView::of(&usage::cpu_chart(&samples, now)),
            ChartView::of(&usage::memory_chart(&samples, now)),
        ],
        conditions: tenant
            .status
            .as_ref()
            .map(|s| {
                s.conditions
                    .iter()
                    .map(|c| ConditionRow {
                        type_: c.type_.clone(),
                        status: match c.status {
                            ConditionStatus::True => "True",
                            ConditionStatus::False => "False",
                            ConditionStatus::Unknown => "Unknown",
                        },
                        badge: match c.status {
                            ConditionStatus::True => "ready",
                            ConditionStatus::False => "degraded",
                            ConditionStatus::Unknown => "pending",
                        },
                        reason: c.reason.clone(),
                        message: c.message.clone(),
                        since: Timestamp::of(c.last_transition_time),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        events: events
            .into_iter()
            .map(|e| EventRow {
                at: Timestamp::of(e.last_at),
                warning: e.outcome == "Warning",
                action: e.action,
                reason: e.reason,
                message: e.message,
                count: e.count,
            })
            .collect(),
        env,
    };
    (status, page).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(saved: Option<&str>, done: Option<&str>) -> DetailQuery {
        DetailQuery {
            saved: saved.map(str::to_owned),
            done: done.map(str::to_owned),
        }
    }

    #[test]
    fn notices_come_only_from_known_words() {
        assert!(
            Notice::of_query(&query(Some("env"), None), "acme")
                .unwrap()
                .text
                .starts_with("Environment saved")
        );
        assert_eq!(
            Notice::of_query(&query(None, Some("stop")), "acme")
                .unwrap()
                .text,
            "acme is stopping."
        );
        assert_eq!(Notice::of_query(&query(Some("<b>"), None), "acme"), None);
        assert_eq!(Notice::of_query(&query(None, None), "acme"), None);
    }

    #[test]
    fn the_page_refreshes_once_a_sample_but_never_faster_than_every_two_seconds() {
        use std::time::Duration;
        assert_eq!(refresh_seconds(Duration::ZERO), 0, "no sampler: no refresh");
        assert_eq!(refresh_seconds(Duration::from_millis(500)), 2);
        assert_eq!(refresh_seconds(Duration::from_secs(15)), 15);
        assert_eq!(refresh_seconds(Duration::from_millis(2500)), 3);
    }

    #[test]
    fn timestamps_are_machine_and_human_readable() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let t = Timestamp::of(at);
        assert_eq!(t.iso, "2027-01-15T08:00:00Z");
        assert_eq!(t.text, "2027-01-15 08:00:00 UTC");
    }
}
