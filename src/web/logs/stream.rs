//! The logs page's live tail: `GET /dashboard/tenants/{name}/logs/stream`, server-sent
//! events of the lines the container prints from a given time on.
//!
//! Events: `line` (JSON `{stamp, time, fullTime, source, text}`, with the line's timestamp
//! as the event id) and `end` (a sentence: why the stream stopped; the browser reconnects
//! after the `retry` time).
//!
//! # Guarantees
//! - Resumable without gaps or repeats: the stream starts after `Last-Event-ID` (set by the
//!   browser on a reconnect) or else after `after` (the page's last line), and skips every
//!   line at or before it.
//! - The stream ends when the container stops, the client goes away or the server shuts
//!   down; a graceful shutdown is never held up by an open tail.
//!
//! # Caveats
//! - A resume replays at most [`RESUME_LINES`] lines; older ones are only in the download.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, stream};
use serde::{Deserialize, Serialize};

use super::lines::{self, LogLine};
use super::{Error, not_found, visible_tenant};
use crate::accounts::RequireUser;
use crate::engine::{self, LogRequest};
use crate::web::PortalState;

/// The most lines a resume replays.
pub const RESUME_LINES: u32 = 1000;
/// How long the browser waits before it reconnects after an `end`.
const RETRY: Duration = Duration::from_secs(3);
/// A comment this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Default, Deserialize)]
pub struct StreamQuery {
    /// Send only lines after this RFC 3339 time (the page's last line).
    pub after: Option<String>,
}

/// A `line` event's data.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LineData<'a> {
    stamp: String,
    time: String,
    full_time: String,
    source: &'static str,
    text: &'a str,
}

/// The resume point: `Last-Event-ID` if it is a time, else `after`.
fn resume_point(headers: &HeaderMap, after: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    let parse =
        |text: &str| DateTime::parse_from_rfc3339(text.trim()).map(|t| t.with_timezone(&Utc));
    if let Some(at) = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse(v).ok())
    {
        return Ok(Some(at));
    }
    match after.map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(None),
        Some(text) => parse(text)
            .map(Some)
            .map_err(|_| format!("after must be an RFC 3339 time, got {text:?}")),
    }
}

/// What to ask the engine for: new lines only, or every line since the resume point's
/// second (the ones at or before it are skipped as they come).
fn request_after(after: Option<DateTime<Utc>>) -> LogRequest {
    LogRequest {
        follow: true,
        tail: Some(if after.is_some() { RESUME_LINES } else { 0 }),
        // Zero means "from the start" to the engine; a pre-1970 time is treated as that.
        since: after.and_then(|at| i32::try_from(at.timestamp()).ok().filter(|s| *s > 0)),
        timestamps: true,
    }
}

fn is_new(line: &LogLine, after: Option<DateTime<Utc>>) -> bool {
    match (line.at, after) {
        (Some(at), Some(after)) => at > after,
        _ => true,
    }
}

fn line_event(line: &LogLine) -> Event {
    let data = LineData {
        stamp: line.stamp(),
        time: line.time_of_day(),
        full_time: line.full_time(),
        source: line.source_name(),
        text: &line.text,
    };
    let event = Event::default()
        .event("line")
        .json_data(&data)
        .expect("a line serializes to JSON");
    if data.stamp.is_empty() {
        event
    } else {
        event.id(data.stamp)
    }
}

fn end_event(why: &str) -> Event {
    Event::default().event("end").data(why)
}

fn sse(events: impl Stream<Item = Event> + Send + 'static) -> Response {
    let first = Event::default().retry(RETRY).comment("tail");
    Sse::new(
        stream::once(async { first })
            .chain(events)
            .map(Ok::<_, Infallible>),
    )
    .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
    .into_response()
}

/// `GET /dashboard/tenants/{name}/logs/stream`.
pub async fn stream(
    State(state): State<PortalState>,
    RequireUser(session): RequireUser,
    Path(name): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    if visible_tenant(&state, &session, &name).await?.is_none() {
        return Ok(not_found(
            &session,
            format!("/dashboard/tenants/{name}/logs/stream"),
        ));
    }
    let after = match resume_point(&headers, query.after.as_deref()) {
        Ok(after) => after,
        Err(message) => return Ok((StatusCode::BAD_REQUEST, message).into_response()),
    };
    let Some(container) = state.api.ctx.engine.primary_container(&name) else {
        return Ok(sse(stream::iter([end_event(
            "The server has no container yet; waiting for it to start.",
        )])));
    };
    let chunks = state
        .api
        .ctx
        .engine
        .logs(&container.id, &request_after(after));
    let lines = chunks.flat_map(move |chunk| {
        let events: Vec<Event> = match chunk {
            Ok(chunk) => lines::parse_chunk(&chunk)
                .iter()
                .filter(|line| is_new(line, after))
                .map(line_event)
                .collect(),
            Err(engine::Error::NoSuchContainer { .. }) => {
                vec![end_event(
                    "The container was removed; waiting for a new one.",
                )]
            }
            Err(e) => {
                tracing::warn!(error = %e, "logs page: the engine failed mid-stream");
                vec![end_event("Reading the logs failed; trying again.")]
            }
        };
        stream::iter(events)
    });
    // The engine ends a follow read when the container stops (and the stream after an error).
    let ended = stream::once(async {
        end_event("The container is not running; waiting for it to start again.")
    });
    let mut shutdown = state.api.shutdown.clone();
    let events = lines.chain(ended).take_until(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    });
    Ok(sse(events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::LogSource;
    use axum::http::HeaderValue;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_last_event_id_wins_over_the_pages_resume_point() {
        let mut headers = HeaderMap::new();
        assert_eq!(resume_point(&headers, None), Ok(None));
        assert_eq!(
            resume_point(&headers, Some("2030-01-01T12:00:00.5Z")),
            Ok(Some(at("2030-01-01T12:00:00.5Z")))
        );
        headers.insert(
            "last-event-id",
            HeaderValue::from_static("2030-01-01T12:00:09.000000001Z"),
        );
        assert_eq!(
            resume_point(&headers, Some("2030-01-01T12:00:00Z")),
            Ok(Some(at("2030-01-01T12:00:09.000000001Z")))
        );
        assert!(resume_point(&HeaderMap::new(), Some("yesterday")).is_err());
    }

    #[test]
    fn a_resume_reads_from_the_second_and_skips_lines_already_shown() {
        let after = at("2030-01-01T12:00:00.5Z");
        let request = request_after(Some(after));
        assert_eq!(request.since, Some(after.timestamp() as i32));
        assert_eq!(request.tail, Some(RESUME_LINES));
        assert!(request.follow && request.timestamps);
        assert_eq!(request_after(None).tail, Some(0), "new lines only");

        let line = |stamp: &str| LogLine {
            at: Some(at(stamp)),
            source: LogSource::Stdout,
            text: "x".into(),
        };
        assert!(!is_new(&line("2030-01-01T12:00:00.4Z"), Some(after)));
        assert!(
            !is_new(&line("2030-01-01T12:00:00.5Z"), Some(after)),
            "the last one shown"
        );
        assert!(is_new(&line("2030-01-01T12:00:00.6Z"), Some(after)));
        assert!(is_new(&line("2030-01-01T12:00:00.4Z"), None));
    }
}
