//! `tenantd-bench`: measures tenantd against docker-compose, Docker Swarm and a raw bollard
//! floor on the same Docker engine, and writes the table to BENCHMARKS.md.
//!
//! Layout:
//! - [`workload`]: what every contender runs (image, limits, health check) and the names
//!   and labels that mark what the harness creates.
//! - [`contenders`]: tenantd, compose, swarm, floor.
//! - [`run`]: the loop over sizes, repetitions, contenders and scenarios.
//! - [`change`]: change one tenant among N, time it, check nobody else was touched.
//! - [`heal`]: remove k containers, time their replacements (self-healing).
//! - [`api_load`]: the API under load, and PUT → reconcile start (tenantd's HTTP app), with
//!   its two floors ([`api_floor`]: the same HTTP from memory; the store without HTTP).
//! - [`signup`]: the web wizard's deploy request until the tenant is Ready.
//! - [`docker`]: the shared health waiter, label-scoped removal, running the CLI tools.
//! - [`cleanup`]: the janitor (start, end, Ctrl-C).
//! - [`stats`], [`report`], [`machine`], [`cpu`]: medians and spreads, the markdown, the
//!   machine, CPU time (this process, Postgres).
//!
//! Run it through `./scripts/bench`, which provides Postgres, the image and docker-compose.

mod api_floor;
mod api_load;
mod change;
mod cleanup;
mod contenders;
mod cpu;
mod docker;
mod heal;
mod machine;
mod report;
mod run;
mod signup;
mod stats;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

use contenders::Contender;
use report::Scenario;

/// How many tenants, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Size {
    /// N = 3, one run, short idle window: keeps the harness working (CI), measures nothing.
    Smoke,
    /// N = 10.
    Small,
    /// N = 10 and 100.
    Medium,
    /// N = 10, 100 and 500, and tenantd alone at 1000 (scenario 6).
    Full,
}

impl Size {
    fn tenants(self) -> Vec<usize> {
        match self {
            Size::Smoke => vec![3],
            Size::Small => vec![10],
            Size::Medium => vec![10, 100],
            Size::Full => vec![10, 100, 500],
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "tenantd-bench",
    about = "Benchmarks tenantd against docker-compose, Docker Swarm and a raw bollard floor",
    long_about = "Benchmarks tenantd against docker-compose, Docker Swarm and a raw bollard \
program (the engine's floor) on the same Docker engine: every contender runs the same tiny \
test image with the same limits and health check. Each scenario runs several times per \
size; the table (medians, min–max spreads, ratios of tenantd to each contender measured in \
the same run) is printed and written to --output.\n\n\
Scenarios: converge (N tenants from empty to running and healthy; tenantd: Ready, with \
schemas and roles), noop (tenantd: one full resync pass, its Docker calls and database \
statements, and CPU per idle hour; docker-compose: `up -d` with nothing changed), and heal \
(`docker rm -f` of a fifth of the containers: tenantd and Swarm, until each runs healthy \
again; Compose and the floor never heal); for tenantd only, also api (PUTs and GETs from 64 \
connections to its HTTP API, p50/p99, and PUT returned → reconcile started; then the same \
load against two floors: the HTTP stack serving the tenants from memory, and the store's \
calls without HTTP) and signup (the \
web wizard's deploy request until the tenant is Ready).\n\n\
Everything it creates is labelled `tenantd-bench` or named `tenantd-bench-…` and removed at \
the end, on failure and on Ctrl-C (also leftovers of an interrupted earlier run). The swarm \
contender initialises a single-node swarm only if the engine is in none, and leaves it \
again.\n\n\
Use ./scripts/bench, which starts Postgres and builds the test image first."
)]
struct Args {
    /// How many tenants: smoke (3, one run), small (10), medium (10, 100), full (10, 100, 500,
    /// and tenantd alone at 1000).
    #[arg(long, value_enum, default_value = "small")]
    size: Size,
    /// Repetitions per contender and size, with every scenario at every size [default: 1 for
    /// smoke, 2 for full, 3 otherwise; N of 500 and more once, converge and no-op only].
    #[arg(long)]
    runs: Option<usize>,
    /// Scenarios to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "converge,noop,change,heal,api,signup"
    )]
    scenarios: Vec<Scenario>,
    /// Contenders to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "tenantd,compose,swarm,floor"
    )]
    contenders: Vec<Contender>,
    /// Where to write the markdown report ("-" for none).
    #[arg(long, default_value = "BENCHMARKS.md")]
    output: PathBuf,
    /// The tenant image (must exist on the engine; scripts/build-test-image builds it).
    #[arg(long, default_value = "tenantd-testapp:latest")]
    image: String,
    /// Health check interval of every contender, or "auto": N/5 seconds (at least 1 s), so
    /// that N containers' checks stay near 5 `docker exec`s a second. It dominates "healthy"
    /// timings, since Docker 20.10 runs the first check one interval after start.
    #[arg(long, default_value = "auto", value_parser = parse_interval)]
    health_interval: Interval,
    /// Scenario 6 (scale): one more N that tenantd alone converges and resyncs, with its
    /// memory [default: 1000 for the full size, none otherwise; 0 for none].
    #[arg(long)]
    scale: Option<usize>,
    /// How long the converged tenantd is watched idle for CPU per idle hour (longer than its
    /// 60 s resync period, so one resync falls inside) [default: 5s for smoke, 65s otherwise].
    #[arg(long, value_parser = humantime::parse_duration)]
    idle: Option<Duration>,
    /// The floor's parallelism (also Swarm's CLI parallelism); "auto" tries 2–32 and keeps the
    /// fastest.
    #[arg(long, default_value = "auto")]
    floor_parallelism: String,
    /// tenantd's reconcile concurrency [default: tenantd's own default].
    #[arg(long, default_value_t = tenantd::config::Config::default().concurrency)]
    tenantd_concurrency: usize,
    /// Longest wait for one attempt to converge.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Superuser URL of the Postgres cluster tenantd uses (./scripts/bench sets it).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

/// A health-check interval, or `None` for "auto".
#[derive(Debug, Clone, Copy)]
struct Interval(Option<Duration>);

fn parse_interval(text: &str) -> Result<Interval, String> {
    if text == "auto" {
        return Ok(Interval(None));
    }
    humantime::parse_duration(text)
        .map(|d| Interval(Some(d)))
        .map_err(|e| format!("\"auto\" or a duration like 1s or 500ms: {e}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // As `tenantd serve` does: the memory figures are those of tenantd's own process setup.
    tenantd::memory::return_large_blocks_to_the_kernel();
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let log_filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // The store's LISTEN task outlives a stopped controller by one retry and warns
        // that the pool is closed at every teardown; that is noise here, not news.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,tenantd::store::watch=error"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(log_filter),
        )
        // Scenario 5's reconcile-start timings, with their own filter: the log's stays.
        .with(api_load::layer().with_filter(api_load::filter()))
        .init();
    let args = Args::parse();
    let floor_parallelism = match args.floor_parallelism.as_str() {
        "auto" => None,
        n => Some(
            n.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .context("--floor-parallelism is \"auto\" or a positive number")?,
        ),
    };
    let smoke = args.size == Size::Smoke;
    let plan = run::Plan {
        sizes: args.size.tenants(),
        runs: args
            .runs
            .unwrap_or(match args.size {
                Size::Smoke => 1,
                // Full's four sizes take about an hour on 2 cores even so.
                Size::Full => 2,
                Size::Small | Size::Medium => 3,
            })
            .max(1),
        runs_asked: args.runs.is_some(),
        scenarios: args.scenarios.clone(),
        contenders: args.contenders.clone(),
        image: args.image.clone(),
        health_interval: args.health_interval.0,
        scale: args
            .scale
            .or((args.size == Size::Full).then_some(1000))
            .filter(|n| *n > 0),
        idle: args
            .idle
            .unwrap_or(Duration::from_secs(if smoke { 5 } else { 65 })),
        floor_parallelism,
        tenantd_concurrency: args.tenantd_concurrency.max(1),
        timeout: args.timeout,
        cluster_url: args.database_url.clone(),
        api_load: api_load::Load::for_smoke(smoke),
        signups: if smoke { 1 } else { 3 },
        command: std::iter::once("./scripts/bench".to_owned())
            .chain(
                std::env::args()
                    .skip(1)
                    .filter(|a| !a.starts_with("--database-url")),
            )
            .collect::<Vec<_>>()
            .join(" "),
    };

    let docker = docker::connect()
        .await
        .context("connecting to the Docker engine (is dockerd running?)")?;
    let janitor = Arc::new(cleanup::Janitor::default());
    janitor.sweep(&docker, Some(&plan.cluster_url)).await;
    let outcome = tokio::select! {
        outcome = run::run(&plan, &docker, &janitor) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted (Ctrl-C); cleaning up")),
    };
    eprintln!("==> cleaning up");
    janitor.sweep(&docker, Some(&plan.cluster_url)).await;
    let markdown = outcome?;
    println!("{markdown}");
    if args.output.as_os_str() != "-" {
        std::fs::write(&args.output, &markdown)
            .with_context(|| format!("writing {}", args.output.display()))?;
        eprintln!("==> wrote {}", args.output.display());
    }
    Ok(())
}
