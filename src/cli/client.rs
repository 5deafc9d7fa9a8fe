//! The HTTP client of the CLI: requests to `/api/v1` with the bearer token, errors that say
//! what to do, retries of rate-limited writes, and a reader for server-sent events.
//!
//! # Guarantees
//! - Every failure names the server and says what to do next (start the server, set the
//!   token, fix the field); the API's own message is shown as it is.
//! - A 429 is retried after the server's Retry-After, a few times, so a large apply is not
//!   refused half-way by the write rate limit.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::resource::Tenant;

/// How long an ordinary (non-streaming) request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a rate-limited write is retried.
const MAX_RETRIES: usize = 5;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot reach tenantd at {server}: {detail}. Is `tenantd serve` running there? \
         Point TENANTD_URL (or --server) at its listen address"
    )]
    Unreachable { server: String, detail: String },
    #[error(
        "{server} needs an API token: set TENANTD_TOKEN (or pass --token) to one of the \
         server's admin_tokens (TENANTD_ADMIN_TOKENS where it runs)"
    )]
    NoToken { server: String },
    #[error(
        "{server} refused the token: TENANTD_TOKEN (or --token) must be one of the server's \
         admin_tokens (TENANTD_ADMIN_TOKENS where it runs)"
    )]
    BadToken { server: String },
    #[error("{0}")]
    Api(ApiFailure),
    #[error("unexpected answer from {server}: {detail}")]
    Protocol { server: String, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error answer of the API: `{code, message, field, details}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiFailure {
    #[serde(skip)]
    pub status: u16,
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub details: Vec<FieldDetail>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldDetail {
    pub field: String,
    #[serde(default)]
    pub rule: String,
    pub message: String,
}

impl ApiFailure {
    /// Whether the write was refused because the specs/ directory owns the tenant: the API
    /// names `metadata.source` as the field at fault.
    pub fn is_owned_by_file(&self) -> bool {
        self.status == 409 && self.field.as_deref() == Some("metadata.source")
    }
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_owned_by_file() {
            // The server speaks of forcing the write; the CLI's way to do that is --force.
            return f.write_str(&self.message.replace("force the write", "pass --force"));
        }
        f.write_str(&self.message)?;
        match self.code.as_str() {
            "NotFound" => f.write_str("; `tenantd get` lists the tenants"),
            "Conflict" if self.field.as_deref() == Some("metadata.resourceVersion") => f.write_str(
                "; someone else changed it: fetch it again (`tenantd get NAME -o yaml`) or \
                     drop metadata.resourceVersion from the file",
            ),
            _ => Ok(()),
        }
    }
}

impl Error {
    /// The API's answer, when the server gave one.
    pub fn api(&self) -> Option<&ApiFailure> {
        match self {
            Error::Api(failure) => Some(failure),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.api().is_some_and(|f| f.status == 404)
    }
}

/// What a dry run says (`PUT ?dryRun=true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// created, configured or unchanged.
    pub outcome: String,
    pub tenant: Tenant,
    #[serde(default)]
    pub plan: Vec<Step>,
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default)]
    pub drift: Vec<Step>,
}

/// One planned step of the reconciler.
#[derive(Debug, Clone, Deserialize)]
pub struct Step {
    pub action: String,
    pub detail: String,
    #[serde(default)]
    pub cause: String,
}

/// One changed field.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub field: String,
    #[serde(default)]
    pub from: Option<serde_json::Value>,
    #[serde(default)]
    pub to: Option<serde_json::Value>,
    #[serde(default)]
    pub forces_replacement: bool,
}

#[derive(Debug, Deserialize)]
struct TenantPage {
    items: Vec<Tenant>,
    #[serde(default, rename = "continue")]
    next: Option<String>,
}

/// One entry of the deployment log.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub action: String,
    pub outcome: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    pub first_at: chrono::DateTime<chrono::Utc>,
    pub last_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Deserialize)]
struct EventPage {
    items: Vec<Event>,
}

/// The write the CLI asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteFlags {
    pub dry_run: bool,
    pub force: bool,
}

impl WriteFlags {
    fn query(self) -> Vec<(&'static str, &'static str)> {
        let mut query = Vec::new();
        if self.dry_run {
            query.push(("dryRun", "true"));
        }
        if self.force {
            query.push(("force", "true"));
        }
        query
    }
}

/// A tenantd API endpoint and the caller's token.
pub struct Client {
    http: reqwest::Client,
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8080`.
    server: String,
    token: Option<String>,
}

impl Client {
    /// # Errors
    /// When `server` is not an http(s) URL.
    pub fn new(server: &str, token: Option<&str>) -> anyhow::Result<Client> {
        let server = server.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&server).map_err(|e| {
            anyhow::anyhow!(
                "the server address {server:?} is not a URL ({e}); set TENANTD_URL (or --server) \
                 like http://127.0.0.1:8080"
            )
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            anyhow::bail!(
                "the server address {server:?} must start with http:// (or https://); set \
                 TENANTD_URL (or --server) like http://127.0.0.1:8080"
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("tenantd-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            http,
            server,
            token: token
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.server));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends, retrying 429s after the server's Retry-After, and turns error answers into
    /// [`Error`]s.
    async fn send(&self, mut request: RequestBuilder) -> Result<Response> {
        let mut attempt = 0;
        loop {
            let retry = request.try_clone();
            let response = request.send().await.map_err(|e| self.transport_error(&e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::TOO_MANY_REQUESTS
                && attempt < MAX_RETRIES
                && let Some(next) = retry
            {
                let wait = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1)
                    .clamp(1, 30);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                attempt += 1;
                request = next;
                continue;
            }
            return Err(self.error_from(response).await);
        }
    }

    fn transport_error(&self, error: &reqwest::Error) -> Error {
        // reqwest's top-level message ("error sending request") hides the cause.
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            detail = cause.to_string();
            source = cause.source();
        }
        if error.is_timeout() {
            detail = format!("no answer in time ({detail})");
        }
        Error::Unreachable {
            server: self.server.clone(),
            detail,
        }
    }

    async fn error_from(&self, response: Response) -> Error {
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            let server = self.server.clone();
            return match self.token {
                None => Error::NoToken { server },
                Some(_) => Error::BadToken { server },
            };
        }
        let text = response.text().await.unwrap_or_default();
        match serde_json::from_str::<ApiFailure>(&text) {
            Ok(mut failure) => {
                failure.status = status.as_u16();
                Error::Api(failure)
            }
            Err(_) => Error::Protocol {
                server: self.server.clone(),
                detail: format!(
                    "HTTP {status} {}; is TENANTD_URL the address of tenantd?",
                    text.chars().take(200).collect::<String>().trim()
                ),
            },
        }
    }

    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        let response = self.send(request.timeout(REQUEST_TIMEOUT)).await?;
        let text = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;
        serde_json::from_str(&text).map_err(|e| Error::Protocol {
            server: self.server.clone(),
            detail: format!("the answer is not what tenantd sends ({e})"),
        })
    }

    /// One tenant.
    pub async fn get(&self, name: &str) -> Result<Tenant> {
        self.json(self.request(Method::GET, &format!("/tenants/{}", segment(name))))
            .await
    }

    /// One tenant, or `None` if it does not exist.
    pub async fn find(&self, name: &str) -> Result<Option<Tenant>> {
        match self.get(name).await {
            Ok(tenant) => Ok(Some(tenant)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every tenant matching the selector and phase, all pages.
    pub async fn list(&self, selector: Option<&str>, phase: Option<&str>) -> Result<Vec<Tenant>> {
        let mut all = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut query: Vec<(&str, String)> = vec![("limit", "500".into())];
            if let Some(selector) = selector {
                query.push(("labelSelector", selector.to_owned()));
            }
            if let Some(phase) = phase {
                query.push(("phase", phase.to_owned()));
            }
            if let Some(token) = &next {
                query.push(("continue", token.clone()));
            }
            let page: TenantPage = self
                .json(self.request(Method::GET, "/tenants").query(&query))
                .await?;
            all.extend(page.items);
            match page.next {
                Some(token) => next = Some(token),
                None => return Ok(all),
            }
        }
    }

    /// `PUT /tenants/{name}`: the stored tenant and whether it was created.
    pub async fn put(&self, tenant: &Tenant, flags: WriteFlags) -> Result<(Tenant, bool)> {
        let request = self
            .request(
                Method::PUT,
                &format!("/tenants/{}", segment(&tenant.metadata.name)),
            )
            .query(&flags.query())
            .json(tenant)
            .timeout(REQUEST_TIMEOUT);
        let response = self.send(request).await?;
        let created = response.status() == StatusCode::CREATED;
        let stored = response
            .json::<Tenant>()
            .await
            .map_err(|e| Error::Protocol {
                server: self.server.clone(),
                detail: format!("the answer is not a Tenant ({e})"),
            })?;
        Ok((stored, created))
    }

    /// `PUT /tenants/{name}?dryRun=true`: what a write would do.
    pub async fn dry_run(&self, tenant: &Tenant, force: bool) -> Result<DryRun> {
        let flags = WriteFlags {
            dry_run: true,
            force,
        };
        self.json(
            self.request(
                Method::PUT,
                &format!("/tenants/{}", segment(&tenant.metadata.name)),
            )
            .query(&flags.query())
            .json(tenant),
        )
        .await
    }

    /// `DELETE /tenants/{name}` (or its dry run): the tenant, now marked for deletion.
    pub async fn delete(&self, name: &str, flags: WriteFlags) -> Result<Tenant> {
        self.json(
            self.request(Method::DELETE, &format!("/tenants/{}", segment(name)))
                .query(&flags.query()),
        )
        .await
    }

    /// `POST /tenants/{name}/{verb}` for start, stop and restart.
    pub async fn verb(&self, name: &str, verb: &str, force: bool) -> Result<Tenant> {
        let flags = WriteFlags {
            dry_run: false,
            force,
        };
        self.json(
            self.request(Method::POST, &format!("/tenants/{}/{verb}", segment(name)))
                .query(&flags.query()),
        )
        .await
    }

    /// The most recent `limit` events of a tenant, newest first.
    pub async fn events(&self, name: &str, limit: u32) -> Result<Vec<Event>> {
        let page: EventPage = self
            .json(
                self.request(Method::GET, &format!("/tenants/{}/events", segment(name)))
                    .query(&[("limit", limit.clamp(1, 1000).to_string())]),
            )
            .await?;
        Ok(page.items)
    }

    /// A streaming GET (logs, watch): the response once its headers arrived, no time limit.
    pub async fn stream(&self, path: &str, query: &[(&str, String)]) -> Result<Response> {
        self.send(self.request(Method::GET, path).query(query))
            .await
    }

    /// Reads the next chunk of a streaming response.
    pub async fn chunk(&self, response: &mut Response) -> Result<Option<Vec<u8>>> {
        response
            .chunk()
            .await
            .map(|c| c.map(|b| b.to_vec()))
            .map_err(|e| self.transport_error(&e))
    }
}

/// A name as one URL path segment. Tenant names are RFC 1123 labels already; anything else
/// is escaped so it cannot reach another route.
fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: String,
}

/// Splits a byte stream into server-sent events (the WHATWG format: `field: value` lines, a
/// blank line ends an event, `:` lines are comments such as keep-alives).
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    current: SseEvent,
    has_data: bool,
}

impl SseParser {
    /// Feeds bytes; returns the events they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if line.is_empty() {
                if self.has_data || self.current.event.is_some() {
                    events.push(std::mem::take(&mut self.current));
                }
                self.has_data = false;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_str(), ""),
            };
            match field {
                "event" => self.current.event = Some(value.to_owned()),
                "id" => self.current.id = Some(value.to_owned()),
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.has_data = true;
                }
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_splits_events_across_chunks_and_skips_comments() {
        let mut parser = SseParser::default();
        assert_eq!(
            parser.feed(b": keep-alive\n\nevent: ADDED\nid: 7\nda"),
            vec![]
        );
        let events = parser.feed(b"ta: {\"a\":1}\r\n\r\nevent: DELETED\ndata: x\ndata: y\n\n");
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: Some("ADDED".into()),
                    id: Some("7".into()),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: Some("DELETED".into()),
                    id: None,
                    data: "x\ny".into()
                },
            ]
        );
    }

    #[test]
    fn a_name_cannot_escape_its_path_segment() {
        assert_eq!(segment("acme-lab"), "acme-lab");
        assert_eq!(segment("../x?y"), "..%2Fx%3Fy");
    }

    #[test]
    fn errors_say_what_to_do() {
        let server = "http://127.0.0.1:1".to_owned();
        let no_token = Error::NoToken {
            server: server.clone(),
        }
        .to_string();
        assert!(no_token.contains("TENANTD_TOKEN"), "{no_token}");
        let unreachable = Error::Unreachable {
            server,
            detail: "connection refused".into(),
        }
        .to_string();
        assert!(unreachable.contains("TENANTD_URL"), "{unreachable}");
        let not_found = ApiFailure {
            status: 404,
            code: "NotFound".into(),
            message: "tenant x not found".into(),
            field: None,
            details: vec![],
        }
        .to_string();
        assert!(not_found.contains("tenantd get"), "{not_found}");
        let owned = ApiFailure {
            status: 409,
            code: "Conflict".into(),
            message:
                "tenant a is managed by a.yaml; edit that file (or force the write to take it over)"
                    .into(),
            field: Some("metadata.source".into()),
            details: vec![],
        };
        assert!(owned.is_owned_by_file());
        assert_eq!(
            owned.to_string(),
            "tenant a is managed by a.yaml; edit that file (or pass --force to take it over)"
        );
    }

    #[test]
    fn a_server_address_must_be_an_http_url() {
        assert!(Client::new("127.0.0.1:8080", None).is_err());
        assert!(Client::new("ftp://x", None).is_err());
        let client = Client::new("http://127.0.0.1:8080/", Some(" t ")).unwrap();
        assert_eq!(client.server(), "http://127.0.0.1:8080");
        assert_eq!(client.token.as_deref(), Some("t"));
    }
}
