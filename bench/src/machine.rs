//! The machine a run measured: CPU, cores, memory, kernel, load, Docker, Compose, Postgres
//! and the tenantd commit, each read from the system (never assumed), or "unknown".

use bollard::Docker;

/// What the report says about where it ran.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory: String,
    pub kernel: String,
    pub docker: String,
    pub compose: String,
    pub postgres: String,
    pub commit: String,
}

const UNKNOWN: &str = "unknown";

impl Machine {
    pub async fn describe(docker: &Docker, cluster_url: &str) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, model)| model.trim().to_owned())
            .unwrap_or_else(|| UNKNOWN.into());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map(|kib| format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)))
            .unwrap_or_else(|| UNKNOWN.into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_owned())
            .unwrap_or_else(|_| UNKNOWN.into());
        let docker = match docker.version().await {
            Ok(v) => format!(
                "{} (API {})",
                v.version.unwrap_or_default(),
                v.api_version.unwrap_or_default()
            ),
            Err(_) => UNKNOWN.into(),
        };
        let compose = crate::docker::run_tool("docker-compose", ["version", "--short"])
            .await
            .unwrap_or_else(|_| UNKNOWN.into());
        let postgres = postgres_version(cluster_url)
            .await
            .unwrap_or_else(|| UNKNOWN.into());
        let commit = commit().await.unwrap_or_else(|| UNKNOWN.into());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory,
            kernel,
            docker,
            compose,
            postgres,
            commit,
        }
    }
}

async fn postgres_version(url: &str) -> Option<String> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .ok()?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pool)
        .await
        .ok()?;
    pool.close().await;
    Some(version)
}

/// The short commit, with "+changes" when the worktree differs from it.
async fn commit() -> Option<String> {
    let head = crate::docker::run_tool("git", ["rev-parse", "--short", "HEAD"])
        .await
        .ok()?;
    let dirty = crate::docker::run_tool("git", ["status", "--porcelain", "--untracked-files=no"])
        .await
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    Some(if dirty {
        format!("{head}+changes")
    } else {
        head
    })
}

/// The 1-minute load average, to show how busy the machine was.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
