//! The HTTP API over real HTTP, against real Postgres (and Docker where the reconciler runs):
//! the resource lifecycle, optimistic concurrency, dry runs, bad input refused whole, auth,
//! limits, the watch stream and the OpenAPI document.

mod common;

use std::time::Duration;

use common::{ADMIN_TOKEN, World, version_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A small client for the API under test.
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    fn new(base: String) -> Api {
        Api {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        self.call_as(Some(ADMIN_TOKEN), method, path, body).await
    }

    async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }
}

fn tenant_json(world: &World, short: &str) -> Value {
    serde_json::to_value(world.tenant(short)).unwrap()
}

/// Tenant rows and their resourceVersions: a refused request must leave this unchanged.
async fn store_snapshot(world: &World) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT name, resource_version FROM tenants ORDER BY name")
        .fetch_all(&world.admin)
        .await
        .unwrap()
}

/// Create, read, replace, patch, the verbs, the deployment log and delete, with the reconciler
/// running; a stale resourceVersion gets 409; generation moves only with the spec.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_resource_lifecycle_over_http() {
    let world = World::start("api").await;
    let api = Api::new(world.serve_api().await);
    let name = world.name("life");
    let body = tenant_json(&world, "life");

    let (status, created) = api.put(&format!("/tenants/{name}"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["generation"], 1);
    let first_version = created["metadata"]["resourceVersion"].clone();
    world.wait_ready(&name).await;

    let (status, fetched) = api.get(&format!("/tenants/{name}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["status"]["phase"], "Ready");
    assert_eq!(fetched["spec"]["env"]["GREETING"], "hello");

    let (status, same) = api.put(&format!("/tenants/{name}"), &body).await;
    assert_eq!(status, StatusCode::OK, "an identical PUT is accepted");
    assert_eq!(
        same["metadata"]["resourceVersion"], first_version,
        "and writes nothing"
    );

    // Optimistic concurrency: a write naming the old version after someone else wrote.
    let mut edited = fetched.clone();
    edited["spec"]["env"]["GREETING"] = json!("changed");
    let (status, replaced) = api.put(&format!("/tenants/{name}"), &edited).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["metadata"]["generation"], 2);
    let mut stale = fetched.clone();
    stale["spec"]["env"]["GREETING"] = json!("lost update");
    let (status, error) = api.put(&format!("/tenants/{name}"), &stale).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["code"], "Conflict");
    assert_eq!(error["field"], "metadata.resourceVersion");

    let (status, patched) = api
        .call(
            Method::PATCH,
            &format!("/tenants/{name}"),
            Some(&json!({"metadata": {"labels": {"tier": "gold"}}, "spec": {"env": {"GREETING": null, "NEW": "1"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["metadata"]["labels"]["tier"], "gold");
    assert_eq!(patched["spec"]["env"], json!({"NEW": "1"}));
    assert_eq!(patched["metadata"]["generation"], 3);
    // Converge the edit first, so that the stop below is a reconcile of its own.
    world.wait_ready(&name).await;

    let (status, stopped) = api
        .call(Method::POST, &format!("/tenants/{name}/stop"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["spec"]["state"], "Stopped");
    let mut expected = patched["spec"].clone();
    expected["state"] = json!("Stopped");
    assert_eq!(
        stopped["spec"], expected,
        "stop changes spec.state and nothing else"
    );
    world
        .wait_phase(&name, tenantd::resource::Phase::Stopped)
        .await;
    let (_, started) = api
        .call(Method::POST, &format!("/tenants/{name}/start"), None)
        .await;
    assert_eq!(started["spec"]["state"], "Running");
    // Converge the start before the restart: a reconcile that saw both at once would
    // recreate the stopped container instead of starting it (no StartContainer event).
    world.wait_ready(&name).await;
    let (_, restarted) = api
        .call(Method::POST, &format!("/tenants/{name}/restart"), None)
        .await;
    assert!(restarted["spec"]["restartedAt"].is_string());
    world.wait_ready(&name).await;

    let (status, events) = api.get(&format!("/tenants/{name}/events")).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "CreateContainer",
        "StopContainer",
        "StartContainer",
        "CreateSchema",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }

    let (status, deleting) = api
        .call(Method::DELETE, &format!("/tenants/{name}"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{deleting}");
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    world.wait_gone(&name).await;
    let (status, gone) = api.get(&format!("/tenants/{name}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(gone["code"], "NotFound");
    world.cleanup().await;
}

/// A dry run validates and returns the plan, and writes nothing: not for a new tenant, not
/// for a change of an existing one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dry_run_returns_the_plan_and_changes_nothing() {
    let world = World::start("dry").await;
    let api = Api::new(world.serve_api().await);
    let name = world.name("d");
    let (status, preview) = api
        .put(
            &format!("/tenants/{name}?dryRun=true"),
            &tenant_json(&world, "d"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{preview}");
    assert_eq!(preview["outcome"], "created");
    let steps: Vec<&str> = preview["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    for step in [
        "GenerateCredentials",
        "CreateRole",
        "CreateSchema",
        "CreateContainer",
    ] {
        assert!(steps.contains(&step), "{step} in {steps:?}");
    }
    assert_eq!(
        api.get(&format!("/tenants/{name}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert!(store_snapshot(&world).await.is_empty());

    world.apply(&world.tenant("d")).await;
    world.wait_ready(&name).await;
    let before = store_snapshot(&world).await;
    let container_before = world.inspect(&name).await.unwrap().id;
    let mut changed = tenant_json(&world, "d");
    changed["spec"]["env"]["GREETING"] = json!("preview only");
    let (status, preview) = api
        .put(&format!("/tenants/{name}?dryRun=true"), &changed)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{preview}");
    assert_eq!(preview["outcome"], "configured");
    let steps: Vec<&str> = preview["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        vec!["RemoveContainer", "CreateContainer"],
        "{preview}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store_snapshot(&world).await, before, "nothing was written");
    assert_eq!(world.inspect(&name).await.unwrap().id, container_before);
    let (status, delete_preview) = api
        .call(
            Method::DELETE,
            &format!("/tenants/{name}?dryRun=true"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{delete_preview}");
    assert_eq!(
        store_snapshot(&world).await,
        before,
        "a dry-run delete writes nothing"
    );
    world.cleanup().await;
}

/// Bad input is refused whole with `{code, message, field}` and the store does not change:
/// missing or wrong token, an oversized body, an unknown field, invalid names, a negative
/// memory value, an env key that overrides an injected key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_refused_and_changes_nothing() {
    let world = World::without_controller("bad").await;
    let api = Api::new(world.serve_api().await);
    world.apply(&world.tenant("keep")).await;
    let before = store_snapshot(&world).await;
    let name = world.name("x");
    let good = tenant_json(&world, "x");

    let (status, missing) = api
        .call_as(None, Method::PUT, &format!("/tenants/{name}"), Some(&good))
        .await;
    let (status_wrong, wrong) = api
        .call_as(
            Some("not-the-token"),
            Method::PUT,
            &format!("/tenants/{name}"),
            Some(&good),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(status_wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing, wrong,
        "a wrong token reveals nothing a missing one does not"
    );
    assert_eq!(missing["code"], "Unauthorized");
    let (status, _) = api
        .call_as(
            Some("not-the-token"),
            Method::GET,
            &format!("/tenants/{}", world.name("keep")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "reads need the token too");

    let mut huge = good.clone();
    huge["spec"]["env"]["BIG"] = json!("x".repeat(400 * 1024));
    let (status, error) = api.put(&format!("/tenants/{name}"), &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{error}");
    assert_eq!(error["code"], "PayloadTooLarge");

    let mut unknown = good.clone();
    unknown["spec"]["resources"]["memroy"] = json!("1Gi");
    let (status, error) = api.put(&format!("/tenants/{name}"), &unknown).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["field"], "memroy", "{error}");

    for bad_name in [
        "Acme".to_owned(),
        "a".repeat(64),
        "a;drop table x".to_owned(),
        "../x".to_owned(),
        "аcme".to_owned(), // Cyrillic а
    ] {
        let mut body = good.clone();
        body["metadata"]["name"] = json!(bad_name);
        let path = format!(
            "/tenants/{}",
            bad_name
                .replace('/', "%2F")
                .replace(' ', "%20")
                .replace(';', "%3B")
        );
        let (status, error) = api.put(&path, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad_name}: {error}"
        );
        assert_eq!(error["code"], "Invalid", "{bad_name}");
        assert_eq!(error["field"], "metadata.name", "{bad_name}: {error}");
    }

    let mut negative = good.clone();
    negative["spec"]["resources"]["memory"] = json!("-512Mi");
    let (status, error) = api.put(&format!("/tenants/{name}"), &negative).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("negative"),
        "{error}"
    );

    let mut injected = good.clone();
    injected["spec"]["env"]["DATABASE_URL"] = json!("postgres://evil");
    let (status, error) = api.put(&format!("/tenants/{name}"), &injected).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["field"], "spec.env.DATABASE_URL");

    let (status, error) = api
        .call(
            Method::PATCH,
            &format!("/tenants/{}", world.name("keep")),
            Some(&json!({"spec": {"resources": {"pids": 1}}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["field"], "spec.resources.pids");

    let (status, error) = api.get("/tenants?labelSelector=a%3Bdrop").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "labelSelector");

    assert_eq!(
        store_snapshot(&world).await,
        before,
        "no refused request changed anything"
    );
    world.cleanup().await;
}

/// Listing filters by label selector and phase and pages with `continue`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_filters_and_pages() {
    let world = World::without_controller("list").await;
    let api = Api::new(world.serve_api().await);
    for (short, plan) in [
        ("a", "standard"),
        ("b", "free"),
        ("c", "standard"),
        ("d", "standard"),
    ] {
        let mut tenant = world.tenant(short);
        tenant.metadata.labels.insert("plan".into(), plan.into());
        world.apply(&tenant).await;
    }
    let (status, list) = api
        .get("/tenants?labelSelector=plan%3Dstandard&limit=2")
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&list), vec![world.name("a"), world.name("c")]);
    let token = list["continue"].as_str().expect("a next page").to_owned();
    let (_, next) = api
        .get(&format!(
            "/tenants?labelSelector=plan%3Dstandard&limit=2&continue={token}"
        ))
        .await;
    assert_eq!(names(&next), vec![world.name("d")]);
    assert!(
        next.get("continue").is_none(),
        "the last page has no continue"
    );
    let (_, pending) = api.get("/tenants?phase=pending").await;
    assert_eq!(names(&pending).len(), 4, "never reconciled is Pending");
    let (_, ready) = api.get("/tenants?phase=Ready").await;
    assert!(names(&ready).is_empty());
    world.cleanup().await;
}

/// The watch stream sends changes as they happen, and resuming from a resourceVersion sends
/// the ones missed, deletions included.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_watch_streams_changes_and_resumes_from_a_resource_version() {
    let world = World::without_controller("watch").await;
    let base = world.serve_api().await;
    let client = reqwest::Client::new();
    let first = world.apply(&world.tenant("w1")).await;
    let version = version_of(&first);

    // Missed while not watching: a new tenant and the deletion of the first one.
    world.apply(&world.tenant("w2")).await;
    assert!(
        world
            .ctx
            .store
            .request_delete(&world.name("w1"))
            .await
            .unwrap()
    );
    let uid = first.metadata.uid.unwrap();
    assert!(
        world
            .ctx
            .store
            .finalize(&world.name("w1"), &uid)
            .await
            .unwrap()
    );

    let mut response = client
        .get(format!(
            "{base}/api/v1/watch/tenants?resourceVersion={version}"
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut seen = String::new();
    let read_until = |needle: String| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        (needle, deadline)
    };
    let (needle, deadline) = read_until(format!("\"name\":\"{}\"", world.name("w1")));
    while !(seen.contains(&world.name("w2")) && seen.contains("DELETED") && seen.contains(&needle))
    {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("the missed changes arrive")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: MODIFIED"), "{seen}");

    // Live: a change made now arrives on the open stream.
    let mut third = world.tenant("w3");
    third.metadata.labels.insert("live".into(), "yes".into());
    world.apply(&third).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(&world.name("w3")) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("a live change arrives")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    world.cleanup().await;
}

/// Regression: a watcher never skips a change whose writer committed after a later one.
///
/// With a bare sequence, writer A could take version N, writer B take N+1 and commit first;
/// the watcher then read N+1, remembered it, and never asked for N again once A committed.
/// Here A is held open mid-transaction (taking its version the way every store writer does)
/// while B writes through the store; the watcher must see both changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versions_become_visible_in_order_so_a_watcher_never_skips_one() {
    let world = World::without_controller("wordr").await;
    let base = world.serve_api().await;
    let (slow, fast) = (world.name("slow"), world.name("fast"));
    world.apply(&world.tenant("slow")).await;
    world.apply(&world.tenant("fast")).await;

    let mut response = reqwest::Client::new()
        .get(format!("{base}/api/v1/watch/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut seen = String::new();
    read_stream_until(&mut response, &mut seen, "the initial list", |s| {
        s.contains(&slow) && s.contains(&fast)
    })
    .await;

    // Writer A takes its version and stays open.
    let mut slow_writer = world.admin.begin().await.unwrap();
    sqlx::query(
        "UPDATE tenants SET labels = '{\"writer\": \"slow\"}', \
         resource_version = tenantd_next_resource_version() WHERE name = $1",
    )
    .bind(&slow)
    .execute(&mut *slow_writer)
    .await
    .unwrap();
    // Writer B goes through the store while A is open.
    let store = world.ctx.store.clone();
    let mut fast_tenant = world.get(&fast).await.unwrap();
    fast_tenant.metadata.resource_version = None;
    fast_tenant
        .metadata
        .labels
        .insert("writer".into(), "fast".into());
    let fast_write = tokio::spawn(async move { store.apply(&fast_tenant).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    slow_writer.commit().await.unwrap();
    fast_write.await.unwrap().expect("the fast write succeeds");

    read_stream_until(&mut response, &mut seen, "both writers' changes", |s| {
        s.contains("\"writer\":\"slow\"") && s.contains("\"writer\":\"fast\"")
    })
    .await;
    world.cleanup().await;
}

/// Regression: `changes_since` reads its rows and its tombstones in one snapshot.
///
/// In two snapshots, a change (version v) committed after the rows were read and before a
/// delete (v + 1) that the tombstones query then saw made the answer's greatest version v + 1
/// without v: a watcher resuming from there skipped the change for good. Here the tombstones
/// query is held back by a table lock while exactly that happens; the change must come out
/// of this call or the next one from its greatest version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_since_reads_one_snapshot_so_a_resuming_watcher_never_skips_a_change() {
    use tenantd::store::Change;
    let world = World::without_controller("csnap").await;
    let store = world.ctx.store.clone();
    let (changed, deleted) = (world.name("changed"), world.name("deleted"));
    let mut tenant = world.apply(&world.tenant("changed")).await;
    world.apply(&world.tenant("deleted")).await;
    let cursor = store.current_version().await.unwrap();

    let mut blocker = world.admin.begin().await.unwrap();
    sqlx::query("LOCK TABLE tenant_tombstones IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let reader = store.clone();
    let first = tokio::spawn(async move { reader.changes_since(cursor).await });
    // The rows are read; the tombstones query waits for the lock.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE NOT granted \
             AND relation = 'tenant_tombstones'::regclass",
        )
        .fetch_one(&world.admin)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "changes_since never reached its tombstones query"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A change commits (version v), then a delete (v + 1) commits with the lock released.
    tenant.metadata.resource_version = None;
    tenant.status = None;
    tenant.metadata.labels.insert("late".into(), "yes".into());
    world.apply(&tenant).await;
    sqlx::query("DELETE FROM tenants WHERE name = $1")
        .bind(&deleted)
        .execute(&mut *blocker)
        .await
        .unwrap();
    blocker.commit().await.unwrap();

    let first = first.await.unwrap().expect("the first read succeeds");
    let resume_from = first.iter().map(Change::version).fold(cursor, i64::max);
    let next = store.changes_since(resume_from).await.unwrap();
    let seen_late_label = first.iter().chain(&next).any(|change| {
        matches!(change, Change::Upserted { tenant, .. }
            if tenant.metadata.name == changed && tenant.metadata.labels.contains_key("late"))
    });
    assert!(
        seen_late_label,
        "the change before the delete was skipped: first {first:?}, then from {resume_from}: {next:?}"
    );
    let seen_delete = first
        .iter()
        .chain(&next)
        .any(|change| matches!(change, Change::Deleted { name, .. } if *name == deleted));
    assert!(seen_delete, "the delete is seen too");
    world.cleanup().await;
}

/// An apply that decided on a read another writer has since replaced (a writer in another
/// process, whom this process's write queue cannot hold back) writes nothing on that decision:
/// its compare-and-swap misses, and it decides again on the winner's row. A write naming the
/// version it read then gets a conflict; a write naming none lands over the winner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_decided_on_a_stale_read_decides_again_on_the_winners_row() {
    use tenantd::store::{ApplyOptions, ApplyOutcome, Error};
    let world = World::without_controller("wstale").await;
    let store = &world.ctx.store;
    let applied = world.apply(&world.tenant("t")).await;
    let name = applied.metadata.name.clone();
    let stale = store.get(&name).await.unwrap().expect("the tenant exists");

    let mut winner = stale.clone();
    winner.metadata.resource_version = None;
    winner
        .metadata
        .labels
        .insert("writer".into(), "winner".into());
    let (_, won) = store.apply(&winner).await.expect("the winner writes");

    let mut late = stale.clone();
    late.status = None;
    late.metadata.labels.insert("writer".into(), "late".into());
    let mut turn = store.queue_write(&name).await;
    match store
        .apply_over(
            &mut turn,
            &late,
            &ApplyOptions::default(),
            Some(stale.clone()),
        )
        .await
    {
        Err(Error::Conflict { sent, current, .. }) => {
            assert_eq!(Some(sent), stale.metadata.resource_version);
            assert_eq!(Some(current), won.metadata.resource_version);
        }
        other => panic!("a write naming the stale version must conflict, got {other:?}"),
    }
    assert_eq!(
        store.get(&name).await.unwrap().unwrap().metadata.labels["writer"],
        "winner",
        "the stale decision wrote nothing"
    );

    late.metadata.resource_version = None;
    let (outcome, stored) = store
        .apply_over(&mut turn, &late, &ApplyOptions::default(), Some(stale))
        .await
        .expect("a write naming no version lands after deciding again");
    assert_eq!(outcome, ApplyOutcome::Configured);
    assert_eq!(stored.metadata.labels["writer"], "late");
    assert!(
        version_of(&stored) > version_of(&won),
        "it was written over the winner's row"
    );
    world.cleanup().await;
}

/// While a tenant's writers queue, the next in line decides on the row the previous one left
/// instead of reading. A guess that another process has made stale writes nothing (its
/// compare-and-swap misses) and says so, so the writer reads and decides as usual; a current
/// guess writes in one statement, over exactly the guessed row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guessed_row_writes_only_while_it_is_current() {
    use tenantd::store::ApplyOptions;
    let world = World::without_controller("wguess").await;
    let store = &world.ctx.store;
    let applied = world.apply(&world.tenant("t")).await;
    let name = applied.metadata.name.clone();
    let other_process = world.other_process_store(1).await;
    let labelled = |value: &str| {
        let mut tenant = applied.clone();
        tenant.status = None;
        tenant.metadata.resource_version = None;
        tenant.metadata.labels.insert("writer".into(), value.into());
        tenant
    };
    let options = ApplyOptions::default();

    // The first writer in line reads; it leaves the row it wrote to the next one.
    let mut turn = store.queue_write(&name).await;
    let read = store.get(&name).await.unwrap();
    let (_, first) = store
        .apply_over(&mut turn, &labelled("first"), &options, read)
        .await
        .expect("the first write lands");
    let guess = turn
        .last_written()
        .cloned()
        .expect("the queue remembers the row");
    assert_eq!(guess, first, "the remembered row is the one written");

    // A current guess: one statement, over exactly that row.
    let (_, second) = store
        .apply_over_guess(&mut turn, &labelled("second"), &options, &guess)
        .await
        .unwrap()
        .expect("a guess that is still the row writes");
    assert_eq!(second.metadata.labels["writer"], "second");
    assert!(
        version_of(&second) > version_of(&first),
        "it took a new version"
    );

    // Another process writes in between: the remembered row is stale.
    let stale = turn.last_written().cloned().unwrap();
    other_process
        .apply(&labelled("other"))
        .await
        .expect("the other process writes");
    assert!(
        store
            .apply_over_guess(&mut turn, &labelled("late"), &options, &stale)
            .await
            .unwrap()
            .is_none(),
        "a stale guess must not write"
    );
    assert_eq!(
        store.get(&name).await.unwrap().unwrap().metadata.labels["writer"],
        "other",
        "the stale guess wrote nothing over the other process's row"
    );
    // Nor does a guess on which there is nothing to write confirm anything.
    assert!(
        store
            .apply_over_guess(&mut turn, &labelled("second"), &options, &second)
            .await
            .unwrap()
            .is_none(),
        "an unchanged decision on a guess is not an answer"
    );
    drop(turn);
    world.cleanup().await;
}

/// `Store::apply` is a compare-and-swap on `resourceVersion`, taken by one statement: writers
/// that read, change and write back with the version they read (a client's read-modify-write)
/// lose no update however they race, and writers that send no version all land. Half the
/// writers share one `Store` (one process: they queue in it) and half have a `Store` and pool
/// of their own (as other tenantd processes would), so both the in-process queue and the
/// compare-and-swap's lost races are exercised.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_of_one_tenant_lose_no_update() {
    const WRITERS: usize = 8;
    const INCREMENTS: usize = 10;
    let world = World::without_controller("wcas").await;
    let name = world.name("shared");
    let generation = world
        .apply(&world.tenant("shared"))
        .await
        .metadata
        .generation;
    let mut stores = Vec::with_capacity(WRITERS);
    for writer in 0..WRITERS {
        stores.push(if writer % 2 == 0 {
            world.ctx.store.clone()
        } else {
            world.other_process_store(2).await
        });
    }

    let counters = stores.iter().map(|store| {
        let (store, name) = (store.clone(), name.clone());
        tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..INCREMENTS {
                loop {
                    let mut tenant = store.get(&name).await.unwrap().expect("the tenant exists");
                    let count: usize = tenant
                        .metadata
                        .labels
                        .get("count")
                        .map_or(0, |c| c.parse().unwrap());
                    tenant
                        .metadata
                        .labels
                        .insert("count".into(), (count + 1).to_string());
                    match store.apply(&tenant).await {
                        Ok(_) => break,
                        Err(tenantd::store::Error::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("a read-modify-write failed: {e}"),
                    }
                }
            }
            conflicts
        })
    });
    let mut conflicts = 0;
    for counter in counters {
        conflicts += counter.await.unwrap();
    }
    let stored = world.get(&name).await.unwrap();
    assert_eq!(
        stored.metadata.labels.get("count").map(String::as_str),
        Some((WRITERS * INCREMENTS).to_string().as_str()),
        "every increment landed once ({conflicts} lost races were retried by their writers)"
    );

    let blind = stores.iter().enumerate().map(|(writer, store)| {
        let (store, mut tenant) = (store.clone(), stored.clone());
        tenant.metadata.resource_version = None;
        tokio::spawn(async move {
            for round in 0..INCREMENTS {
                tenant
                    .metadata
                    .labels
                    .insert("last".into(), format!("{writer}-{round}"));
                store
                    .apply(&tenant)
                    .await
                    .expect("a write without a version always lands");
            }
        })
    });
    for writer in blind {
        writer.await.unwrap();
    }
    let last = world.get(&name).await.unwrap();
    let final_label = last.metadata.labels.get("last").expect("some writer won");
    assert!(
        final_label.ends_with(&format!("-{}", INCREMENTS - 1)),
        "the tenant holds some writer's last write, not {final_label}"
    );
    assert_eq!(
        last.metadata.generation, generation,
        "label writes leave the generation alone"
    );
    world.cleanup().await;
}

/// Reads SSE chunks into `seen` until `done` holds, failing after 10 s with `what`.
async fn read_stream_until(
    response: &mut reqwest::Response,
    seen: &mut String,
    what: &str,
    done: impl Fn(&str) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(seen) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("{what} should arrive on the watch; got:\n{seen}"))
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// Writes beyond the caller's rate get 429 with Retry-After, in the API's error shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_beyond_the_rate_limit_get_429() {
    let world = World::without_controller("rate").await;
    let mut api_config = tenantd::app::api_config(&world.api_test_config());
    api_config.write_rate_per_second = 0.5;
    api_config.write_burst = 3.0;
    let api = Api::new(world.serve_api_with(api_config).await);
    let mut statuses = Vec::new();
    for i in 0..5 {
        let short = format!("r{i}");
        let (status, _) = api
            .put(
                &format!("/tenants/{}", world.name(&short)),
                &tenant_json(&world, &short),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(&statuses[..3], &[StatusCode::CREATED; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    let (status, error) = api
        .put(
            &format!("/tenants/{}", world.name("r9")),
            &tenant_json(&world, "r9"),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error["code"], "TooManyRequests");
    let (status, _) = api.get("/tenants").await;
    assert_eq!(status, StatusCode::OK, "reads are not rate-limited");
    world.cleanup().await;
}

/// The OpenAPI document parses, describes the auth scheme, and every operation in it is
/// served (answers with the API's own shapes, not the router's bare 404/405), while paths
/// that are not in it are not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_openapi_document_matches_the_routes() {
    let world = World::without_controller("oapi").await;
    let api = Api::new(world.serve_api().await);
    let (status, document) = api.call_as(None, Method::GET, "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK, "the document is public");
    assert_eq!(document["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    assert!(document["components"]["schemas"]["Tenant"].is_object());
    let (status, schema) = api
        .call_as(None, Method::GET, "/schema/tenant.json", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(schema["title"], "Tenant");

    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 8, "{paths:?}");
    let mut operations = 0;
    for (path, item) in paths {
        for (method, _) in item.as_object().unwrap() {
            operations += 1;
            let concrete = path.replace("{name}", "no-such-tenant");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            if path.starts_with("/watch/") {
                // A stream: check that it opens, without reading it to the end.
                let response = api
                    .client
                    .get(format!("{}/api/v1{concrete}", api.base))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                continue;
            }
            let body = (method == Method::PUT).then(|| json!({}));
            let (status, answer) = api.call(method.clone(), &concrete, body.as_ref()).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            if status == StatusCode::NOT_FOUND {
                assert_eq!(
                    answer["code"], "NotFound",
                    "{method} {path} is served: {answer}"
                );
            }
        }
    }
    assert!(operations >= 11, "{operations} operations");
    let (status, _) = api.get("/tenants/x/no-such-verb").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "undocumented paths are not served"
    );
    world.cleanup().await;
}
