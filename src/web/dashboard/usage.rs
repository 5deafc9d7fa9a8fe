//! What the pages show of a tenant's resource usage, from the sampler's history
//! ([`crate::engine::sampler`], the same readings `GET /api/v1/tenants/{name}/metrics` serves):
//! the latest reading as "CPU and memory now", and the charts' points.
//!
//! # Guarantees
//! - Pure, and cheap for the pages: no engine call per tenant (the sampler already made it).
//! - A tenant whose container is not running shows no "now" (old samples are not "now").

use chrono::{DateTime, TimeDelta, Utc};

use super::charts::{Chart, Point, number};
use crate::engine::stats::StatsSample;

/// How far back the detail page's charts reach.
pub const CHART_WINDOW: TimeDelta = TimeDelta::minutes(15);

const MIB: f64 = 1024.0 * 1024.0;

/// The latest reading, for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// "1.2 %", or `None` before the sampler has two readings of the container.
    pub cpu: Option<String>,
    /// "45 MiB".
    pub memory: String,
    /// "96 MiB".
    pub memory_limit: String,
}

impl Usage {
    /// The latest of `samples` (oldest first), when the container is `running`.
    pub fn latest(samples: &[StatsSample], running: bool) -> Option<Usage> {
        let sample = samples.last().filter(|_| running)?;
        Some(Usage {
            cpu: sample.cpu_percent.map(|cpu| format!("{} %", number(cpu))),
            memory: format!("{} MiB", number(sample.memory_bytes as f64 / MIB)),
            memory_limit: format!("{} MiB", number(sample.memory_limit_bytes as f64 / MIB)),
        })
    }
}

/// The CPU chart (percent of one CPU) of `samples` over the window ending at `now`.
pub fn cpu_chart(samples: &[StatsSample], now: DateTime<Utc>) -> Chart {
    let points = samples
        .iter()
        .filter_map(|s| s.cpu_percent.map(|value| Point { at: s.at, value }));
    Chart::new("cpu", "CPU", "%", now - CHART_WINDOW, now, points)
}

/// The memory chart (MiB in use) of `samples` over the window ending at `now`.
pub fn memory_chart(samples: &[StatsSample], now: DateTime<Utc>) -> Chart {
    let points = samples.iter().map(|s| Point {
        at: s.at,
        value: s.memory_bytes as f64 / MIB,
    });
    Chart::new("memory", "Memory", "MiB", now - CHART_WINDOW, now, points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(second: i64, cpu: Option<f64>, memory_mib: u64) -> StatsSample {
        StatsSample {
            at: DateTime::from_timestamp(1_800_000_000 + second, 0).unwrap(),
            cpu_percent: cpu,
            memory_bytes: memory_mib << 20,
            memory_limit_bytes: 96 << 20,
            network_rx_bytes: 0,
            network_tx_bytes: 0,
        }
    }

    #[test]
    fn now_is_the_latest_sample_of_a_running_container() {
        let samples = [sample(0, None, 10), sample(15, Some(1.25), 12)];
        assert_eq!(
            Usage::latest(&samples, true),
            Some(Usage {
                cpu: Some("1.2 %".into()),
                memory: "12 MiB".into(),
                memory_limit: "96 MiB".into(),
            })
        );
        assert_eq!(Usage::latest(&samples, false), None, "not running: no now");
        assert_eq!(Usage::latest(&[], true), None, "no samples yet");
        assert_eq!(
            Usage::latest(&samples[..1], true).unwrap().cpu,
            None,
            "the first reading has no CPU percent"
        );
    }

    #[test]
    fn charts_take_the_window_before_now_and_skip_readings_without_cpu() {
        let samples = [
            sample(0, Some(50.0), 10),
            sample(100, None, 20),
            sample(200, Some(5.0), 30),
        ];
        let now = samples[2].at;
        let cpu = cpu_chart(&samples, now);
        assert_eq!(cpu.points.len(), 2);
        assert_eq!(cpu.minutes(), 15);
        let memory = memory_chart(&samples, now);
        let values: Vec<f64> = memory.points.iter().map(|p| p.value).collect();
        assert_eq!(values, vec![10.0, 20.0, 30.0]);
        let later = now + TimeDelta::minutes(16);
        assert!(
            memory_chart(&samples, later).is_empty(),
            "aged out of the window"
        );
    }
}
