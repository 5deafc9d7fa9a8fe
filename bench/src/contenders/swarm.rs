//! Docker Swarm as a contender: one replicated service per tenant on a single-node swarm,
//! created with `docker service create` (same image, limits, health check; the harness's
//! labels on the service and its containers), waited for with the harness's health waiter.
//!
//! # Guarantees
//! - The engine joins a swarm only if it is in none ([`Swarm::join`] runs `swarm init`), and
//!   [`Swarm::leave`] leaves only a swarm this harness created; an existing swarm is used
//!   and left alone.
//! - Services and the network are named `tenantd-bench-…` and labelled; cleanup removes
//!   only those.
//!
//! # Caveats
//! - Swarm services cannot join a local bridge network, so they get a swarm-scoped
//!   attachable overlay network on this one node; Swarm also has no swap limit option.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bollard::Docker;
use futures::StreamExt;

use crate::cleanup::Janitor;
use crate::docker::{self, run_tool};
use crate::workload::{NAME_PREFIX, OWNER_LABEL, RUN_LABEL, Workload, go_duration};

/// The engine's membership in a swarm, for the length of a benchmark.
pub struct Swarm {
    /// Whether this harness ran `swarm init`, and so must leave again.
    created: bool,
}

impl Swarm {
    /// Makes the engine a single-node swarm manager unless it is in a swarm already.
    pub async fn join(janitor: &Janitor) -> anyhow::Result<Swarm> {
        let state = run_tool("docker", ["info", "--format", "{{.Swarm.LocalNodeState}}"]).await?;
        match state.as_str() {
            "inactive" => {
                // `swarm init` also creates this bridge and `leave` keeps it: remember whether
                // it was there, so that leaving restores the engine as found.
                let gwbridge = !run_tool("docker", ["network", "ls", "--format", "{{.Name}}"])
                    .await?
                    .lines()
                    .any(|name| name == "docker_gwbridge");
                // Loopback: a single node needs no reachable address, and naming one avoids
                // init's refusal on hosts with several interfaces.
                run_tool("docker", ["swarm", "init", "--advertise-addr", "127.0.0.1"])
                    .await
                    .context("docker swarm init")?;
                janitor.swarm_created(gwbridge);
                Ok(Swarm { created: true })
            }
            "active" => {
                let manager = run_tool(
                    "docker",
                    ["info", "--format", "{{.Swarm.ControlAvailable}}"],
                )
                .await?;
                anyhow::ensure!(
                    manager == "true",
                    "the engine is a swarm worker, not a manager; the Swarm contender needs a manager (or no swarm)"
                );
                Ok(Swarm { created: false })
            }
            other => anyhow::bail!(
                "the engine's swarm state is {other:?}; the Swarm contender needs \"inactive\" or \"active\""
            ),
        }
    }

    /// Leaves the swarm if [`Swarm::join`] created it.
    pub async fn leave(self, janitor: &Janitor) -> anyhow::Result<()> {
        if self.created {
            janitor.leave_swarm().await?;
        }
        Ok(())
    }
}

/// `swarm leave --force`, then removes `docker_gwbridge` when `remove_gwbridge` says that
/// `swarm init` created it.
pub async fn leave_swarm(remove_gwbridge: bool) -> anyhow::Result<()> {
    run_tool("docker", ["swarm", "leave", "--force"])
        .await
        .context("docker swarm leave --force")?;
    if remove_gwbridge {
        // The tasks' containers leave the bridge a little after `leave` returns (seen with
        // 100 services): wait out "has active endpoints" for up to about 30 s.
        let mut tries = 0;
        loop {
            match run_tool("docker", ["network", "rm", "docker_gwbridge"]).await {
                Err(e) if tries < 60 && e.to_string().contains("active endpoints") => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                result => {
                    result.context("removing docker_gwbridge, which swarm init created")?;
                    break;
                }
            }
        }
    }
    Ok(())
}

fn service_args(workload: &Workload, attempt: &str, i: usize) -> Vec<String> {
    let health = &workload.healthcheck;
    let mut args: Vec<String> = [
        "service",
        "create",
        "--detach",
        // The image exists only on this engine; asking a registry for its digest would fail.
        "--no-resolve-image",
        "--quiet",
    ]
    .map(String::from)
    .to_vec();
    let owner = format!("{OWNER_LABEL}=1");
    let run = format!("{RUN_LABEL}={attempt}");
    args.extend([
        "--name".into(),
        format!("{attempt}-{i}"),
        "--label".into(),
        owner.clone(),
        "--container-label".into(),
        owner,
        "--container-label".into(),
        run,
        "--network".into(),
        attempt.to_owned(),
        "--limit-memory".into(),
        workload.memory_cli(),
        "--limit-cpu".into(),
        workload.cpus_decimal(),
        "--limit-pids".into(),
        workload.pids.to_string(),
        "--stop-grace-period".into(),
        "2s".into(),
        "--health-interval".into(),
        go_duration(health.interval),
        "--health-timeout".into(),
        go_duration(health.timeout),
        "--health-start-period".into(),
        go_duration(health.start_period),
        "--health-retries".into(),
        health.retries.to_string(),
    ]);
    for (key, value) in &workload.env {
        args.extend(["--env".into(), format!("{key}={value}")]);
    }
    // The image's HEALTHCHECK command is kept (the same as `HEALTH_TEST`); only timings change.
    args.push(workload.image.clone());
    args
}

/// The overlay network's subnet for `n` services: every service takes two addresses (its
/// virtual IP and its task's), so Swarm's default /24 holds about 125 services; at N=500 the
/// rest never got an address and the attempt waited out its timeout. A /24 at least, larger
/// as N needs, from 10.221.0.0, which must be free on this engine.
pub fn overlay_subnet(n: usize) -> String {
    let addresses = 2 * n + 16;
    let host_bits = addresses.next_power_of_two().trailing_zeros().max(8);
    format!("10.221.0.0/{}", 32 - host_bits)
}

/// Creates the network and `n` services (`parallelism` CLI calls at a time) and returns once
/// every service's container runs and is healthy.
pub async fn converge(
    docker: &Docker,
    workload: &Workload,
    attempt: &str,
    n: usize,
    parallelism: usize,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    run_tool(
        "docker",
        [
            "network",
            "create",
            "--driver",
            "overlay",
            "--attachable",
            "--subnet",
            &overlay_subnet(n),
            "--label",
            &format!("{OWNER_LABEL}=1"),
            attempt,
        ],
    )
    .await
    .context("creating the swarm network")?;
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(|i| async move {
            run_tool("docker", service_args(workload, attempt, i))
                .await
                .with_context(|| format!("docker service create {attempt}-{i}"))?;
            Ok(())
        })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<()>>()?;
    docker::wait_healthy(docker, &format!("{RUN_LABEL}={attempt}"), n, timeout).await?;
    Ok(started.elapsed())
}

/// Removes the attempt's services, waits for their containers to go, removes the network.
pub async fn cleanup(docker: &Docker, attempt: &str) -> anyhow::Result<()> {
    remove_services(&format!("{attempt}-")).await?;
    let label = format!("{RUN_LABEL}={attempt}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !docker::container_ids(docker, &label).await?.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Swarm removes task containers itself; force what is left after the deadline.
    docker::remove_containers(docker, &label).await?;
    docker::remove_network(docker, attempt).await?;
    Ok(())
}

/// Removes the harness's services (labelled [`OWNER_LABEL`]) whose name starts with
/// `name_prefix`, itself one of the harness's names.
pub async fn remove_services(name_prefix: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        name_prefix.starts_with(NAME_PREFIX),
        "only the harness's own services are removed"
    );
    let filter = format!("label={OWNER_LABEL}=1");
    let listed = run_tool(
        "docker",
        [
            "service",
            "ls",
            "--filter",
            &filter,
            "--format",
            "{{.Name}}",
        ],
    )
    .await?;
    let names: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|name| name.starts_with(name_prefix))
        .collect();
    for chunk in names.chunks(50) {
        let mut args = vec!["service", "rm"];
        args.extend(chunk);
        run_tool("docker", args).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlay_has_two_addresses_per_service_and_at_least_a_slash_24() {
        assert_eq!(overlay_subnet(10), "10.221.0.0/24");
        assert_eq!(overlay_subnet(100), "10.221.0.0/24");
        assert_eq!(overlay_subnet(200), "10.221.0.0/23");
        assert_eq!(overlay_subnet(500), "10.221.0.0/22");
        assert_eq!(overlay_subnet(1000), "10.221.0.0/21");
    }
}
