//! The metrics sampler: every period, one one-shot stats call per running tenant container,
//! kept in memory as a bounded ring of samples per tenant (the history behind the API's
//! `GET /tenants/{name}/metrics`).
//!
//! # Guarantees
//! - At most one stats call per running container per period: a round that overruns the
//!   period makes the sampler skip ticks, never catch up in a burst. (A one-shot call can take
//!   up to a second on older engines, so periods below that sample about once a second.)
//! - Only containers the cache shows running are read; stopped tenants get no new samples
//!   (their earlier ones stay until they age out of the ring).
//! - A tenant without any container for two rounds in a row is forgotten. Two, not one, so a
//!   recreate (remove, then create under the same name) does not erase the tenant's history.
//! - Memory is bounded: at most [`MAX_SAMPLES`] samples (about 56 bytes each) per tenant.
//! - A period of zero means no sampler: [`Engine::run_stats_sampler`] returns at once.
//!
//! # Caveats
//! - The history lives in memory only; a restart of tenantd starts it empty.
//! - Network counters are the container's own: they restart from zero with a new container.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::stats::{CpuCounters, Reading, StatsSample};
use super::{Engine, ObservedContainer, RunState};

/// How far back the history reaches at most.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// The most samples kept per tenant: 24 hours at the default period of 15 s.
pub const MAX_SAMPLES: usize = 24 * 60 * 4;
/// How many stats calls one round makes at a time. Docker 20.10 (measured) answers a one-shot
/// call only at its stats collector's next tick (up to a second), so calls mostly wait; 32 at
/// a time sample a few hundred containers within the default period.
const PARALLEL_CALLS: usize = 32;
/// Rounds a tenant may be without a container before its history is dropped.
const ABSENT_ROUNDS_BEFORE_DROP: u32 = 2;

/// Samples of one tenant.
#[derive(Debug, Default)]
struct TenantSamples {
    /// The tenant incarnation (uid label) the samples belong to; a new one starts over.
    uid: Option<String>,
    /// Oldest first; never longer than the ring's capacity.
    samples: VecDeque<StatsSample>,
    /// The previous reading's CPU counters and the container they came from: the next
    /// reading of the same container gets its CPU percent against them.
    baseline: Option<(String, CpuCounters)>,
    /// Consecutive rounds in which the tenant had no container.
    absent_rounds: u32,
}

#[derive(Debug, Default)]
struct Inner {
    /// The sampler's period; zero while no sampler runs.
    period: Duration,
    tenants: HashMap<String, TenantSamples>,
}

/// The sampled history of every tenant; shared by the sampler (writes) and the API (reads).
#[derive(Debug, Default)]
pub struct History {
    inner: Mutex<Inner>,
}

/// How many samples a ring keeps at `period`: 24 hours' worth, at most [`MAX_SAMPLES`].
pub fn capacity_for(period: Duration) -> usize {
    if period.is_zero() {
        return MAX_SAMPLES;
    }
    let wanted = MAX_AGE.as_secs_f64() / period.as_secs_f64();
    (wanted.ceil() as usize).clamp(1, MAX_SAMPLES)
}

impl History {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .expect("the history lock is never held across a panic")
    }

    /// The sampler's period; zero when none runs.
    pub fn period(&self) -> Duration {
        self.lock().period
    }

    fn set_period(&self, period: Duration) {
        self.lock().period = period;
    }

    /// Records a reading of `tenant`'s container `container_id`; returns the sample stored.
    pub fn record(
        &self,
        tenant: &str,
        uid: Option<&str>,
        container_id: &str,
        reading: &Reading,
    ) -> StatsSample {
        let mut inner = self.lock();
        let capacity = capacity_for(inner.period);
        let entry = inner.tenants.entry(tenant.to_owned()).or_default();
        if entry.uid.as_deref() != uid {
            // Another tenant under the same name: none of the old samples are its.
            *entry = TenantSamples {
                uid: uid.map(str::to_owned),
                ..TenantSamples::default()
            };
        }
        let baseline = entry
            .baseline
            .as_ref()
            .filter(|(id, _)| id == container_id)
            .map(|(_, counters)| *counters);
        let sample = reading.sample(baseline);
        entry.baseline = Some((container_id.to_owned(), reading.cpu));
        entry.absent_rounds = 0;
        while entry.samples.len() >= capacity {
            entry.samples.pop_front();
        }
        entry.samples.push_back(sample.clone());
        sample
    }

    /// The tenant has a container but it is not running: keep its samples, forget the CPU
    /// baseline (a started container's counters start over).
    pub fn not_running(&self, tenant: &str) {
        if let Some(entry) = self.lock().tenants.get_mut(tenant) {
            entry.baseline = None;
            entry.absent_rounds = 0;
        }
    }

    /// Ends a round: tenants not in `with_containers` count one more absent round and are
    /// dropped after [`ABSENT_ROUNDS_BEFORE_DROP`]; samples older than [`MAX_AGE`] go.
    pub fn end_round(&self, with_containers: &BTreeSet<String>, now: DateTime<Utc>) {
        let oldest = now - TimeDelta::from_std(MAX_AGE).expect("24 h fits a TimeDelta");
        self.lock().tenants.retain(|tenant, entry| {
            if with_containers.contains(tenant) {
                entry.absent_rounds = 0;
            } else {
                entry.absent_rounds += 1;
            }
            while entry.samples.front().is_some_and(|s| s.at < oldest) {
                entry.samples.pop_front();
            }
            entry.absent_rounds < ABSENT_ROUNDS_BEFORE_DROP
        });
    }

    /// The tenant's samples taken at or after `from`, oldest first.
    pub fn since(&self, tenant: &str, from: DateTime<Utc>) -> Vec<StatsSample> {
        self.lock()
            .tenants
            .get(tenant)
            .map_or_else(Vec::new, |entry| {
                // Samples are in time order: skip the older ones, copy the rest.
                let start = entry.samples.partition_point(|s| s.at < from);
                entry.samples.range(start..).cloned().collect()
            })
    }

    /// Tenants with a history (for tests and diagnostics).
    pub fn tenants(&self) -> BTreeSet<String> {
        self.lock().tenants.keys().cloned().collect()
    }
}

impl Engine {
    /// The sampled history of every tenant.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Samples every running tenant container each `period` until `shutdown` becomes true
    /// (or its sender is dropped). Returns at once when `period` is zero.
    ///
    /// # Assumptions
    /// One sampler per engine; it is safe to cancel at any await.
    pub async fn run_stats_sampler(&self, period: Duration, mut shutdown: watch::Receiver<bool>) {
        if period.is_zero() {
            return;
        }
        self.history.set_period(period);
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            tokio::select! {
                _ = self.sample_round() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        self.history.set_period(Duration::ZERO);
    }

    /// One round: a one-shot stats call per running primary container (no list call: the
    /// containers come from the cache).
    async fn sample_round(&self) {
        // Before the first relist an empty cache proves nothing; dropping histories on it
        // would be wrong.
        if !self.is_synced() {
            return;
        }
        let with_containers = self.tenants_with_containers();
        let mut running: Vec<ObservedContainer> = Vec::new();
        for tenant in &with_containers {
            match self.primary_container(tenant) {
                Some(container) if container.state == RunState::Running => running.push(container),
                _ => self.history.not_running(tenant),
            }
        }
        let readings: Vec<_> = futures::stream::iter(running)
            .map(|container| async move {
                let reading = self.read_stats(&container.id, true).await;
                (container, reading)
            })
            .buffer_unordered(PARALLEL_CALLS)
            .collect()
            .await;
        for (container, reading) in readings {
            match reading {
                Ok(Some(reading)) => {
                    self.history.record(
                        &container.tenant,
                        container.uid.as_deref(),
                        &container.id,
                        &reading,
                    );
                }
                // Stopped between the cache read and the call.
                Ok(None) => self.history.not_running(&container.tenant),
                Err(e) => {
                    tracing::debug!(tenant = %container.tenant, error = %e, "metrics sampler: no reading")
                }
            }
        }
        self.history.end_round(&with_containers, Utc::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + second, 0).unwrap()
    }

    fn reading(second: i64, container_ns: u64) -> Reading {
        Reading {
            at: at(second),
            cpu: CpuCounters {
                container_ns,
                system_ns: 1_000_000_000 * second as u64,
                online_cpus: 1,
            },
            previous_cpu: None,
            memory_bytes: 1 << 20,
            memory_limit_bytes: 96 << 20,
            network_rx_bytes: 0,
            network_tx_bytes: 0,
        }
    }

    fn history(period: Duration) -> History {
        let history = History::default();
        history.set_period(period);
        history
    }

    #[test]
    fn capacity_is_a_day_at_the_period_capped() {
        assert_eq!(capacity_for(Duration::from_secs(15)), MAX_SAMPLES);
        assert_eq!(capacity_for(Duration::from_secs(60)), 24 * 60);
        assert_eq!(capacity_for(Duration::from_millis(200)), MAX_SAMPLES);
        assert_eq!(capacity_for(Duration::from_secs(48 * 3600)), 1);
    }

    #[test]
    fn the_ring_keeps_only_the_newest_samples() {
        let history = history(Duration::from_secs(12 * 3600)); // capacity 2
        for second in 1..=5 {
            history.record("a", Some("u"), "c", &reading(second, 0));
        }
        let kept: Vec<_> = history.since("a", at(0)).iter().map(|s| s.at).collect();
        assert_eq!(kept, vec![at(4), at(5)]);
    }

    #[test]
    fn since_returns_samples_at_or_after_the_start_oldest_first() {
        let history = history(Duration::from_secs(1));
        for second in 1..=10 {
            history.record("a", Some("u"), "c", &reading(second, 0));
        }
        let got: Vec<_> = history.since("a", at(8)).iter().map(|s| s.at).collect();
        assert_eq!(got, vec![at(8), at(9), at(10)]);
        assert!(history.since("a", at(11)).is_empty());
        assert!(history.since("unknown", at(0)).is_empty());
    }

    #[test]
    fn cpu_percent_is_computed_against_the_same_containers_previous_reading() {
        let history = history(Duration::from_secs(1));
        let first = history.record("a", Some("u"), "c1", &reading(1, 0));
        assert_eq!(first.cpu_percent, None, "no baseline yet");
        // Half a second of CPU in one second of host time on one CPU: 50 %.
        let second = history.record("a", Some("u"), "c1", &reading(2, 500_000_000));
        assert_eq!(second.cpu_percent, Some(50.0));
        let recreated = history.record("a", Some("u"), "c2", &reading(3, 900_000_000));
        assert_eq!(
            recreated.cpu_percent, None,
            "another container's counters are no baseline"
        );
        history.not_running("a");
        let restarted = history.record("a", Some("u"), "c2", &reading(4, 950_000_000));
        assert_eq!(restarted.cpu_percent, None, "a stop forgets the baseline");
        assert_eq!(history.since("a", at(0)).len(), 4, "samples survive a stop");
    }

    #[test]
    fn a_tenant_without_containers_is_dropped_after_two_rounds() {
        let history = history(Duration::from_secs(1));
        history.record("gone", Some("u"), "c", &reading(1, 0));
        history.record("kept", Some("u"), "c", &reading(1, 0));
        let only_kept = BTreeSet::from(["kept".to_owned()]);
        history.end_round(&only_kept, at(2));
        assert_eq!(
            history.tenants().len(),
            2,
            "one absent round (a recreate) keeps the history"
        );
        history.end_round(&only_kept, at(3));
        assert_eq!(history.tenants(), only_kept);
    }

    #[test]
    fn a_new_incarnation_under_the_same_name_starts_a_new_history() {
        let history = history(Duration::from_secs(1));
        history.record("a", Some("old"), "c1", &reading(1, 0));
        history.record("a", Some("new"), "c2", &reading(2, 0));
        let samples = history.since("a", at(0));
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].at, at(2));
    }

    #[test]
    fn samples_older_than_a_day_age_out() {
        let history = history(Duration::from_secs(1));
        history.record("a", Some("u"), "c", &reading(0, 0));
        history.record("a", Some("u"), "c", &reading(10, 0));
        let present = BTreeSet::from(["a".to_owned()]);
        history.end_round(&present, at(5) + TimeDelta::hours(24));
        let left: Vec<_> = history.since("a", at(0)).iter().map(|s| s.at).collect();
        assert_eq!(left, vec![at(10)]);
    }
}
