//! The engine's floor: a minimal bollard program that creates a bridge network, then creates
//! and starts N containers with bounded parallelism and waits until all run and are healthy.
//! No database, no state, no retries: nothing a real tool could skip.
//!
//! # Guarantees
//! - Each container's create request is tenantd's own ([`DesiredContainer::create_body`]:
//!   same image, limits, swap, pids, restart policy, health check, network alias), with the
//!   harness's labels in place of tenantd's, so the floor differs from tenantd only in
//!   what tenantd does around the engine calls.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bollard::Docker;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::CreateContainerOptions;
use futures::StreamExt;
use tenantd::engine::DesiredContainer;

use crate::docker;
use crate::workload::{OWNER_LABEL, RUN_LABEL, Workload};

/// The label with a floor container's index: the self-healing scenario's identity, which a
/// replacement keeps.
pub const INDEX_LABEL: &str = "tenantd-bench.floor-index";

/// The parallelism levels [`calibrate`] tries.
pub const CANDIDATES: [usize; 5] = [2, 4, 8, 16, 32];

fn desired(workload: &Workload, attempt: &str, i: usize) -> DesiredContainer {
    DesiredContainer {
        name: format!("{attempt}-{i}"),
        tenant: String::new(),
        uid: String::new(),
        instance: String::new(),
        image: workload.image.clone(),
        image_id: String::new(),
        env: workload.env.clone(),
        labels: BTreeMap::new(),
        memory_bytes: workload.memory_bytes,
        nano_cpus: workload.nano_cpus,
        pids: workload.pids,
        network: attempt.to_owned(),
        healthcheck: workload.healthcheck.clone(),
        stop_grace_period: Duration::from_secs(2),
        restarted_at: None,
    }
}

async fn create_network(docker: &Docker, name: &str) -> anyhow::Result<()> {
    let request = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".into()),
        labels: Some(HashMap::from([(OWNER_LABEL.to_owned(), "1".to_owned())])),
        ..Default::default()
    };
    docker
        .create_network(request)
        .await
        .with_context(|| format!("creating network {name}"))?;
    Ok(())
}

/// Creates and starts the `i`th container (the floor's whole job for one tenant).
pub async fn create_and_start(
    docker: &Docker,
    workload: &Workload,
    attempt: &str,
    i: usize,
) -> anyhow::Result<()> {
    let wanted = desired(workload, attempt, i);
    let mut body = wanted.create_body();
    body.labels = Some(HashMap::from([
        (OWNER_LABEL.to_owned(), "1".to_owned()),
        (RUN_LABEL.to_owned(), attempt.to_owned()),
        (INDEX_LABEL.to_owned(), i.to_string()),
    ]));
    let options = CreateContainerOptions {
        name: Some(wanted.name.clone()),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(options), body)
        .await
        .with_context(|| format!("creating container {}", wanted.name))?;
    docker
        .start_container(&created.id, None)
        .await
        .with_context(|| format!("starting container {}", wanted.name))?;
    Ok(())
}

/// Creates and starts `n` containers (`parallelism` at a time) on a new network and returns
/// once all are running and healthy; the time includes creating the network, as tenantd's does.
pub async fn converge(
    docker: &Docker,
    workload: &Workload,
    attempt: &str,
    n: usize,
    parallelism: usize,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    start_all(docker, workload, attempt, n, parallelism).await?;
    docker::wait_healthy(docker, &format!("{RUN_LABEL}={attempt}"), n, timeout).await?;
    Ok(started.elapsed())
}

async fn start_all(
    docker: &Docker,
    workload: &Workload,
    attempt: &str,
    n: usize,
    parallelism: usize,
) -> anyhow::Result<()> {
    create_network(docker, attempt).await?;
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(|i| create_and_start(docker, workload, attempt, i))
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// Picks the parallelism for `n` containers: for each of [`CANDIDATES`] (up to `n`), times
/// create+start of `n` containers (not the health wait, which parallelism cannot shorten),
/// removes them, and returns the fastest with every timing for the report.
pub async fn calibrate(
    docker: &Docker,
    workload: &Workload,
    attempt_prefix: &str,
    n: usize,
) -> anyhow::Result<(usize, Vec<(usize, Duration)>)> {
    let mut timings = Vec::new();
    for &p in CANDIDATES.iter().filter(|&&p| p <= n.max(2)) {
        let attempt = format!("{attempt_prefix}-p{p}");
        let started = Instant::now();
        let result = start_all(docker, workload, &attempt, n, p).await;
        let took = started.elapsed();
        cleanup(docker, &attempt).await?;
        result?;
        timings.push((p, took));
    }
    let best = timings
        .iter()
        .min_by_key(|(_, took)| *took)
        .map(|(p, _)| *p)
        .context("at least one parallelism level is tried")?;
    Ok((best, timings))
}

/// Removes the attempt's containers and network.
pub async fn cleanup(docker: &Docker, attempt: &str) -> anyhow::Result<()> {
    docker::remove_containers(docker, &format!("{RUN_LABEL}={attempt}")).await?;
    docker::remove_network(docker, attempt).await?;
    Ok(())
}
