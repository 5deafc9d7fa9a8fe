//! The workload every contender runs: one image, the same limits, the same health check and
//! environment per tenant, and the names and labels that mark everything the harness creates.
//!
//! # Guarantees
//! - Every container, service and network a contender creates carries [`OWNER_LABEL`] and
//!   (containers) a per-run label, or is named with [`NAME_PREFIX`], so cleanup removes only
//!   what this harness made.
//! - Names are built from a random hex run id and numbers only, so they are valid Docker
//!   names, tenant names and compose project names, and never need quoting.

use std::collections::BTreeMap;
use std::time::Duration;

use tenantd::engine::Healthcheck;

/// Label on everything the harness creates; cleanup filters on it.
pub const OWNER_LABEL: &str = "tenantd-bench";
/// Label whose value names one contender's run; waiting filters on it.
pub const RUN_LABEL: &str = "tenantd-bench.run";
/// Prefix of every network, compose project and swarm service name.
pub const NAME_PREFIX: &str = "tenantd-bench-";

/// The test image's health check (its Dockerfile's `HEALTHCHECK CMD`).
pub const HEALTH_TEST: [&str; 3] = ["CMD", "/testapp", "healthcheck"];

/// What each tenant runs, identical for every contender.
#[derive(Debug, Clone)]
pub struct Workload {
    pub image: String,
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub pids: i64,
    /// [`HEALTH_TEST`] with these timings, for every contender (Docker 20.10
    /// has no `start_interval`, so the first check runs one `interval` after start).
    pub healthcheck: Healthcheck,
    /// The app's port; nothing connects to it, but tenantd needs it for its routing labels.
    pub port: u16,
    /// Environment of every tenant container besides what tenantd injects (see the report).
    pub env: BTreeMap<String, String>,
}

impl Workload {
    pub fn new(image: &str, health_interval: Duration) -> Workload {
        Workload {
            image: image.to_owned(),
            // The real-world tests' tenant size: small enough for 500 on a laptop.
            memory_bytes: 96 << 20,
            nano_cpus: 250_000_000,
            pids: 64,
            // The image's own HEALTHCHECK command, spelled out: Compose and Swarm need a test
            // to override the timings, and the same spelling keeps every contender equal.
            healthcheck: Healthcheck {
                test: Some(HEALTH_TEST.iter().map(|s| (*s).to_owned()).collect()),
                interval: health_interval,
                timeout: Duration::from_secs(2),
                start_period: Duration::from_secs(1),
                retries: 3,
            },
            port: 8080,
            env: BTreeMap::from([("GREETING".into(), "hello".into())]),
        }
    }

    /// Docker's `--memory` syntax for the CLI-driven contenders.
    pub fn memory_cli(&self) -> String {
        format!("{}m", self.memory_bytes >> 20)
    }

    /// CPUs as a decimal for `--limit-cpu` and compose's `cpus`.
    pub fn cpus_decimal(&self) -> String {
        format!("{}", self.nano_cpus as f64 / 1e9)
    }
}

/// Durations in the Go syntax the Docker CLI and Compose accept (`1500ms`).
pub fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Names of one benchmark invocation: a random run id shared by all its contenders.
#[derive(Debug, Clone)]
pub struct RunNames {
    /// 8 lowercase hex digits.
    pub id: String,
}

impl RunNames {
    pub fn new() -> RunNames {
        RunNames {
            id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        }
    }

    /// The name of one contender's attempt, e.g. `tenantd-bench-1a2b3c4d-floor-10-2`: used for
    /// its network, its compose project, and as the value of [`RUN_LABEL`].
    pub fn attempt(&self, contender: &str, n: usize, repetition: usize) -> String {
        format!("{NAME_PREFIX}{}-{contender}-{n}-{repetition}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_names_carry_the_prefix_and_are_valid_docker_names() {
        let names = RunNames::new();
        let name = names.attempt("floor", 10, 1);
        assert!(name.starts_with(NAME_PREFIX));
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
    }

    #[test]
    fn cli_forms_of_the_limits() {
        let w = Workload::new("img", Duration::from_secs(1));
        assert_eq!(w.memory_cli(), "96m");
        assert_eq!(w.cpus_decimal(), "0.25");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
    }
}
