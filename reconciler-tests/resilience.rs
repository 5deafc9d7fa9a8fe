//! Crashes and outages: the real `tenantd serve` binary is SIGKILLed in the middle of
//! provisioning and started again, and keeps going through a restart of its Postgres.
//!
//! Both tests run the binary as a child process configured only through `TENANTD_*`
//! environment variables, against the real Docker engine and Postgres. A [`Daemon`] kills
//! its process and removes its containers and network when dropped, so a failing test leaves
//! nothing running on the engine.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use common::{TEST_IMAGE, admin_url, fresh_database, random_suffix};
use futures::StreamExt;
use sqlx::postgres::PgPoolOptions;
use tenantd::resource::{self, Phase, Tenant};
use tenantd::store::Store;

/// The binary under test, built by cargo for this integration test.
const TENANTD: &str = env!("CARGO_BIN_EXE_tenantd");

/// How long a tenant may take to become Ready before the test fails with its last status.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One tenantd installation run as a child process: its environment, its working folder
/// (YAML files, the log, backups) and the engine objects it owns.
///
/// # Guarantees
/// - Dropping it SIGKILLs a process still running and removes every container carrying its
///   instance label and its network, also when the test panicked (it then prints the log).
struct Daemon {
    /// `TENANTD_*` variables of this installation; nothing else of ours reaches the process.
    env: BTreeMap<&'static str, String>,
    instance: String,
    network: String,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    listen: String,
    /// Prefix of every tenant name (container names are global on the engine).
    prefix: String,
    /// Holds the YAML files applied and `tenantd.log` (both runs of `serve` append to it).
    workdir: PathBuf,
    /// The running `tenantd serve`, if any.
    child: Option<Child>,
}

impl Daemon {
    fn new(label: &str, database_url: &str, extra: &[(&'static str, &str)]) -> Daemon {
        let suffix = random_suffix();
        // The names the stale-object sweep of ./scripts/test recognises.
        let instance = format!("test-{suffix}");
        let network = format!("tenantd-test-{suffix}");
        let listen = format!("127.0.0.1:{}", free_port());
        let workdir = std::env::temp_dir().join(format!("tenantd-{label}-{suffix}"));
        std::fs::create_dir_all(&workdir).expect("creating the test's working folder");
        let mut env = BTreeMap::from([
            ("TENANTD_DATABASE_URL", database_url.to_owned()),
            ("TENANTD_INSTANCE", instance.clone()),
            ("TENANTD_NETWORK", network.clone()),
            ("TENANTD_BASE_DOMAIN", "tenants.test".to_owned()),
            ("TENANTD_DEFAULT_IMAGE", TEST_IMAGE.to_owned()),
            ("TENANTD_CONTAINER_PORT", "8080".to_owned()),
            ("TENANTD_LISTEN", listen.clone()),
            ("TENANTD_DATABASE_OBSERVE_PERIOD", "300ms".to_owned()),
            ("TENANTD_HEALTHCHECK_INTERVAL", "1s".to_owned()),
            ("TENANTD_STOP_GRACE_PERIOD", "2s".to_owned()),
            (
                "TENANTD_BACKUP_DIR",
                workdir.join("backups").display().to_string(),
            ),
        ]);
        for (key, value) in extra {
            env.insert(key, (*value).to_owned());
        }
        Daemon {
            env,
            instance,
            network,
            listen,
            prefix: format!("{label}-{}", &suffix[..4]),
            workdir,
            child: None,
        }
    }

    fn name(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    fn log_path(&self) -> PathBuf {
        self.workdir.join("tenantd.log")
    }

    /// The binary with exactly this installation's configuration: inherited `TENANTD_*` and
    /// `DATABASE_URL` variables are removed so the developer's shell cannot leak in.
    fn command(&self) -> Command {
        let mut command = Command::new(TENANTD);
        for (key, _) in std::env::vars() {
            if key.starts_with("TENANTD_") || key == "DATABASE_URL" {
                command.env_remove(key);
            }
        }
        command.envs(&self.env).env("RUST_LOG", "info,sqlx=warn");
        command
    }

    /// Writes the tenants of `yaml` to the store the way every writer does (validate the whole
    /// file, then apply each), before or while `tenantd serve` runs, and returns
    /// `tenant/NAME created|configured|unchanged` lines. (`tenantd apply` needs a running
    /// server; these tests store specs before the first start, as an admin's tooling would.)
    async fn apply(&self, file: &str, yaml: &str) -> String {
        std::fs::write(self.workdir.join(file), yaml).expect("writing the YAML for the record");
        let tenants = tenantd::resource::parse_documents(yaml).expect("the test YAML parses");
        for tenant in &tenants {
            tenantd::resource::validate(tenant, 2.0).expect("the test tenants are valid");
        }
        let store = Store::connect(&self.env["TENANTD_DATABASE_URL"], 2)
            .await
            .expect("connecting to the test database");
        let mut report = String::new();
        for tenant in &tenants {
            let (outcome, _) = store.apply(tenant).await.expect("applying a test tenant");
            report.push_str(&format!(
                "tenant/{} {}\n",
                tenant.metadata.name,
                outcome.as_str()
            ));
        }
        store.pool().close().await;
        report
    }

    /// Starts `tenantd serve` with its output appended to the log.
    fn start(&mut self) {
        assert!(self.child.is_none(), "one `tenantd serve` at a time");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("opening the daemon log");
        let child = self
            .command()
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("duplicating the log handle"))
            .stderr(log)
            .spawn()
            .expect("spawning tenantd serve");
        self.child = Some(child);
    }

    /// Panics with the log when the process has exited (so waits fail fast, with the reason).
    fn assert_alive(&mut self) {
        let child = self.child.as_mut().expect("tenantd serve was started");
        if let Some(status) = child.try_wait().expect("polling the child") {
            panic!(
                "tenantd serve exited unexpectedly ({status}); its log:\n{}",
                self.log_tail(80)
            );
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap: nothing of the process runs after this.
    fn sigkill(&mut self) {
        let mut child = self.child.take().expect("tenantd serve was started");
        child.kill().expect("sending SIGKILL");
        let status = child.wait().expect("reaping the killed process");
        assert!(
            !status.success(),
            "a SIGKILLed process cannot exit 0: {status}"
        );
    }

    /// SIGTERM through kill(1), then waits up to `within` for the exit.
    fn sigterm(&mut self, within: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("tenantd serve was started");
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("running kill(1)");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("polling the child") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "tenantd did not exit within {within:?} of SIGTERM; its log:\n{}",
                    self.log_tail(80)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A GET to tenantd's own HTTP listener; `None` when nothing answers.
    async fn http_get(&self, path: &str) -> Option<(u16, String)> {
        let response = reqwest::Client::new()
            .get(format!("http://{}{path}", self.listen))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.unwrap_or_default()))
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The containers carrying this installation's instance label, in any state.
    async fn containers(&self, docker: &Docker) -> Vec<ContainerSummary> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![format!("tenantd.instance={}", self.instance)],
            )])),
            ..Default::default()
        };
        docker
            .list_containers(Some(options))
            .await
            .expect("listing containers")
    }

    /// Polls the store until every tenant in `names` is Ready for its current generation;
    /// panics with the statuses and the daemon log after [`READY_TIMEOUT`].
    async fn wait_all_ready(&mut self, store: &Store, names: &[String]) -> Vec<Tenant> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.assert_alive();
            let tenants: Vec<Tenant> = store
                .list()
                .await
                .expect("listing tenants")
                .into_iter()
                .filter(|t| names.contains(&t.metadata.name))
                .collect();
            if tenants.len() == names.len() && tenants.iter().all(is_ready) {
                return tenants;
            }
            if Instant::now() > deadline {
                let statuses: Vec<String> = tenants
                    .iter()
                    .map(|t| format!("{}: {:?}", t.metadata.name, t.status))
                    .collect();
                panic!(
                    "not all of {names:?} became Ready within {READY_TIMEOUT:?}:\n{}\nlog:\n{}",
                    statuses.join("\n"),
                    self.log_tail(80)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Removes this installation's containers and network; idempotent.
    fn remove_engine_objects(&self) {
        let filter = format!("label=tenantd.instance={}", self.instance);
        if let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
        {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["rm", "-f"])
                    .args(&ids)
                    .output();
            }
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.network])
            .output();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.remove_engine_objects();
        if std::thread::panicking() {
            eprintln!(
                "tenantd log kept at {}; its last lines:\n{}",
                self.log_path().display(),
                self.log_tail(40)
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.workdir);
        }
    }
}

/// A private Postgres cluster for one test, through `scripts/lib/postgres.sh`; stopped and
/// deleted when dropped. The shared test cluster is never restarted: other tests use it.
struct PrivateCluster {
    dir: PathBuf,
    port: u16,
    url: String,
}

impl PrivateCluster {
    async fn start() -> PrivateCluster {
        // Short: the library refuses a DIR whose unix socket path would be too long.
        let dir = PathBuf::from(format!("/tmp/tdpg-{}", random_suffix()));
        let port = free_port();
        let mut cluster = PrivateCluster {
            dir,
            port,
            url: String::new(),
        };
        cluster.url = cluster.pg_start().await;
        cluster
    }

    /// `pg_start_private DIR PORT --fast`; returns the `DATABASE_URL` it exports.
    async fn pg_start(&self) -> String {
        let script = "pg_ensure_installed >&2 && pg_start_private \"$1\" \"$2\" --fast >&2 && echo \"$DATABASE_URL\"";
        let out = library(
            script,
            &[&self.dir.display().to_string(), &self.port.to_string()],
        )
        .await;
        out.lines()
            .last()
            .filter(|url| url.starts_with("postgres://"))
            .unwrap_or_else(|| panic!("pg_start_private printed no URL: {out:?}"))
            .to_owned()
    }

    /// A restart as an operator does it: fast shutdown (open connections are ended), a
    /// moment down, then start again on the same port with the same data.
    async fn restart(&self, down_for: Duration) {
        library("pg_stop_private \"$1\"", &[&self.dir.display().to_string()]).await;
        tokio::time::sleep(down_for).await;
        let url = self.pg_start().await;
        assert_eq!(url, self.url, "the cluster comes back with the same URL");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source '{}' && pg_stop_private \"$1\"",
                library_path().display()
            ))
            .arg("bash")
            .arg(&self.dir)
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn library_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lib/postgres.sh")
}

/// Runs `script` in bash after sourcing the Postgres library, with `args` as `$1…`; panics
/// with its output on failure, returns its standard output.
async fn library(script: &str, args: &[&str]) -> String {
    let mut command = tokio::process::Command::new("bash");
    command
        .arg("-c")
        .arg(format!("source '{}' && {script}", library_path().display()))
        .arg("bash")
        .args(args);
    let output = command.output().await.expect("running bash");
    assert!(
        output.status.success(),
        "scripts/lib/postgres.sh: `{script}` {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A port nobody listens on right now (the OS picks it; it stays free in practice).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

fn is_ready(tenant: &Tenant) -> bool {
    tenant.status.as_ref().is_some_and(|s| {
        s.phase == Phase::Ready && Some(s.observed_generation) == tenant.metadata.generation
    })
}

/// A small tenant running the test image, as YAML for `tenantd apply`.
fn tenant_yaml(name: &str, greeting: &str) -> String {
    format!(
        "apiVersion: tenantd/v1\n\
         kind: Tenant\n\
         metadata:\n  name: {name}\n  labels: {{plan: test}}\n\
         spec:\n  image: {TEST_IMAGE}\n  imagePullPolicy: Never\n\
         \x20 resources: {{memory: 96Mi, cpus: \"0.25\", pids: 64}}\n\
         \x20 env: {{GREETING: {greeting}}}\n"
    )
}

/// Drops the tenant roles of `uids` (they are cluster-wide) and the test database.
async fn drop_database(database: &str, uids: &[String]) {
    let root = PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin_url())
        .await
        .expect("connecting to the test cluster");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    )))
    .execute(&root)
    .await
    .expect("dropping the test database");
    for uid in uids {
        // The role owns nothing outside the dropped database, so it can go now.
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP ROLE IF EXISTS \"tenant_user_{uid}\""
        )))
        .execute(&root)
        .await;
    }
    root.close().await;
}

/// The container's address on `network`.
async fn container_ip(docker: &Docker, container: &str, network: &str) -> String {
    let inspect = docker
        .inspect_container(container, None)
        .await
        .unwrap_or_else(|e| panic!("inspecting {container}: {e}"));
    inspect
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.get(network).cloned())
        .and_then(|e| e.ip_address)
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| panic!("{container} has no address on {network}"))
}

/// A GET to the tenant's app (the host reaches bridge networks directly), retried while the
/// app binds its port; returns the status code and body.
async fn app_get(docker: &Docker, name: &str, network: &str, path: &str) -> (u16, String) {
    let ip = container_ip(docker, &format!("tenant-{name}"), network).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let url = format!("http://{ip}:8080{path}");
    let mut last_error = None;
    for _ in 0..50 {
        match client.get(&url).send().await {
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

/// `GET /status` of the tenant's app, which must answer 200; the parsed report.
async fn app_status(docker: &Docker, name: &str, network: &str) -> serde_json::Value {
    let (status, body) = app_get(docker, name, network, "/status").await;
    assert_eq!(status, 200, "{name}: GET /status: {body}");
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{name}: /status is not JSON ({e}): {body}"))
}

/// Asserts the app of `tenant` reports ok, connected as the tenant's role in its schema.
async fn assert_app_ok(docker: &Docker, tenant: &Tenant, network: &str) {
    let name = &tenant.metadata.name;
    let uid = tenant
        .metadata
        .uid
        .as_deref()
        .expect("stored tenants have a uid");
    let report = app_status(docker, name, network).await;
    assert_eq!(report["ok"], true, "{name}: {report}");
    assert_eq!(
        report["user"],
        format!("tenant_user_{uid}"),
        "{name}: {report}"
    );
    assert_eq!(
        report["schema"],
        format!("tenant_{uid}"),
        "{name}: {report}"
    );
}

fn state_of(container: &ContainerSummary) -> String {
    container
        .state
        .map_or_else(|| "unknown".to_owned(), |s| s.to_string())
}

fn tenant_label(container: &ContainerSummary) -> String {
    container
        .labels
        .as_ref()
        .and_then(|l| l.get("tenantd.tenant").cloned())
        .unwrap_or_default()
}

/// tenantd is SIGKILLed on the engine's create event of its first container, while eight
/// tenants are being provisioned three at a time: at that moment not every tenant is Ready (in
/// practice none is, and only the first wave has a role, a schema and a just-created container;
/// the test prints the crash point). Started again, it converges all eight with exactly one running container, one
/// schema and one role each (no duplicates, nothing left in Created), every app reports ok,
/// and SIGTERM then stops tenantd with exit code 0 within seconds while the containers keep
/// running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_provisioning_then_restart_converges_without_duplicates() {
    const TENANTS: usize = 8;
    let docker = Docker::connect_with_defaults()
        .expect("configuring a Docker client")
        .negotiate_version()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the Docker engine is not reachable ({e}); start dockerd, then run ./scripts/test"
            )
        });
    assert!(
        docker.inspect_image(TEST_IMAGE).await.is_ok(),
        "image {TEST_IMAGE} is missing; ./scripts/test builds it (scripts/build-test-image)"
    );
    let (database, url) = fresh_database("crash").await;
    let mut daemon = Daemon::new(
        "crash",
        &url,
        &[
            ("TENANTD_CONCURRENCY", "3"),
            ("TENANTD_RESYNC_PERIOD", "30s"),
        ],
    );
    let names: Vec<String> = (0..TENANTS)
        .map(|i| daemon.name(&format!("t{i}")))
        .collect();
    let yaml: Vec<String> = names.iter().map(|n| tenant_yaml(n, "hello")).collect();
    let applied = daemon.apply("tenants.yaml", &yaml.join("---\n")).await;
    for name in &names {
        assert!(
            applied.contains(&format!("tenant/{name} created")),
            "apply reports each tenant created: {applied}"
        );
    }
    let store = Store::connect(&url, 2)
        .await
        .expect("connecting to the store");

    // The kill point: the engine's create event of the first container of this instance.
    // `since` replays events from before the subscription is established, so none is missed.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut creates = docker.events(Some(EventsOptions {
        since: Some(since),
        filters: Some(HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            ("event".to_owned(), vec!["create".to_owned()]),
            (
                "label".to_owned(),
                vec![format!("tenantd.instance={}", daemon.instance)],
            ),
        ])),
        ..Default::default()
    }));
    let started = Instant::now();
    daemon.start();
    let first = tokio::time::timeout(Duration::from_secs(60), creates.next()).await;
    let first = match first {
        Ok(Some(Ok(event))) => event,
        other => panic!(
            "no container create event within 60s ({other:?}); log:\n{}",
            daemon.log_tail(60)
        ),
    };
    daemon.sigkill();
    drop(creates);
    let killed_after = started.elapsed();

    // The world as the crash left it (the process is reaped: nothing of it writes any more).
    let at_kill = daemon.containers(&docker).await;
    let tenants_at_kill = store.list().await.expect("listing tenants");
    let ready_at_kill = tenants_at_kill.iter().filter(|t| is_ready(t)).count();
    let uids: Vec<String> = tenants_at_kill
        .iter()
        .filter_map(|t| t.metadata.uid.clone())
        .collect();
    let schemas_at_kill: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_namespace WHERE nspname = ANY(SELECT 'tenant_' || u FROM unnest($1::text[]) u)",
    )
    .bind(&uids)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let roles_at_kill: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_roles WHERE rolname = ANY(SELECT 'tenant_user_' || u FROM unnest($1::text[]) u)",
    )
    .bind(&uids)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let credentials_at_kill: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_credentials")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let states: Vec<String> = at_kill
        .iter()
        .map(|c| format!("{}={}", tenant_label(c), state_of(c)))
        .collect();
    println!(
        "crash point: SIGKILL {killed_after:?} after start, on the create event of {:?}; \
         {} of {TENANTS} tenants had a container [{}], {ready_at_kill} Ready, \
         {credentials_at_kill} passwords, {roles_at_kill} roles, {schemas_at_kill} schemas",
        first
            .actor
            .and_then(|a| a.attributes)
            .and_then(|a| a.get("name").cloned()),
        at_kill.len(),
        states.join(", "),
    );
    assert_eq!(uids.len(), TENANTS, "every applied tenant has a uid");
    assert!(
        !at_kill.is_empty(),
        "the kill came after the first container existed"
    );
    assert!(
        ready_at_kill < TENANTS,
        "the crash must hit mid-provisioning: at least one tenant not Ready at kill time"
    );

    let restarted = Instant::now();
    daemon.start();
    let tenants = daemon.wait_all_ready(&store, &names).await;
    println!(
        "all {TENANTS} Ready {:?} after the second start",
        restarted.elapsed()
    );

    // Exactly one container per tenant, running, labelled with the tenant's uid.
    let containers = daemon.containers(&docker).await;
    let mut per_tenant: BTreeMap<String, Vec<&ContainerSummary>> = BTreeMap::new();
    for container in &containers {
        per_tenant
            .entry(tenant_label(container))
            .or_default()
            .push(container);
    }
    assert_eq!(
        per_tenant.keys().cloned().collect::<Vec<_>>(),
        names,
        "containers belong to exactly the applied tenants"
    );
    for tenant in &tenants {
        let name = &tenant.metadata.name;
        let mine = &per_tenant[name];
        assert_eq!(mine.len(), 1, "{name} has exactly one container: {mine:#?}");
        assert_eq!(
            mine[0].state,
            Some(ContainerSummaryStateEnum::RUNNING),
            "{name}'s container runs (none left in Created)"
        );
        assert_eq!(
            mine[0].labels.as_ref().and_then(|l| l.get("tenantd.uid")),
            tenant.metadata.uid.as_ref(),
            "{name}'s container belongs to this incarnation"
        );
        assert_eq!(
            tenant.status.as_ref().and_then(|s| s.container_id.as_ref()),
            mine[0].id.as_ref(),
            "{name}'s status names its one container"
        );
    }

    // Exactly one schema and one role per tenant; no extra tenant objects for these uids.
    let schemas: BTreeSet<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .collect();
    let expected_schemas: BTreeSet<String> = uids.iter().map(|u| format!("tenant_{u}")).collect();
    assert_eq!(
        schemas, expected_schemas,
        "one schema per tenant in this test's database, nothing else"
    );
    let roles: BTreeSet<String> =
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'tenant\\_%'")
            .fetch_all(store.pool())
            .await
            .unwrap()
            .into_iter()
            .filter(|r: &String| uids.iter().any(|u| r.contains(u.as_str())))
            .collect();
    let expected_roles: BTreeSet<String> =
        uids.iter().map(|u| format!("tenant_user_{u}")).collect();
    assert_eq!(roles, expected_roles, "one role per tenant, nothing else");
    let credentials: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_credentials")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        credentials, TENANTS as i64,
        "one stored password per tenant"
    );

    for tenant in &tenants {
        assert_app_ok(&docker, tenant, &daemon.network).await;
    }

    assert_eq!(
        daemon.http_get("/readyz").await,
        Some((200, "ready".to_owned())),
        "the restarted tenantd serves /readyz"
    );

    // Graceful shutdown: SIGTERM, exit 0 within seconds, and the tenants stay up.
    let terminated = Instant::now();
    let status = daemon.sigterm(Duration::from_secs(5));
    println!("exited {status} {:?} after SIGTERM", terminated.elapsed());
    assert!(
        status.success(),
        "tenantd exits 0 on SIGTERM, got {status}; log:\n{}",
        daemon.log_tail(40)
    );
    assert_eq!(
        daemon.http_get("/healthz").await,
        None,
        "the HTTP listener is closed after shutdown"
    );
    let after = daemon.containers(&docker).await;
    assert_eq!(after.len(), TENANTS, "no container removed on shutdown");
    assert!(
        after
            .iter()
            .all(|c| c.state == Some(ContainerSummaryStateEnum::RUNNING)),
        "containers keep running after tenantd stopped: {after:#?}"
    );
    println!("total {:?}", started.elapsed());

    store.pool().close().await;
    drop(daemon);
    drop_database(&database, &uids).await;
}

/// tenantd keeps working through a restart of its Postgres that keeps it down for 12 s (a
/// private cluster, so the shared one is untouched): afterwards its LISTEN connection is back;
/// an env edit made then converges to a new Ready container through the watch (the resync
/// period is ten minutes, so only a NOTIFY, or the resync the watch issues when it reconnects,
/// could have woken it); and a container removed by hand then is recreated and Ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_then_edits_and_drift_still_converge() {
    let docker = Docker::connect_with_defaults()
        .expect("configuring a Docker client")
        .negotiate_version()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the Docker engine is not reachable ({e}); start dockerd, then run ./scripts/test"
            )
        });
    let started = Instant::now();
    let cluster = PrivateCluster::start().await;
    let mut daemon = Daemon::new(
        "pgrestart",
        &cluster.url,
        &[("TENANTD_RESYNC_PERIOD", "10m")],
    );
    let names = vec![daemon.name("a"), daemon.name("b")];
    let yaml: Vec<String> = names.iter().map(|n| tenant_yaml(n, "hello")).collect();
    daemon.apply("tenants.yaml", &yaml.join("---\n")).await;
    let store = Store::connect(&cluster.url, 2)
        .await
        .expect("connecting to the store");
    daemon.start();
    daemon.wait_all_ready(&store, &names).await;
    let before: HashMap<String, String> = daemon
        .containers(&docker)
        .await
        .iter()
        .map(|c| (tenant_label(c), c.id.clone().unwrap_or_default()))
        .collect();
    println!("2 tenants Ready {:?} after the start", started.elapsed());

    // Down for longer than the platform pool's 10 s acquire timeout: the acquires pending in
    // tenantd fail, so its own retry paths run, not only sqlx's transparent reconnect.
    cluster.restart(Duration::from_secs(12)).await;
    let restarted_at = Instant::now();
    daemon.assert_alive();

    // The watch is back: a backend of the new server is LISTENing on tenantd's channel.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%tenantd_tenants%'",
        )
        .fetch_one(store.pool())
        .await
        .expect("the test's own pool reconnects after the restart");
        if listening > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tenantd did not LISTEN again within 30s of the restart; log:\n{}",
            daemon.log_tail(60)
        );
        daemon.assert_alive();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "LISTEN re-established {:?} after the restart",
        restarted_at.elapsed()
    );

    // A spec change after the restart converges: new container, Ready, new env.
    let a = &names[0];
    let mut tenant = store.get(a).await.unwrap().expect("tenant a exists");
    let generation = tenant.metadata.generation;
    tenant
        .spec
        .env
        .insert("GREETING".into(), "after-restart".into());
    resource::validate(&tenant, 2.0).expect("the edited tenant is valid");
    store.apply(&tenant).await.expect("applying the edit");
    let edited_at = Instant::now();
    let edited = daemon.wait_all_ready(&store, std::slice::from_ref(a)).await;
    assert!(
        edited[0].metadata.generation > generation,
        "the edit is a new generation"
    );
    println!("env edit converged in {:?}", edited_at.elapsed());
    let after_edit: HashMap<String, String> = daemon
        .containers(&docker)
        .await
        .iter()
        .map(|c| (tenant_label(c), c.id.clone().unwrap_or_default()))
        .collect();
    assert_ne!(
        after_edit[a], before[a],
        "the env edit recreated the container"
    );
    assert_eq!(
        edited[0]
            .status
            .as_ref()
            .and_then(|s| s.container_id.as_ref()),
        Some(&after_edit[a]),
        "the Ready status is about the new container"
    );
    assert_app_ok(&docker, &edited[0], &daemon.network).await;
    let (_, greeting) = app_get(&docker, a, &daemon.network, "/env?key=GREETING").await;
    assert_eq!(
        greeting, "after-restart",
        "the new container runs with the edited env"
    );

    // Drift after the restart is healed: the container removed by hand comes back.
    let b = &names[1];
    let removed = Command::new("docker")
        .args(["rm", "-f", &format!("tenant-{b}")])
        .output()
        .expect("running docker rm");
    assert!(removed.status.success(), "docker rm -f tenant-{b} failed");
    let removed_at = Instant::now();
    let deadline = Instant::now() + READY_TIMEOUT;
    let healed = loop {
        daemon.assert_alive();
        let containers = daemon.containers(&docker).await;
        let tenant_b = store.get(b).await.unwrap().expect("tenant b exists");
        // Ready again, and the status names the new container (not a stale Ready of the old).
        let recreated = containers.iter().find(|c| {
            tenant_label(c) == *b
                && c.id.as_deref() != Some(before[b].as_str())
                && c.state == Some(ContainerSummaryStateEnum::RUNNING)
        });
        if let Some(new) = recreated
            && is_ready(&tenant_b)
            && tenant_b
                .status
                .as_ref()
                .and_then(|s| s.container_id.as_ref())
                == new.id.as_ref()
        {
            break tenant_b;
        }
        assert!(
            Instant::now() < deadline,
            "tenant-{b} was not recreated and Ready within {READY_TIMEOUT:?}; status {:?}; log:\n{}",
            tenant_b.status,
            daemon.log_tail(60)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("drift healed in {:?}", removed_at.elapsed());
    assert_app_ok(&docker, &healed, &daemon.network).await;
    let mine: Vec<ContainerSummary> = daemon
        .containers(&docker)
        .await
        .into_iter()
        .filter(|c| tenant_label(c) == *b)
        .collect();
    assert_eq!(mine.len(), 1, "exactly one container for {b}: {mine:#?}");
    println!("total {:?}", started.elapsed());

    store.pool().close().await;
    drop(daemon);
    drop(cluster);
}
