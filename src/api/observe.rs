//! What a tenant's container is doing: its output (`/tenants/{name}/logs`) and its resource
//! usage now and sampled over time (`/tenants/{name}/metrics`).
//!
//! # Guarantees
//! - Only the tenant's own container (`tenant-<name>`, from the engine cache) is read, and only
//!   for callers that may see the tenant; others get 404 as for any tenant they cannot see.
//! - A streaming response ends when the client goes away, the container stops, or the server
//!   shuts down (so a graceful shutdown is never held up by an open log stream).
//! - Log output is served as `text/plain` with `nosniff`: a browser never renders what a
//!   tenant's application printed as HTML.
//!
//! # Caveats
//! - `since` has one-second precision (the engine API's).

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::Principal;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::tenants::{ApiQuery, phase_of, visible};
use crate::engine::{self, LogChunk, LogRequest, RunState, stats::StatsSample};
use crate::resource::Tenant;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(tenant_logs))
        .routes(routes!(tenant_metrics))
}

/// The most lines `tail` may ask for.
pub const MAX_TAIL: u32 = 10_000;
/// Lines sent when neither `tail` nor `since` is given.
pub const DEFAULT_TAIL: u32 = 100;
/// How long a follow request waits for the engine's first chunk before answering anyway; an
/// engine error within it still gets a proper status instead of a cut stream.
const FIRST_CHUNK_WAIT: Duration = Duration::from_millis(250);
/// The shortest, default and longest `range` of the metrics history.
const MIN_RANGE: Duration = Duration::from_secs(5 * 60);
const DEFAULT_RANGE: Duration = Duration::from_secs(15 * 60);
const MAX_RANGE: Duration = Duration::from_secs(24 * 60 * 60);

// ---- logs ------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Send only the last this many lines, 0 to 10000. Default: 100, or every line since
    /// `since` when that is given.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 10000)]
    pub tail: Option<String>,
    /// Only output written since then: an RFC 3339 time (`2025-01-31T12:00:00Z`) or a
    /// duration back from now (`10m`, `1h30m`).
    pub since: Option<String>,
    /// Keep the response open and stream new output until the container stops, the client
    /// disconnects or the server shuts down (default false).
    #[param(value_type = Option<bool>)]
    pub follow: Option<String>,
    /// Prefix each line with the engine's RFC 3339 timestamp (default false).
    #[param(value_type = Option<bool>)]
    pub timestamps: Option<String>,
}

/// The tenant container's output (stdout and stderr, interleaved as written).
///
/// As `text/plain` by default: the lines as the application printed them. With
/// `Accept: text/event-stream`, as server-sent events instead: one event per line, named
/// `stdout` or `stderr`, the line (without its newline) as data, and a last `error` event if
/// the engine fails mid-stream. A tenant without a container (not created yet, or deleted)
/// gets 404 with a message saying so; a stopped container's output is still served.
#[utoipa::path(get, path = "/tenants/{name}/logs", tag = "observe",
    params(("name" = String, Path, description = "Tenant name"), LogsQuery),
    responses(
        (status = 200, description = "The output; streamed until the container stops when `follow` is true",
            content((String = "text/plain"), (String = "text/event-stream"))),
        (status = 400, body = ErrorBody, description = "A bad parameter; `field` names it"),
        (status = 401, body = ErrorBody, description = "No valid bearer token"),
        (status = 404, body = ErrorBody, description = "No such tenant, or it has no container")),
    security(("bearer" = [])))]
async fn tenant_logs(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> ApiResult<Response> {
    let tenant = visible(&state, &principal, &name).await?;
    let request = log_request(&query, Utc::now())?;
    let container = state
        .ctx
        .engine
        .primary_container(&name)
        .ok_or_else(|| no_container(&tenant))?;
    let mut chunks = Box::pin(state.ctx.engine.logs(&container.id, &request));
    // Look at the first chunk before answering, so that an engine error (the container was
    // removed a moment ago) gets its status code rather than an empty 200.
    let first = if request.follow {
        tokio::time::timeout(FIRST_CHUNK_WAIT, chunks.next())
            .await
            .unwrap_or(None)
    } else {
        chunks.next().await
    };
    let first = match first {
        Some(Err(engine::Error::NoSuchContainer { .. })) => return Err(no_container(&tenant)),
        Some(Err(e)) => return Err(ApiError::internal(e)),
        other => other,
    };
    let mut shutdown = state.shutdown.clone();
    let chunks = futures::stream::iter(first)
        .chain(chunks)
        .take_until(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        });
    let mut response = if wants_event_stream(&headers) {
        Sse::new(chunks.map(chunk_event))
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response()
    } else {
        let body = Body::from_stream(chunks.map(|chunk| {
            chunk.map(|c| Bytes::from(c.bytes)).inspect_err(
                |e| tracing::warn!(error = %e, "logs: the engine failed mid-stream; cutting the response"),
            )
        }));
        let mut response = body.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    };
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

fn no_container(tenant: &Tenant) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "tenant {} has no container (phase {}); its logs appear once the reconciler has created it",
            tenant.metadata.name,
            phase_of(tenant).as_str()
        ),
    )
}

fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.split(';').next().unwrap_or("").trim() == "text/event-stream")
}

fn chunk_event(chunk: engine::Result<LogChunk>) -> Result<Event, Infallible> {
    Ok(match chunk {
        Ok(chunk) => {
            let text = String::from_utf8_lossy(&chunk.bytes);
            Event::default()
                .event(chunk.source.as_str())
                .data(text.strip_suffix('\n').unwrap_or(&text))
        }
        Err(e) => {
            tracing::warn!(error = %e, "logs: the engine failed mid-stream");
            Event::default()
                .event("error")
                .data("reading the logs failed; the server log has the details")
        }
    })
}

/// Validates the query into what the engine is asked for.
fn log_request(query: &LogsQuery, now: DateTime<Utc>) -> ApiResult<LogRequest> {
    let since = query
        .since
        .as_deref()
        .map(|since| parse_since(since, now))
        .transpose()?;
    let tail = match query.tail.as_deref() {
        Some(tail) => Some(
            tail.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX_TAIL)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "tail must be a number of lines from 0 to {MAX_TAIL}, got {tail:?}"
                    ))
                    .with_field("tail")
                })?,
        ),
        None if since.is_some() => None,
        None => Some(DEFAULT_TAIL),
    };
    Ok(LogRequest {
        follow: parse_flag("follow", query.follow.as_deref())?,
        tail,
        since,
        timestamps: parse_flag("timestamps", query.timestamps.as_deref())?,
    })
}

/// An RFC 3339 time or a duration back from `now`, as Unix seconds.
fn parse_since(since: &str, now: DateTime<Utc>) -> ApiResult<i32> {
    let invalid = |why: &str| {
        ApiError::bad_request(format!(
            "since {why}: write an RFC 3339 time (2025-01-31T12:00:00Z) or a duration back from now (10m, 1h30m), got {since:?}"
        ))
        .with_field("since")
    };
    let at = match DateTime::parse_from_rfc3339(since.trim()) {
        Ok(at) => at.with_timezone(&Utc),
        Err(_) => {
            let back = humantime::parse_duration(since.trim())
                .map_err(|_| invalid("is neither a time nor a duration"))?;
            TimeDelta::from_std(back)
                .ok()
                .and_then(|back| now.checked_sub_signed(back))
                .ok_or_else(|| invalid("reaches too far back"))?
        }
    };
    // Zero means "from the start" to the engine; a time before 1970 is surely a mistake.
    i32::try_from(at.timestamp())
        .ok()
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| invalid("is out of range"))
}

/// `true`/`false` (also `1`/`0`, and a bare `?follow` meaning true).
fn parse_flag(field: &'static str, value: Option<&str>) -> ApiResult<bool> {
    match value.map(str::trim) {
        None | Some("false" | "0") => Ok(false),
        Some("" | "true" | "1") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "{field} must be true or false, got {other:?}"
        ))
        .with_field(field)),
    }
}

// ---- metrics ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// How far back `history` reaches: a duration from 5m to 24h (default 15m).
    pub range: Option<String>,
}

/// Resource usage of a tenant's container.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantMetrics {
    /// The tenant's name.
    pub tenant: String,
    /// Whether the tenant's container is running.
    pub running: bool,
    /// How often the background sampler takes a sample, in seconds; 0 when sampling is off
    /// (config `metrics_sample_period`), and `history` then stays empty.
    pub sample_period_seconds: f64,
    /// The history's reach asked for, in seconds.
    pub range_seconds: u64,
    /// A reading taken for this request (it takes the engine a second or two); null when the
    /// container is not running or there is none.
    pub now: Option<MetricsSample>,
    /// The sampler's readings within `range`, oldest first. A stopped container gets no new
    /// samples; a recreated one continues the history (its network counters restart at 0).
    pub history: Vec<MetricsSample>,
}

/// One reading of a container's resource usage.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSample {
    /// When the engine took the reading.
    pub at: DateTime<Utc>,
    /// CPU use as a percent of one CPU (200 = two CPUs busy), as `docker stats` shows it;
    /// null when there is no earlier reading of the same container to compare with.
    pub cpu_percent: Option<f64>,
    /// Memory in use, without the reclaimable page cache.
    pub memory_bytes: u64,
    /// The container's memory limit (`spec.resources.memory`).
    pub memory_limit_bytes: u64,
    /// Bytes received since the container started.
    pub network_rx_bytes: u64,
    /// Bytes sent since the container started.
    pub network_tx_bytes: u64,
}

impl From<StatsSample> for MetricsSample {
    fn from(sample: StatsSample) -> MetricsSample {
        MetricsSample {
            at: sample.at,
            cpu_percent: sample.cpu_percent,
            memory_bytes: sample.memory_bytes,
            memory_limit_bytes: sample.memory_limit_bytes,
            network_rx_bytes: sample.network_rx_bytes,
            network_tx_bytes: sample.network_tx_bytes,
        }
    }
}

/// CPU, memory and network of the tenant's container: a reading now, and the sampled history.
#[utoipa::path(get, path = "/tenants/{name}/metrics", tag = "observe",
    params(("name" = String, Path, description = "Tenant name"), MetricsQuery),
    responses((status = 200, body = TenantMetrics, description = "The reading now and the history"),
        (status = 400, body = ErrorBody, description = "A bad `range`"),
        (status = 401, body = ErrorBody, description = "No valid bearer token"),
        (status = 404, body = ErrorBody, description = "No such tenant")),
    security(("bearer" = [])))]
async fn tenant_metrics(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<MetricsQuery>,
) -> ApiResult<Json<TenantMetrics>> {
    visible(&state, &principal, &name).await?;
    let range = parse_range(query.range.as_deref())?;
    let engine = &state.ctx.engine;
    let running = engine
        .primary_container(&name)
        .filter(|c| c.state == RunState::Running);
    let now = match &running {
        // Not one-shot: the engine takes two readings, so this one has a CPU percent.
        Some(container) => match engine.read_stats(&container.id, false).await {
            Ok(reading) => reading.map(|r| MetricsSample::from(r.sample(None))),
            Err(engine::Error::NoSuchContainer { .. }) => None,
            Err(e) => return Err(ApiError::internal(e)),
        },
        None => None,
    };
    let from = Utc::now() - TimeDelta::from_std(range).expect("the range is at most 24 h");
    let history = engine
        .history()
        .since(&name, from)
        .into_iter()
        .map(MetricsSample::from)
        .collect();
    Ok(Json(TenantMetrics {
        tenant: name,
        running: now.is_some(),
        sample_period_seconds: engine.history().period().as_secs_f64(),
        range_seconds: range.as_secs(),
        now,
        history,
    }))
}

fn parse_range(range: Option<&str>) -> ApiResult<Duration> {
    let Some(text) = range else {
        return Ok(DEFAULT_RANGE);
    };
    humantime::parse_duration(text.trim())
        .ok()
        .filter(|range| (MIN_RANGE..=MAX_RANGE).contains(range))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "range must be a duration from 5m to 24h (such as 15m or 6h), got {text:?}"
            ))
            .with_field("range")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query as the extractor reads it from a URL.
    fn query(pairs: &[(&str, &str)]) -> LogsQuery {
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "%20")))
            .collect();
        let uri: axum::http::Uri = format!("/?{}", encoded.join("&")).parse().unwrap();
        axum::extract::Query::<LogsQuery>::try_from_uri(&uri)
            .expect("string fields always deserialize")
            .0
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2030-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn logs_default_to_the_last_hundred_lines_without_following() {
        let request = log_request(&query(&[]), now()).unwrap();
        assert_eq!(
            request,
            LogRequest {
                follow: false,
                tail: Some(DEFAULT_TAIL),
                since: None,
                timestamps: false,
            }
        );
    }

    #[test]
    fn since_alone_means_every_line_since_then() {
        let request = log_request(&query(&[("since", "10m")]), now()).unwrap();
        assert_eq!(request.tail, None);
        assert_eq!(
            request.since,
            Some((now().timestamp() - 600) as i32),
            "a duration counts back from now"
        );
        let request = log_request(
            &query(&[("since", "2029-12-31T23:00:00Z"), ("tail", "5")]),
            now(),
        )
        .unwrap();
        assert_eq!(request.since, Some(1_893_452_400));
        assert_eq!(request.tail, Some(5));
    }

    #[test]
    fn bad_log_parameters_name_their_field() {
        for (pairs, field) in [
            (vec![("tail", "10001")], "tail"),
            (vec![("tail", "-1")], "tail"),
            (vec![("tail", "all")], "tail"),
            (vec![("since", "yesterday")], "since"),
            (vec![("since", "1960-01-01T00:00:00Z")], "since"),
            (vec![("since", "100000000000s")], "since"),
            (vec![("follow", "yes please")], "follow"),
            (vec![("timestamps", "2")], "timestamps"),
        ] {
            let error = log_request(&query(&pairs), now()).expect_err("refused");
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{pairs:?}");
            assert_eq!(error.body.field.as_deref(), Some(field), "{pairs:?}");
        }
    }

    #[test]
    fn flags_accept_true_false_one_zero_and_bare() {
        assert!(parse_flag("follow", Some("true")).unwrap());
        assert!(parse_flag("follow", Some("1")).unwrap());
        assert!(parse_flag("follow", Some("")).unwrap(), "a bare ?follow");
        assert!(!parse_flag("follow", Some("false")).unwrap());
        assert!(!parse_flag("follow", None).unwrap());
        let request = log_request(&query(&[("tail", "0"), ("follow", "true")]), now()).unwrap();
        assert_eq!((request.tail, request.follow), (Some(0), true));
    }

    #[test]
    fn the_range_is_between_five_minutes_and_a_day() {
        assert_eq!(parse_range(None).unwrap(), DEFAULT_RANGE);
        assert_eq!(parse_range(Some("1h")).unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_range(Some("24h")).unwrap(), MAX_RANGE);
        for bad in ["1m", "25h", "soon", ""] {
            let error = parse_range(Some(bad)).expect_err(bad);
            assert_eq!(error.body.field.as_deref(), Some("range"), "{bad}");
        }
    }

    #[test]
    fn event_streams_are_chosen_by_the_accept_header() {
        let mut headers = HeaderMap::new();
        assert!(!wants_event_stream(&headers));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/plain, text/event-stream;q=0.9"),
        );
        assert!(wants_event_stream(&headers));
    }
}
