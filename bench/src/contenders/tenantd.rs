//! tenantd as a contender: the real library (`app::build_context`, `reconcile::Controller`)
//! in this process, against a fresh database on the bench's Postgres and its own Docker
//! network and instance label, the way `tenantd serve` wires it; the HTTP app
//! (`app::http_app`: API, pages, health) is served on loopback when a scenario asks for it.
//!
//! # Guarantees
//! - Each attempt gets its own database `tenantd_bench_<id>…`, instance and network, and
//!   [`Tenantd::teardown`] removes all of them, the tenant roles included.
//! - Containers carry [`OWNER_LABEL`] (through tenantd's `extra_labels`), so the harness's
//!   sweep finds them even when an attempt is interrupted.
//! - The controller's task is registered with the [`Janitor`], which aborts it before a
//!   sweep, so an interrupted run's controller cannot re-create what the sweep removes.
//! - The HTTP listener, once started, is stopped by [`Tenantd::teardown`] before the pools
//!   close, so nothing of the API outlives its attempt.
//!
//! # Caveats
//! - Measuring in-process means the CPU of the idle measurement is this process's: the
//!   harness sleeps meanwhile, so it is tenantd's work plus an idle tokio runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tenantd::config::{Config, DefaultResources};
use tenantd::engine::EngineCallStats;
use tenantd::reconcile::{Context, Controller, Outcome, Prefetched, Snapshot};
use tenantd::resource::{self, ObjectMeta, Phase, Tenant, TenantSpec};
use tenantd::tenantdb::DbCallStats;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cleanup::Janitor;
use crate::workload::{OWNER_LABEL, RUN_LABEL, Workload};

/// How often convergence is checked (one `SELECT` of all tenants with status).
const POLL: Duration = Duration::from_millis(100);

/// One tenantd attempt: its database, its context and (while running) its controller.
pub struct Tenantd {
    pub config: Config,
    ctx: Arc<Context>,
    /// Superuser pool on the attempt's database, for the no-write check.
    admin: PgPool,
    /// Superuser URL of the cluster's maintenance database (create/drop databases).
    cluster_url: String,
    database: String,
    /// Tenant names start with it: unique per attempt, since container names are global.
    tenant_prefix: String,
    controller: Option<(oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>)>,
    /// The HTTP app on loopback, once [`Tenantd::serve_http`] started it.
    http: Option<Http>,
    backup_dir: PathBuf,
}

/// The attempt's HTTP listener: `app::http_app` served on `127.0.0.1:<free port>`.
struct Http {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    base: String,
    /// Sending `true` ends the open streams and stops the server gracefully.
    stop: tokio::sync::watch::Sender<bool>,
    handle: JoinHandle<std::io::Result<()>>,
}

/// What one resync pass cost, with the controller's two other periodic observations measured
/// beside it (they run on their own timers, not as part of a pass).
#[derive(Debug, Clone)]
pub struct Pass {
    /// The resync pass, as the controller makes one every resync period: read every tenant and
    /// its credentials from the store (two queries), then reconcile every tenant from that
    /// read and the caches.
    pub took: Duration,
    /// Where `took` went.
    pub store_read: Duration,
    pub reconciles: Duration,
    /// The relist, every relist period (and when Docker's event stream broke): three list
    /// calls that replace the engine cache.
    pub relist: Duration,
    /// The catalog observation, every database observe period: two catalog queries.
    pub catalog: Duration,
    /// The pass's own calls (the relist's and the catalog's are not counted here).
    pub engine: EngineCallStats,
    pub database: DbCallStats,
    /// Whether the store changed (a resourceVersion taken, an event recorded).
    pub store_written: bool,
    /// Reconciles that did not end `Done` (a converged world should have none).
    pub not_done: usize,
}

/// This process's resident memory, from /proc/self/status: tenantd's and the harness's
/// (which holds little besides), so an upper bound on tenantd's own. Read after
/// `malloc_trim(0)`: glibc keeps freed memory mapped, so without it the figure would include
/// what earlier attempts (the API load's 12,800 requests) allocated and freed long ago.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// VmRSS: resident now, in KiB.
    pub resident_kib: u64,
    /// VmHWM: the most ever resident, in KiB.
    pub peak_kib: u64,
}

impl Memory {
    pub fn now() -> anyhow::Result<Memory> {
        // SAFETY: malloc_trim only returns free heap pages to the kernel; it touches no live
        // allocation and is thread-safe (glibc takes each arena's lock).
        unsafe {
            libc::malloc_trim(0);
        }
        let status =
            std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
        Memory::parse(&status).context("/proc/self/status has no VmRSS or VmHWM line")
    }

    fn parse(status: &str) -> Option<Memory> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        };
        Some(Memory {
            resident_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }
}

/// CPU and calls of an idle, converged tenantd over a window.
#[derive(Debug, Clone)]
pub struct Idle {
    pub window: Duration,
    pub cpu_seconds: f64,
    pub engine: EngineCallStats,
    pub database: DbCallStats,
}

impl Tenantd {
    /// A fresh database and tenantd instance named `attempt`, controller running and its
    /// first observation done (not timed: a running tenantd is the starting point).
    pub async fn start(
        cluster_url: &str,
        workload: &Workload,
        attempt: &str,
        tenant_prefix: &str,
        concurrency: usize,
        janitor: &Janitor,
    ) -> anyhow::Result<Tenantd> {
        let database = attempt.replace('-', "_");
        let root = connect(cluster_url).await?;
        // The name is built from the run id and numbers only (see `workload`), never from input.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{database}\""
        )))
        .execute(&root)
        .await
        .with_context(|| format!("creating database {database}"))?;
        root.close().await;
        let url = url_with_database(cluster_url, &database);
        let backup_dir = std::env::temp_dir().join(attempt);
        let mut config = Config {
            // The API's admin token for scenario 5 (the in-process app is reachable only on
            // loopback, and only for the attempt's lifetime).
            admin_tokens: vec![format!("bench-{}", uuid::Uuid::new_v4().simple())],
            // Raised from 20 writes/s (burst 40) per caller: scenario 5 writes as one admin
            // from 64 connections and measures latency, not the limiter's 429s.
            api_write_rate: 1e9,
            api_write_burst: 1e9,
            // The wizard's tenants (scenario 7) name no image or limits: the defaults are the
            // workload's, so they run what every other tenant runs.
            default_resources: DefaultResources {
                memory: format!("{}Mi", workload.memory_bytes >> 20)
                    .parse()
                    .context("the workload's memory as a quantity")?,
                cpus: workload
                    .cpus_decimal()
                    .parse()
                    .context("the workload's cpus as a quantity")?,
                pids: workload.pids,
            },
            // The wizard's verification mails; removed with the backup folder at teardown.
            mail_outbox_dir: backup_dir.join("mail"),
            database_url: Some(url.clone()),
            instance: attempt.to_owned(),
            network: attempt.to_owned(),
            default_image: workload.image.clone(),
            container_port: workload.port,
            concurrency,
            backup_dir: backup_dir.clone(),
            extra_labels: BTreeMap::from([
                (OWNER_LABEL.to_owned(), "1".to_owned()),
                (RUN_LABEL.to_owned(), attempt.to_owned()),
            ]),
            ..Config::default()
        };
        config.healthcheck.test = workload.healthcheck.test.clone();
        config.healthcheck.interval = workload.healthcheck.interval;
        config.healthcheck.timeout = workload.healthcheck.timeout;
        config.healthcheck.start_period = workload.healthcheck.start_period;
        config.healthcheck.retries = workload.healthcheck.retries;
        config
            .check()
            .context("the bench's tenantd config is invalid")?;
        let ctx = tenantd::app::build_context(&config).await?;
        let admin = connect(&url).await?;
        let mut tenantd = Tenantd {
            config,
            ctx,
            admin,
            cluster_url: cluster_url.to_owned(),
            database,
            tenant_prefix: tenant_prefix.to_owned(),
            controller: None,
            http: None,
            backup_dir,
        };
        tenantd.start_controller(janitor).await?;
        Ok(tenantd)
    }

    /// Starts the controller and waits for its first observation.
    pub async fn start_controller(&mut self, janitor: &Janitor) -> anyhow::Result<()> {
        let controller = Controller::new(
            self.ctx.clone(),
            tenantd::app::controller_config(&self.config),
        );
        let ready = controller.readiness();
        let (tx, rx) = oneshot::channel();
        let handle = tokio::spawn(controller.run(async move {
            let _ = rx.await;
        }));
        janitor.register(handle.abort_handle());
        self.controller = Some((tx, handle));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready.load(Ordering::SeqCst) {
            anyhow::ensure!(
                Instant::now() < deadline,
                "tenantd's first observation did not finish within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        self.controller.is_some()
    }

    /// The attempt's store (read-only use: scenarios poll tenants' status through it).
    pub fn store(&self) -> &tenantd::store::Store {
        &self.ctx.store
    }

    /// Tenant names of this attempt start with it (see [`Tenantd::converge`]).
    pub fn tenant_prefix(&self) -> &str {
        &self.tenant_prefix
    }

    /// The API's admin token (a bearer token, `Authorization: Bearer <token>`).
    pub fn admin_token(&self) -> &str {
        &self.config.admin_tokens[0]
    }

    /// Serves `app::http_app`, the real routes of `tenantd serve` (health and metrics, the API,
    /// the pages), on a free loopback port in this runtime, once; returns its base URL.
    pub async fn serve_http(&mut self, janitor: &Janitor) -> anyhow::Result<String> {
        if let Some(http) = &self.http {
            return Ok(http.base.clone());
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        // `/readyz` says ready: the HTTP app is served only after the controller's first
        // observation, and the scenarios do not ask it.
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let app =
            tenantd::app::http_app(self.ctx.clone(), &self.config, ready, stopped.clone(), None)
                .await
                .context("building the HTTP app")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("listening on 127.0.0.1")?;
        let base = format!("http://{}", listener.local_addr()?);
        let mut until = stopped;
        let handle = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = until.wait_for(|stop| *stop).await;
            })
            .await
        });
        janitor.register(handle.abort_handle());
        self.http = Some(Http {
            base: base.clone(),
            stop,
            handle,
        });
        Ok(base)
    }

    /// Stops the HTTP listener (open streams end, connections close), if it runs.
    async fn stop_http(&mut self) -> anyhow::Result<()> {
        if let Some(http) = self.http.take() {
            let _ = http.stop.send(true);
            match tokio::time::timeout(Duration::from_secs(10), http.handle).await {
                Ok(joined) => joined
                    .context("the HTTP task panicked")?
                    .context("serving HTTP")?,
                Err(_) => anyhow::bail!("the HTTP listener did not stop within 10 s"),
            }
        }
        Ok(())
    }

    /// Stops the controller and waits for in-flight reconciles to finish.
    pub async fn stop_controller(&mut self) -> anyhow::Result<()> {
        if let Some((tx, handle)) = self.controller.take() {
            let _ = tx.send(());
            handle.await.context("the controller task panicked")??;
        }
        Ok(())
    }

    /// The timed part of "converge from empty": stores `n` tenants the way every writer does
    /// (validate, then one store call each, 8 at a time like concurrent API clients) and
    /// waits until all are Ready for their generation: schema and role created, container
    /// running and healthy.
    pub async fn converge(
        &self,
        workload: &Workload,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let tenants: Vec<Tenant> = (0..n)
            .map(|i| tenant(workload, &self.tenant_name(i)))
            .collect::<anyhow::Result<_>>()?;
        let started = Instant::now();
        let store = &self.ctx.store;
        let applied: Vec<anyhow::Result<()>> = futures::stream::iter(&tenants)
            .map(|t| async move {
                resource::validate(t, 2.0).context("a bench tenant is invalid")?;
                store.apply(t).await.context("storing a tenant")?;
                Ok(())
            })
            .buffer_unordered(8)
            .collect()
            .await;
        applied.into_iter().collect::<anyhow::Result<()>>()?;
        let mut progress = crate::docker::Progress::new();
        loop {
            let ready = self.ready_count().await?;
            if ready >= n {
                return Ok(started.elapsed());
            }
            progress.tick(ready, n, "Ready");
            anyhow::ensure!(
                started.elapsed() < timeout,
                "only {ready} of {n} tenants were Ready after {:?}",
                started.elapsed()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Scenario 3's write: sets `GREETING` of tenant `name` to `value` through the store, a
    /// spec change (the API's PUT does the same store call), and returns the new generation.
    pub async fn change_env(&self, name: &str, value: &str) -> anyhow::Result<i64> {
        let mut tenant = self
            .ctx
            .store
            .get(name)
            .await
            .context("reading the tenant to change")?
            .with_context(|| format!("tenant {name} is not in the store"))?;
        tenant.spec.env.insert("GREETING".into(), value.to_owned());
        tenant.status = None;
        resource::validate(&tenant, 2.0).context("the changed tenant is invalid")?;
        let (_, stored) = self
            .ctx
            .store
            .apply(&tenant)
            .await
            .context("storing the change")?;
        stored
            .metadata
            .generation
            .context("a stored tenant has a generation")
    }

    /// Polls until tenant `name` is Ready for `generation`.
    pub async fn wait_ready(
        &self,
        name: &str,
        generation: i64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let tenant = self.ctx.store.get(name).await.context("reading a tenant")?;
            let ready = tenant
                .and_then(|t| t.status)
                .is_some_and(|s| s.phase == Phase::Ready && s.observed_generation == generation);
            if ready {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < timeout,
                "{name} was not Ready for generation {generation} after {:?}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// tenantd's own count of Docker API calls so far (what `/metrics` exports).
    pub fn engine_stats(&self) -> EngineCallStats {
        self.ctx.engine.stats()
    }

    /// The name of the `i`th tenant [`Tenantd::converge`] stored.
    pub fn tenant_name(&self, i: usize) -> String {
        format!("{}-{i}", self.tenant_prefix)
    }

    async fn ready_count(&self) -> anyhow::Result<usize> {
        let tenants = self.ctx.store.list().await.context("listing tenants")?;
        Ok(tenants
            .iter()
            .filter(|t| {
                t.status.as_ref().is_some_and(|s| {
                    s.phase == Phase::Ready && Some(s.observed_generation) == t.metadata.generation
                })
            })
            .count())
    }

    /// CPU seconds and calls of the converged, idle controller over `window`, in which this
    /// process does nothing else.
    pub async fn idle(&self, window: Duration) -> anyhow::Result<Idle> {
        anyhow::ensure!(
            self.controller.is_some(),
            "idle is measured with the controller running"
        );
        let engine_before = self.ctx.engine.stats();
        let database_before = self.ctx.tenantdb.stats();
        let cpu_before = crate::cpu::process_seconds();
        tokio::time::sleep(window).await;
        Ok(Idle {
            window,
            cpu_seconds: crate::cpu::process_seconds() - cpu_before,
            engine: engine_delta(&engine_before, &self.ctx.engine.stats()),
            database: database_delta(database_before, self.ctx.tenantdb.stats()),
        })
    }

    /// One full resync pass over a converged world, with the controller stopped so that
    /// nothing else runs: relist the engine, re-read the catalog, read every tenant (the
    /// resync snapshot, two queries), then reconcile every tenant from that read with the
    /// controller's concurrency, as a resync tick does.
    pub async fn resync_pass(&mut self) -> anyhow::Result<Pass> {
        self.stop_controller().await?;
        let started = Instant::now();
        self.ctx
            .engine
            .relist()
            .await
            .context("relisting the engine")?;
        let relist = started.elapsed();
        let started = Instant::now();
        self.ctx
            .database
            .refresh(&self.ctx.tenantdb)
            .await
            .context("re-reading the catalog")?;
        let catalog = started.elapsed();

        let engine_before = self.ctx.engine.stats();
        let database_before = self.ctx.tenantdb.stats();
        let store_before = self.store_fingerprint().await?;
        let started = Instant::now();
        let mut snapshot = Snapshot::load(&self.ctx.store)
            .await
            .context("reading every tenant")?;
        let store_read = started.elapsed();
        let ctx = &self.ctx;
        let reads: Vec<(String, Option<Prefetched>)> = snapshot
            .names()
            .into_iter()
            .map(|name| {
                let read = snapshot.take(&name);
                (name, read)
            })
            .collect();
        let outcomes: Vec<Result<Outcome, tenantd::reconcile::Error>> =
            futures::stream::iter(reads)
                .map(|(name, read)| async move {
                    tenantd::reconcile::reconcile_from(ctx, &name, read).await
                })
                .buffer_unordered(self.config.concurrency)
                .collect()
                .await;
        let took = started.elapsed();
        let not_done = outcomes
            .iter()
            .filter(|o| !matches!(o, Ok(Outcome::Done)))
            .count();
        Ok(Pass {
            took,
            store_read,
            reconciles: took - store_read,
            relist,
            catalog,
            engine: engine_delta(&engine_before, &self.ctx.engine.stats()),
            database: database_delta(database_before, self.ctx.tenantdb.stats()),
            store_written: self.store_fingerprint().await? != store_before,
            not_done,
        })
    }

    /// The greatest resourceVersion handed out and the number of events recorded: any
    /// store write of the reconciler (status, event, finalizer) moves one of them.
    async fn store_fingerprint(&self) -> anyhow::Result<(i64, i64)> {
        let row: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT last_value FROM tenant_resource_version), \
                    (SELECT coalesce(sum(count), 0)::bigint FROM tenant_events)",
        )
        .fetch_one(&self.admin)
        .await
        .context("reading the store's fingerprint")?;
        Ok(row)
    }

    /// Stops the controller and removes the attempt's containers, network, roles and database.
    pub async fn teardown(mut self, docker: &bollard::Docker) -> anyhow::Result<()> {
        // First, so that no request writes while the rest goes away; the API's LISTEN
        // connection goes back to the pool with the server's state.
        let http = self.stop_http().await;
        self.stop_controller().await?;
        let label = format!("tenantd.instance={}", self.config.instance);
        crate::docker::remove_containers(docker, &label).await?;
        crate::docker::remove_network(docker, &self.config.network).await?;
        self.admin.close().await;
        self.ctx.store.pool().close().await;
        drop_database(&self.cluster_url, &self.database).await?;
        let _ = std::fs::remove_dir_all(&self.backup_dir);
        http
    }
}

/// Drops an attempt's database and the roles of its tenants (roles are cluster-wide).
/// `database` must be one of the harness's (`tenantd_bench_…`).
pub async fn drop_database(cluster_url: &str, database: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        database.starts_with("tenantd_bench_")
            && database
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "only the harness's own databases are dropped, not {database:?}"
    );
    if let Ok(pool) = connect(&url_with_database(cluster_url, database)).await {
        let uids: Vec<String> = sqlx::query_scalar("SELECT uid FROM tenants")
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
        for uid in uids {
            // The store's CHECK constraint guarantees this; the names below rely on it.
            anyhow::ensure!(
                uid.len() == 32 && uid.bytes().all(|b| b.is_ascii_hexdigit()),
                "a tenant uid is 32 hex digits"
            );
            let role = format!("tenant_user_{uid}");
            // DROP OWNED runs in the attempt's database, where the role's grants live.
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP OWNED BY \"{role}\" CASCADE"
            )))
            .execute(&pool)
            .await;
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP ROLE IF EXISTS \"{role}\""
            )))
            .execute(&pool)
            .await;
        }
        pool.close().await;
    }
    let root = connect(cluster_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    )))
    .execute(&root)
    .await
    .with_context(|| format!("dropping database {database}"))?;
    root.close().await;
    Ok(())
}

/// The harness's databases on the cluster, left by earlier (interrupted) runs or this one.
pub async fn bench_databases(cluster_url: &str) -> anyhow::Result<Vec<String>> {
    let root = connect(cluster_url).await?;
    let names = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'tenantd\\_bench\\_%'",
    )
    .fetch_all(&root)
    .await
    .context("listing the bench databases")?;
    root.close().await;
    Ok(names)
}

fn tenant(workload: &Workload, name: &str) -> anyhow::Result<Tenant> {
    Ok(Tenant {
        api_version: resource::API_VERSION.into(),
        kind: resource::KIND.into(),
        metadata: ObjectMeta {
            name: name.to_owned(),
            ..ObjectMeta::default()
        },
        spec: TenantSpec {
            image: Some(workload.image.clone()),
            image_pull_policy: resource::ImagePullPolicy::Never,
            resources: resource::ResourceSpec {
                memory: Some(
                    format!("{}Mi", workload.memory_bytes >> 20)
                        .parse()
                        .context("the workload's memory as a quantity")?,
                ),
                cpus: Some(
                    workload
                        .cpus_decimal()
                        .parse()
                        .context("the workload's cpus as a quantity")?,
                ),
                pids: Some(workload.pids),
            },
            env: workload.env.clone(),
            ..TenantSpec::default()
        },
        status: None,
    })
}

async fn connect(url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .context(
            "connecting to the bench's Postgres (./scripts/bench starts it and sets DATABASE_URL)",
        )
}

/// `postgres://u:p@h:port/db` with another database name.
pub fn url_with_database(url: &str, database: &str) -> String {
    let path = url
        .rfind('/')
        .filter(|i| *i > "postgres://".len())
        .unwrap_or(url.len());
    let query = url[path..]
        .find('?')
        .map(|q| &url[path + q..])
        .unwrap_or("");
    format!("{}/{database}{query}", &url[..path])
}

pub fn engine_delta(before: &EngineCallStats, after: &EngineCallStats) -> EngineCallStats {
    EngineCallStats {
        reads: after.reads - before.reads,
        writes: after.writes - before.writes,
        by_operation: after
            .by_operation
            .iter()
            .map(|(op, n)| (*op, n - before.by_operation.get(op).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect(),
    }
}

fn database_delta(before: DbCallStats, after: DbCallStats) -> DbCallStats {
    DbCallStats {
        reads: after.reads - before.reads,
        writes: after.writes - before.writes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_database_replaces_only_the_path() {
        assert_eq!(
            url_with_database("postgres://u:p@127.0.0.1:55436/tenantd", "x"),
            "postgres://u:p@127.0.0.1:55436/x"
        );
        assert_eq!(
            url_with_database("postgres://u:p@h:1/tenantd?sslmode=disable", "x"),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
        assert_eq!(
            url_with_database("postgres://u:p@h:1", "x"),
            "postgres://u:p@h:1/x"
        );
    }

    #[test]
    fn memory_is_read_from_the_status_lines() {
        let status = "Name:\ttenantd-bench\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\n";
        let memory = Memory::parse(status).unwrap();
        assert_eq!((memory.resident_kib, memory.peak_kib), (70000, 81234));
        assert!(Memory::parse("Name: x\n").is_none());
        assert!(Memory::now().unwrap().resident_kib > 0);
    }
}
