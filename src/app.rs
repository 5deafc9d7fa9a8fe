//! Wiring: from a [`Config`] to a running reconciler with its HTTP listener.
//!
//! # Guarantees
//! - Startup fails early, with what to do, when Postgres or Docker cannot be reached.
//! - [`serve`] returns only after the controller stopped and in-flight reconciles finished,
//!   and the specs folder sync (when `specs_dir` is set) finished its scan in progress.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::PgConnectOptions;

use crate::config::{Config, redact_url};
use crate::engine::{Engine, Healthcheck};
use crate::metrics::Metrics;
use crate::reconcile::{Context, Controller, ControllerConfig, DatabaseCache, Platform};
use crate::store::Store;
use crate::sync::{SyncConfig, Syncer};
use crate::tenantdb::{TenantDb, TenantDbConfig};

/// Connects everything the reconciler needs.
pub async fn build_context(config: &Config) -> anyhow::Result<Arc<Context>> {
    let url = config.database_url.as_deref().context(
        "no database URL: set TENANTD_DATABASE_URL (or DATABASE_URL), or database_url in the config file",
    )?;
    let options = PgConnectOptions::from_str(url).context("the database URL is not valid")?;
    let store = Store::connect(url, (config.concurrency as u32 + 4).max(8))
        .await
        .with_context(|| format!("connecting to {}", redact_url(url)))?;
    let tenantdb = TenantDb::new(
        store.pool().clone(),
        TenantDbConfig {
            connection_limit: config.tenant_connection_limit,
            statement_timeout: config.tenant_statement_timeout,
            backup_dir: config.backup_dir.clone(),
        },
    );
    tenantdb
        .prepare_database()
        .await
        .context("hardening the platform database for tenant roles")?;
    let registry_auth =
        config
            .registry_auth
            .as_ref()
            .map(|auth| crate::engine::RegistryCredentials {
                server: auth.server.clone(),
                username: auth.username.clone(),
                password: auth.password.clone(),
            });
    let engine = Engine::connect(
        config.docker_host.as_deref(),
        &config.instance,
        &config.network,
        registry_auth,
    )
    .await
    .context(
        "connecting to the Docker engine (is it running, and may this user use its socket?)",
    )?;
    let platform = Platform {
        instance: config.instance.clone(),
        network: config.network.clone(),
        base_domain: config.base_domain.clone(),
        public_scheme: config.public_scheme.clone(),
        default_image: config.default_image.clone(),
        default_memory_bytes: config.default_resources.memory.bytes(),
        default_nano_cpus: config.default_resources.cpus.nano_cpus(),
        default_pids: config.default_resources.pids,
        container_port: config.container_port,
        database_host: config.tenant_database_host.clone(),
        database_port: config.tenant_database_port.unwrap_or(options.get_port()),
        database_name: options
            .get_database()
            .unwrap_or(options.get_username())
            .to_owned(),
        healthcheck: Healthcheck {
            test: config.healthcheck.test.clone(),
            interval: config.healthcheck.interval,
            timeout: config.healthcheck.timeout,
            start_period: config.healthcheck.start_period,
            retries: config.healthcheck.retries,
        },
        stop_grace_period: config.stop_grace_period,
        extra_labels: config.extra_labels.clone(),
    };
    Ok(Arc::new(Context {
        store,
        engine: Arc::new(engine),
        tenantdb: Arc::new(tenantdb),
        platform,
        database: DatabaseCache::default(),
        metrics: Arc::new(Metrics::new()),
    }))
}

pub fn api_config(config: &Config) -> crate::api::ApiConfig {
    crate::api::ApiConfig {
        admin_tokens: config.admin_tokens.clone(),
        body_limit_bytes: config.api_body_limit_bytes,
        request_timeout: config.api_request_timeout,
        write_rate_per_second: config.api_write_rate,
        write_burst: config.api_write_burst,
        accounts: crate::accounts::AccountsConfig {
            cookie_secure: config.web_cookie_secure(),
            trust_forwarded_for: config.web_trust_forwarded_for,
            public_url: config.web_public_url(),
            mail_outbox_dir: config.mail_outbox_dir.clone(),
            mail_from: config.mail_from(),
            ..Default::default()
        },
    }
}

pub fn controller_config(config: &Config) -> ControllerConfig {
    ControllerConfig {
        concurrency: config.concurrency,
        resync_period: config.resync_period,
        relist_period: config.relist_period,
        database_observe_period: config.database_observe_period,
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(300),
    }
}

/// The HTTP app `serve` listens with: `/healthz`, `/readyz` and `/metrics`, the API under
/// `/api/v1`, and the web pages, sharing one `Accounts` (sessions, CSRF, rate limits). Part of
/// startup: it gives the `web_admins` their role first (see [`bootstrap_admins`]).
///
/// `ready` is what `/readyz` reports (the controller's [`Controller::readiness`]); `shutdown`
/// becoming true ends the open streams (watch, logs, signup progress) so the server can stop;
/// `sync` is the specs folder sync's report, when one runs.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`: the login and signup
/// rate limits key on the client's address.
pub async fn http_app(
    ctx: Arc<Context>,
    config: &Config,
    ready: Arc<std::sync::atomic::AtomicBool>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    sync: Option<Arc<crate::sync::SyncStatus>>,
) -> anyhow::Result<axum::Router> {
    let api_state =
        crate::api::ApiState::new(ctx.clone(), &api_config(config), shutdown).with_sync(sync);
    let shared_accounts = api_state.accounts.clone();
    bootstrap_admins(&shared_accounts, config).await?;
    let web = crate::web::router(
        crate::web::WebState::new(config, shared_accounts.clone()),
        api_state.clone(),
    );
    let api = crate::api::router(api_state, config.api_body_limit_bytes);
    Ok(
        crate::server::router(crate::server::ServerState { ctx, ready })
            .merge(api)
            .merge(web),
    )
}

/// Runs the reconciler and the HTTP listener until `shutdown` completes.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut shutdown = Box::pin(shutdown);
    let ctx = tokio::select! {
        ctx = build_context(&config) => ctx?,
        _ = &mut shutdown => {
            tracing::info!("stopped during startup; nothing was in flight");
            return Ok(());
        }
    };
    let controller = Controller::new(ctx.clone(), controller_config(&config));
    let ready = controller.readiness();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving the API under /api/v1, /healthz, /readyz and /metrics");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http_stop = stop_rx.clone();
    let syncer = config.specs_dir.as_ref().map(|dir| {
        Syncer::new(
            ctx.store.clone(),
            SyncConfig::new(dir.clone(), config.specs_prune, config.specs_rescan_period),
        )
    });
    let app = http_app(
        ctx.clone(),
        &config,
        ready,
        stop_rx.clone(),
        syncer.as_ref().map(Syncer::status),
    )
    .await?;
    let sync = syncer.map(|syncer| {
        let mut sync_stop = stop_rx.clone();
        tokio::spawn(syncer.run(async move {
            let _ = sync_stop.wait_for(|stop| *stop).await;
        }))
    });
    // Read-only and safe to cancel, so it is not awaited at shutdown.
    tokio::spawn({
        let engine = ctx.engine.clone();
        let stop = stop_rx.clone();
        let period = config.metrics_sample_period;
        async move { engine.run_stats_sampler(period, stop).await }
    });
    let http = tokio::spawn(async move {
        // Connection info gives the login rate limits the client's address.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|stop| *stop).await;
        })
        .await
    });
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut controller_stop = stop_rx;
    controller
        .run(async move {
            let _ = controller_stop.wait_for(|stop| *stop).await;
        })
        .await?;
    http.await.context("the HTTP task panicked")??;
    if let Some(sync) = sync {
        sync.await.context("the specs sync task panicked")?;
    }
    Ok(())
}

/// Gives the admin role to the verified accounts listed in `web_admins` (see
/// `accounts::admins`); part of startup.
pub async fn bootstrap_admins(
    accounts: &crate::accounts::Accounts,
    config: &Config,
) -> anyhow::Result<()> {
    let emails =
        crate::accounts::admins::normalize_list(config.web_admins.iter().map(String::as_str))
            .map_err(|message| anyhow::anyhow!("config field web_admins: {message}"))?;
    accounts
        .bootstrap_admins(&emails)
        .await
        .context("granting the admin role to web_admins")?;
    Ok(())
}

/// Completes on SIGTERM or ctrl-c. The handlers are installed when this is called (not when
/// the future is first polled), so a signal during startup is neither lost nor fatal.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    let ctrl_c = tokio::spawn(tokio::signal::ctrl_c());
    async move {
        let term = async {
            match term {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => tracing::info!("ctrl-c received"),
            _ = term => tracing::info!("SIGTERM received"),
        }
    }
}
