//! Safety against the real Docker engine and Postgres: what tenantd must never touch (a
//! container without its labels, another instance's containers, schemas and roles without its
//! marker), and what it does with its own leftovers (an orphaned container is removed; orphaned
//! database objects are kept and reported).

mod common;

use std::time::{Duration, Instant};

use bollard::models::ContainerInspectResponse;
use common::{TEST_IMAGE, World};
use reqwest::Method;
use tenantd::resource::{Phase, condition};

/// The resync period of these tests: short, so that "a few periods" is a few seconds.
const RESYNC: Duration = Duration::from_secs(1);
/// Long enough for several resyncs and database observations (every 300 ms in tests).
const SEVERAL_PERIODS: Duration = Duration::from_millis(3500);

/// A world whose controller resyncs, and relists the engine, every [`RESYNC`]; the controller
/// is not started yet.
async fn world_with_fast_resync(label: &str) -> World {
    let mut world = World::without_controller(label).await;
    world.config.resync_period = RESYNC;
    world.config.relist_period = RESYNC;
    world
}

/// Containers this test made by hand; removed when dropped, even after a failed assertion.
struct HandMade(Vec<String>);

impl Drop for HandMade {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f"])
                .args(&self.0)
                .output();
        }
    }
}

/// Everything about a container that tenantd could change: id, state, start time, labels,
/// networks.
#[derive(Debug, PartialEq)]
struct ContainerFacts {
    id: Option<String>,
    status: Option<String>,
    started_at: Option<String>,
    labels: Option<Vec<(String, String)>>,
    networks: Option<Vec<String>>,
}

async fn facts(world: &World, container: &str) -> Option<ContainerFacts> {
    let inspect: ContainerInspectResponse =
        world.docker.inspect_container(container, None).await.ok()?;
    let state = inspect.state.unwrap_or_default();
    let mut labels: Option<Vec<(String, String)>> = inspect
        .config
        .and_then(|c| c.labels)
        .map(|l| l.into_iter().collect());
    if let Some(l) = labels.as_mut() {
        l.sort();
    }
    let mut networks: Option<Vec<String>> = inspect
        .network_settings
        .and_then(|n| n.networks)
        .map(|n| n.into_keys().collect());
    if let Some(n) = networks.as_mut() {
        n.sort();
    }
    Some(ContainerFacts {
        id: inspect.id,
        status: state.status.map(|s| s.to_string()),
        started_at: state.started_at,
        labels,
        networks,
    })
}

/// A container without tenantd's labels that holds a tenant's container name is never
/// touched: the tenant goes Degraded with reason NameTaken and a message naming the container,
/// the container keeps its id, state and labels through several resyncs and retries, and once
/// an operator removes it the tenant converges on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_foreign_container_holding_a_tenant_name_is_never_touched() {
    let mut world = world_with_fast_resync("safe-name").await;
    world.start_controller();
    let tenant = world.tenant("taken");
    let name = tenant.metadata.name.clone();
    let container = format!("tenant-{name}");
    let mut hand_made = HandMade(vec![]);
    world.docker_cli(&["create", "--name", &container, TEST_IMAGE]);
    hand_made.0.push(container.clone());
    let before = facts(&world, &container).await.unwrap();

    world.apply(&tenant).await;
    let degraded = world
        .wait_for(
            &name,
            Duration::from_secs(30),
            "Degraded by NameTaken",
            |t| {
                t.status.as_ref().is_some_and(|s| {
                    s.phase == Phase::Degraded
                        && s.condition(condition::CONTAINER_READY)
                            .is_some_and(|c| c.reason == "NameTaken")
                })
            },
        )
        .await;
    let status = degraded.status.unwrap();
    for type_ in [condition::CONTAINER_READY, condition::READY] {
        let c = status.condition(type_).unwrap();
        assert_eq!(c.reason, "NameTaken", "{type_}: {c:?}");
        assert!(
            c.message.contains(&container),
            "{type_} names the conflicting container: {}",
            c.message
        );
    }

    tokio::time::sleep(SEVERAL_PERIODS).await;
    assert_eq!(
        facts(&world, &container).await.as_ref(),
        Some(&before),
        "the foreign container is exactly as it was"
    );
    let tenant_now = world.get(&name).await.unwrap();
    assert_eq!(
        tenant_now.status.as_ref().map(|s| s.phase),
        Some(Phase::Degraded),
        "still Degraded: nothing was done about the foreign container"
    );
    let retries: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(count), 0)::bigint FROM tenant_events \
         WHERE tenant_name = $1 AND outcome = 'Warning' AND reason = 'NameTaken'",
    )
    .bind(&name)
    .fetch_one(&world.admin)
    .await
    .unwrap();
    assert!(
        retries >= 2,
        "tenantd retried (and was refused) while the container stood: {retries} NameTaken warnings"
    );

    // The operator removes it; tenantd takes the name on its own (no spec write).
    world.docker_cli(&["rm", &container]);
    hand_made.0.clear();
    let ready = world.wait_ready(&name).await;
    assert_eq!(ready.metadata.generation, tenant_now.metadata.generation);
    let ours = world.inspect(&name).await.expect("tenantd's container now");
    assert_ne!(ours.id, before.id);
    assert_eq!(
        ours.config.unwrap().labels.unwrap()["tenantd.instance"],
        world.config.instance
    );
    world.cleanup().await;
}

/// Containers with tenantd's managed and tenant labels but another instance's label are never
/// touched, even labelled with the name and uid of a live tenant here (which would make them
/// strays) or of a tenant that does not exist (which would make them orphans); while this
/// instance's own orphan, a container whose tenant row was lost, is removed. The orphan's
/// schema and role (marker present, no tenant) are kept with their data and reported once as
/// a Warning event with reason OrphanDatabaseObjects.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_instances_are_never_touched_while_our_orphans_are_removed_and_reported() {
    let mut world = world_with_fast_resync("safe-orph").await;
    world.start_controller();
    let live = world.name("live");
    let lost = world.name("lost");
    world.apply(&world.tenant("live")).await;
    world.apply(&world.tenant("lost")).await;
    let live_tenant = world.wait_ready(&live).await;
    let lost_tenant = world.wait_ready(&lost).await;
    let live_uid = live_tenant.metadata.uid.clone().unwrap();
    let lost_uid = lost_tenant.metadata.uid.clone().unwrap();
    let (status, body) = world.app(&lost, Method::POST, "/rows?note=keep").await;
    assert_eq!(status, 200, "{body}");
    let live_facts = facts(&world, &format!("tenant-{live}")).await.unwrap();

    // Another tenantd installation's containers on the same engine.
    let other_instance = format!("other-{}", common::random_suffix());
    let mut hand_made = HandMade(vec![]);
    let as_stray = format!("{}-other-live", world.prefix);
    let as_orphan = format!("{}-other-gone", world.prefix);
    for (container, tenant, uid, run) in [
        (&as_stray, live.as_str(), live_uid.as_str(), true),
        (
            &as_orphan,
            &*world.name("gone"),
            "0123456789abcdef0123456789abcdef",
            false,
        ),
    ] {
        let labels = [
            "tenantd.managed=true".to_owned(),
            format!("tenantd.instance={other_instance}"),
            format!("tenantd.tenant={tenant}"),
            format!("tenantd.uid={uid}"),
        ];
        let mut args = vec![if run { "run" } else { "create" }, "--name", container];
        if run {
            args.push("-d");
        }
        for label in &labels {
            args.extend(["--label", label]);
        }
        args.push(TEST_IMAGE);
        world.docker_cli(&args);
        hand_made.0.push(container.clone());
    }
    let stray_before = facts(&world, &as_stray).await.unwrap();
    let orphan_before = facts(&world, &as_orphan).await.unwrap();

    // A lost row: the container becomes an orphan of this instance.
    let deleted_at = Instant::now();
    let deleted = sqlx::query("DELETE FROM tenants WHERE name = $1")
        .bind(&lost)
        .execute(&world.admin)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    while world.inspect(&lost).await.is_some() {
        assert!(
            deleted_at.elapsed() < Duration::from_secs(30),
            "the orphaned container of {lost} was not removed within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "orphaned container removed {} ms after its row was deleted",
        deleted_at.elapsed().as_millis()
    );

    // The report comes from the periodic database observation.
    let reported_at = Instant::now();
    let report = loop {
        let rows: Vec<(String, String, String, i32)> = sqlx::query_as(
            "SELECT tenant_name, outcome, message, count FROM tenant_events \
             WHERE tenant_uid = $1 AND reason = 'OrphanDatabaseObjects'",
        )
        .bind(&lost_uid)
        .fetch_all(&world.admin)
        .await
        .unwrap();
        if !rows.is_empty() {
            break rows;
        }
        assert!(
            reported_at.elapsed() < Duration::from_secs(15),
            "no OrphanDatabaseObjects event for uid {lost_uid} within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    tokio::time::sleep(SEVERAL_PERIODS).await;
    assert_eq!(
        facts(&world, &as_stray).await.as_ref(),
        Some(&stray_before),
        "another instance's container labelled with a live tenant here is untouched"
    );
    assert_eq!(
        facts(&world, &as_orphan).await.as_ref(),
        Some(&orphan_before),
        "another instance's container labelled with an unknown tenant is untouched"
    );
    assert_eq!(
        facts(&world, &format!("tenant-{live}")).await.as_ref(),
        Some(&live_facts),
        "the live tenant's own container was not disturbed by the look-alike"
    );
    assert!(
        world.inspect(&lost).await.is_none(),
        "the orphan stays gone"
    );

    // The orphan's database objects, with their data, are still there, and reported once.
    let schema_owner: Option<String> = sqlx::query_scalar(
        "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1",
    )
    .bind(format!("tenant_{lost_uid}"))
    .fetch_optional(&world.admin)
    .await
    .unwrap();
    assert_eq!(
        schema_owner,
        Some(format!("tenant_user_{lost_uid}")),
        "the orphan schema and its role are kept"
    );
    let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"tenant_{lost_uid}\".probe"
    )))
    .fetch_one(&world.admin)
    .await
    .unwrap();
    assert_eq!(rows, 1, "the orphan's data is kept");
    assert_eq!(report.len(), 1, "one report: {report:?}");
    let (tenant_name, outcome, message, count) = &report[0];
    assert_eq!(outcome, "Warning");
    assert_eq!(tenant_name, &format!("tenant_{lost_uid}"));
    assert!(message.contains("never drops"), "{message}");
    assert_eq!(*count, 1, "reported once, not at every observation");

    drop(hand_made);
    world.cleanup().await;
}

/// What tenantd could change about a schema and a role: identity (oid, so a drop and
/// re-create shows), owner, privileges, comment, settings, password, data.
#[derive(Debug, PartialEq)]
struct DbFacts {
    schema: Option<(String, String, Option<String>, Option<String>)>,
    rows: Option<Vec<i32>>,
    role: Option<(String, Option<String>, Option<String>, bool)>,
}

async fn db_facts(world: &World, uid: &str) -> DbFacts {
    let schema = sqlx::query_as(
        "SELECT oid::text, pg_get_userbyid(nspowner)::text, nspacl::text, \
                obj_description(oid, 'pg_namespace') \
         FROM pg_namespace WHERE nspname = $1",
    )
    .bind(format!("tenant_{uid}"))
    .fetch_optional(&world.admin)
    .await
    .unwrap();
    let rows = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT v FROM \"tenant_{uid}\".precious ORDER BY v"
    )))
    .fetch_all(&world.admin)
    .await
    .ok();
    let role = sqlx::query_as(
        "SELECT a::text, shobj_description(a.oid, 'pg_authid'), \
                (SELECT array_agg(setconfig::text) FROM pg_db_role_setting WHERE setrole = a.oid), \
                EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) x \
                        WHERE d.datname = current_database() AND x.grantee = a.oid) \
         FROM pg_authid a WHERE rolname = $1",
    )
    .bind(format!("tenant_user_{uid}"))
    .fetch_optional(&world.admin)
    .await
    .unwrap();
    DbFacts { schema, rows, role }
}

/// Makes a tenant-shaped schema and role by hand, without tenantd's marker, with data in it.
async fn make_foreign_database_objects(world: &World, uid: &str) {
    let sql = format!(
        "CREATE ROLE \"tenant_user_{uid}\" LOGIN PASSWORD 'made-by-hand' CONNECTION LIMIT 3; \
         CREATE SCHEMA \"tenant_{uid}\" AUTHORIZATION \"tenant_user_{uid}\"; \
         CREATE TABLE \"tenant_{uid}\".precious (v int); \
         INSERT INTO \"tenant_{uid}\".precious VALUES (42), (43);"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&world.admin)
        .await
        .expect("creating the hand-made schema and role");
}

/// A schema `tenant_<hex>` and role `tenant_user_<hex>` made by hand without tenantd's marker
/// are never dropped or altered: not by the periodic observation, not by a tenant's teardown,
/// and not even when they carry the very uid of a tenant tenantd manages. That tenant goes
/// Degraded naming the foreign role, and deleting it finalizes without dropping them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schemas_and_roles_without_the_marker_are_never_dropped_or_altered() {
    let mut world = world_with_fast_resync("safe-db").await;
    let lookalike = hex::encode(rand::random::<[u8; 16]>());
    make_foreign_database_objects(&world, &lookalike).await;
    world.apply(&world.tenant("keep")).await;
    world.apply(&world.tenant("doomed")).await;
    // A tenant whose uid collides with hand-made objects (made before tenantd first looks).
    let twin = world.apply(&world.tenant("twin")).await;
    let twin_name = twin.metadata.name.clone();
    let twin_uid = twin.metadata.uid.clone().unwrap();
    make_foreign_database_objects(&world, &twin_uid).await;
    let lookalike_before = db_facts(&world, &lookalike).await;
    let twin_before = db_facts(&world, &twin_uid).await;
    assert!(
        lookalike_before.schema.is_some()
            && lookalike_before.role.is_some()
            && lookalike_before.rows == Some(vec![42, 43]),
        "{lookalike_before:?}"
    );
    assert_eq!(twin_before.rows, Some(vec![42, 43]));

    world.start_controller();
    world.wait_ready(&world.name("keep")).await;
    let doomed = world.wait_ready(&world.name("doomed")).await;
    let doomed_uid = doomed.metadata.uid.unwrap();
    let degraded = world
        .wait_for(&twin_name, Duration::from_secs(30), "Degraded", |t| {
            t.status
                .as_ref()
                .is_some_and(|s| s.phase == Phase::Degraded)
        })
        .await;
    let database = degraded
        .status
        .as_ref()
        .unwrap()
        .condition(condition::DATABASE_READY)
        .unwrap()
        .clone();
    assert!(
        database
            .message
            .contains(&format!("tenant_user_{twin_uid}"))
            && database.message.contains("marker"),
        "DatabaseReady names the foreign role: {database:?}"
    );

    tokio::time::sleep(SEVERAL_PERIODS).await;
    assert_eq!(db_facts(&world, &lookalike).await, lookalike_before);
    assert_eq!(db_facts(&world, &twin_uid).await, twin_before);

    // Teardown code runs: a real tenant (Delete policy) and the twin are deleted.
    for name in [&world.name("doomed"), &twin_name] {
        assert!(world.ctx.store.request_delete(name).await.unwrap());
    }
    world.wait_gone(&world.name("doomed")).await;
    world.wait_gone(&twin_name).await;
    let doomed_after = db_facts(&world, &doomed_uid).await;
    assert!(
        doomed_after.schema.is_none() && doomed_after.role.is_none(),
        "the real tenant's own schema and role were dropped (teardown ran): {doomed_after:?}"
    );
    tokio::time::sleep(SEVERAL_PERIODS).await;
    assert_eq!(
        db_facts(&world, &lookalike).await,
        lookalike_before,
        "the look-alike schema and role are untouched"
    );
    assert_eq!(
        db_facts(&world, &twin_uid).await,
        twin_before,
        "the hand-made objects carrying a deleted tenant's uid are untouched"
    );
    let reported: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenant_events WHERE tenant_uid IN ($1, $2) \
         AND reason = 'OrphanDatabaseObjects'",
    )
    .bind(&lookalike)
    .bind(&twin_uid)
    .fetch_one(&world.admin)
    .await
    .unwrap();
    assert_eq!(
        reported, 0,
        "objects without the marker are not tenantd's, so not its orphans either"
    );
    // The harness drops every tenant-shaped schema's role, hand-made ones included.
    world.cleanup().await;
}
