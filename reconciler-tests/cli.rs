//! The `tenantd` client commands as a user runs them: the real binary, as a process, against
//! a real API server (with the reconciler running on the real Docker engine and Postgres).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{ADMIN_TOKEN, World};
use tenantd::resource::{self, Tenant};
use tokio::io::AsyncWriteExt;

/// How a command ended.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts exit status 0 and returns standard output.
    fn ok(self) -> String {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self.stdout
    }
}

/// The binary, pointed at one server with one token.
struct Cli {
    url: String,
    token: Option<String>,
}

impl Cli {
    fn new(url: &str) -> Cli {
        Cli {
            url: url.to_owned(),
            token: Some(ADMIN_TOKEN.to_owned()),
        }
    }

    fn with_token(url: &str, token: Option<&str>) -> Cli {
        Cli {
            url: url.to_owned(),
            token: token.map(str::to_owned),
        }
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, None).await
    }

    async fn run_with_input(&self, args: &[&str], input: Option<&str>) -> Run {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantd"));
        command
            .args(args)
            .env("TENANTD_URL", &self.url)
            .env_remove("TENANTD_TOKEN")
            .env_remove("TENANTD_CONFIG")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(token) = &self.token {
            command.env("TENANTD_TOKEN", token);
        }
        let mut child = command.spawn().expect("the tenantd binary runs");
        if let Some(input) = input {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input.as_bytes()).await.unwrap();
            drop(stdin);
        }
        let output = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("tenantd {args:?} did not finish within 90s"))
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A private directory for one test's files.
fn scratch(world: &World) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tenantd-cli-{}", world.prefix));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, file: &str, tenants: &[Tenant]) -> String {
    let text = tenants
        .iter()
        .map(resource::to_yaml)
        .collect::<Vec<_>>()
        .join("---\n");
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// apply prints created, then unchanged, then configured for a label edit; `--wait` shows the
/// progress until Ready; `get` prints the aligned table; `get -o yaml` of everything and
/// `get NAME -o json`, fed back into `apply`, are unchanged; logs shows the app's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_is_idempotent_waits_for_ready_and_get_round_trips() {
    let world = World::start("cliapply").await;
    let cli = Cli::new(&world.serve_api().await);
    let dir = scratch(&world);
    let (a, b) = (world.name("a"), world.name("b"));
    let file = write(
        &dir,
        "tenants.yaml",
        &[world.tenant("a"), world.tenant("b")],
    );

    let out = cli
        .run(&["apply", "-f", &file, "--wait", "--timeout", "60s"])
        .await
        .ok();
    assert!(out.contains(&format!("tenant/{a} created\n")), "{out}");
    assert!(out.contains(&format!("tenant/{b} created\n")), "{out}");
    assert!(
        out.contains(&format!("tenant/{a}  Provisioning")),
        "progress shows the phases: {out}"
    );
    assert!(
        out.contains(&format!("tenant/{a}  ContainerReady=True")),
        "progress shows condition changes: {out}"
    );
    assert!(out.contains(&format!("tenant/{a} Ready\n")), "{out}");
    assert!(out.contains(&format!("tenant/{b} Ready\n")), "{out}");

    let out = cli.run(&["apply", "-f", dir.to_str().unwrap()]).await.ok();
    assert_eq!(
        out,
        format!("tenant/{a} unchanged\ntenant/{b} unchanged\n"),
        "a directory is read like its files"
    );

    let mut relabelled = world.tenant("a");
    relabelled
        .metadata
        .labels
        .insert("plan".into(), "premium".into());
    let file = write(&dir, "tenants.yaml", &[relabelled, world.tenant("b")]);
    let out = cli.run(&["apply", "-f", &file]).await.ok();
    assert_eq!(
        out,
        format!("tenant/{a} configured\ntenant/{b} unchanged\n")
    );

    let table = cli.run(&["get"]).await.ok();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "STATE", "SUBDOMAIN", "IMAGE", "AGE"]
    );
    let column = lines[0].find("PHASE").unwrap();
    for (line, name) in lines[1..].iter().zip([&a, &b]) {
        assert!(line.starts_with(name.as_str()), "{table}");
        assert_eq!(&line[column..column + 5], "Ready", "aligned: {table}");
        assert!(line.contains("tenantd-testapp:latest"), "{table}");
    }
    let wide = cli
        .run(&["get", "-o", "wide", "-l", "plan=premium"])
        .await
        .ok();
    assert!(wide.contains("plan=premium"), "{wide}");
    assert!(!wide.contains(&b), "the selector filters: {wide}");

    let yaml = cli.run(&["get", "-o", "yaml"]).await.ok();
    let out = cli
        .run_with_input(&["apply", "-f", "-"], Some(&yaml))
        .await
        .ok();
    assert_eq!(
        out,
        format!("tenant/{a} unchanged\ntenant/{b} unchanged\n"),
        "get -o yaml round-trips: {yaml}"
    );
    let json = cli.run(&["get", &a, "-o", "json"]).await.ok();
    let json_file = dir.join("a.json");
    std::fs::write(&json_file, &json).unwrap();
    let out = cli
        .run(&["apply", "-f", json_file.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(out, format!("tenant/{a} unchanged\n"), "{json}");
    let list = cli.run(&["get", "-o", "json"]).await.ok();
    let out = cli
        .run_with_input(&["apply", "-f", "-"], Some(&list))
        .await
        .ok();
    assert_eq!(
        out,
        format!("tenant/{a} unchanged\ntenant/{b} unchanged\n"),
        "a TenantList round-trips too"
    );

    let logs = cli.run(&["logs", &a, "--tail", "20"]).await.ok();
    assert!(logs.contains("testapp listening on"), "{logs}");

    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

/// A file with an invalid document is refused whole: every problem is printed as
/// file:line:column with the field, the exit status is 1, and nothing is written — neither for
/// a local rule (memory too small) nor for one only the server knows (more CPUs than the host).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_file_is_refused_whole_with_its_location_and_field() {
    let world = World::start("clibad").await;
    let cli = Cli::new(&world.serve_api().await);
    let dir = scratch(&world);
    let good = write(&dir, "good.yaml", &[world.tenant("good")]);
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        format!(
            "apiVersion: tenantd/v1\nkind: Tenant\nmetadata:\n  name: {}\nspec:\n  image: tenantd-testapp:latest\n  imagePullPolicy: Never\n  resources:\n    memory: 1Mi\n",
            world.name("bad")
        ),
    )
    .unwrap();
    let bad = bad.display().to_string();

    let run = cli.run(&["apply", "-f", &good, "-f", &bad]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "{bad}:9:13: spec.resources.memory: must be at least 64Mi"
        )),
        "{run:#?}"
    );
    assert!(run.stderr.contains("nothing was applied"), "{run:#?}");
    assert_eq!(run.stdout, "", "nothing is reported as applied");

    let unknown = dir.join("typo.yaml");
    std::fs::write(
        &unknown,
        format!(
            "apiVersion: tenantd/v1\nkind: Tenant\nmetadata: {{name: {}}}\nspec:\n  imagePullPolicy: Never\n  stat: Stopped\n",
            world.name("typo")
        ),
    )
    .unwrap();
    let run = cli
        .run(&["apply", "-f", &good, "-f", unknown.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr
            .contains(&format!("{}:6:3: unknown field `stat`", unknown.display())),
        "{run:#?}"
    );

    let cpus = dir.join("cpus.yaml");
    std::fs::write(
        &cpus,
        format!(
            "apiVersion: tenantd/v1\nkind: Tenant\nmetadata: {{name: {}}}\nspec:\n  imagePullPolicy: Never\n  resources:\n    cpus: \"4096\"\n",
            world.name("cpus")
        ),
    )
    .unwrap();
    let run = cli
        .run(&["apply", "-f", &good, "-f", cpus.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "{}:7:11: spec.resources.cpus: must be at most",
            cpus.display()
        )),
        "the server's dry-run refusal is located too: {run:#?}"
    );

    assert!(
        world.ctx.store.list().await.unwrap().is_empty(),
        "no tenant was written"
    );
    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

/// diff exits 0 with no changes; 2 with `-/+` naming spec.env for an env change, and `~` for
/// a labels-only change; 1 for an invalid file; and shows drift (a container removed with
/// `docker rm -f`) in its own section, with its cause, until the reconciler repairs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn diff_shows_replacements_in_place_updates_and_drift_with_exit_codes() {
    let mut world = World::start("clidiff").await;
    let cli = Cli::new(&world.serve_api().await);
    let dir = scratch(&world);
    let name = world.name("d");
    let file = write(&dir, "d.yaml", &[world.tenant("d")]);
    cli.run(&["apply", "-f", &file]).await.ok();
    world.wait_ready(&name).await;

    let run = cli.run(&["diff", "-f", &file]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.starts_with("No changes."), "{run:#?}");

    let mut env_changed = world.tenant("d");
    env_changed
        .spec
        .env
        .insert("GREETING".into(), "bonjour".into());
    let env_file = write(&dir, "env.yaml", &[env_changed]);
    let run = cli.run(&["diff", "-f", &env_file]).await;
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stdout.contains(&format!(
            "-/+ tenant/{name}  # its container will be replaced: spec.env.GREETING forces it"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("~ spec.env.GREETING: \"hello\" -> \"bonjour\"  # forces replacement"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 to replace"), "{}", run.stdout);

    let mut relabelled = world.tenant("d");
    relabelled
        .metadata
        .labels
        .insert("plan".into(), "premium".into());
    let labels_file = write(&dir, "labels.yaml", &[relabelled]);
    let run = cli.run(&["diff", "-f", &labels_file]).await;
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stdout
            .contains(&format!("  ~ tenant/{name}  # will be updated in place")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("~ metadata.labels.plan: \"test\" -> \"premium\"  # in place"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("-/+"), "{}", run.stdout);

    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "apiVersion: tenantd/v1\nkind: [Tenant\n").unwrap();
    let run = cli.run(&["diff", "-f", broken.to_str().unwrap()]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains(&format!("{}:", broken.display())),
        "{run:#?}"
    );

    // Freeze the repair: without the controller, the removal is seen (after a relist) but
    // not undone, so diff can show it.
    world.stop_controller().await;
    world.docker_cli(&["rm", "-f", &format!("tenant-{name}")]);
    world.ctx.engine.relist().await.unwrap();
    let run = cli.run(&["diff", "-f", &file]).await;
    assert_eq!(run.code, 2, "drift is a change: {run:#?}");
    assert!(
        run.stdout
            .contains("Changed outside tenantd (drift the reconciler will repair):"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "! CreateContainer: create the container and start it  # the container is missing"
        ),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("will make these changes"),
        "the spec itself is unchanged: {}",
        run.stdout
    );

    // The stored status still says Ready (nobody wrote it since), so wait for the new
    // container rather than for a condition.
    let removed = world.get(&name).await.unwrap().status.unwrap().container_id;
    world.start_controller();
    world
        .wait_for(&name, Duration::from_secs(60), "repaired", |t| {
            t.status.as_ref().is_some_and(|s| {
                s.phase == tenantd::resource::Phase::Ready && s.container_id != removed
            })
        })
        .await;
    let run = cli.run(&["diff", "-f", &file]).await;
    assert_eq!(run.code, 0, "repaired: {run:#?}");

    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

/// describe shows the spec, the status, the three conditions and the deployment log; wait
/// meets a condition, and a wait that cannot succeed fails at its timeout saying what the
/// tenant is; stop and start move the phase; delete --wait returns once the tenant is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn describe_wait_verbs_and_delete_wait() {
    let world = World::start("clilife").await;
    let cli = Cli::new(&world.serve_api().await);
    let dir = scratch(&world);
    let name = world.name("l");
    let file = write(&dir, "l.yaml", &[world.tenant("l")]);
    cli.run(&["apply", "-f", &file]).await.ok();

    let out = cli
        .run(&["wait", &name, "--for=condition=Ready", "--timeout=60s"])
        .await
        .ok();
    assert!(
        out.ends_with(&format!("tenant/{name} condition met\n")),
        "{out}"
    );

    let out = cli.run(&["describe", &name]).await.ok();
    let has_line = |words: &[&str]| {
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == words)
    };
    for words in [
        &["Name:", name.as_str()][..],
        &["Labels:", "plan=test"],
        &["GREETING=hello"],
        &["Image:", "tenantd-testapp:latest"],
        &["Phase:", "Ready"],
        &["Conditions:"],
        &["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"],
        &["Events:"],
        &["LAST", "SEEN", "TYPE", "ACTION", "MESSAGE"],
    ] {
        assert!(has_line(words), "a line {words:?} in:\n{out}");
    }
    assert!(out.contains("CreateContainer"), "the events: {out}");
    for condition in ["DatabaseReady", "ContainerReady", "Ready"] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(condition) && l.contains("True")),
            "{condition} True in:\n{out}"
        );
    }

    let out = cli.run(&["stop", &name, "--wait"]).await.ok();
    assert!(
        out.starts_with(&format!("tenant/{name} stop requested\n")),
        "{out}"
    );
    assert!(out.ends_with(&format!("tenant/{name} Stopped\n")), "{out}");
    let run = cli
        .run(&["wait", &name, "--for=condition=Ready", "--timeout=2s"])
        .await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "timed out after 2s waiting for the tenant to be condition=Ready: tenant/{name} is Stopped"
        )),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains(&format!("`tenantd describe {name}`")),
        "{run:#?}"
    );
    let out = cli.run(&["start", &name, "--wait"]).await.ok();
    assert!(out.ends_with(&format!("tenant/{name} Ready\n")), "{out}");

    let out = cli
        .run(&["delete", &name, "--wait", "--timeout=60s"])
        .await
        .ok();
    assert!(
        out.starts_with(&format!("tenant/{name} deletion requested")),
        "{out}"
    );
    assert!(out.ends_with(&format!("tenant/{name} deleted\n")), "{out}");
    assert!(world.get(&name).await.is_none(), "gone when --wait returns");
    assert!(world.inspect(&name).await.is_none(), "its container too");
    let run = cli.run(&["describe", &name]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!(
            "tenant {name} not found; `tenantd get` lists the tenants"
        )),
        "{run:#?}"
    );

    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

/// A missing token, a wrong token and an unreachable server each get a message that says
/// what to set; every command's --help shows an example.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auth_and_connection_errors_say_what_to_do() {
    let world = World::start("cliauth").await;
    let url = world.serve_api().await;

    let run = Cli::with_token(&url, None).run(&["get"]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr
            .contains("needs an API token: set TENANTD_TOKEN (or pass --token)"),
        "{run:#?}"
    );
    let run = Cli::with_token(&url, Some("not-the-token-0123456789"))
        .run(&["get"])
        .await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("refused the token"), "{run:#?}");
    assert!(run.stderr.contains("TENANTD_TOKEN"), "{run:#?}");

    // A port nothing listens on (bound, then released).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let run = Cli::new(&format!("http://{closed}")).run(&["get"]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr
            .contains(&format!("cannot reach tenantd at http://{closed}")),
        "{run:#?}"
    );
    assert!(run.stderr.contains("TENANTD_URL"), "{run:#?}");

    for command in [
        "apply", "diff", "get", "describe", "delete", "wait", "logs", "start", "stop", "restart",
    ] {
        let out = Cli::new(&url).run(&[command, "--help"]).await.ok();
        assert!(
            out.contains("Examples:") && out.contains(&format!("tenantd {command} ")),
            "`tenantd {command} --help` explains with an example:\n{out}"
        );
    }
    world.cleanup().await;
}
