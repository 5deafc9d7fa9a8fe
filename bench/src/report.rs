//! The results of a run and their rendering as markdown: the table (medians, min–max spread,
//! ratios of tenantd to each contender measured in the same run), tenantd's no-op details,
//! the machine, the settings and what each figure means. Rendering is pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

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
}

impl Scenario {
    pub fn title(self) -> &'static str {
        match self {
            Scenario::Converge => "1. converge from empty",
            Scenario::Noop => "2. no-op (nothing changed)",
            Scenario::Change => "3. one tenant's env changed",
            Scenario::Heal => "4. self-healing (k of N removed, until running)",
        }
    }
}

/// Everything a run produced.
#[derive(Debug, Default)]
pub struct Results {
    /// Seconds per attempt, by scenario, N and contender.
    pub samples: BTreeMap<(Scenario, usize, Contender), Vec<f64>>,
    /// tenantd's resync passes by N.
    pub passes: BTreeMap<usize, Vec<Pass>>,
    /// tenantd idle measurements by N.
    pub idle: BTreeMap<usize, Idle>,
    /// One-change attempts by N and contender.
    pub changes: BTreeMap<(usize, Contender), Vec<Change>>,
    /// Self-healing attempts by N and contender.
    pub healing: BTreeMap<(usize, Contender), Vec<Healing>>,
    /// The health-check interval used at each N.
    pub health: BTreeMap<usize, Duration>,
    /// tenantd's process memory after each attempt's no-op pass, by N.
    pub memory: BTreeMap<usize, Vec<Memory>>,
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
    pub runs: usize,
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

/// tenantd's no-op details: what one resync pass and an idle window cost.
pub fn noop_details(results: &Results) -> String {
    let mut out = String::new();
    if results.passes.is_empty() {
        return out;
    }
    out.push_str("| N | resync pass, median (min–max) | Docker API calls per pass | tenant-database statements per pass (read/write) | store writes | reconciles not `Done` |\n");
    out.push_str("|---:|---:|---|---:|---|---:|\n");
    for (n, passes) in &results.passes {
        let took: Vec<f64> = passes.iter().map(|p| p.took.as_secs_f64()).collect();
        let Some(summary) = Summary::of(&took) else {
            continue;
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
            "| {n} | {} ({}–{}) | {} | {} | {} | {not_done} |",
            seconds(summary.median),
            seconds(summary.min),
            seconds(summary.max),
            engine.join(" / "),
            database.join(" / "),
            if written == 0 {
                "none".to_owned()
            } else {
                format!("in {written} of {} passes", passes.len())
            },
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
    out.push_str("| N | resident (VmRSS) after converge and a resync pass, median (min–max) | peak of the process so far (VmHWM) |\n");
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
    // A load above the core count means other work competed with the contenders: say so
    // where the numbers are read, rather than let them pass as a quiet machine's.
    let busiest = settings
        .load_before
        .into_iter()
        .chain(settings.load_after)
        .reduce(f64::max);
    if let Some(load) = busiest.filter(|l| *l > machine.cores as f64) {
        let _ = writeln!(
            out,
            "**Warning:** the machine was busy during this run (1-minute load average up to \
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
            "load average (1 min) before / after",
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
         - N: {}{}; {} run(s) per contender and N, contenders interleaved within each run so that \
           a drift of the machine affects all alike.\n\
         - Every tenant, for every contender: image `{}`, limits {}, restart unless stopped, \
           the image's health check command with {} (the interval grows with N so that the \
           checks stay near 20 `docker exec`s a second: they would otherwise be the load).\n\
         - tenantd: the library in this process (`app::build_context` and \
           `reconcile::Controller`, as `tenantd serve` wires them, without the HTTP listener), \
           concurrency {}, resync period 60 s and catalog observation every 5 s (its defaults), \
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
           service per tenant (file format 2.4), then the harness's waiter (Compose v1 has no \
           `up --wait`). Docker Swarm: an attachable overlay network (services cannot join a \
           local bridge) and N `docker service create --detach` calls (as many at a time as \
           the floor uses; Swarm has no swap limit), then the waiter. \
           Floor: a bollard program creates a bridge network and creates+starts N containers \
           with tenantd's own create request, with the parallelism it found fastest, then the \
           waiter. The waiter is one `docker ps`-style list call filtered by the run's label and \
           `health=healthy` every 100 ms, the same for every contender. Every contender \
           creates its network inside the timed window. Only tenantd creates databases: the \
           baselines do less work.\n\
         - **2. no-op**: tenantd: one full resync pass over N converged tenants with the \
           controller stopped so nothing else runs (relist the engine, re-read the catalog, \
           reconcile every tenant with the controller's concurrency); the details table counts \
           its Docker API calls and tenant-database statements (tenantd's own counters, the \
           ones `/metrics` exports; store reads are not counted) and checks the store for writes \
           (no resourceVersion taken, no event recorded). docker-compose: `docker-compose up -d` \
           again with nothing changed. Swarm and the floor have no no-op to measure.\n\
         - **6. scale** (tenantd's memory, and the rows at the largest N): tenantd alone \
           converges the largest N once and makes one resync pass (scenario 2's measure). \
           Memory is this process's resident set from `/proc/self/status` after the pass, with \
           the controller, its caches and the pools alive: tenantd plus the harness, which \
           holds little else, so an upper bound on tenantd's own. The peak column is the \
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
           someone runs them again, so they have no row.\n\n",
    );
    out.push_str("## Results\n\n");
    out.push_str(&table(results));
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
}
