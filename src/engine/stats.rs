//! Container resource usage from Docker's stats endpoint: one reading per call, reduced to
//! CPU, memory and network the way `docker stats` shows them.
//!
//! Docker (API 1.41+, bollard's `StatsOptions`) offers two one-reading modes:
//! - `stream=false, one-shot=true` takes one reading and leaves `precpu_stats` empty, so the
//!   CPU percent needs an earlier reading of the same container as baseline. The sampler uses
//!   it and keeps that baseline ([`super::sampler`]). Docker 20.10 (measured) still answers
//!   it only at its stats collector's next tick, up to a second later.
//! - `stream=false` alone makes the engine take two readings a second apart (about 1–2 s per
//!   call) and fills `precpu_stats`, so one call yields a CPU percent. The API's `now` uses it.
//!
//! # Guarantees
//! - Every call is counted as the read operation `stats`.
//! - The computations ([`cpu_percent`], [`Reading::from_response`]) are pure.

use bollard::models::{ContainerCpuStats, ContainerStatsResponse};
use bollard::query_parameters::StatsOptions;
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::{Engine, Error, Result, engine_message, status_code};

/// Cumulative CPU counters of one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuCounters {
    /// CPU time the container used since it started, in nanoseconds.
    pub container_ns: u64,
    /// CPU time the whole host used since boot (all CPUs together), in nanoseconds.
    pub system_ns: u64,
    /// CPUs the container may run on.
    pub online_cpus: u32,
}

/// One stats reading, reduced.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// When the engine took it.
    pub at: DateTime<Utc>,
    pub cpu: CpuCounters,
    /// The counters of the engine's earlier reading, when it took two (not one-shot).
    pub previous_cpu: Option<CpuCounters>,
    /// Memory in use without the reclaimable page cache (what `docker stats` shows).
    pub memory_bytes: u64,
    /// The container's memory limit (the host's memory when it has none).
    pub memory_limit_bytes: u64,
    /// Bytes received and sent on all interfaces since the container started.
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
}

/// A reduced sample: what the API shows for a point in time.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsSample {
    pub at: DateTime<Utc>,
    /// Percent of one CPU (200 = two cores busy), as `docker stats` shows; `None` when it
    /// cannot be computed (no earlier reading of the same container).
    pub cpu_percent: Option<f64>,
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
}

impl Reading {
    /// Reduces a stats response; `None` when it holds no reading (the container is not
    /// running: the engine then answers with empty memory stats and a zero date).
    pub fn from_response(response: &ContainerStatsResponse, now: DateTime<Utc>) -> Option<Reading> {
        let memory = response.memory_stats.as_ref()?;
        let usage = memory.usage?;
        let cpu = counters(response.cpu_stats.as_ref()?)?;
        let previous_cpu = response
            .precpu_stats
            .as_ref()
            .and_then(counters)
            .filter(|c| c.system_ns > 0);
        // Like `docker stats`: cgroup v1 reports `total_inactive_file`, v2 `inactive_file`;
        // that cache is reclaimable, so it does not count as used.
        let stats = memory.stats.as_ref();
        let inactive = stats
            .and_then(|s| {
                s.get("total_inactive_file")
                    .or_else(|| s.get("inactive_file"))
            })
            .copied()
            .filter(|inactive| *inactive < usage)
            .unwrap_or(0);
        let (rx, tx) = response
            .networks
            .iter()
            .flat_map(|networks| networks.values())
            .fold((0u64, 0u64), |(rx, tx), n| {
                (
                    rx.saturating_add(n.rx_bytes.unwrap_or(0)),
                    tx.saturating_add(n.tx_bytes.unwrap_or(0)),
                )
            });
        let at = response
            .read
            .as_deref()
            .and_then(|read| DateTime::parse_from_rfc3339(read).ok())
            .map(|at| at.with_timezone(&Utc))
            .filter(|at| at.timestamp() > 0)
            .unwrap_or(now);
        Some(Reading {
            at,
            cpu,
            previous_cpu,
            memory_bytes: usage - inactive,
            memory_limit_bytes: memory.limit.unwrap_or(0),
            network_rx_bytes: rx,
            network_tx_bytes: tx,
        })
    }

    /// The sample, with the CPU percent since `baseline` (an earlier reading of the same
    /// container), or since the engine's own earlier reading when there is none.
    pub fn sample(&self, baseline: Option<CpuCounters>) -> StatsSample {
        StatsSample {
            at: self.at,
            cpu_percent: baseline
                .or(self.previous_cpu)
                .and_then(|before| cpu_percent(before, self.cpu)),
            memory_bytes: self.memory_bytes,
            memory_limit_bytes: self.memory_limit_bytes,
            network_rx_bytes: self.network_rx_bytes,
            network_tx_bytes: self.network_tx_bytes,
        }
    }
}

fn counters(stats: &ContainerCpuStats) -> Option<CpuCounters> {
    let usage = stats.cpu_usage.as_ref()?;
    let online_cpus = match stats.online_cpus {
        Some(n) if n > 0 => n,
        // Older engines: the length of the per-CPU list.
        _ => usage
            .percpu_usage
            .as_ref()
            .map_or(0, |per_cpu| per_cpu.len() as u32),
    };
    Some(CpuCounters {
        container_ns: usage.total_usage?,
        system_ns: stats.system_cpu_usage.unwrap_or(0),
        online_cpus,
    })
}

/// CPU use between two readings as a percent of one CPU, computed as `docker stats` does:
/// the container's share of the host's CPU time, times the number of CPUs.
///
/// `None` when the readings cannot be compared: no host time passed, or the container's
/// counter went backwards (a different or restarted container).
pub fn cpu_percent(before: CpuCounters, after: CpuCounters) -> Option<f64> {
    let system = after.system_ns.checked_sub(before.system_ns)?;
    let container = after.container_ns.checked_sub(before.container_ns)?;
    if system == 0 || before.system_ns == 0 || after.online_cpus == 0 {
        return None;
    }
    Some(container as f64 / system as f64 * f64::from(after.online_cpus) * 100.0)
}

impl Engine {
    /// One stats reading of a container; `Ok(None)` when it is not running.
    ///
    /// `one_shot` answers at once without a CPU baseline; otherwise the engine takes two
    /// readings about a second apart and the reading carries [`Reading::previous_cpu`].
    ///
    /// # Errors
    /// [`Error::NoSuchContainer`] when the engine does not know the id, [`Error::Read`] otherwise.
    pub async fn read_stats(&self, id: &str, one_shot: bool) -> Result<Option<Reading>> {
        self.count("stats", false);
        let options = StatsOptions {
            stream: false,
            one_shot,
        };
        let mut responses = self.docker.stats(id, Some(options));
        match responses.next().await {
            Some(Ok(response)) => Ok(Reading::from_response(&response, Utc::now())),
            Some(Err(e)) if status_code(&e) == Some(404) => {
                Err(Error::NoSuchContainer { id: id.to_owned() })
            }
            Some(Err(e)) => Err(Error::Read {
                what: "stats",
                id: id.to_owned(),
                message: engine_message(&e),
            }),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reading of Docker 20.10 on cgroup v1 (`stream=false`, so with `precpu_stats`),
    /// trimmed to the fields used.
    const CGROUP_V1: &str = r#"{
        "read": "2026-11-23T16:13:24.327946716Z",
        "preread": "2026-11-23T16:13:23.317004715Z",
        "cpu_stats": {"cpu_usage": {"total_usage": 53125316, "percpu_usage": [11996152, 41129164]},
                      "system_cpu_usage": 6715200000000, "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 34139793},
                         "system_cpu_usage": 6713220000000, "online_cpus": 2},
        "memory_stats": {"usage": 2785280, "limit": 100663296,
                         "stats": {"total_inactive_file": 2105344, "inactive_file": 2105344}},
        "networks": {"eth0": {"rx_bytes": 1000, "tx_bytes": 200}, "eth1": {"rx_bytes": 24, "tx_bytes": 6}}
    }"#;

    /// What the engine answers for a container that is not running.
    const NOT_RUNNING: &str = r#"{
        "read": "0001-01-01T00:00:00Z",
        "cpu_stats": {"cpu_usage": {"total_usage": 0}},
        "precpu_stats": {"cpu_usage": {"total_usage": 0}},
        "memory_stats": {}
    }"#;

    fn response(json: &str) -> ContainerStatsResponse {
        serde_json::from_str(json).expect("the fixture is a stats response")
    }

    #[test]
    fn a_cgroup_v1_reading_reduces_like_docker_stats() {
        let reading = Reading::from_response(&response(CGROUP_V1), Utc::now()).unwrap();
        assert_eq!(
            reading.memory_bytes,
            2785280 - 2105344,
            "the inactive page cache is not counted as used"
        );
        assert_eq!(reading.memory_limit_bytes, 96 << 20);
        assert_eq!(
            (reading.network_rx_bytes, reading.network_tx_bytes),
            (1024, 206)
        );
        assert_eq!(
            reading.at.to_rfc3339(),
            "2026-11-23T16:13:24.327946716+00:00"
        );
        let percent = reading.sample(None).cpu_percent.unwrap();
        // (53125316 - 34139793) / (6715200000000 - 6713220000000) * 2 * 100
        assert!((percent - 1.917_729_6).abs() < 1e-6, "{percent}");
    }

    #[test]
    fn a_not_running_container_has_no_reading() {
        assert_eq!(
            Reading::from_response(&response(NOT_RUNNING), Utc::now()),
            None
        );
    }

    #[test]
    fn cpu_percent_is_the_share_of_host_time_times_the_cpus() {
        let before = CpuCounters {
            container_ns: 1_000,
            system_ns: 10_000,
            online_cpus: 4,
        };
        let after = CpuCounters {
            container_ns: 2_000,
            system_ns: 14_000,
            online_cpus: 4,
        };
        assert_eq!(
            cpu_percent(before, after),
            Some(100.0),
            "one of four CPUs busy"
        );
        let idle = CpuCounters {
            container_ns: 1_000,
            ..after
        };
        assert_eq!(cpu_percent(before, idle), Some(0.0));
    }

    #[test]
    fn cpu_percent_is_unknown_when_readings_cannot_be_compared() {
        let before = CpuCounters {
            container_ns: 5_000,
            system_ns: 10_000,
            online_cpus: 2,
        };
        let restarted = CpuCounters {
            container_ns: 100,
            system_ns: 20_000,
            online_cpus: 2,
        };
        assert_eq!(
            cpu_percent(before, restarted),
            None,
            "counter went backwards"
        );
        assert_eq!(cpu_percent(before, before), None, "no host time passed");
        let empty_baseline = CpuCounters {
            container_ns: 0,
            system_ns: 0,
            online_cpus: 0,
        };
        assert_eq!(
            cpu_percent(empty_baseline, before),
            None,
            "a one-shot reading's empty precpu is no baseline"
        );
    }

    #[test]
    fn a_one_shot_reading_uses_the_given_baseline() {
        let mut one_shot = response(CGROUP_V1);
        one_shot.precpu_stats = None;
        let reading = Reading::from_response(&one_shot, Utc::now()).unwrap();
        assert_eq!(reading.sample(None).cpu_percent, None);
        let baseline = CpuCounters {
            container_ns: 53125316 - 19_800_000,
            system_ns: 6715200000000 - 1_980_000_000,
            online_cpus: 2,
        };
        let percent = reading.sample(Some(baseline)).cpu_percent.unwrap();
        assert!((percent - 2.0).abs() < 1e-9, "{percent}");
    }
}
