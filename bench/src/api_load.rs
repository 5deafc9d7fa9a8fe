//! Scenario 5, the API under load: PUTs and GETs of tenants from [`CONNECTIONS`] concurrent
//! HTTP connections on loopback against the in-process app, and the time from a PUT returning
//! to the reconciler starting on that tenant. The same load then runs against two floors, so
//! the latencies can be read against what this machine allows: the HTTP stack alone
//! ([`crate::api_floor`], no store) and the store alone (its calls, no HTTP).
//!
//! The writes are real: each PUT sends a converged tenant's manifest with one label changed,
//! so the store takes a new resourceVersion and raises its NOTIFY, while the spec (and so the
//! generation, the container and the database) stays as it is. The PUT carries no
//! resourceVersion, so concurrent writers replace rather than conflict.
//!
//! # Guarantees
//! - Every measured request is counted: an answer other than 2xx, or a transport error, is an
//!   error, counted by status; latencies are those of the successful requests.
//! - Every connection is its own HTTP client, so there are exactly [`CONNECTIONS`] keep-alive
//!   connections; warm-up requests open them and are not counted.
//! - The reconcile-start timings come from tenantd's own `reconcile started` event, recorded
//!   by [`StartLayer`] only while a measurement is armed.
//!
//! # Caveats
//! - Client and server share this process and the machine's cores, so the latencies include
//!   the client's own work and contention with it.
//! - A reconcile of the tenant started by something else (a resync tick, a Docker event)
//!   between a PUT's send and its NOTIFY would be taken for the PUT's; the idle, converged
//!   world makes that rare.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::StatusCode;
use tenantd::resource::Tenant;

use crate::contenders::Contender;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// Concurrent connections of the load.
pub const CONNECTIONS: usize = 64;

/// The label each PUT changes (the only difference from the stored tenant).
const LABEL: &str = "tenantd-bench-put";

/// The target and message of tenantd's event at the start of `reconcile::reconcile`.
const RECONCILE_TARGET: &str = "tenantd::reconcile";
const RECONCILE_STARTED: &str = "reconcile started";

/// How large the load is.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Measured requests per connection (half PUTs, half GETs, alternating).
    pub per_connection: usize,
    /// Requests per connection before the measurement (not counted).
    pub warmup: usize,
    /// Sequential PUTs, with the load finished, whose reconcile start is timed.
    pub sequential: usize,
}

impl Load {
    pub fn for_smoke(smoke: bool) -> Load {
        if smoke {
            Load {
                per_connection: 20,
                warmup: 4,
                sequential: 20,
            }
        } else {
            Load {
                per_connection: 200,
                warmup: 10,
                sequential: 50,
            }
        }
    }
}

/// The requests of one kind (PUT or GET).
#[derive(Debug, Clone, Default)]
pub struct Requests {
    /// Seconds from sending to the whole answer read, successful requests only.
    pub latencies: Vec<f64>,
    /// Failed requests by what happened (`409`, `transport`), none hidden.
    pub errors: BTreeMap<String, usize>,
}

impl Requests {
    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }

    pub fn count(&self) -> usize {
        self.latencies.len() + self.error_count()
    }

    fn record(&mut self, outcome: Result<Duration, String>) {
        match outcome {
            Ok(took) => self.latencies.push(took.as_secs_f64()),
            Err(what) => *self.errors.entry(what).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Requests) {
        self.latencies.extend(other.latencies);
        for (what, n) in other.errors {
            *self.errors.entry(what).or_default() += n;
        }
    }
}

/// One attempt's scenario 5 against one server: tenantd, or one of the floors.
#[derive(Debug, Clone)]
pub struct ApiRun {
    /// tenantd, [`Contender::HttpFloor`] or [`Contender::StoreFloor`].
    pub served_by: Contender,
    pub connections: usize,
    pub loaded: Loaded,
    /// Sequential PUTs (tenantd only): seconds from the PUT's answer to the reconcile start
    /// (negative when the reconciler had started before the answer arrived).
    pub after_return: Vec<f64>,
    /// The same PUTs: seconds from sending the PUT to the reconcile start.
    pub after_send: Vec<f64>,
    /// The same PUTs' latencies, one request at a time: the service time without queueing.
    pub alone: Vec<f64>,
    /// Sequential PUTs whose reconcile did not start within the wait, or that failed.
    pub missed: usize,
}

impl ApiRun {
    pub fn requests_per_second(&self) -> f64 {
        let loaded = &self.loaded;
        (loaded.put.count() + loaded.get.count()) as f64 / loaded.wall.as_secs_f64().max(1e-9)
    }

    pub fn errors(&self) -> usize {
        self.loaded.put.error_count() + self.loaded.get.error_count()
    }
}

/// The converged tenants as a PUT sends them (see [`manifest_of`]), read through the API.
pub async fn manifests(base: &str, token: &str, names: &[String]) -> anyhow::Result<Vec<Tenant>> {
    anyhow::ensure!(!names.is_empty(), "the API load needs converged tenants");
    let setup = client()?;
    let mut manifests = Vec::with_capacity(names.len());
    for name in names {
        let tenant: Tenant = setup
            .get(format!("{base}/api/v1/tenants/{name}"))
            .bearer_auth(token)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("GET of tenant {name} before the load"))?
            .json()
            .await
            .with_context(|| format!("reading tenant {name}"))?;
        manifests.push(manifest_of(tenant));
    }
    Ok(manifests)
}

/// Where the load's connections send their requests.
#[derive(Clone)]
pub enum Target {
    /// An HTTP server with tenantd's tenant routes (tenantd's app, or [`crate::api_floor`]),
    /// called with a bearer token.
    Http { base: String, token: String },
    /// tenantd's store, called directly: the store calls the API's handlers make, in the same
    /// order, without HTTP, authentication or validation.
    Store(tenantd::store::Store),
}

/// One load connection: a keep-alive HTTP client of its own, or the shared store.
enum Connection {
    Http {
        http: reqwest::Client,
        base: String,
        token: String,
    },
    Store(tenantd::store::Store),
}

impl Connection {
    fn open(target: &Target) -> anyhow::Result<Connection> {
        Ok(match target {
            Target::Http { base, token } => Connection::Http {
                http: client()?,
                base: base.clone(),
                token: token.clone(),
            },
            Target::Store(store) => Connection::Store(store.clone()),
        })
    }

    async fn put(&self, manifest: &Tenant, value: &str) -> Result<Duration, String> {
        match self {
            Connection::Http { http, base, token } => {
                send_put(http, base, token, manifest, value).await
            }
            Connection::Store(store) => {
                let sent = Instant::now();
                store_put(store, labelled(manifest, value))
                    .await
                    .map(|()| sent.elapsed())
                    .map_err(|e| format!("store: {e}"))
            }
        }
    }

    async fn get(&self, name: &str) -> Result<Duration, String> {
        match self {
            Connection::Http { http, base, token } => time(
                http.get(format!("{base}/api/v1/tenants/{name}"))
                    .bearer_auth(token),
            )
            .await
            .map(|(took, _)| took),
            Connection::Store(store) => {
                let sent = Instant::now();
                match store.get(name).await {
                    Ok(Some(_)) => Ok(sent.elapsed()),
                    Ok(None) => Err("404".into()),
                    Err(e) => Err(format!("store: {e}")),
                }
            }
        }
    }
}

/// The store calls of the API's PUT handler (`api::tenants::write`), in its order: take the
/// tenant's place in this process's write queue; when a writer before it left the row it
/// wrote, compare-and-swap on that; otherwise (or when that missed) read and then write.
async fn store_put(store: &tenantd::store::Store, tenant: Tenant) -> tenantd::store::Result<()> {
    let options = tenantd::store::ApplyOptions::default();
    let mut turn = store.queue_write(&tenant.metadata.name).await;
    if let Some(guess) = turn.last_written().cloned()
        && store
            .apply_over_guess(&mut turn, &tenant, &options, &guess)
            .await?
            .is_some()
    {
        return Ok(());
    }
    let read = store.get(&tenant.metadata.name).await?;
    store.apply_over(&mut turn, &tenant, &options, read).await?;
    Ok(())
}

/// What [`load`] measured.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub put: Requests,
    pub get: Requests,
    pub wall: Duration,
    pub cpu: Cpu,
}

/// CPU seconds spent during a load, by whom (see [`crate::cpu`]).
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    /// This process: the server (tenantd or the floor), its controller, and the clients.
    pub process: f64,
    /// Every `postgres` process, `None` when `/proc` could not be read.
    pub postgres: Option<f64>,
    /// What the machine had: the load's wall time × the cores.
    pub available: f64,
}

/// Runs [`CONNECTIONS`] connections against `target`, each sending `load.warmup` uncounted
/// and then `load.per_connection` measured requests, alternating PUT and GET.
pub async fn load(
    target: &Target,
    manifests: &Arc<Vec<Tenant>>,
    load: Load,
) -> anyhow::Result<Loaded> {
    anyhow::ensure!(
        !manifests.is_empty(),
        "the API load needs converged tenants"
    );
    let barrier = Arc::new(tokio::sync::Barrier::new(CONNECTIONS + 1));
    let mut connections = tokio::task::JoinSet::new();
    for index in 0..CONNECTIONS {
        let connection = Connection::open(target)?;
        let (manifests, barrier) = (manifests.clone(), barrier.clone());
        connections.spawn(async move {
            let mut put = Requests::default();
            let mut get = Requests::default();
            for i in 0..load.warmup + load.per_connection {
                if i == load.warmup {
                    barrier.wait().await;
                }
                // Each connection alternates PUT and GET and moves to the next tenant every
                // two requests, so every tenant gets both (stepping by one request would pair
                // PUTs with the even tenants only, doubling their writers' queue).
                let manifest = &manifests[(index + i / 2) % manifests.len()];
                let is_put = (index + i) % 2 == 0;
                let outcome = if is_put {
                    connection.put(manifest, &format!("c{index}-r{i}")).await
                } else {
                    connection.get(&manifest.metadata.name).await
                };
                if i >= load.warmup {
                    if is_put { &mut put } else { &mut get }.record(outcome);
                }
            }
            (put, get)
        });
    }
    barrier.wait().await;
    let started = Instant::now();
    let (process_before, postgres_before) = (
        crate::cpu::process_seconds(),
        crate::cpu::postgres_seconds(),
    );
    let mut put = Requests::default();
    let mut get = Requests::default();
    while let Some(joined) = connections.join_next().await {
        let (p, g) = joined.context("a load connection panicked")?;
        put.merge(p);
        get.merge(g);
    }
    let wall = started.elapsed();
    let cpu = Cpu {
        process: crate::cpu::process_seconds() - process_before,
        postgres: postgres_before
            .zip(crate::cpu::postgres_seconds())
            .map(|(b, a)| a - b),
        available: wall.as_secs_f64()
            * std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
    };
    Ok(Loaded {
        put,
        get,
        wall,
        cpu,
    })
}

/// tenantd's API: the load, then the sequential PUTs whose reconcile start is timed. The
/// tenants must exist and be converged.
pub async fn measure(
    base: &str,
    token: &str,
    manifests: &Arc<Vec<Tenant>>,
    load: Load,
) -> anyhow::Result<ApiRun> {
    let target = Target::Http {
        base: base.to_owned(),
        token: token.to_owned(),
    };
    let loaded = self::load(&target, manifests, load).await?;

    // The load's reconciles drain (at most one pending per tenant) before the timed PUTs.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let setup = client()?;
    let starts = &*STARTS;
    starts.arm();
    let mut after_return = Vec::new();
    let mut after_send = Vec::new();
    let mut alone = Vec::new();
    let mut missed = 0;
    for i in 0..load.sequential {
        let manifest = &manifests[i % manifests.len()];
        let sent = Instant::now();
        let outcome = send_put(&setup, base, token, manifest, &format!("seq-{i}")).await;
        let returned = Instant::now();
        let started = match outcome {
            Ok(_) => {
                alone.push(returned.duration_since(sent).as_secs_f64());
                starts
                    .first_after(&manifest.metadata.name, sent, Duration::from_secs(5))
                    .await
            }
            Err(_) => None,
        };
        match started {
            Some(at) => {
                after_return.push(signed_seconds(at, returned));
                after_send.push(at.duration_since(sent).as_secs_f64());
            }
            None => missed += 1,
        }
        // Lets that reconcile finish, so the next PUT does not wait behind it.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    starts.disarm();
    Ok(ApiRun {
        served_by: Contender::Tenantd,
        connections: CONNECTIONS,
        loaded,
        after_return,
        after_send,
        alone,
        missed,
    })
}

/// The floors of the same load, measured right after tenantd's: the HTTP stack serving the
/// tenants from memory ([`crate::api_floor`]), and tenantd's store called without HTTP.
pub async fn measure_floors(
    store: &tenantd::store::Store,
    token: &str,
    manifests: &Arc<Vec<Tenant>>,
    load: Load,
) -> anyhow::Result<Vec<ApiRun>> {
    let server = crate::api_floor::serve(manifests, token).await?;
    let http = Target::Http {
        base: server.base.clone(),
        token: token.to_owned(),
    };
    let mut runs = Vec::new();
    for (served_by, target) in [
        (Contender::HttpFloor, http),
        (Contender::StoreFloor, Target::Store(store.clone())),
    ] {
        let loaded = self::load(&target, manifests, load)
            .await
            .with_context(|| format!("the API load against the {}", served_by.title()))?;
        runs.push(ApiRun {
            served_by,
            connections: CONNECTIONS,
            loaded,
            after_return: Vec::new(),
            after_send: Vec::new(),
            alone: Vec::new(),
            missed: 0,
        });
    }
    Ok(runs)
}

/// One connection's client: keep-alive, no redirects, a timeout so a stuck server shows.
fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .context("building an HTTP client")
}

/// What a PUT sends: the stored tenant without its status and resourceVersion.
fn manifest_of(mut tenant: Tenant) -> Tenant {
    tenant.status = None;
    tenant.metadata.resource_version = None;
    tenant
}

async fn send_put(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    manifest: &Tenant,
    value: &str,
) -> Result<Duration, String> {
    let tenant = labelled(manifest, value);
    let name = &tenant.metadata.name;
    let request = http
        .put(format!("{base}/api/v1/tenants/{name}"))
        .bearer_auth(token)
        .json(&tenant);
    let (took, status) = time(request).await?;
    // A label change is a replace: 200 with a new resourceVersion, never "created".
    if status == StatusCode::OK {
        Ok(took)
    } else {
        Err(status.as_str().to_owned())
    }
}

/// `manifest` with the bench's label set to `value`: what a PUT writes.
fn labelled(manifest: &Tenant, value: &str) -> Tenant {
    let mut tenant = manifest.clone();
    tenant
        .metadata
        .labels
        .insert(LABEL.to_owned(), value.to_owned());
    tenant
}

/// Sends `request` and reads the whole answer: the time taken and the status, or the error.
async fn time(request: reqwest::RequestBuilder) -> Result<(Duration, StatusCode), String> {
    let sent = Instant::now();
    let response = request.send().await.map_err(|_| "transport".to_owned())?;
    let status = response.status();
    response
        .bytes()
        .await
        .map_err(|_| "transport (body)".to_owned())?;
    let took = sent.elapsed();
    if status.is_success() {
        Ok((took, status))
    } else {
        Err(status.as_str().to_owned())
    }
}

/// `at - since` in seconds, negative when `at` is earlier.
fn signed_seconds(at: Instant, since: Instant) -> f64 {
    match at.checked_duration_since(since) {
        Some(d) => d.as_secs_f64(),
        None => -since.duration_since(at).as_secs_f64(),
    }
}

/// The reconcile starts seen while armed, by tenant.
#[derive(Debug, Default)]
pub struct ReconcileStarts {
    armed: AtomicBool,
    seen: Mutex<Vec<(String, Instant)>>,
    changed: tokio::sync::Notify,
}

/// The one the harness's subscriber feeds (see [`layer`]).
static STARTS: LazyLock<Arc<ReconcileStarts>> = LazyLock::new(Arc::default);

impl ReconcileStarts {
    fn arm(&self) {
        self.seen.lock().expect("not poisoned").clear();
        self.armed.store(true, Ordering::SeqCst);
    }

    fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
        self.seen.lock().expect("not poisoned").clear();
    }

    fn record(&self, tenant: String, at: Instant) {
        self.seen.lock().expect("not poisoned").push((tenant, at));
        self.changed.notify_waiters();
    }

    fn find(&self, tenant: &str, after: Instant) -> Option<Instant> {
        self.seen
            .lock()
            .expect("not poisoned")
            .iter()
            .find(|(name, at)| name == tenant && *at >= after)
            .map(|(_, at)| *at)
    }

    /// The first reconcile start of `tenant` at or after `after`, waiting up to `wait`.
    async fn first_after(&self, tenant: &str, after: Instant, wait: Duration) -> Option<Instant> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so a start recorded in between still wakes us.
            changed.as_mut().enable();
            if let Some(at) = self.find(tenant, after) {
                return Some(at);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return None;
            }
        }
    }
}

/// A `tracing` layer that notes when tenantd starts reconciling a tenant, into the harness's
/// [`ReconcileStarts`]. Install it with [`filter`] as its per-layer filter, so the debug
/// events reach it while the global log filter stays as it is.
pub struct StartLayer {
    starts: Arc<ReconcileStarts>,
}

/// The layer the harness installs.
pub fn layer() -> StartLayer {
    StartLayer {
        starts: STARTS.clone(),
    }
}

/// Only the reconciler's debug events reach [`StartLayer`].
pub fn filter() -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new().with_target(RECONCILE_TARGET, tracing::Level::DEBUG)
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StartLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if !self.starts.armed.load(Ordering::Relaxed)
            || event.metadata().target() != RECONCILE_TARGET
        {
            return;
        }
        let at = Instant::now();
        let mut fields = StartFields::default();
        event.record(&mut fields);
        if fields.message.as_deref() == Some(RECONCILE_STARTED)
            && let Some(tenant) = fields.tenant
        {
            self.starts.record(tenant, at);
        }
    }
}

#[derive(Default)]
struct StartFields {
    message: Option<String>,
    tenant: Option<String>,
}

impl Visit for StartFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = Some(format!("{value:?}")),
            // Recorded with `%`, so the Debug form is the Display form, unquoted.
            "tenant" => self.tenant = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    fn with_layer(starts: &Arc<ReconcileStarts>, emit: impl FnOnce()) {
        let subscriber = tracing_subscriber::registry().with(
            StartLayer {
                starts: starts.clone(),
            }
            .with_filter(filter()),
        );
        tracing::subscriber::with_default(subscriber, emit);
    }

    #[test]
    fn the_layer_records_reconcile_starts_only_while_armed() {
        let starts = Arc::new(ReconcileStarts::default());
        let before = Instant::now();
        with_layer(&starts, || {
            tracing::debug!(target: "tenantd::reconcile", tenant = %"acme", "reconcile started");
        });
        assert_eq!(starts.find("acme", before), None, "not armed yet");
        starts.arm();
        with_layer(&starts, || {
            tracing::debug!(target: "tenantd::reconcile", tenant = %"acme", "reconcile started");
            tracing::debug!(target: "tenantd::reconcile", tenant = %"acme", "something else");
            tracing::debug!(target: "tenantd::engine", tenant = %"other", "reconcile started");
        });
        assert!(starts.find("acme", before).is_some());
        let seen = starts.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].0, "acme");
        starts.disarm();
        assert_eq!(starts.find("acme", before), None);
    }

    #[tokio::test]
    async fn waiting_for_a_start_sees_one_recorded_later_and_gives_up_after_the_wait() {
        let starts = Arc::new(ReconcileStarts::default());
        starts.arm();
        let after = Instant::now();
        let recorder = starts.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            recorder.record("acme".into(), Instant::now());
        });
        let found = starts
            .first_after("acme", after, Duration::from_secs(5))
            .await;
        assert!(found.is_some_and(|at| at >= after));
        let missing = starts
            .first_after("nobody", after, Duration::from_millis(30))
            .await;
        assert_eq!(missing, None);
    }

    #[test]
    fn signed_seconds_are_negative_for_an_earlier_instant() {
        let earlier = Instant::now();
        let later = earlier + Duration::from_millis(5);
        assert!((signed_seconds(later, earlier) - 0.005).abs() < 1e-9);
        assert!((signed_seconds(earlier, later) + 0.005).abs() < 1e-9);
    }

    #[test]
    fn errors_are_counted_by_kind_and_not_mixed_into_latencies() {
        let mut requests = Requests::default();
        requests.record(Ok(Duration::from_millis(2)));
        requests.record(Err("409".into()));
        requests.record(Err("409".into()));
        requests.record(Err("transport".into()));
        assert_eq!(requests.latencies, vec![0.002]);
        assert_eq!(requests.error_count(), 3);
        assert_eq!(requests.count(), 4);
        assert_eq!(requests.errors["409"], 2);
    }

    #[test]
    fn a_manifest_for_put_has_neither_status_nor_resource_version() {
        let mut tenant: Tenant = serde_json::from_value(serde_json::json!({
            "apiVersion": "tenantd/v1", "kind": "Tenant",
            "metadata": {"name": "acme", "resourceVersion": "7"},
            "spec": {}
        }))
        .unwrap();
        tenant.status = Some(Default::default());
        let manifest = manifest_of(tenant);
        assert_eq!(manifest.metadata.resource_version, None);
        assert!(manifest.status.is_none());
    }
}
