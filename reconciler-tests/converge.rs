//! Converging from empty, the no-op reconcile, spec edits and deletion, against the real
//! Docker engine and Postgres.

mod common;

use std::time::Duration;

use bollard::models::RestartPolicyNameEnum;
use common::{TEST_IMAGE_V2, World};
use reqwest::Method;
use tenantd::reconcile::{Outcome, reconcile};
use tenantd::resource::{DeletionPolicy, DesiredState, Phase};

/// The periodic resync replays the caches: every resync period each tenant is reconciled
/// again without a single engine call (Docker events keep the cache current); the full relist,
/// the safety net under the event stream, lists the engine every relist period instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resyncs_replay_the_caches_and_only_relists_list_the_engine() {
    const PERIOD: Duration = Duration::from_secs(1);
    let mut world = World::start_with("resync", |config| {
        config.resync_period = PERIOD;
        config.relist_period = Duration::from_secs(3600);
    })
    .await;
    let name = world.name("r");
    world.apply(&world.tenant("r")).await;
    world.wait_ready(&name).await;
    // Let the events of the start and the first health check settle.
    tokio::time::sleep(PERIOD * 2).await;
    let lists = |world: &World| {
        world
            .ctx
            .engine
            .stats()
            .by_operation
            .get("list_containers")
            .copied()
            .unwrap_or(0)
    };
    let (lists_before, reconciles_before) =
        (lists(&world), world.ctx.metrics.reconciles_finished());
    tokio::time::sleep(PERIOD * 4).await;
    let resyncs = world.ctx.metrics.reconciles_finished() - reconciles_before;
    assert!(
        resyncs >= 2,
        "the tenant is reconciled every resync period ({resyncs} reconciles in 4 periods)"
    );
    assert_eq!(
        lists(&world),
        lists_before,
        "a resync lists nothing: it reads the cache"
    );

    // The same world with a short relist period: now the engine is listed every period.
    world.stop_controller().await;
    world.config.relist_period = PERIOD;
    world.start_controller();
    let lists_before = lists(&world);
    tokio::time::sleep(PERIOD * 4).await;
    let relists = lists(&world) - lists_before;
    // One at the start, then one every period (plus up to 10% jitter).
    assert!(relists >= 3, "{relists} relists in 4 relist periods");
    world.wait_ready(&name).await;
    world.cleanup().await;
}

/// From empty, ten tenants converge to Ready; each container carries the spec's limits, env,
/// labels and restart policy; each app proves its credentials by writing to its schema; and a
/// second reconcile of the converged world makes no write to the engine or Postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_tenants_converge_from_empty_and_a_second_reconcile_writes_nothing() {
    let mut world = World::start("conv").await;
    let names: Vec<String> = (0..10).map(|i| world.name(&format!("t{i}"))).collect();
    for i in 0..10 {
        world.apply(&world.tenant(&format!("t{i}"))).await;
    }
    for name in &names {
        world.wait_ready(name).await;
    }

    for name in &names {
        let tenant = world.get(name).await.unwrap();
        let uid = tenant.metadata.uid.clone().unwrap();
        let inspect = world.inspect(name).await.expect("container exists");
        let host = inspect.host_config.clone().unwrap();
        assert_eq!(host.memory, Some(96 << 20), "memory limit of {name}");
        assert_eq!(
            host.memory_swap,
            Some(192 << 20),
            "memory-swap is twice the memory"
        );
        assert_eq!(host.nano_cpus, Some(250_000_000), "cpus of {name}");
        assert_eq!(host.pids_limit, Some(64), "pids of {name}");
        assert_eq!(
            host.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        let config = inspect.config.clone().unwrap();
        let env = config.env.unwrap();
        assert!(env.contains(&"GREETING=hello".to_owned()), "{env:?}");
        assert!(
            env.contains(&format!("DATABASE_SCHEMA=tenant_{uid}")),
            "{env:?}"
        );
        assert!(
            env.contains(&format!("PUBLIC_URL=http://{name}.tenants.test")),
            "{env:?}"
        );
        assert!(
            env.iter()
                .any(|e| e.starts_with(&format!("DATABASE_URL=postgres://tenant_user_{uid}:"))),
            "{env:?}"
        );
        let labels = config.labels.unwrap();
        assert_eq!(labels["tenantd.managed"], "true");
        assert_eq!(labels["tenantd.tenant"], *name);
        assert_eq!(labels["tenantd.uid"], uid);
        assert!(!labels["tenantd.spec-hash"].is_empty());
        assert_eq!(
            labels[&format!("traefik.http.routers.tenant-{name}.rule")],
            format!("Host(`{name}.tenants.test`)")
        );
        assert!(config.healthcheck.is_some(), "a health check is configured");

        let (status, body) = world.app(name, Method::POST, "/rows?note=proof").await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = world.app(name, Method::GET, "/status").await;
        assert_eq!(status, 200, "{body}");
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(report["ok"], true, "{body}");
        assert_eq!(report["user"], format!("tenant_user_{uid}"));
        assert_eq!(report["schema"], format!("tenant_{uid}"));
        assert_eq!(report["rows"], 1);
    }

    // The no-op: stop the background loop, then reconcile every tenant once more by hand.
    world.stop_controller().await;
    let engine_before = world.ctx.engine.stats();
    let db_before = world.ctx.tenantdb.stats();
    let rows_before: Vec<(String, i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT t.name, t.resource_version, s.updated_at FROM tenants t JOIN tenant_status s USING (name) ORDER BY 1",
    )
    .fetch_all(&world.admin)
    .await
    .unwrap();
    let events_before: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(count), 0)::bigint FROM tenant_events")
            .fetch_one(&world.admin)
            .await
            .unwrap();
    for name in &names {
        let outcome = reconcile(&world.ctx, name).await.expect("reconcile");
        assert_eq!(outcome, Outcome::Done, "{name} is converged");
    }
    let engine_after = world.ctx.engine.stats();
    let db_after = world.ctx.tenantdb.stats();
    assert_eq!(
        engine_after, engine_before,
        "a converged reconcile makes no engine call at all (it reads the cache)"
    );
    assert_eq!(
        db_after.writes, db_before.writes,
        "no tenant database writes"
    );
    let rows_after: Vec<(String, i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT t.name, t.resource_version, s.updated_at FROM tenants t JOIN tenant_status s USING (name) ORDER BY 1",
    )
    .fetch_all(&world.admin)
    .await
    .unwrap();
    assert_eq!(
        rows_after, rows_before,
        "no tenant or status row was written"
    );
    let events_after: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(count), 0)::bigint FROM tenant_events")
            .fetch_one(&world.admin)
            .await
            .unwrap();
    assert_eq!(events_after, events_before, "no event was recorded");
    world.cleanup().await;
}

/// Env, image and resource edits recreate the container with a new id while the rows the app
/// wrote survive; Stopped stops without removing, Running starts the same container again, and
/// a new restartedAt restarts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spec_edits_recreate_stop_start_and_restart_while_data_survives() {
    let world = World::start("edit").await;
    let mut tenant = world.tenant("a");
    let name = tenant.metadata.name.clone();
    world.apply(&tenant).await;
    world.wait_ready(&name).await;
    let (status, body) = world
        .app(&name, Method::POST, "/rows?note=before-edits")
        .await;
    assert_eq!(status, 200, "{body}");

    let mut previous_id = world.inspect(&name).await.unwrap().id.unwrap();
    type Edit = Box<dyn Fn(&mut tenantd::resource::Tenant)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "env",
            Box::new(|t| {
                t.spec.env.insert("GREETING".into(), "changed".into());
            }),
        ),
        (
            "image",
            Box::new(|t| t.spec.image = Some(TEST_IMAGE_V2.into())),
        ),
        (
            "resources",
            Box::new(|t| t.spec.resources.memory = Some("128Mi".parse().unwrap())),
        ),
    ];
    for (what, edit) in &edits {
        edit(&mut tenant);
        world.apply(&tenant).await;
        world.wait_ready(&name).await;
        let id = world.inspect(&name).await.unwrap().id.unwrap();
        assert_ne!(id, previous_id, "a {what} edit recreates the container");
        previous_id = id;
        let (status, body) = world.app(&name, Method::GET, "/status").await;
        assert_eq!(status, 200, "{body}");
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(report["rows"], 1, "rows survive a {what} edit: {body}");
    }
    let (_, greeting) = world.app(&name, Method::GET, "/env?key=GREETING").await;
    assert_eq!(greeting, "changed");
    let inspect = world.inspect(&name).await.unwrap();
    assert_eq!(inspect.host_config.unwrap().memory, Some(128 << 20));

    tenant.spec.state = DesiredState::Stopped;
    world.apply(&tenant).await;
    world.wait_phase(&name, Phase::Stopped).await;
    let stopped = world.inspect(&name).await.expect("stopped, not removed");
    assert_eq!(stopped.id.as_deref(), Some(previous_id.as_str()));
    assert_eq!(stopped.state.unwrap().running, Some(false));

    tenant.spec.state = DesiredState::Running;
    world.apply(&tenant).await;
    world.wait_ready(&name).await;
    let started = world.inspect(&name).await.unwrap();
    assert_eq!(
        started.id.as_deref(),
        Some(previous_id.as_str()),
        "started, not recreated"
    );
    let started_at = started.state.unwrap().started_at;

    tenant.spec.restarted_at = Some("2026-11-23T12:00:00Z".into());
    world.apply(&tenant).await;
    world.wait_ready(&name).await;
    let restarted = world.inspect(&name).await.unwrap();
    assert_ne!(
        restarted.state.unwrap().started_at,
        started_at,
        "restartedAt restarts it"
    );
    let (_, body) = world.app(&name, Method::GET, "/status").await;
    assert!(
        body.contains("\"rows\":1"),
        "rows survive the restart: {body}"
    );
    world.cleanup().await;
}

/// Delete removes container, schema, role, credentials and the row under `Delete`; `Retain`
/// keeps schema and role; `BackupThenDelete` writes a dump first and then drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_follows_the_deletion_policy() {
    let world = World::start("del").await;
    let policies = [
        ("d", DeletionPolicy::Delete),
        ("r", DeletionPolicy::Retain),
        ("b", DeletionPolicy::BackupThenDelete),
    ];
    let mut uids = Vec::new();
    for (short, policy) in policies {
        let mut tenant = world.tenant(short);
        tenant.spec.database.deletion_policy = policy;
        world.apply(&tenant).await;
    }
    for (short, _) in policies {
        let tenant = world.wait_ready(&world.name(short)).await;
        world
            .app(&tenant.metadata.name, Method::POST, "/rows?note=keep")
            .await;
        uids.push(tenant.metadata.uid.unwrap());
    }
    for (short, _) in policies {
        assert!(
            world
                .ctx
                .store
                .request_delete(&world.name(short))
                .await
                .unwrap()
        );
    }
    for (short, _) in policies {
        world.wait_gone(&world.name(short)).await;
        assert!(
            world.inspect(&world.name(short)).await.is_none(),
            "container removed"
        );
    }
    for ((short, policy), uid) in policies.iter().zip(&uids) {
        let schema: Option<String> =
            sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname = $1")
                .bind(format!("tenant_{uid}"))
                .fetch_optional(&world.admin)
                .await
                .unwrap();
        let role: Option<String> =
            sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE rolname = $1")
                .bind(format!("tenant_user_{uid}"))
                .fetch_optional(&world.admin)
                .await
                .unwrap();
        let credentials: i64 =
            sqlx::query_scalar("SELECT count(*) FROM tenant_credentials WHERE uid = $1")
                .bind(uid)
                .fetch_one(&world.admin)
                .await
                .unwrap();
        assert_eq!(credentials, 0, "{short}: credentials go with the row");
        match policy {
            DeletionPolicy::Retain => {
                assert!(
                    schema.is_some() && role.is_some(),
                    "Retain keeps schema and role"
                );
            }
            _ => assert!(schema.is_none() && role.is_none(), "{short}: dropped"),
        }
    }
    let dumps: Vec<_> = std::fs::read_dir(&world.backup_dir)
        .expect("the backup folder exists after BackupThenDelete")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(dumps.len(), 1, "one dump, of the BackupThenDelete tenant");
    assert!(dumps[0].metadata().unwrap().len() > 0);
    tokio::time::sleep(Duration::from_millis(10)).await;
    world.cleanup().await;
}

/// An image that cannot be had and a limit the engine refuses end as a Degraded status that
/// says why in plain words, while other tenants converge and nothing crashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_images_and_refused_limits_are_reported_in_the_status() {
    // More CPUs by default than any CI host has: the engine refuses the container.
    let world = World::start_with("fail", |config| {
        config.default_resources.cpus = "64".parse().unwrap();
    })
    .await;
    let mut never = world.tenant("never");
    never.spec.image = Some("tenantd-missing:nope".into());
    let mut pull = world.tenant("pull");
    pull.spec.image = Some("tenantd-missing:nope".into());
    pull.spec.image_pull_policy = tenantd::resource::ImagePullPolicy::IfNotPresent;
    let mut refused = world.tenant("cpus");
    refused.spec.resources.cpus = None;
    let healthy = world.tenant("ok");
    for tenant in [&never, &pull, &refused, &healthy] {
        world.apply(tenant).await;
    }
    world.wait_ready(&healthy.metadata.name).await;

    let expectations = [
        (&never, "ImageMissing", "not on this host"),
        (
            &pull,
            "ImagePullFailed",
            "pulling image tenantd-missing:nope failed",
        ),
        (&refused, "CreateFailed", "CPU"),
    ];
    for (tenant, reason, words) in expectations {
        let name = &tenant.metadata.name;
        let seen = world.wait_phase(name, Phase::Degraded).await;
        let condition = seen
            .status
            .as_ref()
            .and_then(|s| s.condition("ContainerReady"))
            .cloned()
            .expect("ContainerReady is reported");
        assert_eq!(condition.reason, reason, "{name}: {condition:?}");
        assert!(
            condition.message.contains(words),
            "{name}: the message should say {words:?}: {}",
            condition.message
        );
        let events = world.ctx.store.events(name, 20).await.unwrap();
        if reason != "ImageMissing" {
            assert!(
                events
                    .iter()
                    .any(|e| e.outcome == "Warning" && e.reason == reason),
                "{name}: a Warning event records the failure: {events:?}"
            );
        }
    }
    world.cleanup().await;
}

/// `/healthz`, `/readyz` and `/metrics` answer, and the metrics count tenants by phase and
/// Docker calls by operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_http_listener_serves_health_readiness_and_metrics() {
    let mut world = World::without_controller("http").await;
    let controller = tenantd::reconcile::Controller::new(
        world.ctx.clone(),
        tenantd::app::controller_config(&world.config),
    );
    let ready = controller.readiness();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = tenantd::server::router(tenantd::server::ServerState {
        ctx: world.ctx.clone(),
        ready: ready.clone(),
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();
    let get = |path: &'static str| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("http://{address}{path}"))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    assert_eq!(
        get("/readyz").await.0,
        503,
        "not ready before the first observation"
    );

    world.apply(&world.tenant("m")).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(controller.run(async move {
        let _ = stopped.await;
    }));
    world.wait_ready(&world.name("m")).await;
    assert_eq!(get("/readyz").await.0, 200);
    let (status, metrics) = get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("tenantd_tenants{phase=\"Ready\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tenantd_docker_api_calls_total{operation=\"create_container\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tenantd_reconciles_total{result=\"success\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tenantd_reconcile_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("tenantd_queue_depth"), "{metrics}");
    let _ = stop.send(());
    run.await.unwrap().unwrap();
    world.stop_controller().await;
    world.cleanup().await;
}

/// When the tag a tenant runs is moved to another image (a `docker tag`, as a pull would do),
/// the container is recreated from the new image ID without any spec write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_image_id_change_under_the_same_tag_recreates_the_container() {
    let world = World::start("retag").await;
    let tag = format!("tenantd-testapp:{}", world.prefix);
    world.docker_cli(&["tag", common::TEST_IMAGE, &tag]);
    let mut tenant = world.tenant("a");
    tenant.spec.image = Some(tag.clone());
    let name = tenant.metadata.name.clone();
    let applied = world.apply(&tenant).await;
    world.wait_ready(&name).await;
    let before = world.inspect(&name).await.unwrap();

    world.docker_cli(&["tag", TEST_IMAGE_V2, &tag]);
    let v2_id = world.docker_cli(&["image", "inspect", "-f", "{{.Id}}", TEST_IMAGE_V2]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let after = loop {
        let now = world.inspect(&name).await;
        if let Some(c) = now.filter(|c| c.image.as_deref() == Some(v2_id.as_str())) {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the container was not recreated from {v2_id}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(after.id, before.id, "recreated, not restarted");
    let ready = world.wait_ready(&name).await;
    assert_eq!(
        ready.metadata.resource_version, applied.metadata.resource_version,
        "no spec write"
    );
    world.docker_cli(&["rmi", &tag]);
    world.cleanup().await;
}
