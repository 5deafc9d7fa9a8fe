//! The observe endpoints over real HTTP, against the real Docker engine and Postgres: a
//! tenant container's logs (tail, since, timestamps, follow as text and as server-sent events,
//! the end of a follow on shutdown and on stop) and its metrics (a reading now, the sampled
//! history, the sampler's cost), plus the parameter checks and auth.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, World};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tenantd::resource::{DesiredState, Phase};
use tokio::task::JoinHandle;

/// The API of a world on 127.0.0.1:0, with its own shutdown switch.
struct Server {
    base: String,
    client: reqwest::Client,
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves `tenantd::api::router` with the admin token [`ADMIN_TOKEN`], stopping gracefully
    /// when [`Server::stop`] is set (as `tenantd serve` does).
    async fn start(world: &World) -> Server {
        let config = tenantd::app::api_config(&world.api_test_config());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
        let api = tenantd::api::router(
            tenantd::api::ApiState::new(world.ctx.clone(), &config, stopped.clone()),
            config.body_limit_bytes,
        );
        let mut http_stop = stopped;
        let task = tokio::spawn(async move {
            axum::serve(listener, api)
                .with_graceful_shutdown(async move {
                    let _ = http_stop.wait_for(|stop| *stop).await;
                })
                .await
        });
        Server {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            stop,
            task,
        }
    }

    /// A GET with the admin token (or `token`), not yet read.
    async fn send(&self, path: &str, token: Option<&str>, accept: &str) -> reqwest::Response {
        let mut request = self
            .client
            .request(Method::GET, format!("{}{path}", self.base))
            .header("accept", accept);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("the server answers")
    }

    async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let response = self.send(path, Some(ADMIN_TOKEN), "*/*").await;
        (response.status(), response.text().await.unwrap())
    }

    async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let (status, text) = self.get_text(path).await;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {path} answered {status} with non-JSON ({e}): {text}"));
        (status, value)
    }

    /// A follow stream, checked to have started as `content_type`.
    async fn follow(&self, path: &str, accept: &str, content_type: &str) -> Stream {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .header("accept", accept)
            // No overall timeout: the stream stays open as long as the test reads it.
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        let got = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(got.starts_with(content_type), "GET {path}: {got}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        Stream {
            response,
            seen: String::new(),
        }
    }
}

/// An open streaming response and what it sent so far.
struct Stream {
    response: reqwest::Response,
    seen: String,
}

impl Stream {
    /// Reads until `needle` has been sent; panics with what was sent after `timeout`.
    async fn read_until(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.seen.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None)) => panic!("the stream ended before {needle:?}; sent: {}", self.seen),
                Ok(Err(e)) => panic!(
                    "the stream failed before {needle:?} ({e}); sent: {}",
                    self.seen
                ),
                Err(_) => panic!(
                    "{needle:?} did not arrive within {timeout:?}; sent: {}",
                    self.seen
                ),
            }
        }
    }

    /// Reads until the server ends the response (cleanly); panics after `timeout`.
    async fn read_to_end(&mut self, timeout: Duration) {
        let end = tokio::time::timeout(timeout, async {
            while let Some(chunk) = self
                .response
                .chunk()
                .await
                .expect("the stream ends cleanly")
            {
                self.seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        assert!(
            end.is_ok(),
            "the stream did not end within {timeout:?}; sent: {}",
            self.seen
        );
    }
}

/// A request path the app has never seen, so its log line identifies this request.
fn marker(what: &str) -> String {
    format!("/marker-{what}-{}", common::random_suffix())
}

/// Polls the (non-follow) logs until they contain every needle.
async fn logs_containing(server: &Server, path: &str, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, text) = server.get_text(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        if needles.iter().all(|n| text.contains(n)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} did not show {needles:?} within 10 s: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Logs return the app's start line and the line a request caused; `tail` and `timestamps`
/// shape them; `follow` streams a line printed after the stream started, as text and as
/// server-sent events; a follow stream ends when the server shuts down (and the server then
/// stops) and when the container stops, whose output is still served afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_tail_and_follow_the_tenant_containers_output() {
    let world = World::start("obslogs").await;
    let name = world.name("a");
    let mut tenant = world.tenant("a");
    world.apply(&tenant).await;
    world.wait_ready(&name).await;
    let server = Server::start(&world).await;
    let logs = format!("/tenants/{name}/logs");

    let first = marker("tail");
    let (status, _) = world.app(&name, Method::GET, &first).await;
    assert_eq!(
        status, 404,
        "the test app has no such route, but logs the request"
    );
    let text = logs_containing(
        &server,
        &format!("{logs}?tail=100"),
        &["testapp listening on", &format!("GET {first} -> 404")],
    )
    .await;
    assert!(text.ends_with('\n'), "lines as printed: {text:?}");

    let (status, last) = server.get_text(&format!("{logs}?tail=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        last.lines().count(),
        1,
        "tail=1 is the last line only: {last:?}"
    );
    assert!(
        last.contains(&first),
        "the last line is the request's: {last:?}"
    );
    let (_, stamped) = server
        .get_text(&format!("{logs}?tail=2&timestamps=true"))
        .await;
    for line in stamped.lines() {
        let stamp = line.split(' ').next().unwrap();
        chrono::DateTime::parse_from_rfc3339(stamp)
            .unwrap_or_else(|e| panic!("{line:?} does not start with an RFC 3339 time: {e}"));
    }
    let (status, recent) = server.get_text(&format!("{logs}?since=10m")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        recent.contains("testapp listening on") && recent.contains(&first),
        "since alone sends every line since then: {recent:?}"
    );

    // follow=true, as text: only what is printed after the stream started (tail=0).
    let mut text_stream = server
        .follow(&format!("{logs}?follow=true&tail=0"), "*/*", "text/plain")
        .await;
    let second = marker("follow");
    world.app(&name, Method::GET, &second).await;
    text_stream
        .read_until(&format!("GET {second} -> 404"), Duration::from_secs(10))
        .await;
    assert!(
        !text_stream.seen.contains(&first),
        "tail=0 sends no earlier line: {}",
        text_stream.seen
    );
    drop(text_stream);

    // The same as server-sent events: one event per line, named after the output.
    let mut events = server
        .follow(
            &format!("{logs}?follow=true&tail=0"),
            "text/event-stream",
            "text/event-stream",
        )
        .await;
    let third = marker("sse");
    world.app(&name, Method::GET, &third).await;
    events
        .read_until(
            &format!("event: stdout\ndata: GET {third} -> 404"),
            Duration::from_secs(10),
        )
        .await;
    drop(events);

    // Shutdown ends an open follow stream, so the server's graceful shutdown completes.
    let mut open = server
        .follow(&format!("{logs}?follow=true&tail=1"), "*/*", "text/plain")
        .await;
    open.read_until(&third, Duration::from_secs(10)).await;
    server.stop.send(true).unwrap();
    open.read_to_end(Duration::from_secs(5)).await;
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("the server stops within 5 s of the shutdown signal")
        .unwrap()
        .unwrap();

    // A stopped container ends the follow; its output is still served.
    let server = Server::start(&world).await;
    let mut until_stop = server
        .follow(&format!("{logs}?follow=true&tail=0"), "*/*", "text/plain")
        .await;
    tenant.spec.state = DesiredState::Stopped;
    world.apply(&tenant).await;
    until_stop
        .read_until("exiting", Duration::from_secs(30))
        .await;
    until_stop.read_to_end(Duration::from_secs(10)).await;
    world.wait_phase(&name, Phase::Stopped).await;
    let text = logs_containing(&server, &format!("{logs}?tail=10000"), &[&first, &third]).await;
    assert!(text.contains("exiting"), "{text}");
    world.cleanup().await;
}

/// Bad parameters get 400 with `{code, message, field}`, a missing or wrong token 401, an
/// unknown tenant 404; a tenant without a container gets 404 for its logs (saying so) and
/// metrics with `now: null` and no history; a sampler with period 0 does not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_parameters_auth_and_a_tenant_without_a_container() {
    // No controller: the tenant is stored but never gets a container.
    let world = World::without_controller("obsparams").await;
    let name = world.name("p");
    world.apply(&world.tenant("p")).await;
    let server = Server::start(&world).await;

    for (path, field) in [
        ("logs?tail=10001", "tail"),
        ("logs?tail=-5", "tail"),
        ("logs?since=last%20tuesday", "since"),
        ("logs?since=1969-07-20T20:17:00Z", "since"),
        ("logs?follow=maybe", "follow"),
        ("logs?timestamps=yes", "timestamps"),
        ("metrics?range=1m", "range"),
        ("metrics?range=2d", "range"),
        ("metrics?range=soon", "range"),
    ] {
        let (status, body) = server.get_json(&format!("/tenants/{name}/{path}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], "BadRequest", "{path}: {body}");
        assert_eq!(body["field"], field, "{path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(field)),
            "{path}: the message names the parameter: {body}"
        );
    }

    for path in ["logs", "metrics"] {
        let url = format!("/tenants/{name}/{path}");
        for token in [None, Some("not-the-admin-token-at-all")] {
            let response = server.send(&url, token, "*/*").await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{url} with {token:?}"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "Unauthorized");
        }
        let (status, body) = server
            .get_json(&format!("/tenants/nobody-here/{path}"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["message"], "tenant nobody-here not found");
    }

    let (status, body) = server.get_json(&format!("/tenants/{name}/logs")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "NotFound");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("has no container") && m.contains("Pending")),
        "{body}"
    );
    let (status, body) = server.get_json(&format!("/tenants/{name}/metrics")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["running"], false);
    assert_eq!(body["now"], Value::Null);
    assert_eq!(body["history"], serde_json::json!([]));
    assert_eq!(body["rangeSeconds"], 900, "15 minutes by default");
    assert_eq!(body["samplePeriodSeconds"], 0.0, "no sampler runs here");

    let (_, off) = tokio::sync::watch::channel(false);
    tokio::time::timeout(
        Duration::from_millis(100),
        world.ctx.engine.run_stats_sampler(Duration::ZERO, off),
    )
    .await
    .expect("a sampler with period 0 returns at once");
    assert_eq!(world.ctx.engine.history().period(), Duration::ZERO);
    world.cleanup().await;
}

/// Stats calls made so far.
fn stats_calls(world: &World) -> u64 {
    world
        .ctx
        .engine
        .stats()
        .by_operation
        .get("stats")
        .copied()
        .unwrap_or(0)
}

/// `now` reads the running container's memory (above 0, limited by the spec's 96Mi) and CPU;
/// with a 200 ms sampler the history grows by at most one stats call per period, gets no new
/// samples once the tenant is stopped (and no stats calls are made for it), and the sampler
/// forgets the tenant once it is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_now_and_a_sampled_history_that_stops_with_the_tenant() {
    let world = World::start("obsmetrics").await;
    let name = world.name("m");
    let mut tenant = world.tenant("m");
    world.apply(&tenant).await;
    world.wait_ready(&name).await;
    let server = Server::start(&world).await;
    let metrics = format!("/tenants/{name}/metrics");
    let limit = 96u64 << 20;

    let (status, body) = server.get_json(&metrics).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tenant"], name.as_str());
    assert_eq!(body["running"], true, "{body}");
    let now = &body["now"];
    assert!(now["memoryBytes"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(now["memoryLimitBytes"].as_u64(), Some(limit), "{body}");
    assert!(
        now["cpuPercent"].as_f64().is_some_and(|cpu| cpu >= 0.0),
        "one non-one-shot call yields a CPU percent: {body}"
    );
    assert!(now["networkRxBytes"].as_u64().is_some(), "{body}");
    assert!(now["networkTxBytes"].as_u64().is_some(), "{body}");
    chrono::DateTime::parse_from_rfc3339(now["at"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["history"],
        serde_json::json!([]),
        "no sampler runs yet"
    );

    let period = Duration::from_millis(200);
    let (stop_sampler, sampler_stop) = tokio::sync::watch::channel(false);
    let engine = world.ctx.engine.clone();
    let sampler = tokio::spawn(async move { engine.run_stats_sampler(period, sampler_stop).await });

    // At most one call per running container per period: over 2 s, at most 11 (10 periods,
    // plus the tick at the start of the window). Docker 20.10 answers a one-shot call only at
    // its collector's next tick, so there it is about one a second.
    let calls_before = stats_calls(&world);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = stats_calls(&world) - calls_before;
    let elapsed = window.elapsed();
    let allowed = (elapsed.as_millis() / period.as_millis()) as u64 + 1;
    assert!(
        (1..=allowed).contains(&calls),
        "{calls} stats calls in {elapsed:?} for one container at one per {period:?}"
    );

    // The history grows.
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (_, body) = server.get_json(&format!("{metrics}?range=5m")).await;
        if body["history"].as_array().unwrap().len() >= 3 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the history did not reach 3 samples within 10 s: {body}"
        );
        tokio::time::sleep(period).await;
    };
    assert_eq!(body["samplePeriodSeconds"], 0.2, "{body}");
    assert_eq!(body["rangeSeconds"], 300);
    let history = body["history"].as_array().unwrap().clone();
    let times: Vec<&str> = history.iter().map(|s| s["at"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {times:?}"
    );
    for sample in &history {
        assert_eq!(sample["memoryLimitBytes"].as_u64(), Some(limit), "{sample}");
        assert!(sample["memoryBytes"].as_u64().unwrap() > 0, "{sample}");
    }
    assert!(
        history[1..].iter().all(|s| s["cpuPercent"].is_number()),
        "every sample after the first has a CPU percent: {body}"
    );

    tenant.spec.state = DesiredState::Stopped;
    world.apply(&tenant).await;
    world.wait_phase(&name, Phase::Stopped).await;
    // Let a round that was in flight during the stop finish (a call can take a second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, stopped) = server.get_json(&metrics).await;
    assert_eq!(stopped["running"], false, "{stopped}");
    assert_eq!(stopped["now"], Value::Null, "{stopped}");
    let kept = stopped["history"].as_array().unwrap().clone();
    assert!(
        kept.len() >= history.len(),
        "earlier samples are kept: {stopped}"
    );
    let calls_before = stats_calls(&world);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        stats_calls(&world),
        calls_before,
        "no stats call for a stopped container"
    );
    let (_, later) = server.get_json(&metrics).await;
    assert_eq!(
        later["history"], stopped["history"],
        "no new samples while the tenant is stopped"
    );

    assert!(world.ctx.store.request_delete(&name).await.unwrap());
    world.wait_gone(&name).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while world.ctx.engine.history().tenants().contains(&name) {
        assert!(
            Instant::now() < deadline,
            "the sampler still keeps the deleted tenant's history"
        );
        tokio::time::sleep(period).await;
    }
    assert_eq!(world.ctx.engine.history().tenants(), BTreeSet::new());

    stop_sampler.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(2), sampler)
        .await
        .expect("the sampler stops on shutdown")
        .unwrap();
    world.cleanup().await;
}
