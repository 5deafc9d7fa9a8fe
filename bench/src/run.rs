//! The benchmark loop: for each size, calibrate the floor, then repeat every contender's
//! attempt (contenders interleaved within a repetition), recording samples and cleaning up
//! after each attempt, and render the report.
//!
//! # Guarantees
//! - Every attempt starts from an engine without the harness's containers and ends with its
//!   own removed, whether it succeeded or not.
//! - A failing contender does not stop the run: the failure becomes a note in the report and
//!   the contender has fewer samples (the table says how many).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bollard::Docker;

use crate::change::{self, CHANGED_GREETING, Change, Snapshot};
use crate::cleanup::Janitor;
use crate::contenders::compose::Project;
use crate::contenders::swarm::{self, Swarm};
use crate::contenders::tenantd::{Memory, Tenantd, engine_delta};
use crate::contenders::{Contender, floor};
use crate::docker::StartWatch;
use crate::heal;
use crate::machine::{Machine, load_average};
use crate::report::{self, Results, Scenario, Settings};
use crate::stats::Summary;
use crate::workload::{RUN_LABEL, RunNames, Workload, go_duration};

/// What to run, from the command line.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sizes: Vec<usize>,
    /// Scenario 6: one more N that tenantd alone runs (converge and no-op).
    pub scale: Option<usize>,
    pub runs: usize,
    /// `--runs` was given: every size runs that often, with every scenario.
    pub runs_asked: bool,
    pub scenarios: Vec<Scenario>,
    pub contenders: Vec<Contender>,
    pub image: String,
    /// `None`: [`health_interval_for`] picks one per N.
    pub health_interval: Option<Duration>,
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

/// From this N up, sizes run once with converge and no-op only (see [`run`]).
const LARGE: usize = 500;

/// Calibrating the floor on more containers than this says nothing new and costs minutes.
const CALIBRATION_MAX: usize = 100;

/// About this many health checks a second across all N containers: every check is a
/// `docker exec`, and on 2 cores 20 a second (100 containers at 5 s) kept the engine busy
/// with little else (load average 27 in a trial run).
const HEALTH_CHECKS_PER_SECOND: usize = 5;

/// tenantd's resync passes per attempt (scenario 2); the attempt's figure is their median.
pub const PASSES_PER_ATTEMPT: usize = 5;

/// The health-check interval for N tenants: the one asked for, or N / 5 seconds (at least
/// 1 s), so that the checks do not become the benchmark. No upper bound: at 1000 tenants a
/// 60 s interval (17 checks a second) drove the load to 50 and made checks time out, so
/// containers turned unhealthy and the converge never finished.
pub fn health_interval_for(asked: Option<Duration>, n: usize) -> Duration {
    asked.unwrap_or_else(|| Duration::from_secs((n / HEALTH_CHECKS_PER_SECOND).max(1) as u64))
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

    // The largest calibration: the best parallelism is the engine's, not N's, so sizes above
    // CALIBRATION_MAX reuse the one found there instead of creating hundreds of extra containers.
    let mut calibrated: Option<usize> = None;
    let scale = plan
        .scale
        .filter(|_| contenders.contains(&Contender::Tenantd));
    let sizes = plan
        .sizes
        .iter()
        .map(|&n| (n, false))
        .chain(scale.map(|n| (n, true)));
    for (n, scale_only) in sizes {
        let workload = Workload::new(&plan.image, health_interval_for(plan.health_interval, n));
        // Scenario 6 (scale): tenantd alone, once, converge and no-op, at the largest N.
        // Sizes from LARGE up: once, converge and no-op (unless --runs says otherwise), since
        // one attempt there takes minutes per contender.
        let large = n >= LARGE && !plan.runs_asked;
        let narrowed;
        let (plan, contenders) = if scale_only || large {
            narrowed = Plan {
                runs: if plan.runs_asked { plan.runs } else { 1 },
                idle: Duration::ZERO,
                scenarios: plan
                    .scenarios
                    .iter()
                    .copied()
                    .filter(|s| matches!(s, Scenario::Converge | Scenario::Noop))
                    .collect(),
                ..plan.clone()
            };
            if scale_only {
                say(format!("N={n}: scale, tenantd alone"));
                (&narrowed, vec![Contender::Tenantd])
            } else {
                (&narrowed, contenders.clone())
            }
        } else {
            (plan, contenders.clone())
        };
        results.runs.insert(n, plan.runs);
        results.health.insert(n, workload.healthcheck.interval);
        let parallelism = match (plan.floor_parallelism, calibrated) {
            (Some(p), _) => p,
            (None, Some(best)) if n > CALIBRATION_MAX => best,
            (None, _)
                if contenders.contains(&Contender::Floor)
                    || contenders.contains(&Contender::Swarm) =>
            {
                let on = n.min(CALIBRATION_MAX);
                say(format!(
                    "N={n}: calibrating the floor's parallelism on {on} containers"
                ));
                let (best, timings) =
                    floor::calibrate(docker, &workload, &names.attempt("calib", n, 0), on).await?;
                let listed: Vec<String> = timings
                    .iter()
                    .map(|(p, took)| format!("{p}: {:.2} s", took.as_secs_f64()))
                    .collect();
                say(format!(
                    "N={n}: floor parallelism {best} (create+start: {})",
                    listed.join(", ")
                ));
                results.notes.push(format!(
                    "N={n}: the floor's parallelism is {best}, the fastest create+start of {on} containers among {} (Swarm's CLI calls use it too{}).",
                    listed.join(", "),
                    if on < n { format!("; sizes above {CALIBRATION_MAX} reuse it") } else { String::new() }
                ));
                calibrated = Some(best);
                best
            }
            (None, _) => 8,
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
                            let watch =
                                StartWatch::start(docker, &format!("{RUN_LABEL}={attempt}"), n);
                            let took = swarm::converge(
                                docker,
                                &workload,
                                &attempt,
                                n,
                                parallelism,
                                plan.timeout,
                            )
                            .await?;
                            record_started(plan, &mut results, n, contender, watch).await;
                            heal_attempt(
                                plan,
                                docker,
                                &mut results,
                                n,
                                Contender::Swarm,
                                &attempt,
                                SWARM_SERVICE_LABEL,
                                None,
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
                        let outcome = async {
                            let watch =
                                StartWatch::start(docker, &format!("{RUN_LABEL}={attempt}"), n);
                            let took = floor::converge(
                                docker,
                                &workload,
                                &attempt,
                                n,
                                parallelism,
                                plan.timeout,
                            )
                            .await?;
                            record_started(plan, &mut results, n, contender, watch).await;
                            // The floor does not heal; this is what an instant healer would
                            // achieve on this engine: re-create as soon as the removal returned.
                            let replace = |key: String| -> futures::future::BoxFuture<
                                '_,
                                anyhow::Result<()>,
                            > {
                                let (workload, attempt) = (&workload, &attempt);
                                Box::pin(async move {
                                    let i: usize = key.parse().context("a floor index")?;
                                    floor::create_and_start(docker, workload, attempt, i).await
                                })
                            };
                            heal_attempt(
                                plan,
                                docker,
                                &mut results,
                                n,
                                Contender::Floor,
                                &attempt,
                                floor::INDEX_LABEL,
                                Some(&replace),
                            )
                            .await?;
                            anyhow::Ok(took)
                        }
                        .await;
                        let cleaned = floor::cleanup(docker, &attempt).await;
                        outcome.and_then(|took| cleaned.map(|()| took)).map(|took| {
                            record_converge(plan, &mut results, n, contender, took);
                            format!("converged in {:.2} s", took.as_secs_f64())
                        })
                    }
                    // Not selectable (`value(skip)`): tenantd's attempt measures them.
                    Contender::HttpFloor | Contender::StoreFloor => Err(anyhow::anyhow!(
                        "{} is measured within tenantd's API scenario",
                        contender.title()
                    )),
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
    if let Some(swarm) = swarm
        && let Err(e) = swarm.leave(janitor).await
    {
        // The measurements are done; a swarm that would not leave is the operator's to see,
        // not a reason to lose the report.
        say(format!("swarm: leaving failed: {e:#}"));
        results
            .notes
            .push(format!("Leaving the swarm failed at the end: {e:#}."));
    }
    // Limits and check timings are the same at every N; only the interval varies.
    let workload = Workload::new(&plan.image, Duration::from_secs(1));
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
        scale,
        runs: results
            .runs
            .iter()
            .map(|(n, runs)| format!("{runs} at N={n}"))
            .collect::<Vec<_>>()
            .join(", "),
        image: plan.image.clone(),
        limits,
        health: format!(
            "interval {}, timeout {}, start period {}, retries {}",
            intervals(&results.health),
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

/// "1s at N=10, 5s at N=100": the health-check interval of each size.
fn intervals(by_n: &std::collections::BTreeMap<usize, Duration>) -> String {
    by_n.iter()
        .map(|(n, interval)| format!("{} at N={n}", humantime::format_duration(*interval)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The label Swarm puts on a task's container: the service, which a replacement keeps.
const SWARM_SERVICE_LABEL: &str = "com.docker.swarm.service.name";

/// Runs the self-healing scenario on a converged attempt, if it is selected.
#[allow(clippy::too_many_arguments)] // One attempt's context; a struct would only rename it.
async fn heal_attempt(
    plan: &Plan,
    docker: &Docker,
    results: &mut Results,
    n: usize,
    contender: Contender,
    attempt: &str,
    key_label: &str,
    replace: Option<heal::Replace<'_>>,
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
        replace,
    )
    .await
    .context("self-healing")?;
    let running = healing.all_running().unwrap_or(0.0);
    say(format!(
        "N={n} {}: {k} removed, all running again after {running:.2} s, healthy after {:.2} s",
        contender.as_str(),
        healing.all_healthy().unwrap_or(0.0)
    ));
    results.record(
        Scenario::Heal,
        n,
        contender,
        Duration::from_secs_f64(running),
    );
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

/// Converge's "all started" (see [`StartWatch`]), for the converge details.
async fn record_started(
    plan: &Plan,
    results: &mut Results,
    n: usize,
    contender: Contender,
    watch: StartWatch,
) {
    match watch.finish().await {
        Some(took) if plan.scenarios.contains(&Scenario::Converge) => results
            .started
            .entry((n, contender))
            .or_default()
            .push(took.as_secs_f64()),
        Some(_) => {}
        None => results.notes.push(format!(
            "N={n} {}: the start of every container was not seen in Docker's event stream; \
             that attempt has no \"all started\" time.",
            contender.as_str()
        )),
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
        let watch = StartWatch::start(docker, &format!("tenantd.instance={attempt}"), n);
        let took = tenantd.converge(workload, n, plan.timeout).await?;
        record_converge(plan, results, n, Contender::Tenantd, took);
        record_started(plan, results, n, Contender::Tenantd, watch).await;
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
            // Several passes: one takes milliseconds, and at the large sizes there is one run.
            let mut passes = Vec::with_capacity(PASSES_PER_ATTEMPT);
            for _ in 0..PASSES_PER_ATTEMPT {
                passes.push(tenantd.resync_pass().await?);
            }
            let took: Vec<f64> = passes.iter().map(|p| p.took.as_secs_f64()).collect();
            let median = Summary::of(&took).expect("at least one pass").median;
            summary.push_str(&format!(
                ", resync pass median {:.1} ms of {PASSES_PER_ATTEMPT} (Docker calls {}, catalog statements {}, store written in {} passes)",
                median * 1000.0,
                passes.iter().map(|p| p.engine.reads + p.engine.writes).sum::<u64>(),
                passes.iter().map(|p| p.database.reads + p.database.writes).sum::<u64>(),
                passes.iter().filter(|p| p.store_written).count(),
            ));
            results.record(Scenario::Noop, n, Contender::Tenantd, Duration::from_secs_f64(median));
            // After converging N and passes over them: what the process holds at this size.
            results.memory.entry(n).or_default().push(Memory::now()?);
            results.passes.entry(n).or_default().extend(passes);
        }
        if (plan.scenarios.contains(&Scenario::Change) || plan.scenarios.contains(&Scenario::Heal))
            && !tenantd.is_running()
        {
            tenantd.start_controller(janitor).await?;
            // Its first pass over the converged world, before anything changes.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if plan.scenarios.contains(&Scenario::Change) {
            let change = change_tenantd(plan, docker, &tenantd, attempt).await.context("changing one tenant")?;
            summary.push_str(&format!(", one env change {:.2} s", change.took.as_secs_f64()));
            results.record_change(n, Contender::Tenantd, change);
        }
        if plan.scenarios.contains(&Scenario::Heal) {
            heal_attempt(plan, docker, results, n, Contender::Tenantd, attempt, tenantd::engine::labels::TENANT, None).await?;
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
        let token = tenantd.admin_token().to_owned();
        let manifests = Arc::new(crate::api_load::manifests(&base, &token, &names).await?);
        let run = crate::api_load::measure(&base, &token, &manifests, plan.api_load)
            .await
            .context("the API under load")?;
        let floors =
            crate::api_load::measure_floors(tenantd.store(), &token, &manifests, plan.api_load)
                .await
                .context("the API load's floors")?;
        let p99 = |s: &[f64]| crate::stats::percentile(s, 99.0);
        let ms =
            |s: Option<f64>| s.map_or_else(|| "n/a".into(), |s| format!("{:.1} ms", s * 1000.0));
        summary.push_str(&format!(
            ", API: {} requests at {:.0}/s, {} failed, PUT p99 {}, GET p99 {}, PUT returned → reconcile started p99 {} ({} timed)",
            run.loaded.put.count() + run.loaded.get.count(),
            run.requests_per_second(),
            run.errors(),
            ms(p99(&run.loaded.put.latencies)),
            ms(p99(&run.loaded.get.latencies)),
            ms(p99(&run.after_return)),
            run.after_return.len(),
        ));
        for floor in &floors {
            summary.push_str(&format!(
                "; {}: {:.0}/s, PUT p99 {}, GET p99 {}",
                floor.served_by.title(),
                floor.requests_per_second(),
                ms(p99(&floor.loaded.put.latencies)),
                ms(p99(&floor.loaded.get.latencies)),
            ));
        }
        // Pushed as seconds, not through `record`: the reconcile-start p99 may be negative.
        let mut push = |scenario, served_by, samples: &[f64]| {
            if let Some(p) = p99(samples) {
                results
                    .samples
                    .entry((scenario, n, served_by))
                    .or_default()
                    .push(p);
            }
        };
        push(
            Scenario::ApiReconcileStart,
            Contender::Tenantd,
            &run.after_return,
        );
        for run in std::iter::once(&run).chain(&floors) {
            push(Scenario::Api, run.served_by, &run.loaded.put.latencies);
            push(Scenario::ApiGet, run.served_by, &run.loaded.get.latencies);
        }
        let runs = results.api.entry(n).or_default();
        runs.push(run);
        runs.extend(floors);
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
        if let Some(median) = Summary::of(&took).map(|s| s.median) {
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
        let watch = StartWatch::start(docker, &format!("{RUN_LABEL}={attempt}"), n);
        let took = project.converge(docker, n, plan.timeout).await?;
        record_converge(plan, results, n, Contender::Compose, took);
        record_started(plan, results, n, Contender::Compose, watch).await;
        let mut summary = format!("converged in {:.2} s", took.as_secs_f64());
        if plan.scenarios.contains(&Scenario::Noop) {
            let noop = project.noop().await?;
            results.record(Scenario::Noop, n, Contender::Compose, noop);
            summary.push_str(&format!(", no-op `up -d` {:.2} s", noop.as_secs_f64()));
        }
        if plan.scenarios.contains(&Scenario::Change) {
            let change = change_compose(plan, docker, workload, &project, attempt)
                .await
                .context("changing one service")?;
            summary.push_str(&format!(
                ", one env change {:.2} s",
                change.took.as_secs_f64()
            ));
            results.record_change(n, Contender::Compose, change);
        }
        anyhow::Ok(summary)
    }
    .await;
    let cleaned = project.cleanup(docker).await;
    let summary = outcome?;
    // What was measured stands: a cleanup the engine refused (Docker 20.10 keeps endpoints on
    // a network after 500 removals) is the operator's to see, not a failed attempt.
    if let Err(e) = cleaned {
        results.notes.push(format!(
            "docker-compose's cleanup after N={n} left something behind (its measurements \
             stand; the sweep at the end tries again): {e:#}"
        ));
    }
    Ok(summary)
}

/// How long after the changed tenant is converged the harness waits before looking at the
/// others again, so that late work on them (a resync, a requeue) would still be caught.
const CHANGE_SETTLE: Duration = Duration::from_secs(2);

/// The label Compose puts on a service's containers.
const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";

/// Scenario 3 for tenantd: a spec write changing tenant 0's env, until its replacement runs
/// healthy and the tenant is Ready for the new generation.
async fn change_tenantd(
    plan: &Plan,
    docker: &Docker,
    tenantd: &Tenantd,
    attempt: &str,
) -> anyhow::Result<Change> {
    let run_label = format!("{RUN_LABEL}={attempt}");
    let key_label = tenantd::engine::labels::TENANT;
    let changed = tenantd.tenant_name(0);
    let before = Snapshot::take(docker, &run_label, key_label).await?;
    let old = before
        .id_of(&changed)
        .with_context(|| format!("{changed} has no container"))?
        .to_owned();
    let calls_before = tenantd.engine_stats();
    let started = Instant::now();
    let generation = tenantd.change_env(&changed, CHANGED_GREETING).await?;
    change::wait_replaced(docker, &run_label, key_label, &changed, &old, plan.timeout).await?;
    tenantd
        .wait_ready(&changed, generation, plan.timeout)
        .await?;
    let took = started.elapsed();
    tokio::time::sleep(CHANGE_SETTLE).await;
    let calls = engine_delta(&calls_before, &tenantd.engine_stats());
    let after = Snapshot::take(docker, &run_label, key_label).await?;
    Ok(Change {
        took,
        others: before.containers.len().saturating_sub(1),
        others_touched: change::touched(&before, &after, &changed),
        engine_calls: Some(calls.by_operation),
    })
}

/// Scenario 3 for docker-compose: the file with service 0's env changed and `up -d`, until
/// its replacement runs healthy.
async fn change_compose(
    plan: &Plan,
    docker: &Docker,
    workload: &Workload,
    project: &Project,
    attempt: &str,
) -> anyhow::Result<Change> {
    let run_label = format!("{RUN_LABEL}={attempt}");
    let changed = Project::service(0);
    let before = Snapshot::take(docker, &run_label, COMPOSE_SERVICE_LABEL).await?;
    let old = before
        .id_of(&changed)
        .with_context(|| format!("service {changed} has no container"))?
        .to_owned();
    let started = Instant::now();
    project.change_env(workload, 0).await?;
    change::wait_replaced(
        docker,
        &run_label,
        COMPOSE_SERVICE_LABEL,
        &changed,
        &old,
        plan.timeout,
    )
    .await?;
    let took = started.elapsed();
    tokio::time::sleep(CHANGE_SETTLE).await;
    let after = Snapshot::take(docker, &run_label, COMPOSE_SERVICE_LABEL).await?;
    Ok(Change {
        took,
        others: before.containers.len().saturating_sub(1),
        others_touched: change::touched(&before, &after, &changed),
        engine_calls: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_health_interval_keeps_checks_near_five_a_second() {
        assert_eq!(health_interval_for(None, 3), Duration::from_secs(1));
        assert_eq!(health_interval_for(None, 10), Duration::from_secs(2));
        assert_eq!(health_interval_for(None, 100), Duration::from_secs(20));
        assert_eq!(health_interval_for(None, 500), Duration::from_secs(100));
        assert_eq!(health_interval_for(None, 1000), Duration::from_secs(200));
        let asked = Some(Duration::from_millis(500));
        assert_eq!(health_interval_for(asked, 500), Duration::from_millis(500));
    }
}
