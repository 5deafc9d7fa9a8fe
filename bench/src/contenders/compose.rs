//! docker-compose as a contender: a generated compose file with one service per tenant (same
//! image, limits, health check, restart policy and one bridge network), brought up with
//! `docker-compose up -d`, then waited for with the harness's health waiter.
//!
//! Debian's `docker-compose` is Compose v1 (1.29), which has no `up --wait` (a Compose v2
//! flag), so the harness's waiter stands in for it: the same one every contender uses.
//!
//! # Guarantees
//! - The project and its network are named after the attempt (`tenantd-bench-…`) and every
//!   service carries the harness's labels, so `down` and the sweep find all of it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bollard::Docker;
use serde_json::{Value, json};

use crate::change::CHANGED_GREETING;
use crate::docker;
use crate::workload::{OWNER_LABEL, RUN_LABEL, Workload, go_duration};

/// One compose project on disk.
pub struct Project {
    pub name: String,
    n: usize,
    dir: PathBuf,
    file: PathBuf,
}

/// The compose file for `n` tenants; service `changed` (scenario 3) has `GREETING` set to
/// [`CHANGED_GREETING`] instead of the workload's. File format 2.4 because it takes `mem_limit`, `cpus`
/// and `pids_limit` at service level, as `docker run` does (3.x moves them under `deploy`,
/// which Compose v1 ignores without `--compatibility`).
pub fn compose_file(workload: &Workload, attempt: &str, n: usize, changed: Option<usize>) -> Value {
    let health = &workload.healthcheck;
    let services: serde_json::Map<String, Value> = (0..n)
        .map(|i| {
            let mut env = workload.env.clone();
            if changed == Some(i) {
                env.insert("GREETING".into(), CHANGED_GREETING.into());
            }
            let service = json!({
                "image": workload.image,
                "environment": env,
                "labels": {OWNER_LABEL: "1", RUN_LABEL: attempt},
                "mem_limit": workload.memory_cli(),
                // As tenantd and the floor: swap headroom equal to the memory limit.
                "memswap_limit": format!("{}m", (workload.memory_bytes >> 20) * 2),
                "cpus": workload.nano_cpus as f64 / 1e9,
                "pids_limit": workload.pids,
                "restart": "unless-stopped",
                "stop_grace_period": "2s",
                "healthcheck": {
                    "test": health.test,
                    "interval": go_duration(health.interval),
                    "timeout": go_duration(health.timeout),
                    "start_period": go_duration(health.start_period),
                    "retries": health.retries,
                },
            });
            (Project::service(i), service)
        })
        .collect();
    json!({
        "version": "2.4",
        "services": services,
        "networks": {"default": {"name": attempt, "labels": {OWNER_LABEL: "1"}}},
    })
}

/// `COMPOSE_PARALLEL_LIMIT` for `n` services: enough that Compose v1 cannot deadlock, and no
/// more parallel engine calls than its default allows.
///
/// Compose 1.29 runs each service's convergence as a task that holds a slot of one global
/// semaphore (64 by default) and, inside it, runs the container's create and start as another
/// task that needs a slot of the same semaphore. With more than 64 services, 64 outer tasks
/// take every slot and wait for inner ones that never get one: `up -d` hangs forever
/// (docker/compose#5864, #7486, #8161; seen here at N=100). With `n` more slots than its
/// default, the `n` outer tasks (which only wait) can never take them all, and 64 remain for
/// the creates and starts, as by default. Two slots per service instead (2n+1) let 500
/// creates hit the engine at once, and docker-py's 60 s read timeout failed the attempt.
pub fn parallel_limit(n: usize) -> usize {
    n + DEFAULT_PARALLEL_LIMIT
}

/// Compose v1's own `COMPOSE_PARALLEL_LIMIT` default (`compose.const.PARALLEL_LIMIT`).
const DEFAULT_PARALLEL_LIMIT: usize = 64;

impl Project {
    /// Writes the compose file to a fresh directory under the system's temporary directory.
    /// JSON is valid YAML, so serde_json writes it without a YAML emitter.
    pub fn write(workload: &Workload, attempt: &str, n: usize) -> anyhow::Result<Project> {
        let dir = std::env::temp_dir().join(attempt);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let project = Project {
            name: attempt.to_owned(),
            n,
            file: dir.join("docker-compose.yml"),
            dir,
        };
        project.write_file(workload, None)?;
        Ok(project)
    }

    fn write_file(&self, workload: &Workload, changed: Option<usize>) -> anyhow::Result<()> {
        let text =
            serde_json::to_string_pretty(&compose_file(workload, &self.name, self.n, changed))
                .context("a compose file always serializes")?;
        std::fs::write(&self.file, text).with_context(|| format!("writing {}", self.file.display()))
    }

    /// The service name of the `i`th tenant.
    pub fn service(i: usize) -> String {
        format!("t{i}")
    }

    /// Scenario 3's change: the file with service `changed`'s environment changed, then the
    /// timed `up -d` (the waiter is the caller's). Returns when `up -d` returned.
    pub async fn change_env(&self, workload: &Workload, changed: usize) -> anyhow::Result<()> {
        self.write_file(workload, Some(changed))?;
        self.compose(&["up", "--detach"]).await.map(|_| ())
    }

    async fn compose(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all: Vec<&std::ffi::OsStr> = vec![
            "--project-name".as_ref(),
            self.name.as_ref(),
            "--file".as_ref(),
            self.file.as_os_str(),
            "--no-ansi".as_ref(),
        ];
        all.extend(args.iter().map(std::ffi::OsStr::new));
        let env = [
            ("COMPOSE_PARALLEL_LIMIT", parallel_limit(self.n).to_string()),
            // docker-py's read timeout (60 s by default): a busy engine answering a create late
            // is not a failure; the harness's own tool timeout still ends a hung run.
            (
                "COMPOSE_HTTP_TIMEOUT",
                docker::TOOL_TIMEOUT.as_secs().to_string(),
            ),
        ];
        Ok(docker::run_tool_with_env("docker-compose", all, &env).await?)
    }

    /// `up -d`, then waits until all `n` services' containers run and are healthy.
    pub async fn converge(
        &self,
        docker: &Docker,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.compose(&["up", "--detach"]).await?;
        docker::wait_healthy(docker, &format!("{RUN_LABEL}={}", self.name), n, timeout).await?;
        Ok(started.elapsed())
    }

    /// `up -d` again with nothing changed: Compose's no-op.
    pub async fn noop(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.compose(&["up", "--detach"]).await?;
        Ok(started.elapsed())
    }

    /// `down`, then removes what may be left (an interrupted `up`) by label, and the file.
    /// A failed `down` fails the cleanup only if the network is still there afterwards: Docker
    /// 20.10 often refuses `down`'s network removal at N = 500 ("has active endpoints") while
    /// it detaches the removed containers, and the harness's own removal waits that out.
    pub async fn cleanup(&self, docker: &Docker) -> anyhow::Result<()> {
        let down = self
            .compose(&["down", "--timeout", "2", "--remove-orphans"])
            .await;
        docker::remove_containers(docker, &format!("{RUN_LABEL}={}", self.name)).await?;
        let network_gone = docker::remove_network(docker, &self.name).await?;
        let _ = std::fs::remove_dir_all(&self.dir);
        match down {
            Err(e) if !network_gone => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compose_file_has_one_labelled_limited_service_per_tenant() {
        let workload = Workload::new("tenantd-testapp:latest", Duration::from_secs(1));
        let file = compose_file(&workload, "tenantd-bench-x-compose-3-1", 3, Some(2));
        let services = file["services"].as_object().unwrap();
        assert_eq!(services.len(), 3);
        let t0 = &services["t0"];
        assert_eq!(t0["mem_limit"], "96m");
        assert_eq!(t0["cpus"], 0.25);
        assert_eq!(t0["pids_limit"], 64);
        assert_eq!(t0["labels"][RUN_LABEL], "tenantd-bench-x-compose-3-1");
        assert_eq!(t0["healthcheck"]["interval"], "1000ms");
        assert_eq!(t0["environment"]["GREETING"], "hello");
        assert_eq!(services["t2"]["environment"]["GREETING"], CHANGED_GREETING);
        assert_eq!(
            file["networks"]["default"]["name"],
            "tenantd-bench-x-compose-3-1"
        );
    }

    #[test]
    fn compose_gets_a_slot_per_service_beside_its_default_sixty_four() {
        assert_eq!(parallel_limit(10), 74);
        assert_eq!(parallel_limit(100), 164);
        assert_eq!(parallel_limit(500), 564);
    }
}
