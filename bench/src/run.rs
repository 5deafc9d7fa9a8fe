//! The benchmark loop: for each size, calibrate the floor, then repeat every contender's
//! attempt (contenders interleaved within a repetition), recording samples and cleaning up
//! after each attempt, and render the report.
//!
//! # Guarantees
//! - Every attempt starts from an engine without the harness's containers and ends with its
//!   own removed, whether it succeeded or not.
//! - A failing contender does not stop the run: the failure becomes a note in the report and
//!   the contender has fewer samples (the table says how many).

use std::time::Duration;

use anyhow::Context as _;
use bollard::Docker;

use crate::cleanup::Janitor;
use crate::contenders::compose::Project;
use crate::contenders::swarm::{self, Swarm};
use crate::contenders::tenantd::Tenantd;
use crate::contenders::{Contender, floor};
use crate::heal;
use crate::machine::{Machine, load_average};
use crate::report::{self, Results, Scenario, Settings};
use crate::workload::{RUN_LABEL, RunNames, Workload, go_duration};

/// What to run, from the command line.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sizes: Vec<usize>,
    pub runs: usize,
    pub scenarios: Vec<Scenario>,
    pub contenders: Vec<Contender>,
    pub image: String,
    pub health_interval: Duration,
    pub idle: Duration,
    pub floor_parallelism: Option<usize>,
    pub tenantd_concurrency: usize,
    pub timeout: Duration,
    pub cluster_url: String,
    pub command: String,
    /// Scenario 5's size (requests per connection, warm-up, timed PUTs).
    pub api_load: crate::api_load::Load,
    /// Scenario 7's signups per attempt.
    pub signups: usize,
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn say(line: impl AsRef<str>) {
    eprintln!("==> {}", line.as_ref());
}

/// Runs the plan and returns the report's markdown.
pub async fn run(plan: &Plan, docker: &Docker, janitor: &Janitor) -> anyhow::Result<String> {
    docker.inspect_image(&plan.image).await.with_context(|| {
        format!(
            "image {} is missing; scripts/build-test-image builds it",
            plan.image
        )
    })?;
    let started = now();
    let load_before = load_average();
    let machine = Machine::describe(docker, &plan.cluster_url).await;
    say(format!(
        "machine: {} ({} cores, {}), Docker {}, docker-compose {}, PostgreSQL {}, load {:.2}",
        machine.cpu,
        machine.cores,
        machine.memory,
        machine.docker,
        machine.compose,
        machine.postgres,
        load_before.unwrap_or(f64::NAN)
    ));
    let workload = Workload::new(&plan.image, plan.health_interval);
    let names = RunNames::new();
    let mut results = Results::default();
    let mut contenders = plan.contenders.clone();
    contenders.sort();
    contenders.dedup();

    let swarm = if contenders.contains(&Contender::Swarm) {
        match Swarm::join(janitor).await {
            Ok(swarm) => Some(swarm),
            Err(e) => {
                say(format!("swarm: skipped: {e:#}"));
                results
                    .notes
                    .push(format!("Docker Swarm did not run: {e:#}"));
                None
            }
        }
    } else {
        None
    };

    for &n in &plan.sizes {
        let parallelism = match plan.floor_parallelism {
            Some(p) => p,
            None if contenders.contains(&Contender::Floor)
                || contenders.contains(&Contender::Swarm) =>
            {
                say(format!("N={n}: calibrating the floor's parallelism"));
                let (best, timings) =
                    floor::calibrate(docker, &workload, &names.attempt("calib", n, 0), n).await?;
                let listed: Vec<String> = timings
                    .iter()
                    .map(|(p, took)| format!("{p}: {:.2} s", took.as_secs_f64()))
                    .collect();
                say(format!(
                    "N={n}: floor parallelism {best} (create+start: {})",
                    listed.join(", ")
                ));
                results.notes.push(format!(
                    "N={n}: the floor's parallelism is {best}, the fastest create+start of N containers among {} (Swarm's CLI calls use it too).",
                    listed.join(", ")
                ));
                best
            }
            None => 8,
        };
        for repetition in 1..=plan.runs {
            for &contender in &contenders {
                if contender == Contender::Swarm && swarm.is_none() {
                    continue;
                }
                let attempt = names.attempt(contender.as_str(), n, repetition);
                let label = format!(
                    "N={n} run {repetition}/{} {}",
                    plan.runs,
                    contender.as_str()
                );
                let outcome = match contender {
                    Contender::Tenantd => {
                        tenantd_attempt(
                            plan,
                            docker,
                            janitor,
                            &workload,
                            &names,
                            &attempt,
                            n,
                            repetition,
                            &mut results,
                        )
                        .await
                    }
                    Contender::Compose => {
                        compose_attempt(plan, docker, &workload, &attempt, n, &mut results).await
                    }
                    Contender::Swarm => {
                        let outcome = async {
                            let took = swarm::converge(
                                docker,
                                &workload,
                                &attempt,
                                n,
                                parallelism,
                                plan.timeout,
                            )
                            .await?;
                            heal_attempt(
                                plan,
                                docker,
                                &mut results,
                                n,
                                Contender::Swarm,
                                &attempt,
                                SWARM_SERVICE_LABEL,
                            )
                            .await?;
                            anyhow::Ok(took)
                        }
                        .await;
                        let cleaned = swarm::cleanup(docker, &attempt).await;
                        outcome.and_then(|took| cleaned.map(|()| took)).map(|took| {
                            record_converge(plan, &mut results, n, contender, took);
                            format!("converged in {:.2} s", took.as_secs_f64())
                        })
                    }
                    Contender::Floor => {
                        let outcome = floor::converge(
                            docker,
                            &workload,
                            &attempt,
                            n,
                            parallelism,
                            plan.timeout,
                        )
                        .await;
                        let cleaned = floor::cleanup(docker, &attempt).await;
                        outcome.and_then(|took| cleaned.map(|()| took)).map(|took| {
                            record_converge(plan, &mut results, n, contender, took);
                            format!("converged in {:.2} s", took.as_secs_f64())
                        })
                    }
                };
                match outcome {
                    Ok(summary) => say(format!("{label}: {summary}")),
                    Err(e) => {
                        say(format!("{label}: FAILED: {e:#}"));
                        results.notes.push(format!(
                            "{} failed at N={n}, run {repetition}: {e:#}",
                            contender.title()
                        ));
                    }
                }
            }
        }
    }
    if let Some(swarm) = swarm {
        swarm.leave(janitor).await?;
    }
    let limits = format!(
        "memory {} MiB (swap as much again), {} CPU, {} pids",
        workload.memory_bytes >> 20,
        workload.cpus_decimal(),
        workload.pids
    );
    let health = &workload.healthcheck;
    let settings = Settings {
        command: plan.command.clone(),
        sizes: plan.sizes.clone(),
        runs: plan.runs,
        image: plan.image.clone(),
        limits,
        health: format!(
            "interval {}, timeout {}, start period {}, retries {}",
            go_duration(health.interval),
            go_duration(health.timeout),
            go_duration(health.start_period),
            health.retries
        ),
        tenantd_concurrency: plan.tenantd_concurrency,
        idle_window: plan.idle,
        started,
        finished: now(),
        load_before,
        load_after: load_average(),
    };
    Ok(report::markdown(&machine, &settings, &results))
}

/// The label Swarm puts on a task's container: the service, which a replacement keeps.
const SWARM_SERVICE_LABEL: &str = "com.docker.swarm.service.name";

/// Runs the self-healing scenario on a converged attempt, if it is selected.
async fn heal_attempt(
    plan: &Plan,
    docker: &Docker,
    results: &mut Results,
    n: usize,
    contender: Contender,
    attempt: &str,
    key_label: &str,
) -> anyhow::Result<()> {
    if !plan.scenarios.contains(&Scenario::Heal) {
        return Ok(());
    }
    let k = heal::victims_for(n);
    let healing = heal::remove_and_watch(
        docker,
        &format!("{RUN_LABEL}={attempt}"),
        key_label,
        k,
        plan.timeout,
    )
    .await
    .context("self-healing")?;
    let all = healing.all_healthy().unwrap_or(0.0);
    say(format!(
        "N={n} {}: {k} removed, all healthy again after {all:.2} s",
        contender.as_str()
    ));
    results.record(Scenario::Heal, n, contender, Duration::from_secs_f64(all));
    results
        .healing
        .entry((n, contender))
        .or_default()
        .push(healing);
    Ok(())
}

fn record_converge(
    plan: &Plan,
    results: &mut Results,
    n: usize,
    contender: Contender,
    took: Duration,
) {
    if plan.scenarios.contains(&Scenario::Converge) {
        results.record(Scenario::Converge, n, contender, took);
    }
}

#[allow(clippy::too_many_arguments)] // One attempt's context; a struct would only rename it.
async fn tenantd_attempt(
    plan: &Plan,
    docker: &Docker,
    janitor: &Janitor,
    workload: &Workload,
    names: &crate::workload::RunNames,
    attempt: &str,
    n: usize,
    repetition: usize,
    results: &mut Results,
) -> anyhow::Result<String> {
    let tenant_prefix = format!("b{}-{repetition}", names.id);
    let mut tenantd = Tenantd::start(
        &plan.cluster_url,
        workload,
        attempt,
        &tenant_prefix,
        plan.tenantd_concurrency,
        janitor,
    )
    .await?;
    let outcome = async {
        let took = tenantd.converge(workload, n, plan.timeout).await?;
        record_converge(plan, results, n, Contender::Tenantd, took);
        let mut summary = format!("converged (all Ready) in {:.2} s", took.as_secs_f64());
        if plan.scenarios.contains(&Scenario::Noop) {
            // Let the last reconciles and their events settle before measuring idleness.
            tokio::time::sleep(Duration::from_secs(2)).await;
            if repetition == 1 && !plan.idle.is_zero() {
                say(format!("N={n}: watching the converged tenantd idle for {:?}", plan.idle));
                let idle = tenantd.idle(plan.idle).await?;
                summary.push_str(&format!(
                    ", idle {:.3} CPU s in {:.0} s",
                    idle.cpu_seconds,
                    idle.window.as_secs_f64()
                ));
                results.idle.insert(n, idle);
            }
            let pass = tenantd.resync_pass().await?;
            summary.push_str(&format!(
                ", resync pass {:.1} ms ({} Docker reads, {} writes; {} catalog reads, {} writes; store written: {})",
                pass.took.as_secs_f64() * 1000.0,
                pass.engine.reads,
                pass.engine.writes,
                pass.database.reads,
                pass.database.writes,
                pass.store_written
            ));
            results.record(Scenario::Noop, n, Contender::Tenantd, pass.took);
            results.passes.entry(n).or_default().push(pass);
        }
        if plan.scenarios.contains(&Scenario::Heal) {
            if !tenantd.is_running() {
                tenantd.start_controller(janitor).await?;
                // Its first pass over the converged world, before anything is removed.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            heal_attempt(plan, docker, results, n, Contender::Tenantd, attempt, tenantd::engine::labels::TENANT).await?;
        }
        summary.push_str(&http_attempt(plan, docker, janitor, &mut tenantd, n, results).await?);
        anyhow::Ok(summary)
    }
    .await;
    let cleaned = tenantd.teardown(docker).await;
    let summary = outcome?;
    cleaned?;
    Ok(summary)
}

/// Scenarios 5 (API under load) and 7 (signup to Ready) on a converged tenantd, if selected:
/// both talk to its HTTP app. Returns the summary's addition.
async fn http_attempt(
    plan: &Plan,
    docker: &Docker,
    janitor: &Janitor,
    tenantd: &mut Tenantd,
    n: usize,
    results: &mut Results,
) -> anyhow::Result<String> {
    let api = plan.scenarios.contains(&Scenario::Api);
    let signup = plan.scenarios.contains(&Scenario::Signup);
    if !api && !signup {
        return Ok(String::new());
    }
    if !tenantd.is_running() {
        tenantd.start_controller(janitor).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let base = tenantd.serve_http(janitor).await?;
    let mut summary = String::new();
    if api {
        let names = tenantd.store().names().await.context("listing tenants")?;
        let run = crate::api_load::measure(&base, tenantd.admin_token(), &names, plan.api_load)
            .await
            .context("the API under load")?;
        let p99 = |s: &[f64]| crate::stats::percentile(s, 99.0);
        let ms =
            |s: Option<f64>| s.map_or_else(|| "n/a".into(), |s| format!("{:.1} ms", s * 1000.0));
        summary.push_str(&format!(
            ", API: {} requests at {:.0}/s, {} failed, PUT p99 {}, GET p99 {}, PUT returned → reconcile started p99 {} ({} timed)",
            run.put.count() + run.get.count(),
            run.requests_per_second(),
            run.errors(),
            ms(p99(&run.put.latencies)),
            ms(p99(&run.get.latencies)),
            ms(p99(&run.after_return)),
            run.after_return.len(),
        ));
        for (scenario, samples) in [
            (Scenario::Api, &run.put.latencies),
            (Scenario::ApiGet, &run.get.latencies),
            (Scenario::ApiReconcileStart, &run.after_return),
        ] {
            // Pushed as seconds, not through `record`: the reconcile-start p99 may be negative.
            if let Some(p) = p99(samples) {
                results
                    .samples
                    .entry((scenario, n, Contender::Tenantd))
                    .or_default()
                    .push(p);
            }
        }
        results.api.entry(n).or_default().push(run);
    }
    if signup {
        let timeout = plan.timeout.min(Duration::from_secs(120));
        let mut took = Vec::new();
        for subdomain in crate::signup::subdomains(tenantd.tenant_prefix(), plan.signups) {
            let email = format!("{subdomain}@example.org");
            let t = crate::signup::sign_up(&base, tenantd.store(), &email, &subdomain, timeout)
                .await
                .with_context(|| format!("signing up {subdomain} through the wizard"))?;
            let reference = format!("{}-0", tenantd.tenant_prefix());
            crate::signup::check_alike(docker, &tenantd.config.instance, &subdomain, &reference)
                .await?;
            took.push(t.as_secs_f64());
        }
        if let Some(median) = crate::stats::Summary::of(&took).map(|s| s.median) {
            results.record(
                Scenario::Signup,
                n,
                Contender::Tenantd,
                Duration::from_secs_f64(median),
            );
            summary.push_str(&format!(
                ", signup to Ready median {median:.2} s of {}",
                took.len()
            ));
        }
        results.signups.entry(n).or_default().push(took);
    }
    Ok(summary)
}

async fn compose_attempt(
    plan: &Plan,
    docker: &Docker,
    workload: &Workload,
    attempt: &str,
    n: usize,
    results: &mut Results,
) -> anyhow::Result<String> {
    let project = Project::write(workload, attempt, n)?;
    let outcome = async {
        let took = project.converge(docker, n, plan.timeout).await?;
        record_converge(plan, results, n, Contender::Compose, took);
        let mut summary = format!("converged in {:.2} s", took.as_secs_f64());
        if plan.scenarios.contains(&Scenario::Noop) {
            let noop = project.noop().await?;
            results.record(Scenario::Noop, n, Contender::Compose, noop);
            summary.push_str(&format!(", no-op `up -d` {:.2} s", noop.as_secs_f64()));
        }
        anyhow::Ok(summary)
    }
    .await;
    let cleaned = project.cleanup(docker).await;
    let summary = outcome?;
    cleaned?;
    Ok(summary)
}
