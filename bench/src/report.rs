//! The results of a run and their rendering as markdown: the table (medians, min–max spread,
//! ratios of tenantd to each contender measured in the same run), tenantd's no-op details,
//! the machine, the settings and what each figure means. Rendering is pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::api_load::{ApiRun, Requests};
use crate::change::Change;
use crate::contenders::Contender;
use crate::contenders::tenantd::{Idle, Memory, Pass};
use crate::heal::Healing;
use crate::machine::Machine;
use crate::stats::{Summary, percentile, ratio};

/// The scenarios this harness measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Scenario {
    /// Converge from empty: N tenants to running and healthy (tenantd: Ready).
    Converge,
    /// No-op: N converged tenants, nothing changed.
    Noop,
    /// One tenant's env changed among N: until it runs healthy again; the others untouched.
    Change,
    /// Self-healing: `docker rm -f` of k of N containers, until all run healthy again.
    Heal,
    /// The API under load (tenantd only): PUTs and GETs from 64 connections, and the time
    /// from a PUT's answer to the reconcile start, then the same load against two floors (HTTP
    /// from memory, the store without HTTP). Its table row is the PUT p99.
    Api,
    /// Scenario 5's GET p99 row (selected with `api`).
    #[value(skip)]
    ApiGet,
    /// Scenario 5's "PUT returned → reconcile started" p99 row (selected with `api`).
    #[value(skip)]
    ApiReconcileStart,
    /// Signup to Ready (tenantd only): the wizard's deploy request until the tenant is Ready.
    Signup,
}

impl Scenario {
    pub fn title(self) -> &'static str {
        match self {
            Scenario::Converge => "1. converge from empty",
            Scenario::Noop => "2. no-op (nothing changed)",
            Scenario::Change => "3. one tenant's env changed",
            Scenario::Heal => "4. self-healing (k of N removed, until running)",
            Scenario::Api => "5. API under load: PUT p99 (64 connections)",
            Scenario::ApiGet => "5. API under load: GET p99 (64 connections)",
            Scenario::ApiReconcileStart => "5. PUT returned → reconcile started, p99",
            Scenario::Signup => "7. signup to Ready (image cached)",
        }
    }
}

/// Everything a run produced.
#[derive(Debug, Default)]
pub struct Results {
    /// Seconds per attempt, by scenario, N and contender.
    pub samples: BTreeMap<(Scenario, usize, Contender), Vec<f64>>,
    /// Converge's "all started" (seconds from the first write until the Nth container
    /// started), per attempt, by N and contender.
    pub started: BTreeMap<(usize, Contender), Vec<f64>>,
    /// tenantd's resync passes by N.
    pub passes: BTreeMap<usize, Vec<Pass>>,
    /// tenantd idle measurements by N.
    pub idle: BTreeMap<usize, Idle>,
    /// One-change attempts by N and contender.
    pub changes: BTreeMap<(usize, Contender), Vec<Change>>,
    /// Self-healing attempts by N and contender.
    pub healing: BTreeMap<(usize, Contender), Vec<Healing>>,
    /// Runs per contender at each N.
    pub runs: BTreeMap<usize, usize>,
    /// The health-check interval used at each N.
    pub health: BTreeMap<usize, Duration>,
    /// tenantd's process memory after each attempt's no-op pass, by N.
    pub memory: BTreeMap<usize, Vec<Memory>>,
    /// Scenario 5's attempts by N.
    pub api: BTreeMap<usize, Vec<ApiRun>>,
    /// Scenario 7's signups (seconds from the deploy request to Ready) per attempt, by N.
    pub signups: BTreeMap<usize, Vec<Vec<f64>>>,
    /// Lines for the notes section (calibration, failures).
    pub notes: Vec<String>,
}

impl Results {
    pub fn record(&mut self, scenario: Scenario, n: usize, contender: Contender, took: Duration) {
        self.samples
            .entry((scenario, n, contender))
            .or_default()
            .push(took.as_secs_f64());
    }

    /// A one-change attempt: its time in the table, the rest in the details.
    pub fn record_change(&mut self, n: usize, contender: Contender, change: Change) {
        self.record(Scenario::Change, n, contender, change.took);
        self.changes.entry((n, contender)).or_default().push(change);
    }
}

/// How the run was set up, for the report.
#[derive(Debug, Clone)]
pub struct Settings {
    pub command: String,
    pub sizes: Vec<usize>,
    pub scale: Option<usize>,
    /// "3 at N=10, 1 at N=500".
    pub runs: String,
    pub image: String,
    pub limits: String,
    pub health: String,
    pub tenantd_concurrency: usize,
    pub idle_window: Duration,
    pub started: String,
    pub finished: String,
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
}

fn seconds(s: f64) -> String {
    if s < 0.1 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// The results table: one row per scenario, N and contender.
pub fn table(results: &Results) -> String {
    let mut out = String::new();
    out.push_str(
        "| scenario | N | contender | median | spread (min–max) | runs | tenantd ÷ contender |\n",
    );
    out.push_str("|---|---:|---|---:|---:|---:|---:|\n");
    for (&(scenario, n, contender), samples) in &results.samples {
        let Some(summary) = Summary::of(samples) else {
            continue;
        };
        let tenantd = results
            .samples
            .get(&(scenario, n, Contender::Tenantd))
            .and_then(|s| Summary::of(s))
            .map(|s| s.median);
        let versus = if contender == Contender::Tenantd {
            "—".to_owned()
        } else {
            ratio(tenantd, Some(summary.median))
                .map(|r| format!("{r:.2}×"))
                .unwrap_or_else(|| "n/a".into())
        };
        let _ = writeln!(
            out,
            "| {} | {n} | {} | {} | {}–{} | {} | {versus} |",
            scenario.title(),
            contender.title(),
            seconds(summary.median),
            seconds(summary.min),
            seconds(summary.max),
            summary.runs,
        );
    }
    out
}

fn calls(by_operation: &BTreeMap<&'static str, u64>) -> String {
    if by_operation.is_empty() {
        return "none".into();
    }
    by_operation
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// tenantd's no-op details: what one resync pass and an idle window cost, with the relist and
/// the catalog observation (the controller's other periodic reads) beside them.
pub fn noop_details(results: &Results) -> String {
    let mut out = String::new();
    if results.passes.is_empty() {
        return out;
    }
    out.push_str("| N | passes | resync pass, median (min–max) | of which store read / reconciles (median) | Docker API calls per pass | tenant-database statements per pass (read/write) | store writes | reconciles not `Done` | relist, median (min–max) | catalog observation, median (min–max) |\n");
    out.push_str("|---:|---:|---:|---:|---|---:|---|---:|---:|---:|\n");
    for (n, passes) in &results.passes {
        let median_of = |part: fn(&Pass) -> Duration| {
            let samples: Vec<f64> = passes.iter().map(|p| part(p).as_secs_f64()).collect();
            Summary::of(&samples)
        };
        let spread = |part: fn(&Pass) -> Duration| {
            median_of(part).map_or_else(
                || "—".to_owned(),
                |s| {
                    format!(
                        "{} ({}–{})",
                        seconds(s.median),
                        seconds(s.min),
                        seconds(s.max)
                    )
                },
            )
        };
        let median = |part: fn(&Pass) -> Duration| {
            median_of(part).map_or_else(|| "—".to_owned(), |s| seconds(s.median))
        };
        // The counts of every pass are listed when they differ, so none is hidden.
        let mut engine: Vec<String> = passes
            .iter()
            .map(|p| calls(&p.engine.by_operation))
            .collect();
        engine.dedup();
        let mut database: Vec<String> = passes
            .iter()
            .map(|p| format!("{}/{}", p.database.reads, p.database.writes))
            .collect();
        database.dedup();
        let written = passes.iter().filter(|p| p.store_written).count();
        let not_done: usize = passes.iter().map(|p| p.not_done).sum();
        let _ = writeln!(
            out,
            "| {n} | {} | {} | {} / {} | {} | {} | {} | {not_done} | {} | {} |",
            passes.len(),
            spread(|p| p.took),
            median(|p| p.store_read),
            median(|p| p.reconciles),
            engine.join(" / "),
            database.join(" / "),
            if written == 0 {
                "none".to_owned()
            } else {
                format!("in {written} of {} passes", passes.len())
            },
            spread(|p| p.relist),
            spread(|p| p.catalog),
        );
    }
    if !results.idle.is_empty() {
        out.push_str("\n| N | idle window | CPU seconds in window | CPU seconds per idle hour | Docker API calls in window | tenant-database statements in window (read/write) |\n");
        out.push_str("|---:|---:|---:|---:|---|---:|\n");
        for (n, idle) in &results.idle {
            let per_hour = idle.cpu_seconds * 3600.0 / idle.window.as_secs_f64().max(1e-9);
            let _ = writeln!(
                out,
                "| {n} | {:.0} s | {:.3} | {per_hour:.1} | {} | {}/{} |",
                idle.window.as_secs_f64(),
                idle.cpu_seconds,
                calls(&idle.engine.by_operation),
                idle.database.reads,
                idle.database.writes,
            );
        }
    }
    out
}

/// tenantd's memory by N (scenario 6's figure at the largest N).
pub fn memory_details(results: &Results) -> String {
    let mut out = String::new();
    if results.memory.is_empty() {
        return out;
    }
    out.push_str("| N | resident (VmRSS) after converge and the resync passes, median (min–max) | peak of the process so far (VmHWM) |\n");
    out.push_str("|---:|---:|---:|\n");
    let mib = |kib: f64| format!("{:.1} MiB", kib / 1024.0);
    for (n, memories) in &results.memory {
        let resident: Vec<f64> = memories.iter().map(|m| m.resident_kib as f64).collect();
        let Some(summary) = Summary::of(&resident) else {
            continue;
        };
        let peak = memories.iter().map(|m| m.peak_kib).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "| {n} | {} ({}–{}) | {} |",
            mib(summary.median),
            mib(summary.min),
            mib(summary.max),
            mib(peak as f64)
        );
    }
    out
}

/// One-change details: the work done on the other tenants, and tenantd's Docker calls.
pub fn change_details(results: &Results) -> String {
    let mut out = String::new();
    if results.changes.is_empty() {
        return out;
    }
    out.push_str("| N | contender | runs | other containers recreated or restarted | Docker API calls in the window |\n");
    out.push_str("|---:|---|---:|---|---|\n");
    for ((n, contender), changes) in &results.changes {
        let checked: usize = changes.iter().map(|c| c.others).sum();
        let mut touched: Vec<&str> = changes
            .iter()
            .flat_map(|c| c.others_touched.iter().map(String::as_str))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let touched = if touched.is_empty() {
            format!("none (of {checked} checked)")
        } else {
            format!("**{}** ({})", touched.len(), touched.join(", "))
        };
        let mut engine: Vec<String> = changes
            .iter()
            .map(|c| {
                c.engine_calls
                    .as_ref()
                    .map_or_else(|| "not counted".into(), calls)
            })
            .collect();
        engine.dedup();
        let _ = writeln!(
            out,
            "| {n} | {} | {} | {touched} | {} |",
            contender.title(),
            changes.len(),
            engine.join(" / ")
        );
    }
    out
}

/// Self-healing details: per-victim times pooled over all runs.
pub fn heal_details(results: &Results) -> String {
    let mut out = String::new();
    if results.healing.is_empty() {
        return out;
    }
    out.push_str("| N | contender | removed (k) | victims measured | `rm -f` returned p50 / p99 | running again p50 / p99 | healthy again p50 / p99 |\n");
    out.push_str("|---:|---|---:|---:|---:|---:|---:|\n");
    for ((n, contender), attempts) in &results.healing {
        let running: Vec<f64> = attempts
            .iter()
            .flat_map(|h| h.running.iter().copied())
            .collect();
        let healthy: Vec<f64> = attempts
            .iter()
            .flat_map(|h| h.healthy.iter().copied())
            .collect();
        let removed: Vec<f64> = attempts
            .iter()
            .flat_map(|h| h.removed.iter().copied())
            .collect();
        let p =
            |samples: &[f64], q: f64| percentile(samples, q).map_or_else(|| "n/a".into(), seconds);
        let _ = writeln!(
            out,
            "| {n} | {} | {} | {} | {} / {} | {} / {} | {} / {} |",
            contender.title(),
            attempts.first().map_or(0, |h| h.k),
            healthy.len(),
            p(&removed, 50.0),
            p(&removed, 99.0),
            p(&running, 50.0),
            p(&running, 99.0),
            p(&healthy, 50.0),
            p(&healthy, 99.0),
        );
    }
    out
}

/// Failed requests as `409 ×3, transport ×1`, or `none`.
fn error_words(requests: &[&Requests]) -> String {
    let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
    for r in requests {
        for (what, n) in &r.errors {
            *errors.entry(what).or_default() += n;
        }
    }
    if errors.is_empty() {
        return "none".into();
    }
    errors
        .iter()
        .map(|(what, n)| format!("{what} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `p50 / p99 / max` of seconds, or `n/a`.
fn spread(samples: &[f64]) -> String {
    match (
        percentile(samples, 50.0),
        percentile(samples, 99.0),
        percentile(samples, 100.0),
    ) {
        (Some(p50), Some(p99), Some(max)) => {
            format!("{} / {} / {}", seconds(p50), seconds(p99), seconds(max))
        }
        _ => "n/a".into(),
    }
}

/// A line under the results table when any request of scenario 5 failed, so the table's
/// latencies (of the successful requests) cannot hide failures.
pub fn api_failures(results: &Results) -> String {
    let runs: Vec<&ApiRun> = results.api.values().flatten().collect();
    let failed: usize = runs.iter().map(|r| r.errors()).sum();
    if failed == 0 {
        return String::new();
    }
    let requests: usize = runs
        .iter()
        .map(|r| r.loaded.put.count() + r.loaded.get.count())
        .sum();
    let kinds: Vec<&Requests> = runs
        .iter()
        .flat_map(|r| [&r.loaded.put, &r.loaded.get])
        .collect();
    format!(
        "\n**{failed} of {requests} API requests failed** ({}); scenario 5's latencies are \
         those of the successful requests.\n",
        error_words(&kinds)
    )
}

/// Scenario 5's details: one row per attempt and server (tenantd, then its floors), every
/// failed request counted, with the CPU the load took; the sequential PUTs are tenantd's.
pub fn api_details(results: &Results) -> String {
    let mut out = String::new();
    if results.api.is_empty() {
        return out;
    }
    out.push_str("| N | run | served by | connections | requests (PUT + GET) | failed | PUT p50 / p99 / max | GET p50 / p99 / max | requests/s | CPU: this process / Postgres (of the wall time × cores) | PUT alone (one at a time) p50 / p99 / max | PUT returned → reconcile started p50 / p99 / max | PUT sent → reconcile started p50 / p99 / max | reconcile under way before the answer | timed PUTs without a reconcile start |\n");
    out.push_str("|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (n, runs) in &results.api {
        let mut attempt = 0;
        for run in runs {
            if run.served_by == Contender::Tenantd {
                attempt += 1;
            }
            let loaded = &run.loaded;
            let cpu = format!(
                "{:.2} s / {} (of {:.2} s)",
                loaded.cpu.process,
                loaded
                    .cpu
                    .postgres
                    .map_or_else(|| "n/a".to_owned(), |s| format!("{s:.2} s")),
                loaded.cpu.available,
            );
            let sequential = if run.served_by == Contender::Tenantd {
                let early = run.after_return.iter().filter(|s| **s < 0.0).count();
                format!(
                    "{} | {} | {} | {early} of {} | {}",
                    spread(&run.alone),
                    spread(&run.after_return),
                    spread(&run.after_send),
                    run.after_return.len(),
                    run.missed,
                )
            } else {
                "— | — | — | — | —".to_owned()
            };
            let _ = writeln!(
                out,
                "| {n} | {attempt} | {} | {} | {} + {} | {} | {} | {} | {:.0} | {cpu} | {sequential} |",
                run.served_by.title(),
                run.connections,
                loaded.put.count(),
                loaded.get.count(),
                error_words(&[&loaded.put, &loaded.get]),
                spread(&loaded.put.latencies),
                spread(&loaded.get.latencies),
                run.requests_per_second(),
            );
        }
    }
    out
}

/// Scenario 1's details: when every container had started, beside the table's "running and
/// healthy", and that ratio to the floor; the health check's first interval is in the one and
/// not the other.
pub fn converge_details(results: &Results) -> String {
    let mut out = String::new();
    if results.started.is_empty() {
        return out;
    }
    out.push_str(
        "| N | contender | all started, median (min–max) | runs | tenantd ÷ contender (all started) | all running and healthy (tenantd: Ready), median |\n\
         |---:|---|---:|---:|---:|---:|\n",
    );
    let median_of = |samples: &[f64]| Summary::of(samples).map(|s| s.median);
    for (&(n, contender), started) in &results.started {
        let Some(summary) = Summary::of(started) else {
            continue;
        };
        let ratio = match (
            contender,
            results
                .started
                .get(&(n, Contender::Tenantd))
                .and_then(|t| median_of(t)),
        ) {
            (Contender::Tenantd, _) | (_, None) => "—".to_owned(),
            (_, Some(tenantd)) => format!("{:.2}×", tenantd / summary.median),
        };
        let healthy = results
            .samples
            .get(&(Scenario::Converge, n, contender))
            .and_then(|s| median_of(s))
            .map_or_else(|| "—".to_owned(), seconds);
        let _ = writeln!(
            out,
            "| {n} | {} | {} ({}–{}) | {} | {ratio} | {healthy} |",
            contender.title(),
            seconds(summary.median),
            seconds(summary.min),
            seconds(summary.max),
            started.len(),
        );
    }
    out
}

/// Scenario 7's details: every signup of every attempt.
pub fn signup_details(results: &Results) -> String {
    let mut out = String::new();
    if results.signups.is_empty() {
        return out;
    }
    out.push_str("| N | signups | deploy request → Ready, p50 / max | each (by attempt) |\n");
    out.push_str("|---:|---:|---:|---|\n");
    for (n, attempts) in &results.signups {
        let all: Vec<f64> = attempts.iter().flatten().copied().collect();
        let each: Vec<String> = attempts
            .iter()
            .map(|a| a.iter().map(|s| seconds(*s)).collect::<Vec<_>>().join(", "))
            .collect();
        let (p50, max) = (percentile(&all, 50.0), percentile(&all, 100.0));
        let _ = writeln!(
            out,
            "| {n} | {} | {} / {} | {} |",
            all.len(),
            p50.map_or_else(|| "n/a".into(), seconds),
            max.map_or_else(|| "n/a".into(), seconds),
            each.join(" · "),
        );
    }
    out
}

/// The whole BENCHMARKS.md.
pub fn markdown(machine: &Machine, settings: &Settings, results: &Results) -> String {
    let mut out = String::new();
    let load = |l: Option<f64>| l.map_or_else(|| "unknown".into(), |l| format!("{l:.2}"));
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Generated by `{}` from {} to {} (UTC). The harness writes this whole file; to change \
         it, change `bench/src/report.rs` and run it again.\n",
        settings.command, settings.started, settings.finished
    );
    out.push_str(
        "## How to reproduce\n\n\
         ```sh\n./scripts/bench --size small          # N = 10, 3 runs each\n\
         ./scripts/bench --size medium --runs 5  # N = 10 and 100\n\
         ./scripts/bench --help                  # sizes, scenarios, contenders, output\n```\n\n\
         `scripts/bench` starts a private Postgres (`.dev/bench-pg`, port 55436), builds the test \
         image (`scripts/build-test-image`), installs Debian's `docker-compose` when missing, \
         builds `tenantd-bench` in release mode and runs it. Run it on a quiet machine: every \
         contender shares the one Docker engine and the CPUs.\n\n",
    );
    // A load above the core count before the run means other work was competing: say so
    // where the numbers are read, rather than let them pass as a quiet machine's. The load
    // after is the benchmark's own (its last attempt and teardown), so it is shown, not judged.
    if let Some(load) = settings.load_before.filter(|l| *l > machine.cores as f64) {
        let _ = writeln!(
            out,
            "**Warning:** the machine was busy when this run started (1-minute load average \
             {load:.1} on {} cores), so the timings include contention from other work and \
             spread widely; run it again on a quiet machine before drawing conclusions.\n",
            machine.cores
        );
    }
    out.push_str("## Machine\n\n| | |\n|---|---|\n");
    for (key, value) in [
        ("CPU", machine.cpu.clone()),
        ("cores", machine.cores.to_string()),
        ("memory", machine.memory.clone()),
        ("kernel", machine.kernel.clone()),
        ("Docker engine", machine.docker.clone()),
        ("docker-compose", machine.compose.clone()),
        (
            "PostgreSQL",
            format!("{} (private cluster, fsync off)", machine.postgres),
        ),
        ("tenantd commit", machine.commit.clone()),
        (
            "load average (1 min) before / after (after: the run's own work)",
            format!(
                "{} / {}",
                load(settings.load_before),
                load(settings.load_after)
            ),
        ),
    ] {
        let _ = writeln!(out, "| {key} | {value} |");
    }
    let sizes: Vec<String> = settings.sizes.iter().map(|n| n.to_string()).collect();
    let _ = writeln!(
        out,
        "\n## Settings\n\n\
         - N: {}{}; runs per contender: {}, contenders interleaved within each run so that \
           a drift of the machine affects all alike (from N = 500 up, unless `--runs` is \
           given: one run, scenarios 1 and 2 only, since one attempt takes minutes).\n\
         - Every tenant, for every contender: image `{}`, limits {}, restart unless stopped, \
           the image's health check command with {} (the interval grows with N so that the \
           checks stay near 5 `docker exec`s a second: they would otherwise be the load).\n\
         - tenantd: the library in this process (`app::build_context` and \
           `reconcile::Controller`, as `tenantd serve` wires them; the HTTP listener only for \
           scenarios 5 and 7), concurrency {}, resync period 60 s, relist period 10 min and catalog observation every 5 s (its defaults), \
           a fresh database per attempt; idle CPU watched for {:.0} s in the first run of each N.\n",
        sizes.join(", "),
        settings
            .scale
            .map(|n| format!(", and {n} for tenantd alone (scale, one run)"))
            .unwrap_or_default(),
        settings.runs,
        settings.image,
        settings.limits,
        settings.health,
        settings.tenantd_concurrency,
        settings.idle_window.as_secs_f64(),
    );
    out.push_str(
        "## What each figure means\n\n\
         - **1. converge from empty**, from the first write to the last tenant running and \
           healthy. tenantd: stores N Tenant specs (validated, one store call each, 8 at a time) \
           into a running, idle controller and waits until every tenant is `Ready` for its \
           generation, that is its schema and login role exist and its container runs and is \
           healthy. docker-compose: `docker-compose up -d` of a generated compose file with one \
           service per tenant (file format 2.4), `COMPOSE_PARALLEL_LIMIT` N+64 (Compose v1 \
           holds one slot per service while a second slot does its create and start, so with \
           its default 64 `up -d` deadlocks above 64 services; N+64 leaves its default 64 for \
           the engine calls) and `COMPOSE_HTTP_TIMEOUT` 600 s (its 60 s read timeout fails \
           creates that a busy engine answers late), then the harness's waiter (Compose v1 \
           has no `up --wait`). Docker Swarm: an attachable overlay network (services cannot join a \
           local bridge) sized for two addresses per service (Swarm's default /24 holds about \
           125 services) and N `docker service create --detach` calls (as many at a time as \
           the floor uses; Swarm has no swap limit), then the waiter. \
           Floor: a bollard program creates a bridge network and creates+starts N containers \
           with tenantd's own create request, with the parallelism it found fastest, then the \
           waiter. The waiter is one `docker ps`-style list call filtered by the run's label and \
           `health=healthy` every 100 ms, the same for every contender. Every contender \
           creates its network inside the timed window. Only tenantd creates databases: the \
           baselines do less work. The converge details add **all started**: from the same \
           first write until the Nth container's `start` event in Docker's event stream \
           (watched the same way for every contender, without polling). Docker 20.10 runs a \
           container's first health check one interval after its start, and the interval \
           grows with N, so \"healthy\" adds up to one interval that every contender waits out \
           alike and that compresses the table's ratios; the started ratio leaves it out.\n\
         - **2. no-op**: tenantd: a resync pass over N converged tenants, as the controller \
           makes one every resync period, with the controller stopped so nothing else runs: \
           read every tenant and its credentials from the store in two queries, then reconcile \
           every tenant from that read with the controller's concurrency, observing through \
           the caches (the engine cache that Docker events keep current, the catalog \
           observation). Each attempt makes several passes and its figure is their median. The \
           details table counts each pass's Docker API calls and tenant-database statements \
           (tenantd's own counters, the ones `/metrics` exports; the store's two reads are not \
           counted) and checks the store for writes (no resourceVersion taken, no event \
           recorded). Beside each pass it times the controller's two other periodic reads, \
           which run on their own timers: the **relist** (three list calls that replace the \
           engine cache, every relist period, 10 min by default, and whenever Docker's event \
           stream broke) and the **catalog observation** (two catalog queries for every \
           tenant schema and role, every 5 s). A resync that relisted first, as every resync \
           did before the relist got its own period, costs the relist plus the pass. \
           docker-compose: `docker-compose up -d` again with nothing changed. Swarm and the \
           floor have no no-op to measure.\n\
         - **6. scale** (tenantd's memory, and the rows at the largest N): tenantd alone \
           converges the largest N once and makes its resync passes (scenario 2's measure). \
           Memory is this process's resident set from `/proc/self/status` after the passes, with \
           the controller, its caches and the pools alive, read after `malloc_trim(0)` so that \
           memory earlier attempts freed and glibc kept mapped is not counted: tenantd plus \
           the harness, which holds little else, so an upper bound on tenantd's own. The peak column is the \
           whole process's high-water mark up to then (earlier attempts included).\n\
         - **ratio** tenantd ÷ contender of the medians of the same scenario and N in this run: \
           below 1 tenantd was faster, above 1 slower.\n\
         - **CPU seconds per idle hour**: user+system CPU of this process while the converged \
           controller ran idle for the window (the harness only sleeps meanwhile), times \
           3600 / window. A window longer than the 60 s resync period includes one resync; \
           a shorter one (the smoke size's) includes none and says less.\n\
         - **3. one tenant's env changed**: with all N converged, tenant 0's environment \
           changes (`GREETING`); from the change until its replacement container runs healthy \
           (tenantd: also `Ready` for the new generation). tenantd: one store write, as a PUT \
           or a YAML apply makes; docker-compose: the compose file rewritten with that one \
           service changed and `docker-compose up -d`. The details say which of the other \
           N−1 containers were recreated or restarted (another id or start time when inspected \
           before and 2 s after; must be none) and tenantd's own Docker calls in the window.\n\
         - **4. self-healing**: with all N converged, `docker rm -f` of k = max(1, N/5) running \
           containers at once (through the API, as the CLI does); the table's figure is the \
           time from issuing the removals until the last of them has a running replacement \
           (the issue's measure), the details give per-container p50/p99 pooled over the runs, \
           also until healthy (that adds about one health-check interval, since Docker 20.10 \
           runs the first check one interval after start) and when the `rm -f` call returned \
           (no replacement can take the container's name before). tenantd notices through \
           Docker's event stream; Swarm restores the tasks of its services with its defaults \
           (restart delay 5 s). The floor row is not a healer: the harness itself creates and \
           starts the replacement the moment each removal returns, the best any healer could \
           do on this engine. docker-compose never heals: a removed container stays gone until \
           someone runs them again, so it has no row.\n",
    );
    out.push_str(
        "- **5. API under load** (tenantd and two floors of its own): with all N converged, tenantd's real HTTP app \
           (`app::http_app`: the API, the pages, `/healthz` and `/metrics`, as `tenantd serve` \
           serves it) on 127.0.0.1 in this process, and 64 HTTP/1.1 keep-alive connections \
           (one client each) sending a fixed number of requests each, alternating PUT and GET \
           and moving to the next of the N tenants every two requests (so every tenant gets \
           both), with an admin bearer token, after a short warm-up that is not \
           counted. A PUT sends the tenant as read without status and resourceVersion, with \
           one label changed: a real write (new resourceVersion, NOTIFY) that leaves the spec, \
           and so the container and database, alone. Latencies run from sending to the whole \
           answer read, for successful requests; any other answer is counted as failed in the \
           details, never dropped. The API's write rate limit (20/s, burst 40 per caller) is \
           raised for the run, since all 64 connections are one admin caller. The rows are \
           each run's p99; the details add p50, max and requests/s. The issue's target is a \
           p99 under 10 ms. Each connection waits for its answer before sending again, so the \
           mean latency is 64 ÷ requests/s (Little's law): a p99 under 10 ms needs well over \
           6,400 requests/s. Client and server share this process and the cores. \
           **The floors**, measured right after tenantd in the same attempt with the same \
           connections, tenants and requests: *HTTP from memory* is an axum server on the same \
           runtime with tenantd's two routes that keeps the tenants in a map (a PUT parses the \
           body into a Tenant, stores it under a new resourceVersion and answers it as JSON; a \
           GET answers the map's copy; no validation, no Postgres): what the HTTP stack, the \
           JSON and the clients cost on this machine. *Store calls, no HTTP* makes the store \
           calls of the API's handlers directly (a PUT: its place in the tenant's write queue, \
           the compare-and-swap on the row the previous writer left, or a read and a \
           compare-and-swap; a GET: one read), with the controller running, so each write \
           still raises its NOTIFY and its reconcile: what Postgres and the reconciler cost. \
           The table's ratio is tenantd ÷ floor. The details give each load's CPU: this \
           process (server, controller and clients) and every `postgres` process, against the \
           wall time × cores. \
           **PUT returned → reconcile started**: then, with the load finished, sequential \
           PUTs (one at a time, 20 ms apart), each timed from its answer to tenantd's \
           `reconcile started` debug event for that tenant; the path is the store's commit \
           raising `NOTIFY tenantd_tenants`, the controller's `LISTEN` connection receiving it, \
           the trigger queue, the scheduler handing the key to a free worker, and the worker \
           calling `reconcile`. Negative means the reconcile had started before the client had \
           read the answer (the details count those and also time from the send). The \
           details' **PUT alone** is those sequential PUTs' own latency: one request in flight, \
           so the service time without the queueing of the 64 connections.\n\
         - **7. signup to Ready** (tenantd only): the web signup wizard over HTTP against the \
           same in-process app, as a browser without JavaScript would use it (cookies and the \
           CSRF token of each page): account, intended use, subdomain, terms, untimed; then \
           from sending step 5's deploy request until the tenant is `Ready` for its \
           generation (the store read every 25 ms), that is schema, role and a healthy \
           container. The wizard's tenant gets the platform defaults, set to the same image, \
           limits and health check as every tenant here, and the image is on the engine \
           (cached). Several signups per run, one after another, while the N tenants run; \
           the row is each run's median, comparable with one tenant's share of scenario 1.\n\n",
    );
    out.push_str("## Results\n\n");
    out.push_str(&table(results));
    out.push_str(&api_failures(results));
    let converge = converge_details(results);
    if !converge.is_empty() {
        out.push_str("\n### Converge details: all started, without the first health check\n\n");
        out.push_str(&converge);
    }
    let details = noop_details(results);
    if !details.is_empty() {
        out.push_str("\n### tenantd no-op details\n\n");
        out.push_str(&details);
    }
    let memory = memory_details(results);
    if !memory.is_empty() {
        out.push_str("\n### tenantd's memory\n\n");
        out.push_str(&memory);
    }
    let changes = change_details(results);
    if !changes.is_empty() {
        out.push_str("\n### One-change details\n\n");
        out.push_str(&changes);
    }
    let healing = heal_details(results);
    if !healing.is_empty() {
        out.push_str("\n### Self-healing details\n\n");
        out.push_str(&healing);
    }
    let api = api_details(results);
    if !api.is_empty() {
        out.push_str("\n### API under load details\n\n");
        out.push_str(&api);
    }
    let signup = signup_details(results);
    if !signup.is_empty() {
        out.push_str("\n### Signup to Ready details\n\n");
        out.push_str(&signup);
    }
    if !results.notes.is_empty() {
        out.push_str("\n## Notes from this run\n\n");
        for note in &results.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_ratio_against_tenantd_for_each_baseline() {
        let mut results = Results::default();
        for s in [2.0, 4.0, 3.0] {
            results.record(
                Scenario::Converge,
                10,
                Contender::Tenantd,
                Duration::from_secs_f64(s),
            );
        }
        for s in [1.5, 1.5, 1.5] {
            results.record(
                Scenario::Converge,
                10,
                Contender::Floor,
                Duration::from_secs_f64(s),
            );
        }
        let table = table(&results);
        assert!(
            table.contains(
                "| 1. converge from empty | 10 | tenantd | 3.00 s | 2.00 s–4.00 s | 3 | — |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| raw bollard (floor) | 1.50 s | 1.50 s–1.50 s | 3 | 2.00× |"),
            "{table}"
        );
    }

    fn api_run(errors: &[(&str, usize)]) -> ApiRun {
        let mut put = Requests {
            latencies: vec![0.002, 0.004, 0.006],
            ..Requests::default()
        };
        for (what, n) in errors {
            put.errors.insert((*what).to_owned(), *n);
        }
        ApiRun {
            served_by: Contender::Tenantd,
            connections: 64,
            loaded: crate::api_load::Loaded {
                put,
                get: Requests {
                    latencies: vec![0.001, 0.003],
                    ..Requests::default()
                },
                wall: Duration::from_secs(1),
                cpu: crate::api_load::Cpu {
                    process: 0.5,
                    postgres: Some(0.25),
                    available: 2.0,
                },
            },
            after_return: vec![-0.0005, 0.002],
            after_send: vec![0.004, 0.006],
            alone: vec![0.001, 0.002],
            missed: 0,
        }
    }

    #[test]
    fn converge_details_compare_all_started_with_the_floor_beside_healthy() {
        let mut results = Results::default();
        results
            .started
            .insert((100, Contender::Tenantd), vec![30.0, 20.0, 25.0]);
        results
            .started
            .insert((100, Contender::Floor), vec![20.0, 20.0]);
        results.record(
            Scenario::Converge,
            100,
            Contender::Floor,
            Duration::from_secs(40),
        );
        let table = converge_details(&results);
        assert!(
            table.contains("| 100 | tenantd | 25.00 s (20.00 s–30.00 s) | 3 | — | — |"),
            "{table}"
        );
        assert!(
            table.contains(
                "| 100 | raw bollard (floor) | 20.00 s (20.00 s–20.00 s) | 2 | 1.25× | 40.00 s |"
            ),
            "{table}"
        );
        assert_eq!(converge_details(&Results::default()), "");
    }

    #[test]
    fn failed_api_requests_are_said_under_the_table_and_counted_in_the_details() {
        let mut results = Results::default();
        results
            .api
            .insert(3, vec![api_run(&[("409", 2), ("transport", 1)])]);
        let failures = api_failures(&results);
        assert!(
            failures.contains("**3 of 8 API requests failed** (409 ×2, transport ×1)"),
            "{failures}"
        );
        let details = api_details(&results);
        assert!(
            details.contains("| 3 | 1 | tenantd | 64 | 6 + 2 | 409 ×2, transport ×1 |"),
            "{details}"
        );
        assert!(details.contains("| 1 of 2 | 0 |"), "{details}");
    }

    #[test]
    fn an_api_run_without_failures_says_none_and_adds_no_warning() {
        let mut results = Results::default();
        results.api.insert(3, vec![api_run(&[])]);
        assert_eq!(api_failures(&results), "");
        assert!(api_details(&results).contains("| none |"));
    }

    #[test]
    fn floor_rows_share_tenantds_attempt_number_and_have_no_sequential_puts() {
        let mut results = Results::default();
        let floor = ApiRun {
            served_by: Contender::HttpFloor,
            ..api_run(&[])
        };
        results.api.insert(3, vec![api_run(&[]), floor]);
        let details = api_details(&results);
        assert!(
            details.contains("| 3 | 1 | HTTP from memory (floor) | 64 | 3 + 2 | none |"),
            "{details}"
        );
        assert!(details.contains("| — | — | — | — | — |"), "{details}");
        assert!(
            details.contains("| 0.50 s / 0.25 s (of 2.00 s) |"),
            "{details}"
        );
    }

    #[test]
    fn signup_details_pool_every_signup_and_list_them_by_attempt() {
        let mut results = Results::default();
        results.signups.insert(10, vec![vec![1.5, 2.5], vec![2.0]]);
        let details = signup_details(&results);
        assert!(
            details.contains("| 10 | 3 | 2.00 s / 2.50 s | 1.50 s, 2.50 s · 2.00 s |"),
            "{details}"
        );
    }

    #[test]
    fn a_baseline_without_a_tenantd_figure_has_no_ratio() {
        let mut results = Results::default();
        results.record(
            Scenario::Noop,
            10,
            Contender::Compose,
            Duration::from_millis(800),
        );
        assert!(table(&results).contains("| n/a |"));
    }

    fn settings(load_before: f64, load_after: f64) -> Settings {
        Settings {
            command: "./scripts/bench".into(),
            sizes: vec![10],
            scale: None,
            runs: "3 at N=10".into(),
            image: "img".into(),
            limits: "l".into(),
            health: "h".into(),
            tenantd_concurrency: 16,
            idle_window: Duration::from_secs(65),
            started: "s".into(),
            finished: "f".into(),
            load_before: Some(load_before),
            load_after: Some(load_after),
        }
    }

    fn machine() -> Machine {
        Machine {
            cpu: "cpu".into(),
            cores: 2,
            memory: "m".into(),
            kernel: "k".into(),
            docker: "d".into(),
            compose: "c".into(),
            postgres: "p".into(),
            commit: "x".into(),
        }
    }

    #[test]
    fn only_a_busy_start_is_warned_about_not_the_runs_own_load() {
        let results = Results::default();
        let busy = markdown(&machine(), &settings(5.0, 1.0), &results);
        assert!(busy.contains("**Warning:** the machine was busy"), "{busy}");
        let own_load = markdown(&machine(), &settings(0.5, 6.0), &results);
        assert!(!own_load.contains("**Warning:**"), "{own_load}");
        assert!(own_load.contains("| 0.50 / 6.00 |"), "{own_load}");
    }
}
