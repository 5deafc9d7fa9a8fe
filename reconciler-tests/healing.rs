//! Self-healing against the real Docker engine and Postgres: damage done behind tenantd's back
//! (a container removed, stopped, killed or cut off its network; the schema, the role or the
//! role's password changed; the network removed) is repaired by the reconcile loop alone,
//! with no spec write.
//!
//! Every repair is timed from the moment the damaging command returned to the moment the
//! repair is observable (the tenant Ready again for its unchanged generation and the damaged
//! thing back). The table is printed (`--nocapture`) and written to `target/healing-times.txt`.

mod common;

use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::models::{ContainerInspectResponse, HealthStatusEnum};
use bollard::query_parameters::InspectNetworkOptions;
use common::World;
use sqlx::{Connection, Row};
use tenantd::resource::Phase;
use tenantd::tenantdb::DATABASE_ACL_LOCK;

/// How long one repair may take before the test fails.
const REPAIR_TIMEOUT: Duration = Duration::from_secs(45);
/// How often a repair check is polled; bounds the resolution of the timings.
const POLL: Duration = Duration::from_millis(50);

/// One measured repair.
struct Timing {
    case: &'static str,
    /// How long the damaging command itself took.
    damage: Duration,
    /// From the damaging command's return to the repair check passing.
    repair: Duration,
    /// The actions tenantd recorded for the tenant meanwhile, in order.
    actions: Vec<String>,
}

/// Every timing measured in this process; the table shows all of them.
static TIMINGS: Mutex<Vec<Timing>> = Mutex::new(Vec::new());

/// Adds this test's timings, prints them, and rewrites `target/healing-times.txt` with every
/// timing measured so far in this run; the test that completes the set prints the whole table
/// (the tests run in parallel, so any of them may be last).
fn record(timings: Vec<Timing>) {
    let mut all = TIMINGS.lock().unwrap_or_else(|p| p.into_inner());
    let mine = table(&timings);
    println!("\nhealing times (this test):\n{mine}");
    all.extend(timings);
    let order = |t: &Timing| {
        CASES
            .iter()
            .position(|c| *c == t.case)
            .unwrap_or(usize::MAX)
    };
    all.sort_by_key(order);
    let path = target_dir().join("healing-times.txt");
    let text = format!(
        "tenantd self-healing times (repair = from the damaging command's return until the \
         repair is observable; polled every {} ms)\n\n{}",
        POLL.as_millis(),
        table(&all)
    );
    std::fs::write(&path, &text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    if all.len() == CASES.len() {
        println!(
            "\nall healing times (written to {}):\n{text}",
            path.display()
        );
    }
}

/// The cases in the order the table lists them.
const CASES: [&str; 8] = [
    "docker rm -f",
    "docker stop",
    "docker kill",
    "network disconnect",
    "DROP SCHEMA",
    "DROP ROLE",
    "ALTER ROLE PASSWORD",
    "network rm",
];

fn table(timings: &[Timing]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| {:<20} | {:>9} | {:>9} | tenantd actions meanwhile |",
        "damage", "cmd ms", "repair ms"
    );
    let _ = writeln!(out, "|{:-<22}|{:->10}:|{:->10}:|{:-<27}|", "", "", "", "");
    for t in timings {
        let _ = writeln!(
            out,
            "| {:<20} | {:>9} | {:>9} | {} |",
            t.case,
            t.damage.as_millis(),
            t.repair.as_millis(),
            t.actions.join(", ")
        );
    }
    out
}

/// `target/` of this build, found from the test binary (`target/debug/deps/healing-*`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in target/<profile>/deps")
        .to_owned()
}

/// What a tenant looked like right before the damage, to compare with after the repair.
struct Before {
    name: String,
    uid: String,
    generation: Option<i64>,
    resource_version: Option<String>,
    container_id: String,
    started_at: Option<String>,
    database_url: String,
    /// The database clock right before the damage, to read the events that followed.
    since: chrono::DateTime<chrono::Utc>,
}

impl Before {
    async fn take(world: &World, name: &str) -> Before {
        let tenant = world.wait_ready(name).await;
        let inspect = healthy(world, name)
            .await
            .unwrap_or_else(|e| panic!("{name} is healthy before the damage: {e}"));
        let database_url = env_var(&inspect, "DATABASE_URL")
            .unwrap_or_else(|| panic!("the container of {name} has a DATABASE_URL"));
        let since = sqlx::query_scalar("SELECT now()")
            .fetch_one(&world.admin)
            .await
            .unwrap();
        Before {
            name: name.to_owned(),
            uid: tenant.metadata.uid.clone().unwrap(),
            generation: tenant.metadata.generation,
            resource_version: tenant.metadata.resource_version.clone(),
            container_id: inspect.id.clone().unwrap(),
            started_at: inspect.state.and_then(|s| s.started_at),
            database_url,
            since,
        }
    }

    fn container(&self) -> String {
        format!("tenant-{}", self.name)
    }

    fn role(&self) -> String {
        format!("tenant_user_{}", self.uid)
    }

    fn schema(&self) -> String {
        format!("tenant_{}", self.uid)
    }

    /// The repair was done by the reconcile loop, not by a spec write: generation and
    /// resourceVersion are as they were, and the status is Ready for that generation.
    async fn assert_no_spec_write(&self, world: &World) {
        let tenant = world
            .get(&self.name)
            .await
            .expect("the tenant still exists");
        assert_eq!(
            tenant.metadata.generation, self.generation,
            "{}: healing must not write the spec (generation moved)",
            self.name
        );
        assert_eq!(
            tenant.metadata.resource_version, self.resource_version,
            "{}: healing must not write the tenant row (resourceVersion moved)",
            self.name
        );
        let status = tenant.status.expect("a healed tenant has a status");
        assert_eq!(status.phase, Phase::Ready, "{}: {status:#?}", self.name);
        assert_eq!(Some(status.observed_generation), self.generation);
    }

    /// The actions tenantd recorded for this tenant since the damage, oldest first.
    async fn actions(&self, world: &World) -> Vec<String> {
        sqlx::query(
            "SELECT action, outcome, count FROM tenant_events \
             WHERE tenant_name = $1 AND last_at >= $2 ORDER BY id",
        )
        .bind(&self.name)
        .bind(self.since)
        .fetch_all(&world.admin)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let action: String = r.get("action");
            let outcome: String = r.get("outcome");
            let count: i32 = r.get("count");
            let mut s = action;
            if outcome != "Normal" {
                s.push_str(&format!(" ({outcome})"));
            }
            if count > 1 {
                s.push_str(&format!(" x{count}"));
            }
            s
        })
        .collect()
    }

    /// Asserts tenantd itself logged `action` since the damage (so the damage did happen and
    /// the loop, not luck, repaired it), and makes the timing row.
    async fn timing(
        &self,
        world: &World,
        case: &'static str,
        damage: Duration,
        repair: Duration,
        expected_actions: &[&str],
    ) -> Timing {
        let actions = self.actions(world).await;
        for expected in expected_actions {
            assert!(
                actions.iter().any(|a| a == expected),
                "{case}: tenantd should have logged {expected} for {} since the damage; it logged {actions:?}",
                self.name
            );
        }
        Timing {
            case,
            damage,
            repair,
            actions,
        }
    }
}

fn env_var(inspect: &ContainerInspectResponse, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    inspect
        .config
        .as_ref()?
        .env
        .as_ref()?
        .iter()
        .find_map(|e| e.strip_prefix(&prefix).map(str::to_owned))
}

/// The tenant's container, when it is running and its health check passes.
async fn healthy(world: &World, name: &str) -> Result<ContainerInspectResponse, String> {
    let inspect = world
        .inspect(name)
        .await
        .ok_or_else(|| format!("no container tenant-{name}"))?;
    let state = inspect.state.clone().unwrap_or_default();
    if state.running != Some(true) {
        return Err(format!("container not running: {:?}", state.status));
    }
    let health = state.health.and_then(|h| h.status);
    if health != Some(HealthStatusEnum::HEALTHY) {
        return Err(format!("container health is {health:?}"));
    }
    Ok(inspect)
}

/// The tenant is Ready for its generation and its status names `container_id`.
async fn ready_with(world: &World, name: &str, container_id: &str) -> Result<(), String> {
    let tenant = world.get(name).await.ok_or("the tenant is gone")?;
    let status = tenant.status.as_ref().ok_or("no status")?;
    if status.phase != Phase::Ready
        || Some(status.observed_generation) != tenant.metadata.generation
    {
        return Err(format!(
            "phase {:?} for generation {} (spec generation {:?})",
            status.phase, status.observed_generation, tenant.metadata.generation
        ));
    }
    if status.container_id.as_deref() != Some(container_id) {
        return Err(format!(
            "status names container {:?}, not {container_id}",
            status.container_id
        ));
    }
    Ok(())
}

/// The container's address on the tenant network, if it has one.
fn address(world: &World, inspect: &ContainerInspectResponse) -> Option<String> {
    inspect
        .network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(&world.config.network)?
        .ip_address
        .clone()
        .filter(|ip| !ip.is_empty())
}

/// One request to the app, no retries: the repair check polls instead.
async fn app_get(ip: &str, path: &str) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let response = client
        .get(format!("http://{ip}:8080{path}"))
        .send()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

/// The app's `/status` answers ok (it opens a new database connection per request).
async fn app_status_ok(ip: &str, uid: &str) -> Result<serde_json::Value, String> {
    let (status, body) = app_get(ip, "/status").await?;
    if status != 200 {
        return Err(format!("/status answered {status}: {body}"));
    }
    let report: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("/status is not JSON ({e}): {body}"))?;
    if report["ok"] != true || report["user"] != format!("tenant_user_{uid}") {
        return Err(format!("/status: {body}"));
    }
    Ok(report)
}

/// Runs `docker` (never a shell) without blocking the runtime, asserting success.
async fn docker(args: &[&str]) -> Duration {
    let started = Instant::now();
    let output = tokio::process::Command::new("docker")
        .args(args)
        .output()
        .await
        .expect("running the docker CLI");
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed()
}

/// Polls `check` until it passes; returns the time since `damaged_at`. Panics with the last
/// reason after [`REPAIR_TIMEOUT`].
async fn until_repaired<F, Fut>(what: &str, damaged_at: Instant, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    loop {
        let outcome = check().await;
        let elapsed = damaged_at.elapsed();
        match outcome {
            Ok(()) => return elapsed,
            Err(last) if elapsed > REPAIR_TIMEOUT => {
                panic!("{what} was not repaired within {REPAIR_TIMEOUT:?}; last check: {last}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Runs trusted statements (built from names this test read back) as the superuser, in one
/// transaction holding tenantd's database-ACL lock, as its documentation asks of anything
/// that changes the database ACL while tenantd runs (`DROP OWNED` revokes `CONNECT`).
async fn operator_sql(world: &World, statements: &[String]) -> Duration {
    let started = Instant::now();
    let mut conn = world.admin.acquire().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(DATABASE_ACL_LOCK)
        .execute(&mut *tx)
        .await
        .unwrap();
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("operator statement {statement:?} failed: {e}"));
    }
    tx.commit().await.unwrap();
    started.elapsed()
}

/// Removed, stopped, killed and disconnected containers come back without a spec write: a
/// removed one as a new healthy container, a stopped or killed one as the same container
/// started again, a disconnected one reattached and reachable; each tenant Ready again for
/// its unchanged generation and resourceVersion, and the neighbours untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn damaged_containers_are_repaired_without_a_spec_write() {
    let world = World::start("heal-c").await;
    for short in ["rm", "stop", "kill", "net"] {
        world.apply(&world.tenant(short)).await;
    }
    let mut all = Vec::new();
    for short in ["rm", "stop", "kill", "net"] {
        all.push(Before::take(&world, &world.name(short)).await);
    }
    let mut timings = Vec::new();

    // docker rm -f: a new container with a new id, healthy, named in the status.
    let b = &all[0];
    let damage = docker(&["rm", "-f", &b.container()]).await;
    let at = Instant::now();
    let repair = until_repaired("docker rm -f", at, || async {
        let inspect = healthy(&world, &b.name).await?;
        let id = inspect.id.unwrap();
        if id == b.container_id {
            return Err("still the removed container's id".into());
        }
        ready_with(&world, &b.name, &id).await
    })
    .await;
    b.assert_no_spec_write(&world).await;
    timings.push(
        b.timing(&world, "docker rm -f", damage, repair, &["CreateContainer"])
            .await,
    );

    // docker stop: the same container started again (the restart policy ignores a manual stop).
    let b = &all[1];
    let damage = docker(&["stop", &b.container()]).await;
    let at = Instant::now();
    let repair = until_repaired("docker stop", at, || same_container_restarted(&world, b)).await;
    b.assert_no_spec_write(&world).await;
    timings.push(
        b.timing(&world, "docker stop", damage, repair, &["StartContainer"])
            .await,
    );

    // docker kill: running again, same container.
    let b = &all[2];
    let damage = docker(&["kill", &b.container()]).await;
    let at = Instant::now();
    let repair = until_repaired("docker kill", at, || same_container_restarted(&world, b)).await;
    b.assert_no_spec_write(&world).await;
    timings.push(
        b.timing(&world, "docker kill", damage, repair, &["StartContainer"])
            .await,
    );

    // Disconnected from the tenant network: reattached, with an address the app answers on.
    let b = &all[3];
    let network = world.config.network.clone();
    let damage = docker(&["network", "disconnect", "-f", &network, &b.container()]).await;
    let at = Instant::now();
    let repair = until_repaired("network disconnect", at, || async {
        let inspect = healthy(&world, &b.name).await?;
        let ip = address(&world, &inspect).ok_or("not attached to the tenant network")?;
        match app_get(&ip, "/healthz").await? {
            (200, _) => {}
            other => return Err(format!("/healthz answered {other:?}")),
        }
        ready_with(&world, &b.name, &b.container_id).await
    })
    .await;
    assert_eq!(
        world.inspect(&b.name).await.unwrap().id.as_deref(),
        Some(b.container_id.as_str()),
        "reattaching does not recreate the container"
    );
    b.assert_no_spec_write(&world).await;
    timings.push(
        b.timing(
            &world,
            "network disconnect",
            damage,
            repair,
            &["ConnectNetwork"],
        )
        .await,
    );

    // Repairing one tenant never disturbed another: the stop, kill and disconnect cases kept
    // their containers, and nothing was recreated afterwards.
    for b in &all[1..] {
        let inspect = healthy(&world, &b.name).await.unwrap();
        assert_eq!(inspect.id.as_deref(), Some(b.container_id.as_str()));
        b.assert_no_spec_write(&world).await;
    }
    record(timings);
    world.cleanup().await;
}

/// The stopped or killed container runs again under the same id, started after the damage,
/// healthy, and the tenant is Ready with it.
async fn same_container_restarted(world: &World, b: &Before) -> Result<(), String> {
    let inspect = healthy(world, &b.name).await?;
    if inspect.id.as_deref() != Some(b.container_id.as_str()) {
        return Err(format!(
            "a new container {:?} replaced {}; a stopped one should be started again",
            inspect.id, b.container_id
        ));
    }
    if inspect.state.and_then(|s| s.started_at) == b.started_at {
        return Err("not restarted yet".into());
    }
    ready_with(world, &b.name, &b.container_id).await
}

/// A dropped schema, a dropped role (with everything it owned) and a changed role password
/// are restored without a spec write and without recreating the container: the app, which
/// opens a new connection per request with the DATABASE_URL it was started with, works again;
/// the schema is back with its marker and owned by the role; the role's stored verifier
/// equals the one tenantd keeps in `tenant_credentials`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn damaged_database_objects_are_repaired_without_a_spec_write() {
    let world = World::start("heal-db").await;
    for short in ["schema", "role", "pass"] {
        world.apply(&world.tenant(short)).await;
    }
    let mut all = Vec::new();
    for short in ["schema", "role", "pass"] {
        let b = Before::take(&world, &world.name(short)).await;
        let ip = world.container_ip(&b.name).await;
        app_status_ok(&ip, &b.uid)
            .await
            .unwrap_or_else(|e| panic!("{} works before the damage: {e}", b.name));
        all.push((b, ip));
    }
    let mut timings = Vec::new();

    // DROP SCHEMA ... CASCADE.
    let (b, ip) = &all[0];
    let damage = operator_sql(&world, &[format!("DROP SCHEMA \"{}\" CASCADE", b.schema())]).await;
    let at = Instant::now();
    let repair = until_repaired("DROP SCHEMA", at, || async {
        schema_is_ours(&world, b).await?;
        app_status_ok(ip, &b.uid).await?;
        ready_with(&world, &b.name, &b.container_id).await
    })
    .await;
    assert_same_container(&world, b).await;
    b.assert_no_spec_write(&world).await;
    timings.push(
        b.timing(&world, "DROP SCHEMA", damage, repair, &["CreateSchema"])
            .await,
    );

    // DROP ROLE, after DROP OWNED BY (which takes the schema with it), as an operator must.
    let (b, ip) = &all[1];
    let damage = operator_sql(
        &world,
        &[
            format!("DROP OWNED BY \"{}\" CASCADE", b.role()),
            format!("DROP ROLE \"{}\"", b.role()),
        ],
    )
    .await;
    let at = Instant::now();
    let repair = until_repaired("DROP ROLE", at, || async {
        role_is_ours(&world, b).await?;
        schema_is_ours(&world, b).await?;
        app_status_ok(ip, &b.uid).await?;
        ready_with(&world, &b.name, &b.container_id).await
    })
    .await;
    assert_same_container(&world, b).await;
    b.assert_no_spec_write(&world).await;
    timings.push(
        b.timing(
            &world,
            "DROP ROLE",
            damage,
            repair,
            &["CreateRole", "CreateSchema"],
        )
        .await,
    );

    // ALTER ROLE ... PASSWORD: the stored verifier is put back.
    let (b, ip) = &all[2];
    let damage = operator_sql(
        &world,
        &[format!("ALTER ROLE \"{}\" PASSWORD 'something'", b.role())],
    )
    .await;
    let at = Instant::now();
    let repair = until_repaired("ALTER ROLE PASSWORD", at, || async {
        role_is_ours(&world, b).await?;
        app_status_ok(ip, &b.uid).await?;
        ready_with(&world, &b.name, &b.container_id).await
    })
    .await;
    assert_same_container(&world, b).await;
    b.assert_no_spec_write(&world).await;
    timings.push(
        b.timing(
            &world,
            "ALTER ROLE PASSWORD",
            damage,
            repair,
            &["SetRolePassword"],
        )
        .await,
    );

    record(timings);
    world.cleanup().await;
}

/// The schema exists with tenantd's marker and is owned by the tenant's role.
async fn schema_is_ours(world: &World, b: &Before) -> Result<(), String> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT pg_get_userbyid(nspowner)::text, obj_description(oid, 'pg_namespace') \
         FROM pg_namespace WHERE nspname = $1",
    )
    .bind(b.schema())
    .fetch_optional(&world.admin)
    .await
    .map_err(|e| e.to_string())?;
    match row {
        None => Err(format!("schema {} is missing", b.schema())),
        Some((owner, _)) if owner != b.role() => Err(format!("schema owned by {owner}")),
        Some((_, marker)) if marker != Some(format!("tenantd:managed uid={}", b.uid)) => {
            Err(format!("schema marker is {marker:?}"))
        }
        Some(_) => Ok(()),
    }
}

/// The role exists with tenantd's marker, can log in, and its verifier is the stored one.
async fn role_is_ours(world: &World, b: &Before) -> Result<(), String> {
    let row: Option<(bool, Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT a.rolcanlogin, shobj_description(a.oid, 'pg_authid'), a.rolpassword, c.verifier \
         FROM pg_authid a, tenant_credentials c WHERE a.rolname = $1 AND c.uid = $2",
    )
    .bind(b.role())
    .bind(&b.uid)
    .fetch_optional(&world.admin)
    .await
    .map_err(|e| e.to_string())?;
    match row {
        None => Err(format!("role {} is missing", b.role())),
        Some((false, ..)) => Err("the role cannot log in".into()),
        Some((_, marker, ..)) if marker != Some(format!("tenantd:managed uid={}", b.uid)) => {
            Err(format!("role marker is {marker:?}"))
        }
        Some((_, _, stored, kept)) if stored.as_deref() != Some(kept.as_str()) => {
            Err("pg_authid.rolpassword differs from tenant_credentials.verifier".into())
        }
        Some(_) => Ok(()),
    }
}

/// Database repairs keep the container, and with it the DATABASE_URL the app was started with.
async fn assert_same_container(world: &World, b: &Before) {
    let inspect = healthy(world, &b.name).await.unwrap();
    assert_eq!(
        inspect.id.as_deref(),
        Some(b.container_id.as_str()),
        "{}: a database repair must not recreate the container",
        b.name
    );
    assert_eq!(
        env_var(&inspect, "DATABASE_URL").as_deref(),
        Some(b.database_url.as_str()),
        "{}: the DATABASE_URL is unchanged",
        b.name
    );
}

/// A removed tenant network (every container disconnected first, as Docker requires) is
/// created again and the container attached to it, reachable and Ready, without a spec write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_network_is_recreated_and_the_container_reattached() {
    let world = World::start("heal-n").await;
    world.apply(&world.tenant("a")).await;
    let b = Before::take(&world, &world.name("a")).await;
    let network = world.config.network.clone();
    let old_network_id = world
        .docker
        .inspect_network(&network, None::<InspectNetworkOptions>)
        .await
        .expect("the tenant network exists")
        .id
        .unwrap();

    // tenantd reattaches a disconnected container within milliseconds, which can beat the
    // removal; an operator would simply try again, and so does this loop. The engine API is
    // used directly because the CLI's start-up time alone loses that race.
    let mut attempt_started;
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(
            attempts <= 30,
            "could not remove the network in 30 attempts: tenantd reattached first every time"
        );
        attempt_started = Instant::now();
        let inspect = world
            .docker
            .inspect_network(&network, None::<InspectNetworkOptions>)
            .await
            .expect("the tenant network exists");
        for container in inspect.containers.unwrap_or_default().keys() {
            let _ = world
                .docker
                .disconnect_network(
                    &network,
                    bollard::models::NetworkDisconnectRequest {
                        container: container.clone(),
                        force: Some(true),
                    },
                )
                .await;
        }
        if world.docker.remove_network(&network).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let damage = attempt_started.elapsed();
    let at = Instant::now();
    let repair = until_repaired("network rm", at, || async {
        let current = world
            .docker
            .inspect_network(&network, None::<InspectNetworkOptions>)
            .await
            .map_err(|_| "the network does not exist")?;
        if current.id.as_deref() == Some(old_network_id.as_str()) {
            return Err("still the old network".into());
        }
        let inspect = healthy(&world, &b.name).await?;
        let ip = address(&world, &inspect).ok_or("not attached to the new network")?;
        app_status_ok(&ip, &b.uid).await?;
        ready_with(&world, &b.name, inspect.id.as_deref().unwrap()).await
    })
    .await;
    println!("network removed after {attempts} attempt(s)");
    b.assert_no_spec_write(&world).await;
    let timing = b
        .timing(&world, "network rm", damage, repair, &["EnsureNetwork"])
        .await;
    // The app reaches Postgres through the network's gateway, so a new network with another
    // gateway needs a new DATABASE_URL and hence a new container; the same gateway does not.
    let gateway = world
        .docker
        .inspect_network(&network, None::<InspectNetworkOptions>)
        .await
        .unwrap()
        .ipam
        .and_then(|ipam| ipam.config)
        .and_then(|configs| configs.into_iter().find_map(|c| c.gateway))
        .expect("the new network has a gateway");
    let inspect = healthy(&world, &b.name).await.unwrap();
    let url = env_var(&inspect, "DATABASE_URL").unwrap();
    assert!(
        url.contains(&format!("@{gateway}:")),
        "DATABASE_URL points at the new network's gateway {gateway}: {url}"
    );
    if url == b.database_url {
        assert_eq!(
            inspect.id.as_deref(),
            Some(b.container_id.as_str()),
            "same gateway: the container is reattached, not recreated"
        );
        assert!(timing.actions.iter().any(|a| a == "ConnectNetwork"));
    } else {
        assert_ne!(inspect.id.as_deref(), Some(b.container_id.as_str()));
        assert!(timing.actions.iter().any(|a| a == "CreateContainer"));
        println!("the new network has another gateway ({gateway}): the container was recreated");
    }
    record(vec![timing]);
    world.cleanup().await;
}
