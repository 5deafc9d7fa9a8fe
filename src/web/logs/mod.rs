//! A tenant's logs page (`/dashboard/tenants/{name}/logs`): the last lines of its container,
//! rendered on the server, a text filter, a download, and a live tail over SSE
//! ([`stream`]).
//!
//! It reads the container's output through the same engine call as the API's
//! `GET /api/v1/tenants/{name}/logs`, and decides access with the same rule
//! ([`Principal::can_see`]).
//!
//! # Guarantees
//! - Only a logged-in user who may see the tenant gets its page, stream or download;
//!   anonymous visitors are sent to the login page, everyone else gets the 404 page, exactly
//!   as for a tenant that does not exist.
//! - The page works without JavaScript: the lines, the filter (`q`, a case-insensitive
//!   substring; lines that do not match carry `hidden`) and the download are plain HTML and
//!   links. The script only filters as one types and follows new lines.
//! - A bad parameter is shown next to its field and changes nothing (the defaults apply).
//! - A tenant without a container (not created yet, or removed) gets the page with a message
//!   saying so; an engine failure gets the page with a message, never a raw error.
//! - Log text is untrusted: the template escapes it and the download is `text/plain` with
//!   `nosniff`.

pub mod lines;
pub mod stream;

use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{SecondsFormat, Utc};
use futures::StreamExt;
use serde::Deserialize;

use self::lines::{Filter, LogLine};
use super::PortalState;
use super::chrome::Chrome;
use super::pages::NotFoundPage;
use crate::accounts::encode_query_value;
use crate::accounts::{RequireUser, Session};
use crate::api::auth::Principal;
use crate::api::tenants::phase_of;
use crate::engine::{self, LogRequest};
use crate::resource::Tenant;

/// The routes of the logs page.
pub fn routes() -> Router<PortalState> {
    Router::new()
        .route("/dashboard/tenants/{name}/logs", get(page))
        .route("/dashboard/tenants/{name}/logs/stream", get(stream::stream))
        .route("/dashboard/tenants/{name}/logs/download", get(download))
}

/// How many lines the page and the download may show; the engine is asked for exactly this
/// many, so a page never grows past the largest.
pub const LINE_CHOICES: [u32; 5] = [100, 500, 1000, 5000, 10_000];
/// Lines the page shows when `lines` is not given.
pub const PAGE_LINES: u32 = 500;
/// Lines a download holds when `lines` is not given (the API's `tail` maximum).
pub const DOWNLOAD_LINES: u32 = 10_000;
/// The longest filter accepted, in characters.
pub const MAX_FILTER: usize = 200;
/// How long reading the lines may take before the page gives up and says so.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong serving the page, the stream or the download.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the tenant failed")]
    ReadTenant(#[source] crate::store::Error),
    #[error("reading the container's logs failed")]
    ReadLogs(#[source] engine::Error),
    #[error("reading the container's logs took longer than {0:?}")]
    ReadTimeout(Duration),
}

impl IntoResponse for Error {
    /// A 500 that tells the visitor to try again; the detail goes to the server log only.
    fn into_response(self) -> Response {
        tracing::error!(error = %self, source = ?std::error::Error::source(&self), "logs page");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side; try again in a moment.",
        )
            .into_response()
    }
}

/// The tenant if this session may see it (the API's rule), else `None`.
pub(crate) async fn visible_tenant(
    state: &PortalState,
    session: &Session,
    name: &str,
) -> Result<Option<Tenant>, Error> {
    let tenant = state
        .api
        .ctx
        .store
        .get(name)
        .await
        .map_err(Error::ReadTenant)?;
    let principal = Principal::of_session(session);
    Ok(tenant.filter(|t| principal.can_see(t)))
}

/// The 404 page, as for any tenant the visitor cannot see.
pub(crate) fn not_found(session: &Session, path: String) -> Response {
    NotFoundPage {
        chrome: Chrome::of_session(session, "dashboard"),
        path,
    }
    .into_response()
}

/// The query of the page and the download.
#[derive(Debug, Default, Deserialize)]
pub struct LogsQuery {
    /// The filter: a case-insensitive substring.
    pub q: Option<String>,
    /// How many of the last lines: one of [`LINE_CHOICES`].
    pub lines: Option<String>,
}

/// The query, validated: what to read and show, and the errors to show next to the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub lines: u32,
    /// The filter as typed (trimmed); empty for none.
    pub q: String,
    pub lines_error: Option<String>,
    pub q_error: Option<String>,
}

impl Options {
    /// Reads the query; a bad value is reported and replaced by the default (`lines`) or
    /// ignored (`q`), so it changes nothing.
    pub fn of(query: &LogsQuery, default_lines: u32) -> Options {
        let (lines, lines_error) = match query.lines.as_deref().map(str::trim) {
            None | Some("") => (default_lines, None),
            Some(text) => match text.parse::<u32>() {
                Ok(n) if LINE_CHOICES.contains(&n) => (n, None),
                _ => (
                    default_lines,
                    Some(format!(
                        "Choose how many lines: 100, 500, 1000, 5000 or 10000 (got “{}”).",
                        text.chars().take(20).collect::<String>()
                    )),
                ),
            },
        };
        let q = query.q.as_deref().unwrap_or("").trim();
        let (q, q_error) = if q.chars().count() > MAX_FILTER {
            (
                String::new(),
                Some(format!(
                    "The filter can be at most {MAX_FILTER} characters long."
                )),
            )
        } else {
            (q.to_owned(), None)
        };
        Options {
            lines,
            q,
            lines_error,
            q_error,
        }
    }

    pub fn is_valid(&self) -> bool {
        self.lines_error.is_none() && self.q_error.is_none()
    }

    /// `?lines=N&q=…` (without `q` when there is no filter).
    pub fn query_string(&self) -> String {
        if self.q.is_empty() {
            format!("?lines={}", self.lines)
        } else {
            format!("?lines={}&q={}", self.lines, encode_query_value(&self.q))
        }
    }
}

/// The last `tail` lines of the tenant's container, or `None` when it has none.
async fn read_lines(
    state: &PortalState,
    name: &str,
    tail: u32,
) -> Result<Option<Vec<LogLine>>, Error> {
    let engine = &state.api.ctx.engine;
    let Some(container) = engine.primary_container(name) else {
        return Ok(None);
    };
    let request = LogRequest {
        follow: false,
        tail: Some(tail),
        since: None,
        timestamps: true,
    };
    let read = async {
        let mut chunks = Box::pin(engine.logs(&container.id, &request));
        let mut read = Vec::new();
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(chunk) => read.extend(lines::parse_chunk(&chunk)),
                Err(engine::Error::NoSuchContainer { .. }) => return Ok(None),
                Err(e) => return Err(Error::ReadLogs(e)),
            }
        }
        Ok(Some(read))
    };
    tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .map_err(|_| Error::ReadTimeout(READ_TIMEOUT))?
}

/// One line as the template shows it.
#[derive(Debug, Clone)]
pub struct LineView {
    pub line: LogLine,
    pub shown: bool,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "tenant_logs.html")]
pub struct LogsPage {
    pub chrome: Chrome,
    pub name: String,
    pub phase: &'static str,
    pub badge: String,
    pub options: Options,
    pub choices: &'static [u32],
    pub lines: Vec<LineView>,
    pub shown: usize,
    /// Why there are no lines to read (no container), for a person.
    pub no_container: Option<String>,
    /// The engine failed; the page says so instead of failing.
    pub read_failed: bool,
    /// Where the live tail resumes: the last line's time, or the time of this page.
    pub after: String,
}

impl LogsPage {
    /// Whether `n` is the line count chosen (for the select).
    pub fn is_selected(&self, n: &u32) -> bool {
        *n == self.options.lines
    }

    pub fn download_url(&self) -> String {
        format!(
            "/dashboard/tenants/{}/logs/download{}",
            self.name,
            self.options.query_string()
        )
    }

    pub fn stream_url(&self) -> String {
        format!("/dashboard/tenants/{}/logs/stream", self.name)
    }

    /// `Showing 3 of the last 120 lines` and the like.
    pub fn count_words(&self) -> String {
        let total = self.lines.len();
        if total == 0 {
            return "No lines yet".into();
        }
        let noun = if total == 1 { "line" } else { "lines" };
        if self.options.q.is_empty() {
            format!("Showing the last {total} {noun}")
        } else {
            format!("Showing {} of the last {total} {noun}", self.shown)
        }
    }
}

/// `GET /dashboard/tenants/{name}/logs`.
async fn page(
    State(state): State<PortalState>,
    RequireUser(session): RequireUser,
    Path(name): Path<String>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, Error> {
    let Some(tenant) = visible_tenant(&state, &session, &name).await? else {
        return Ok(not_found(
            &session,
            format!("/dashboard/tenants/{name}/logs"),
        ));
    };
    let options = Options::of(&query, PAGE_LINES);
    let (lines, no_container, read_failed) = match read_lines(&state, &name, options.lines).await {
        Ok(Some(lines)) => (lines, None, false),
        Ok(None) => (
            Vec::new(),
            Some(format!(
                "{name} has no container right now (it is {}), so there is no output to show yet. \
                 Lines appear here once it runs.",
                phase_of(&tenant).as_str().to_lowercase()
            )),
            false,
        ),
        Err(e) => {
            tracing::warn!(tenant = %name, error = %e, source = ?std::error::Error::source(&e), "logs page: reading failed");
            (Vec::new(), None, true)
        }
    };
    let after = lines
        .iter()
        .rev()
        .find_map(|l| l.at)
        .unwrap_or_else(Utc::now)
        .to_rfc3339_opts(SecondsFormat::Nanos, true);
    let filter = Filter::new(&options.q);
    let lines: Vec<LineView> = lines
        .into_iter()
        .map(|line| LineView {
            shown: filter.matches(&line),
            line,
        })
        .collect();
    let phase = phase_of(&tenant).as_str();
    let page = LogsPage {
        chrome: Chrome::of_session(&session, "dashboard"),
        shown: lines.iter().filter(|l| l.shown).count(),
        name,
        phase,
        badge: phase.to_lowercase(),
        options,
        choices: &LINE_CHOICES,
        lines,
        no_container,
        read_failed,
        after,
    };
    Ok(page.into_response())
}

/// `GET /dashboard/tenants/{name}/logs/download`: the lines (filtered by `q`) as a
/// `text/plain` attachment.
async fn download(
    State(state): State<PortalState>,
    RequireUser(session): RequireUser,
    Path(name): Path<String>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, Error> {
    if visible_tenant(&state, &session, &name).await?.is_none() {
        return Ok(not_found(
            &session,
            format!("/dashboard/tenants/{name}/logs/download"),
        ));
    }
    let options = Options::of(&query, DOWNLOAD_LINES);
    if let Some(error) = options.lines_error.as_ref().or(options.q_error.as_ref()) {
        return Ok((StatusCode::BAD_REQUEST, error.clone()).into_response());
    }
    let output = read_lines(&state, &name, options.lines)
        .await?
        .unwrap_or_default();
    let filter = Filter::new(&options.q);
    let body = lines::download_text(output.iter().filter(|l| filter.matches(l)));
    let filename = lines::download_filename(&name, Utc::now());
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
            .expect("a tenant name and a timestamp make a valid header value"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: Option<&str>, lines: Option<&str>) -> LogsQuery {
        LogsQuery {
            q: q.map(str::to_owned),
            lines: lines.map(str::to_owned),
        }
    }

    #[test]
    fn options_default_to_the_page_or_download_size_and_no_filter() {
        let page = Options::of(&query(None, None), PAGE_LINES);
        assert_eq!((page.lines, page.q.as_str()), (PAGE_LINES, ""));
        assert!(page.is_valid());
        assert_eq!(
            Options::of(&query(None, Some("")), DOWNLOAD_LINES).lines,
            DOWNLOAD_LINES
        );
        let chosen = Options::of(&query(Some(" Listening "), Some("1000")), PAGE_LINES);
        assert_eq!((chosen.lines, chosen.q.as_str()), (1000, "Listening"));
    }

    #[test]
    fn a_bad_line_count_or_filter_is_reported_and_changes_nothing() {
        for bad in ["7", "-1", "all", "100000"] {
            let options = Options::of(&query(None, Some(bad)), PAGE_LINES);
            assert_eq!(options.lines, PAGE_LINES, "{bad}");
            assert!(options.lines_error.is_some(), "{bad}");
        }
        let long = "x".repeat(MAX_FILTER + 1);
        let options = Options::of(&query(Some(&long), None), PAGE_LINES);
        assert_eq!(options.q, "", "an overlong filter is not applied");
        assert!(options.q_error.is_some());
        let exact = "é".repeat(MAX_FILTER);
        assert!(Options::of(&query(Some(&exact), None), PAGE_LINES).is_valid());
    }

    /// What the template makes of untrusted lines: escaped text, stderr marked in words as
    /// well as colour, non-matching lines hidden, and the count.
    #[test]
    fn the_page_escapes_lines_marks_stderr_and_hides_what_the_filter_does_not_match() {
        use crate::engine::{LogChunk, LogSource};
        let parse = |source, text: &str| {
            lines::parse_chunk(&LogChunk {
                source,
                bytes: text.as_bytes().to_vec(),
            })
        };
        let mut all = parse(LogSource::Stdout, "2030-01-01T12:00:00Z <b>listening</b>\n");
        all.extend(parse(
            LogSource::Stderr,
            "2030-01-01T12:00:01Z failed to connect\n",
        ));
        let options = Options::of(&query(Some("listen"), None), PAGE_LINES);
        let filter = Filter::new(&options.q);
        let lines: Vec<LineView> = all
            .into_iter()
            .map(|line| LineView {
                shown: filter.matches(&line),
                line,
            })
            .collect();
        let page = LogsPage {
            chrome: Chrome::default(),
            name: "acme".into(),
            phase: "Ready",
            badge: "ready".into(),
            options,
            choices: &LINE_CHOICES,
            shown: 1,
            lines,
            no_container: None,
            read_failed: false,
            after: "2030-01-01T12:00:01.000000000Z".into(),
        };
        let html = page.render().expect("the template renders");
        assert!(html.contains("&#60;b&#62;listening&#60;/b&#62;"), "escaped");
        assert!(!html.contains("<b>listening"), "never raw");
        assert!(
            html.contains(r#"<li class="log-line log-stderr" hidden>"#),
            "{html}"
        );
        assert!(html.contains(r#"title="stderr">err</span>"#));
        assert!(html.contains(r#"datetime="2030-01-01T12:00:00.000000000Z" title="2030-01-01 12:00:00.000 UTC">12:00:00</time>"#));
        assert!(html.contains("Showing 1 of the last 2 lines"));
        assert!(html.contains(r#"<option value="500" selected>"#));
        assert!(
            html.contains(r#"href="/dashboard/tenants/acme/logs/download?lines=500&#38;q=listen""#)
        );
    }

    #[test]
    fn the_query_string_carries_the_count_and_an_encoded_filter() {
        let options = Options::of(&query(Some("GET /a&b"), Some("100")), PAGE_LINES);
        // `/` may stand in a query as it is; `&` and spaces may not.
        assert_eq!(options.query_string(), "?lines=100&q=GET%20/a%26b");
        let options = Options::of(&query(None, None), PAGE_LINES);
        assert_eq!(options.query_string(), "?lines=500");
    }
}
