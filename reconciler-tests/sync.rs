//! The specs folder sync against a real Postgres: files applied, changed, broken, fixed,
//! written by rename and removed; prune off and on; tenants from the API left alone; and the
//! report behind `GET /api/v1/sync`. The reconciler is not run: the sync only writes the store.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, World};
use tenantd::resource::Tenant;
use tenantd::store::{self, ApplyOptions, Event};
use tenantd::sync::status::{FileReport, FileState, SyncReport};
use tenantd::sync::{SyncConfig, SyncStatus, Syncer};

/// A fresh, empty specs folder for one test.
fn specs_dir(world: &World) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tenantd-specs-{}", world.prefix));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the specs folder");
    dir
}

/// A sync of `dir` with a short debounce; `rescan` is long where a test must show that the
/// watcher, not the periodic rescan, noticed a change.
fn syncer(world: &World, dir: &Path, prune: bool, rescan: Duration) -> Syncer {
    let config = SyncConfig {
        debounce: Duration::from_millis(100),
        host_cpus: 2.0,
        ..SyncConfig::new(dir.to_owned(), prune, rescan)
    };
    Syncer::new(world.ctx.store.clone(), config)
}

/// One tenant document. Line 6 is `  image: ...`, so a key inserted after `spec:` is at 6:3.
fn doc(name: &str, greeting: &str) -> String {
    format!(
        "apiVersion: tenantd/v1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n  image: tenantd-testapp:latest\n  imagePullPolicy: Never\n  env:\n    GREETING: {greeting}\n"
    )
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("writing a specs file");
}

fn greeting(tenant: &Tenant) -> &str {
    tenant.spec.env.get("GREETING").map_or("", String::as_str)
}

fn file<'a>(report: &'a SyncReport, path: &str) -> Option<&'a FileReport> {
    report.files.iter().find(|f| f.path == path)
}

/// Polls the sync's report until `check` holds; panics with the last report after 10 s.
async fn wait_report(
    status: &SyncStatus,
    what: &str,
    check: impl Fn(&SyncReport) -> bool,
) -> SyncReport {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = status.snapshot();
        if check(&report) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "the sync did not report {what} within 10s; last report: {report:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the store until `check` holds for the tenant; panics after 10 s.
async fn wait_tenant(
    world: &World,
    name: &str,
    what: &str,
    check: impl Fn(&Tenant) -> bool,
) -> Tenant {
    world
        .wait_for(name, Duration::from_secs(10), what, check)
        .await
}

async fn events(world: &World, name: &str) -> Vec<Event> {
    world
        .ctx
        .store
        .events(name, 100)
        .await
        .expect("reading events")
}

/// Polls until the tenant's newest event says `message` (10 s at most).
async fn wait_latest_event(world: &World, name: &str, message: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let latest = events(world, name).await.into_iter().next();
        if latest.as_ref().is_some_and(|e| e.message == message) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the newest event of {name} should say {message:?}; it is {latest:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everything a write to the tenants or the event log would move: the resourceVersion
/// sequence (every insert, update and delete of a tenant takes a value), and the event log's
/// rows, folded repeats and latest time.
async fn write_marks(world: &World) -> (i64, i64, i64, Option<chrono::DateTime<chrono::Utc>>) {
    let version: i64 = sqlx::query_scalar("SELECT last_value FROM tenant_resource_version")
        .fetch_one(&world.admin)
        .await
        .unwrap();
    let (rows, folded, latest): (i64, i64, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(count), 0)::bigint, max(last_at) FROM tenant_events",
    )
    .fetch_one(&world.admin)
    .await
    .unwrap();
    (version, rows, folded, latest)
}

/// The running sync, watching a folder: a new file creates its tenant marked with its source;
/// an edit changes it; a broken file (unknown field) is reported at file:line:column in the
/// status and as a Warning event while the store keeps the last good version; a fix written
/// by rename (temporary file, then rename over) applies; editor leftovers are ignored; and
/// with prune off a removed file leaves its tenant in place, listed as an orphan. Every step
/// is noticed by the watcher (the periodic rescan is a minute away). The report is served at
/// `GET /api/v1/sync`, to admins only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_folder_applies_edits_keeps_the_last_good_version_and_follows_renames() {
    let world = World::without_controller("syncwatch").await;
    let dir = specs_dir(&world);
    let name = world.name("a");
    let sync = syncer(&world, &dir, false, Duration::from_secs(60));
    let status = sync.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sync.run(async move {
        let _ = stopped.await;
    }));
    wait_report(&status, "its first scan", |r| r.scans >= 1).await;

    // Create.
    write(&dir, "a.yaml", &doc(&name, "hello"));
    let created = wait_tenant(&world, &name, "created", |t| greeting(t) == "hello").await;
    assert_eq!(created.metadata.source.as_deref(), Some("file:a.yaml"));
    let report = wait_report(&status, "a.yaml applied", |r| {
        file(r, "a.yaml").is_some_and(|f| f.state == FileState::Applied)
    })
    .await;
    assert_eq!(
        file(&report, "a.yaml").unwrap().tenants,
        std::slice::from_ref(&name)
    );
    let latest = &events(&world, &name).await[0];
    assert_eq!(
        (
            latest.action.as_str(),
            latest.outcome.as_str(),
            latest.reason.as_str()
        ),
        ("sync", "Normal", "AppliedFromFile")
    );
    assert_eq!(latest.message, "created from specs file a.yaml");

    // Change.
    write(&dir, "a.yaml", &doc(&name, "bonjour"));
    let changed = wait_tenant(&world, &name, "changed", |t| greeting(t) == "bonjour").await;
    assert_eq!(changed.metadata.generation, Some(2));
    // The sync records the event just after the write the tenant shows, so wait for it.
    wait_latest_event(&world, &name, "configured from specs file a.yaml").await;

    // Break: an unknown field at line 6, column 3. Nothing changes.
    let broken = doc(&name, "broken").replacen("spec:\n", "spec:\n  imagee: typo\n", 1);
    write(&dir, "a.yaml", &broken);
    let report = wait_report(&status, "a.yaml invalid", |r| {
        file(r, "a.yaml").is_some_and(|f| f.state == FileState::Invalid)
    })
    .await;
    let invalid = file(&report, "a.yaml").unwrap();
    let error = invalid.error.as_ref().expect("an invalid file says why");
    assert_eq!((error.line, error.column), (Some(6), Some(3)), "{error:?}");
    assert!(error.message.contains("imagee"), "{error:?}");
    assert_eq!(
        invalid.tenants,
        std::slice::from_ref(&name),
        "the tenant it still owns"
    );
    let kept = world.get(&name).await.unwrap();
    assert_eq!(
        greeting(&kept),
        "bonjour",
        "the last good version stays in force"
    );
    assert_eq!(
        kept.metadata.resource_version,
        changed.metadata.resource_version
    );
    let warning = &events(&world, &name).await[0];
    assert_eq!(
        (warning.outcome.as_str(), warning.reason.as_str()),
        ("Warning", "InvalidSpecsFile")
    );
    assert!(
        warning.message.starts_with("a.yaml:6:3: ") && warning.message.contains("imagee"),
        "{}",
        warning.message
    );

    // Editor leftovers next to it are not specs.
    write(&dir, ".#a.yaml", "not yaml: [");
    write(&dir, "a.yaml~", "not yaml: [");
    write(&dir, ".a.yaml.swp", "\0\0binary");

    // Fix, written the way many editors do: a temporary file renamed over the original.
    write(&dir, "a.yaml.tmp", &doc(&name, "hola"));
    std::fs::rename(dir.join("a.yaml.tmp"), dir.join("a.yaml")).unwrap();
    let fixed = wait_tenant(&world, &name, "fixed by a rename", |t| {
        greeting(t) == "hola"
    })
    .await;
    assert_eq!(fixed.metadata.generation, Some(3));
    let report = wait_report(&status, "a.yaml applied again", |r| {
        file(r, "a.yaml").is_some_and(|f| f.state == FileState::Applied)
    })
    .await;
    assert_eq!(
        report
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        ["a.yaml"],
        "temporary and editor files are not listed"
    );
    assert_eq!(file(&report, "a.yaml").unwrap().error, None);

    // The report over HTTP: admins only, in the documented shape.
    let base = serve_sync_api(&world, status.clone()).await;
    let client = reqwest::Client::new();
    let anonymous = client
        .get(format!("{base}/api/v1/sync"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let body: serde_json::Value = client
        .get(format!("{base}/api/v1/sync"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["enabled"], true);
    assert_eq!(body["dir"], dir.display().to_string());
    assert_eq!(body["prune"], false);
    assert!(body["lastScanAt"].is_string(), "{body}");
    assert_eq!(body["files"][0]["path"], "a.yaml");
    assert_eq!(body["files"][0]["status"], "Applied");
    assert_eq!(body["files"][0]["tenants"], serde_json::json!([name]));

    // Remove, prune off: the tenant stays, reported as an orphan.
    std::fs::remove_file(dir.join("a.yaml")).unwrap();
    let report = wait_report(&status, "a.yaml gone", |r| file(r, "a.yaml").is_none()).await;
    assert_eq!(report.orphans.len(), 1, "{report:#?}");
    assert_eq!(
        (
            report.orphans[0].name.as_str(),
            report.orphans[0].file.as_str()
        ),
        (name.as_str(), "a.yaml")
    );
    let after = world
        .get(&name)
        .await
        .expect("prune is off: the tenant stays");
    assert_eq!(after.metadata.deletion_timestamp, None);
    assert_eq!(
        after.metadata.resource_version,
        fixed.metadata.resource_version
    );
    let warning = &events(&world, &name).await[0];
    assert_eq!(warning.reason, "FileRemoved", "{warning:?}");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the sync stops promptly on shutdown")
        .expect("the sync task does not panic");
    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

/// Serves the API of this world with the sync's report, on 127.0.0.1:0.
async fn serve_sync_api(world: &World, status: std::sync::Arc<SyncStatus>) -> String {
    let config = world.api_test_config();
    let api = tenantd::app::api_config(&config);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Kept for the test's duration: a dropped sender reads as shutdown.
    std::mem::forget(stop);
    let state =
        tenantd::api::ApiState::new(world.ctx.clone(), &api, stopped).with_sync(Some(status));
    let app = tenantd::api::router(state, api.body_limit_bytes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// A rescan of a folder that matches the store writes nothing: no tenant row, no sequence
/// value, no event, not even for a file that stays invalid or in conflict (a problem is
/// reported once, when it appears).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converged_rescan_writes_nothing() {
    let world = World::without_controller("syncquiet").await;
    let dir = specs_dir(&world);
    let (a, b, api) = (world.name("a"), world.name("b"), world.name("api"));
    world.apply(&world.tenant("api")).await;
    write(
        &dir,
        "a.yaml",
        &format!("{}---\n{}", doc(&a, "hello"), doc(&b, "hi")),
    );
    write(
        &dir,
        "broken.yaml",
        "apiVersion: tenantd/v1\nkind: Tenant\nbogus: 1\n",
    );
    write(&dir, "conflict.yaml", &doc(&api, "mine"));
    let mut sync = syncer(&world, &dir, true, Duration::from_secs(60));

    let first = sync.scan().await.expect("the first scan");
    assert_eq!(first.applied, 2, "{first:?}");
    assert_eq!(first.problems, 2, "{first:?}");
    let report = sync.status().snapshot();
    assert_eq!(
        file(&report, "broken.yaml").unwrap().state,
        FileState::Invalid
    );
    assert_eq!(
        file(&report, "conflict.yaml").unwrap().state,
        FileState::Error
    );

    let before = write_marks(&world).await;
    for _ in 0..3 {
        let again = sync.scan().await.expect("a rescan");
        assert!(!again.wrote(), "a converged rescan wrote: {again:?}");
        assert_eq!(
            again.problems, 2,
            "the problems are still reported: {again:?}"
        );
    }
    assert_eq!(
        write_marks(&world).await,
        before,
        "a converged rescan changed the database"
    );
    assert_eq!(sync.status().snapshot().scans, 4);

    // A restarted sync remembers nothing, and still writes no tenant for a converged folder.
    let mut restarted = syncer(&world, &dir, true, Duration::from_secs(60));
    let after_restart = restarted.scan().await.expect("the scan after a restart");
    assert_eq!(
        (after_restart.applied, after_restart.pruned),
        (0, 0),
        "{after_restart:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

/// Prune off, a removed file keeps its tenants; prune on (here: the sync restarted with
/// `--prune`, knowing only what the store says), it requests deletion of exactly the tenants
/// that came from that file, and of a tenant a file stopped defining, but never of a tenant
/// from the API or from a file still present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_only_the_tenants_of_removed_files() {
    let world = World::without_controller("syncprune").await;
    let dir = specs_dir(&world);
    let (a1, a2, b1, b2, api) = (
        world.name("a1"),
        world.name("a2"),
        world.name("b1"),
        world.name("b2"),
        world.name("api"),
    );
    let api_tenant = world.apply(&world.tenant("api")).await;
    write(
        &dir,
        "a.yaml",
        &format!("{}---\n{}", doc(&a1, "x"), doc(&a2, "x")),
    );
    write(
        &dir,
        "b.yml",
        &format!("{}---\n{}", doc(&b1, "x"), doc(&b2, "x")),
    );
    let mut keeper = syncer(&world, &dir, false, Duration::from_secs(60));
    assert_eq!(keeper.scan().await.unwrap().applied, 4);
    let b1_before = world.get(&b1).await.unwrap();

    // Prune off: the file goes, its tenants stay.
    std::fs::remove_file(dir.join("a.yaml")).unwrap();
    write(&dir, "b.yml", &doc(&b1, "x"));
    let kept = keeper.scan().await.unwrap();
    assert_eq!(kept.pruned, 0);
    for name in [&a1, &a2, &b2] {
        let tenant = world.get(name).await.expect("prune is off");
        assert_eq!(tenant.metadata.deletion_timestamp, None, "{name}");
    }
    let mut orphans: Vec<String> = keeper
        .status()
        .snapshot()
        .orphans
        .iter()
        .map(|o| format!("{}<-{}", o.name, o.file))
        .collect();
    orphans.sort();
    assert_eq!(
        orphans,
        [
            format!("{a1}<-a.yaml"),
            format!("{a2}<-a.yaml"),
            format!("{b2}<-b.yml")
        ]
    );

    // Prune on.
    let mut pruner = syncer(&world, &dir, true, Duration::from_secs(60));
    let pruned = pruner.scan().await.unwrap();
    assert_eq!((pruned.pruned, pruned.applied), (3, 0), "{pruned:?}");
    for name in [&a1, &a2, &b2] {
        let tenant = world.get(name).await.unwrap();
        assert!(
            tenant.metadata.deletion_timestamp.is_some(),
            "{name} is being deleted"
        );
        let latest = &events(&world, name).await[0];
        assert_eq!(latest.reason, "Pruned", "{name}: {latest:?}");
    }
    let b1_after = world.get(&b1).await.unwrap();
    assert_eq!(
        b1_after.metadata.resource_version,
        b1_before.metadata.resource_version
    );
    let api_after = world.get(&api).await.unwrap();
    assert_eq!(
        api_after.metadata.resource_version,
        api_tenant.metadata.resource_version
    );
    assert_eq!(pruner.status().snapshot().orphans, []);

    // Even an empty folder never touches the API's tenant.
    std::fs::remove_file(dir.join("b.yml")).unwrap();
    let emptied = pruner.scan().await.unwrap();
    assert_eq!(emptied.pruned, 1, "only b1 is left to prune: {emptied:?}");
    let api_after = world.get(&api).await.unwrap();
    assert_eq!(
        api_after.metadata.resource_version,
        api_tenant.metadata.resource_version
    );
    assert_eq!(api_after.metadata.deletion_timestamp, None);
    assert!(
        events(&world, &api).await.is_empty(),
        "no event on the API's tenant"
    );
    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

/// A file that defines a tenant created through the API is refused whole: the API's tenant
/// is not changed, the file's other tenant is not created, the file reports the conflict at
/// the document's line, and the Warning goes to the file, not to the API's tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_never_touches_a_tenant_from_the_api() {
    let world = World::without_controller("syncapi").await;
    let dir = specs_dir(&world);
    let (api, fresh) = (world.name("api"), world.name("fresh"));
    let api_tenant = world.apply(&world.tenant("api")).await;
    write(
        &dir,
        "c.yaml",
        &format!("{}---\n{}", doc(&fresh, "x"), doc(&api, "taken")),
    );
    let mut sync = syncer(&world, &dir, true, Duration::from_secs(60));
    let summary = sync.scan().await.unwrap();
    assert_eq!((summary.applied, summary.pruned), (0, 0), "{summary:?}");

    let report = sync.status().snapshot();
    let c = file(&report, "c.yaml").unwrap();
    assert_eq!(c.state, FileState::Error);
    assert_eq!(c.tenants, [fresh.clone(), api.clone()]);
    let error = c.error.as_ref().unwrap();
    assert!(
        error.message.contains(&api) && error.message.contains("not applied from a file"),
        "{error:?}"
    );
    assert_eq!(
        error.line,
        Some(11),
        "the line of the second document: {error:?}"
    );
    assert_eq!(
        world.get(&fresh).await,
        None,
        "a refused file creates nothing"
    );
    let api_after = world.get(&api).await.unwrap();
    assert_eq!(api_after, api_tenant, "the API's tenant is untouched");
    assert!(
        events(&world, &api).await.is_empty(),
        "no event on the API's tenant"
    );
    let warning = &events(&world, "file:c.yaml").await[0];
    assert_eq!(
        (warning.outcome.as_str(), warning.reason.as_str()),
        ("Warning", "SpecsFileConflict")
    );
    assert!(
        warning.message.starts_with("c.yaml:11: "),
        "{}",
        warning.message
    );
    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

/// A tenant from a file belongs to it: an edit through the API's store path (no source) is
/// refused with OwnedByFile naming the file; a forced edit takes the tenant over, and from
/// then on the file reports the conflict and the sync leaves the tenant alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_of_a_file_tenant_through_the_api_path_is_refused_unless_forced() {
    let world = World::without_controller("syncown").await;
    let dir = specs_dir(&world);
    let name = world.name("a");
    write(&dir, "a.yaml", &doc(&name, "from-file"));
    let mut sync = syncer(&world, &dir, true, Duration::from_secs(60));
    sync.scan().await.unwrap();
    let stored = world.get(&name).await.unwrap();

    let mut edited = stored.clone();
    edited.spec.env.insert("GREETING".into(), "from-api".into());
    edited.status = None;
    let refused = world
        .ctx
        .store
        .apply_with(&edited, &ApplyOptions::default())
        .await
        .expect_err("a file's tenant refuses other writers");
    match &refused {
        store::Error::OwnedByFile {
            name: n,
            source_file,
        } => {
            assert_eq!(
                (n.as_str(), source_file.as_str()),
                (name.as_str(), "a.yaml")
            );
        }
        other => panic!("expected OwnedByFile, got {other:?}"),
    }
    assert!(refused.to_string().contains("a.yaml"), "{refused}");
    assert_eq!(greeting(&world.get(&name).await.unwrap()), "from-file");

    let forced = ApplyOptions {
        source: None,
        force: true,
    };
    let (_, taken) = world.ctx.store.apply_with(&edited, &forced).await.unwrap();
    assert_eq!(
        taken.metadata.source, None,
        "a forced write takes the tenant over"
    );
    let summary = sync.scan().await.unwrap();
    assert_eq!(summary.applied, 0, "{summary:?}");
    let after = world.get(&name).await.unwrap();
    assert_eq!(
        greeting(&after),
        "from-api",
        "the sync does not undo the takeover"
    );
    assert_eq!(
        after.metadata.resource_version,
        taken.metadata.resource_version
    );
    let report = sync.status().snapshot();
    assert_eq!(file(&report, "a.yaml").unwrap().state, FileState::Error);
    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

/// A tenant defined in two files stays with the file that has it, and the second file is
/// refused whole; a store refusal in the middle of a file (a subdomain taken by the API's
/// tenant) applies the rest, reports the tenant that failed, and is retried on the next scan,
/// which succeeds once the subdomain is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_definition_is_refused_and_a_failed_write_is_retried() {
    let world = World::without_controller("syncdup").await;
    let dir = specs_dir(&world);
    let (a, d1, d2, api) = (
        world.name("a"),
        world.name("d1"),
        world.name("d2"),
        world.name("api"),
    );
    write(&dir, "a.yaml", &doc(&a, "first"));
    let mut sync = syncer(&world, &dir, false, Duration::from_secs(60));
    sync.scan().await.unwrap();
    write(
        &dir,
        "0-dup.yaml",
        &format!("{}---\n{}", doc(&d1, "x"), doc(&a, "second")),
    );
    sync.scan().await.unwrap();
    let report = sync.status().snapshot();
    let dup = file(&report, "0-dup.yaml").unwrap();
    assert_eq!(dup.state, FileState::Error);
    let error = dup.error.as_ref().unwrap();
    assert!(
        error.message.contains("also defined in a.yaml"),
        "{error:?}"
    );
    assert_eq!(greeting(&world.get(&a).await.unwrap()), "first");
    assert_eq!(world.get(&d1).await, None, "a refused file creates nothing");
    std::fs::remove_file(dir.join("0-dup.yaml")).unwrap();

    // d2 wants the subdomain of the API's tenant: d1 is applied, d2 fails and is retried.
    let mut api_tenant = world.tenant("api");
    api_tenant.spec.subdomain = Some(world.name("shared"));
    let api_tenant = world.apply(&api_tenant).await;
    let d2_doc = doc(&d2, "x").replacen(
        "spec:\n",
        &format!("spec:\n  subdomain: {}\n", world.name("shared")),
        1,
    );
    write(&dir, "d.yaml", &format!("{}---\n{}", doc(&d1, "x"), d2_doc));
    let summary = sync.scan().await.unwrap();
    assert_eq!(summary.applied, 1, "{summary:?}");
    assert!(world.get(&d1).await.is_some());
    assert_eq!(world.get(&d2).await, None);
    let report = sync.status().snapshot();
    let d = file(&report, "d.yaml").unwrap();
    assert_eq!(d.state, FileState::Error);
    let error = d.error.as_ref().unwrap();
    assert!(
        error.message.contains(&d2) && error.message.contains("already taken"),
        "{error:?}"
    );
    assert_eq!(error.line, Some(11), "{error:?}");

    let retried = sync.scan().await.unwrap();
    assert_eq!(retried.applied, 0, "still taken: {retried:?}");
    assert!(
        !retried.wrote(),
        "a repeated failure is not recorded again: {retried:?}"
    );

    // Free the subdomain (the reconciler would finalize the deleted tenant; done by hand).
    world.ctx.store.request_delete(&api).await.unwrap();
    let uid = api_tenant.metadata.uid.clone().unwrap();
    assert!(world.ctx.store.finalize(&api, &uid).await.unwrap());
    let summary = sync.scan().await.unwrap();
    assert_eq!(summary.applied, 1, "{summary:?}");
    let created = world.get(&d2).await.expect("created on the retry");
    assert_eq!(created.metadata.source.as_deref(), Some("file:d.yaml"));
    let report = sync.status().snapshot();
    assert_eq!(file(&report, "d.yaml").unwrap().state, FileState::Applied);
    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

/// A folder that cannot be listed (removed, unmounted, mistyped) is an error for the whole
/// scan, reported in the status, never "every file was removed": with prune on, nothing is
/// deleted. When the folder is back, the sync carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_that_cannot_be_read_deletes_nothing() {
    let world = World::without_controller("syncgone").await;
    let dir = specs_dir(&world);
    let name = world.name("a");
    write(&dir, "a.yaml", &doc(&name, "x"));
    let mut sync = syncer(&world, &dir, true, Duration::from_secs(60));
    assert_eq!(sync.scan().await.unwrap().applied, 1);
    let before = write_marks(&world).await;

    std::fs::remove_dir_all(&dir).unwrap();
    let error = sync
        .scan()
        .await
        .expect_err("a missing folder cannot be scanned");
    assert!(
        error.to_string().contains("cannot read the specs folder"),
        "{error}"
    );
    let report = sync.status().snapshot();
    assert!(
        report
            .error
            .as_deref()
            .is_some_and(|e| e.contains("cannot read")),
        "{report:#?}"
    );
    assert_eq!(
        world.get(&name).await.unwrap().metadata.deletion_timestamp,
        None
    );
    assert_eq!(write_marks(&world).await, before, "nothing was written");

    std::fs::create_dir_all(&dir).unwrap();
    write(&dir, "a.yaml", &doc(&name, "x"));
    let back = sync.scan().await.expect("the folder is back");
    assert!(!back.wrote(), "{back:?}");
    assert_eq!(sync.status().snapshot().error, None);
    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}
