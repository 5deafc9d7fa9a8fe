//! The real-world test harness: a private database and a private tenantd instance (own Docker
//! network, own instance label) per test, against the real Docker engine and Postgres.
//!
//! Nothing here skips: a missing Postgres, Docker or test image fails the test with a message
//! that says how `./scripts/test` provides it.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

pub mod browser;
pub mod web;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tenantd::config::Config;
use tenantd::reconcile::{Context, Controller};
use tenantd::resource::{self, ObjectMeta, Phase, Tenant, TenantSpec};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const TEST_IMAGE: &str = "tenantd-testapp:latest";
pub const TEST_IMAGE_V2: &str = "tenantd-testapp:v2";
/// The admin bearer token of [`World::serve_api`].
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The superuser URL of the test cluster, from `./scripts/test`.
pub fn admin_url() -> String {
    std::env::var("TENANTD_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TENANTD_TEST_DATABASE_URL is not set: these tests need a real Postgres superuser URL. \
             Run ./scripts/test, which starts a private cluster and sets it."
        )
    })
}

/// `postgres://u:p@h:port/db` with another database name.
pub fn url_with_database(url: &str, database: &str) -> String {
    let slash = url.rfind('/').expect("a Postgres URL has a path");
    format!("{}/{}", &url[..slash], database)
}

/// A fresh database on the shared test cluster; returns its name and superuser URL.
pub async fn fresh_database(label: &str) -> (String, String) {
    let database = format!("t_{label}_{}", random_suffix()).replace('-', "_");
    let root = PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin_url())
        .await
        .unwrap_or_else(|e| {
            panic!("cannot connect to TENANTD_TEST_DATABASE_URL ({e}); run ./scripts/test, which starts Postgres")
        });
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{database}\""
    )))
    .execute(&root)
    .await
    .expect("creating the test database");
    root.close().await;
    let url = url_with_database(&admin_url(), &database);
    (database, url)
}

/// A stored tenant's resourceVersion as the number it is, to compare versions.
pub fn version_of(tenant: &Tenant) -> i64 {
    tenant
        .metadata
        .resource_version
        .as_deref()
        .expect("a stored tenant has a resourceVersion")
        .parse()
        .expect("a resourceVersion is a bigint")
}

pub fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

async fn require_docker() -> Docker {
    let docker = Docker::connect_with_defaults()
        .expect("cannot configure a Docker client")
        .negotiate_version()
        .await
        .unwrap_or_else(|e| {
            panic!("the Docker engine is not reachable ({e}); these tests need it. Start dockerd, then run ./scripts/test")
        });
    if docker.inspect_image(TEST_IMAGE).await.is_err() {
        panic!(
            "image {TEST_IMAGE} is missing; ./scripts/test builds it (scripts/build-test-image)"
        );
    }
    docker
}

/// One test's private world.
pub struct World {
    pub config: Config,
    pub ctx: Arc<Context>,
    /// Superuser pool on this test's database.
    pub admin: PgPool,
    pub docker: Docker,
    /// Prefix of every tenant name of this test (container names are global on the engine).
    pub prefix: String,
    pub database: String,
    pub backup_dir: PathBuf,
    controller: Option<(oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>)>,
}

impl World {
    /// A fresh database and instance, with the controller running.
    pub async fn start(label: &str) -> World {
        let mut world = Self::without_controller(label).await;
        world.start_controller();
        world
    }

    /// A fresh database and instance with a config changed by `adjust`, controller running.
    pub async fn start_with(label: &str, adjust: impl FnOnce(&mut Config)) -> World {
        let mut world = Self::build(label, adjust).await;
        world.start_controller();
        world
    }

    /// A fresh database and instance; the controller is not started.
    pub async fn without_controller(label: &str) -> World {
        Self::build(label, |_| {}).await
    }

    async fn build(label: &str, adjust: impl FnOnce(&mut Config)) -> World {
        let docker = require_docker().await;
        let suffix = random_suffix();
        let (database, url) = fresh_database(&format!("{label}_{suffix}")).await;
        let backup_dir = std::env::temp_dir().join(format!("tenantd-backups-{suffix}"));
        let mut config = test_config(&url, &suffix, &backup_dir);
        adjust(&mut config);
        let ctx = tenantd::app::build_context(&config)
            .await
            .expect("building the reconciler context");
        let admin = PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .expect("connecting to the test database");
        World {
            config,
            ctx,
            admin,
            docker,
            prefix: format!("{label}-{}", &suffix[..4]),
            database,
            backup_dir,
            controller: None,
        }
    }

    pub fn start_controller(&mut self) {
        assert!(self.controller.is_none(), "the controller is started once");
        let controller = Controller::new(
            self.ctx.clone(),
            tenantd::app::controller_config(&self.config),
        );
        let (tx, rx) = oneshot::channel();
        let handle = tokio::spawn(controller.run(async move {
            let _ = rx.await;
        }));
        self.controller = Some((tx, handle));
    }

    /// Stops the controller and waits for in-flight reconciles to finish.
    pub async fn stop_controller(&mut self) {
        if let Some((tx, handle)) = self.controller.take() {
            let _ = tx.send(());
            handle
                .await
                .expect("the controller task does not panic")
                .expect("the controller stops cleanly");
        }
    }

    /// The full tenant name for a short one.
    pub fn name(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    /// A small tenant running the test image.
    pub fn tenant(&self, short: &str) -> Tenant {
        Tenant {
            api_version: resource::API_VERSION.into(),
            kind: resource::KIND.into(),
            metadata: ObjectMeta {
                name: self.name(short),
                labels: BTreeMap::from([("plan".into(), "test".into())]),
                ..ObjectMeta::default()
            },
            spec: TenantSpec {
                image: Some(TEST_IMAGE.into()),
                image_pull_policy: resource::ImagePullPolicy::Never,
                resources: resource::ResourceSpec {
                    memory: Some("96Mi".parse().unwrap()),
                    cpus: Some("0.25".parse().unwrap()),
                    pids: Some(64),
                },
                env: BTreeMap::from([("GREETING".into(), "hello".into())]),
                ..TenantSpec::default()
            },
            status: None,
        }
    }

    /// Validates and stores a tenant, as every writer does.
    pub async fn apply(&self, tenant: &Tenant) -> Tenant {
        resource::validate(tenant, 2.0).expect("test tenants are valid");
        self.ctx.store.apply(tenant).await.expect("apply").1
    }

    /// A `Store` on a pool of its own in this world's database, as another tenantd process
    /// would have: this process's write queue does not hold its writers back.
    pub async fn other_process_store(&self, max_connections: u32) -> tenantd::store::Store {
        let url = self
            .config
            .database_url
            .as_deref()
            .expect("the test config names its database");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(url)
            .await
            .expect("connecting a writer of another process");
        tenantd::store::Store::from_pool(pool)
    }

    pub async fn get(&self, name: &str) -> Option<Tenant> {
        self.ctx.store.get(name).await.expect("reading a tenant")
    }

    /// Polls the store until `check` holds for the tenant; panics with its last state after `timeout`.
    pub async fn wait_for(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        check: impl Fn(&Tenant) -> bool,
    ) -> Tenant {
        let deadline = Instant::now() + timeout;
        loop {
            let tenant = self.get(name).await;
            if let Some(t) = tenant.as_ref().filter(|t| check(t)) {
                return t.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "tenant {name} did not become {what} within {timeout:?}; last seen: {tenant:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the tenant is Ready for its current generation.
    pub async fn wait_ready(&self, name: &str) -> Tenant {
        self.wait_for(name, Duration::from_secs(60), "Ready", |t| {
            t.status.as_ref().is_some_and(|s| {
                s.phase == Phase::Ready && Some(s.observed_generation) == t.metadata.generation
            })
        })
        .await
    }

    pub async fn wait_phase(&self, name: &str, phase: Phase) -> Tenant {
        self.wait_for(name, Duration::from_secs(60), phase.as_str(), |t| {
            t.status.as_ref().is_some_and(|s| {
                s.phase == phase && Some(s.observed_generation) == t.metadata.generation
            })
        })
        .await
    }

    pub async fn wait_gone(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.get(name).await.is_some() {
            assert!(
                Instant::now() < deadline,
                "tenant {name} was not finalized within 60s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn inspect(&self, name: &str) -> Option<ContainerInspectResponse> {
        self.docker
            .inspect_container(&format!("tenant-{name}"), None)
            .await
            .ok()
    }

    /// The container's address on the tenant network.
    pub async fn container_ip(&self, name: &str) -> String {
        let inspect = self.inspect(name).await.expect("the container exists");
        inspect
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|n| n.get(&self.config.network).cloned())
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .unwrap_or_else(|| {
                panic!(
                    "container of {name} has no address on {}",
                    self.config.network
                )
            })
    }

    /// An HTTP request to the tenant's app (the host reaches bridge networks directly).
    pub async fn app(&self, name: &str, method: reqwest::Method, path: &str) -> (u16, String) {
        let ip = self.container_ip(name).await;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let url = format!("http://{ip}:8080{path}");
        let mut last_error = None;
        // The app may still be binding its port right after a (re)start.
        for _ in 0..50 {
            match client.request(method.clone(), &url).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    return (status, response.text().await.unwrap_or_default());
                }
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{url} did not answer: {last_error:?}");
    }

    /// Serves the API, health/metrics and the web pages of this world on 127.0.0.1:0 with the
    /// admin token [`ADMIN_TOKEN`]; returns its base URL (`http://127.0.0.1:port`). It stops
    /// with the test.
    pub async fn serve_api(&self) -> String {
        self.serve_api_with(tenantd::app::api_config(&self.api_test_config()))
            .await
    }

    /// The config the API is served with in tests: one admin token.
    pub fn api_test_config(&self) -> Config {
        Config {
            admin_tokens: vec![ADMIN_TOKEN.to_owned()],
            ..self.config.clone()
        }
    }

    /// Like [`World::serve_api`] with explicit API limits.
    pub async fn serve_api_with(&self, api: tenantd::api::ApiConfig) -> String {
        self.serve(api, &self.config).await
    }

    /// Like [`World::serve_api`] with the config changed by `adjust` (mail outbox, public
    /// URL, …), for the API and the pages alike. Startup's admin bootstrap (`web_admins`) is
    /// `tenantd::app::bootstrap_admins`; tests that need it start `tenantd::app::serve`.
    pub async fn serve_site(&self, adjust: impl FnOnce(&mut Config)) -> String {
        let mut config = self.api_test_config();
        adjust(&mut config);
        config.check().expect("the adjusted test config is valid");
        self.serve(tenantd::app::api_config(&config), &config).await
    }

    async fn serve(&self, api: tenantd::api::ApiConfig, config: &Config) -> String {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        // Kept alive for the test's duration: dropping the sender would end watch streams.
        std::mem::forget(stop);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let limit = api.body_limit_bytes;
        let api_state = tenantd::api::ApiState::new(self.ctx.clone(), &api, stopped);
        let accounts = api_state.accounts.clone();
        let web = tenantd::web::router(
            tenantd::web::WebState::new(config, accounts),
            api_state.clone(),
        );
        let app = tenantd::server::router(tenantd::server::ServerState {
            ctx: self.ctx.clone(),
            ready: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
        })
        .merge(tenantd::api::router(api_state, limit))
        .merge(web);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
        });
        format!("http://{address}")
    }

    /// Runs `docker` with arguments (never a shell), asserting success.
    pub fn docker_cli(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("docker")
            .args(args)
            .output()
            .expect("running the docker CLI");
        assert!(
            output.status.success(),
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Stops the controller and removes this test's containers, network, roles and database.
    pub async fn cleanup(mut self) {
        self.stop_controller().await;
        self.remove_engine_objects();
        // Tenants still in the store, and schemas left behind on purpose (Retain).
        let uids: Vec<String> = sqlx::query_scalar(
            "SELECT uid FROM tenants UNION SELECT substr(nspname, 8) FROM pg_namespace \
             WHERE nspname ~ '^tenant_[0-9a-f]{32}$'",
        )
        .fetch_all(&self.admin)
        .await
        .unwrap_or_default();
        for uid in uids {
            let role = format!("tenant_user_{uid}");
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP OWNED BY \"{role}\" CASCADE"
            )))
            .execute(&self.admin)
            .await;
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP ROLE IF EXISTS \"{role}\""
            )))
            .execute(&self.admin)
            .await;
        }
        self.admin.close().await;
        self.ctx.store.pool().close().await;
        if let Ok(root) = PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin_url())
            .await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.database
            )))
            .execute(&root)
            .await;
        }
        let _ = std::fs::remove_dir_all(&self.backup_dir);
        let _ = std::fs::remove_dir_all(&self.config.mail_outbox_dir);
    }

    fn remove_engine_objects(&self) {
        let filter = format!("label=tenantd.instance={}", self.config.instance);
        if let Ok(out) = std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
        {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !ids.is_empty() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f"])
                    .args(&ids)
                    .output();
            }
        }
        let _ = std::process::Command::new("docker")
            .args(["network", "rm", &self.config.network])
            .output();
    }
}

impl Drop for World {
    /// A failed test still leaves no containers running on the engine.
    ///
    /// The controller is stopped first: left running until the runtime shuts down, it would
    /// re-create (heal) the containers removed here.
    fn drop(&mut self) {
        if let Some((_, handle)) = self.controller.take() {
            // Aborting drops the controller's future and with it its workers, but only at
            // their next await; a Docker call already sent still completes. Let both settle.
            handle.abort();
            std::thread::sleep(Duration::from_millis(500));
            self.remove_engine_objects();
        }
    }
}

/// The config a test instance runs with: fast health checks and observation, own network.
pub fn test_config(database_url: &str, suffix: &str, backup_dir: &std::path::Path) -> Config {
    let mut config = Config {
        database_url: Some(database_url.to_owned()),
        instance: format!("test-{suffix}"),
        network: format!("tenantd-test-{suffix}"),
        base_domain: "tenants.test".into(),
        default_image: TEST_IMAGE.into(),
        container_port: 8080,
        concurrency: 8,
        resync_period: Duration::from_secs(10),
        database_observe_period: Duration::from_millis(300),
        stop_grace_period: Duration::from_secs(2),
        backup_dir: backup_dir.to_owned(),
        // Mails (signup's verification link) stay out of the worktree; removed by cleanup.
        mail_outbox_dir: std::env::temp_dir().join(format!("tenantd-mail-{suffix}")),
        ..Config::default()
    };
    config.healthcheck.interval = Duration::from_secs(1);
    config.healthcheck.start_period = Duration::from_secs(1);
    config.healthcheck.timeout = Duration::from_secs(2);
    config.check().expect("the test config is valid");
    config
}
