//! The tenant logs page against a real tenantd: the controller on the real Docker engine, real
//! Postgres, headless Chromium. The test app prints a line at start (`testapp listening on …`)
//! and one per request (`GET /path -> 404 …`), so a request makes it print a line on demand.
//! Screenshots land in `target/screenshots/logs-page-*/`.

mod common;

use std::time::Duration;

use common::World;
use common::browser::Browser;
use common::web::{PASSWORD, Visitor, register_user};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The line the test app prints when it starts.
const STARTUP_LINE: &str = "testapp listening on";

/// A world with a running tenant owned by a registered user; returns the world, the served
/// base URL, the user's email and the tenant's name.
async fn world_with_tenant(label: &str) -> (World, String, String, String) {
    let world = World::start(label).await;
    let base = world.serve_api().await;
    let email = format!("{}@example.org", world.name("owner"));
    let user = register_user(&world, &email).await;
    let mut tenant = world.tenant("app");
    tenant.metadata.owner = Some(user.id.to_string());
    let name = world.apply(&tenant).await.metadata.name;
    world.wait_ready(&name).await;
    (world, base, email, name)
}

/// Sends `GET <path>` as raw bytes to the tenant's app (so the path can hold characters an
/// HTTP client would encode); the app logs the request line with the path as sent.
async fn raw_request(world: &World, name: &str, path: &str) {
    assert!(!path.contains(' '), "a request path has no spaces");
    let ip = world.container_ip(name).await;
    let mut stream = tokio::net::TcpStream::connect(format!("{ip}:8080"))
        .await
        .unwrap_or_else(|e| panic!("connecting to the app of {name} at {ip}:8080: {e}"));
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: app\r\n\r\n").as_bytes())
        .await
        .expect("sending a request to the app");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .await
        .expect("reading the app's answer");
    assert!(
        answer.starts_with("HTTP/1.1 404"),
        "the app answered {answer:?}"
    );
}

/// Polls the page (over HTTP, as `visitor`) until it contains `text`.
async fn wait_for_line(visitor: &mut Visitor, path: &str, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, page) = visitor.page(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        if page.contains(text) {
            return page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} did not show {text:?} within 10s:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The opening `<li …>` tag of the log line that contains `text`.
fn line_tag<'a>(page: &'a str, text: &str) -> &'a str {
    let at = page
        .find(text)
        .unwrap_or_else(|| panic!("the page has no line with {text:?}"));
    let start = page[..at].rfind("<li").expect("a log line is an <li>");
    let end = page[start..].find('>').expect("the tag ends") + start;
    &page[start..=end]
}

/// The logs page shows the line the app printed at start, rendered by the server; a line the
/// app prints while the page is open arrives live without a reload (as text, even when it
/// looks like HTML); the filter hides non-matching lines as one types; pausing stops new
/// lines and following again fills in what was missed.
#[tokio::test]
async fn the_logs_page_shows_a_line_the_app_printed_and_new_lines_live() {
    let (world, base, email, name) = world_with_tenant("logs-live").await;
    let browser = Browser::start("logs-page-live").await;
    browser.log_in(&base, &email, PASSWORD).await;
    browser
        .goto(&format!("{base}/dashboard/tenants/{name}/logs"))
        .await;
    let lines = browser.text("#log-lines").await;
    assert!(
        lines.contains(STARTUP_LINE),
        "the server-rendered lines hold the startup line: {lines}"
    );
    browser
        .wait_until(
            "the live tail to connect",
            Duration::from_secs(10),
            "document.getElementById('log-state').dataset.state === 'live'",
        )
        .await;
    assert_eq!(browser.text(".log-state-word").await, "Live");
    browser.screenshot("01-logs").await;

    // A marker on the window survives only if the page is never reloaded.
    browser
        .js("window.stillTheSamePage = true; return true;")
        .await;
    let probe = format!("/logs-probe-{}/<b>bold</b>", common::random_suffix());
    raw_request(&world, &name, &probe).await;
    browser
        .wait_until(
            "the request's line to arrive live",
            Duration::from_secs(10),
            &format!(
                "document.getElementById('log-lines').innerText.includes({:?})",
                format!("GET {probe} -> 404")
            ),
        )
        .await;
    assert_eq!(
        browser
            .js("return document.querySelector('#log-lines b') === null;")
            .await,
        true,
        "a line that looks like HTML is shown as text"
    );
    browser.screenshot("02-live-line").await;

    // The filter applies as one types, without a reload.
    browser.fill("#q", "LISTENING").await;
    let probe_hidden = format!(
        "(() => {{ const items = [...document.querySelectorAll('#log-lines .log-line')]; \
           const probe = items.find(e => e.textContent.includes({probe:?})); \
           const start = items.find(e => e.textContent.includes({STARTUP_LINE:?})); \
           return probe && probe.offsetParent === null && start && start.offsetParent !== null; }})()"
    );
    browser
        .wait_until(
            "the filter to hide the request's line",
            Duration::from_secs(5),
            &probe_hidden,
        )
        .await;
    let count = browser.text("#log-count").await;
    assert!(count.starts_with("Showing 1 of the last"), "{count}");
    let href = browser
        .find("#log-download")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        href.contains("q=LISTENING"),
        "the download follows the filter: {href}"
    );
    browser.screenshot("03-filtered").await;

    // Clear the filter like a person (backspace), then pause.
    browser
        .find("#q")
        .await
        .send_keys("\u{E003}".repeat("LISTENING".len()))
        .await
        .expect("deleting the filter");
    browser
        .wait_until(
            "every line to show again",
            Duration::from_secs(5),
            "[...document.querySelectorAll('#log-lines .log-line')].every(e => !e.hidden)",
        )
        .await;
    browser.click("#log-follow").await;
    browser
        .wait_until(
            "the tail to pause",
            Duration::from_secs(5),
            "document.getElementById('log-state').dataset.state === 'paused'",
        )
        .await;
    assert_eq!(
        browser
            .find("#log-follow")
            .await
            .attr("aria-pressed")
            .await
            .unwrap()
            .as_deref(),
        Some("false")
    );
    let missed = format!("/logs-while-paused-{}", common::random_suffix());
    raw_request(&world, &name, &missed).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !browser.text("#log-lines").await.contains(&missed),
        "a paused tail shows no new lines"
    );
    browser.screenshot("04-paused").await;
    browser.click("#log-follow").await;
    browser
        .wait_until(
            "following again to fill in the missed line",
            Duration::from_secs(10),
            &format!(
                "document.getElementById('log-state').dataset.state === 'live' && \
                 document.getElementById('log-lines').innerText.includes({missed:?})"
            ),
        )
        .await;
    let shown = browser
        .js(&format!(
            "return [...document.querySelectorAll('#log-lines .log-line')] \
               .filter(e => e.textContent.includes({probe:?})).length;"
        ))
        .await;
    assert_eq!(shown, 1, "resuming repeats no line");
    assert_eq!(
        browser.js("return window.stillTheSamePage === true;").await,
        true,
        "none of this reloaded the page"
    );

    // The keyboard reaches the scrollable lines right after the Follow button.
    let focused = browser.tab_to("log-box", 3).await;
    assert_eq!(focused["tag"], "div");
    browser.screenshot("05-focus").await;

    browser.set_viewport(360, 780).await;
    browser
        .goto(&format!("{base}/dashboard/tenants/{name}/logs"))
        .await;
    browser.assert_no_sideways_scroll().await;
    browser.screenshot_full_page("06-logs-360px").await;

    browser.quit().await;
    world.cleanup().await;
}

/// Without JavaScript the page escapes what the app printed, the filter marks the lines that
/// do not match as hidden, a bad line count is reported next to its field, and the download
/// returns the (filtered) lines as a `text/plain` attachment.
#[tokio::test]
async fn the_filter_and_the_download_work_without_javascript() {
    let (world, base, email, name) = world_with_tenant("logs-http").await;
    let probe = format!(
        "/logs-other-{}/<script>alert(1)</script>",
        common::random_suffix()
    );
    raw_request(&world, &name, &probe).await;
    let mut visitor = Visitor::new(&base);
    visitor.log_in(&email, PASSWORD).await;
    let path = format!("/dashboard/tenants/{name}/logs");
    let escaped = probe.replace('<', "&#60;").replace('>', "&#62;");
    let page = wait_for_line(&mut visitor, &path, &escaped).await;
    assert!(page.contains(STARTUP_LINE), "{page}");
    assert!(!page.contains("<script>alert(1)"), "the line is escaped");
    assert!(!line_tag(&page, &escaped).contains("hidden"));

    let (status, filtered) = visitor.page(&format!("{path}?q=Listening")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        line_tag(&filtered, &escaped).contains(" hidden"),
        "the non-matching line is hidden: {}",
        line_tag(&filtered, &escaped)
    );
    assert!(!line_tag(&filtered, STARTUP_LINE).contains("hidden"));
    assert!(filtered.contains("Showing 1 of the last"), "{filtered}");
    assert!(
        filtered.contains(&format!(
            r#"href="/dashboard/tenants/{name}/logs/download?lines=500&#38;q=Listening""#
        )),
        "the download link carries the filter"
    );

    let (status, bad) = visitor.page(&format!("{path}?lines=7")).await;
    assert_eq!(status, StatusCode::OK, "a bad count still shows the page");
    assert!(
        bad.contains(r#"id="lines-error">Choose how many lines"#),
        "the error is next to the field"
    );
    assert!(bad.contains(r#"name="lines" aria-invalid="true""#));
    assert!(bad.contains(STARTUP_LINE), "the default count applies");

    let download = |query: &str| {
        visitor
            .http
            .get(format!("{base}{path}/download{query}"))
            .send()
    };
    let response = download("?q=listening").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    let disposition = response.headers()[CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with(&format!(r#"attachment; filename="{name}-logs-"#))
            && disposition.ends_with(r#".txt""#),
        "{disposition}"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains(&format!("stdout {STARTUP_LINE}")), "{body}");
    assert!(
        body.lines().all(|l| l.to_lowercase().contains("listening")),
        "only matching lines: {body}"
    );
    let everything = download("").await.unwrap().text().await.unwrap();
    assert!(everything.contains(STARTUP_LINE) && everything.contains(&probe));
    let refused = download("?lines=all").await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    world.cleanup().await;
}

/// The data of the first `line` event of an SSE response (10 s at most).
async fn first_line_event(mut response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
    let mut seen = String::new();
    let read = async {
        while let Some(chunk) = response.chunk().await.expect("reading the stream") {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(at) = seen.find("event: line\n") {
                let rest = &seen[at..];
                if let Some(data) = rest.lines().find_map(|l| l.strip_prefix("data: "))
                    && rest.contains("\n\n")
                {
                    return data.to_owned();
                }
            }
        }
        panic!("the stream ended without a line event: {seen}");
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a line event within 10s")
}

/// The live tail starts after the page's last line, and a reconnecting browser's
/// `Last-Event-ID` wins over it: no line is sent twice, none is skipped.
#[tokio::test]
async fn the_live_tail_resumes_after_the_last_line_it_sent() {
    let (world, base, email, name) = world_with_tenant("logs-resume").await;
    let probe = format!("/logs-next-{}", common::random_suffix());
    raw_request(&world, &name, &probe).await;
    let mut visitor = Visitor::new(&base);
    visitor.log_in(&email, PASSWORD).await;
    let path = format!("/dashboard/tenants/{name}/logs");
    let page = wait_for_line(&mut visitor, &path, &probe).await;
    // The startup line's timestamp, as the page renders it.
    let start = page.find(STARTUP_LINE).unwrap();
    let stamp_at = page[..start].rfind(r#"datetime=""#).unwrap() + r#"datetime=""#.len();
    let stamp = &page[stamp_at..stamp_at + page[stamp_at..].find('"').unwrap()];

    let stream = |after: &str| {
        visitor
            .http
            .get(format!("{base}{path}/stream?after={after}"))
            .header("accept", "text/event-stream")
    };
    let from_start = first_line_event(stream("2000-01-01T00:00:00Z").send().await.unwrap()).await;
    assert!(from_start.contains(STARTUP_LINE), "{from_start}");
    let resumed = first_line_event(
        stream("2000-01-01T00:00:00Z")
            .header("last-event-id", stamp)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        resumed.contains(&probe) && !resumed.contains(STARTUP_LINE),
        "the line after the last one sent comes first: {resumed}"
    );
    let refused = stream("yesterday").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    world.cleanup().await;
}

/// A second user gets 404 from the page, the stream and the download of the first user's
/// tenant; an anonymous visitor is sent to log in; the owner of a tenant without a container
/// gets a friendly message instead of an error, and a live tail that waits for it.
#[tokio::test]
async fn a_second_user_gets_404_from_the_page_the_stream_and_the_download() {
    let world = World::without_controller("logs-iso").await;
    let base = world.serve_api().await;
    let first_email = format!("{}@example.org", world.name("first"));
    let second_email = format!("{}@example.org", world.name("second"));
    let first = register_user(&world, &first_email).await;
    register_user(&world, &second_email).await;
    let mut tenant = world.tenant("mine");
    tenant.metadata.owner = Some(first.id.to_string());
    let name = world.apply(&tenant).await.metadata.name;
    let page = format!("/dashboard/tenants/{name}/logs");
    let paths = [
        page.clone(),
        format!("{page}/stream"),
        format!("{page}/download"),
    ];

    let mut other = Visitor::new(&base);
    other.log_in(&second_email, PASSWORD).await;
    for path in &paths {
        let (status, body) = other.page(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            body.contains("We couldn’t find that page"),
            "{path}: the 404 page"
        );
    }
    let (status, _) = other.page("/dashboard/tenants/no-such-tenant/logs").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the same as a missing tenant"
    );

    let anonymous = Visitor::new(&base);
    for path in &paths {
        let response = anonymous
            .http
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let location = response.headers()[LOCATION].to_str().unwrap();
        assert!(location.starts_with("/login?next="), "{path}: {location}");
    }

    let mut owner = Visitor::new(&base);
    owner.log_in(&first_email, PASSWORD).await;
    let (status, body) = owner.page(&page).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("has no container right now"),
        "a friendly message: {body}"
    );
    assert!(body.contains("No output yet.") && body.contains("No lines yet"));
    let stream = owner
        .http
        .get(format!("{base}{page}/stream"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let events = stream.text().await.unwrap();
    assert!(
        events.contains("event: end") && events.contains("no container yet"),
        "the stream says why it ends: {events}"
    );
    let download = owner
        .http
        .get(format!("{base}{page}/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(
        download.text().await.unwrap(),
        "",
        "nothing to download yet"
    );

    // In the browser, the page says so and the live tail waits for the container.
    let browser = Browser::start("logs-page-no-container").await;
    browser.log_in(&base, &first_email, PASSWORD).await;
    browser.goto(&format!("{base}{page}")).await;
    assert!(
        browser
            .text("#log-notice")
            .await
            .contains("has no container right now")
    );
    browser
        .wait_until(
            "the tail to wait for the container",
            Duration::from_secs(10),
            "document.getElementById('log-state').dataset.state === 'reconnecting' && \
             document.getElementById('log-state-detail').textContent.includes('no container yet')",
        )
        .await;
    browser.screenshot("01-no-container").await;
    browser.quit().await;

    world.cleanup().await;
}
