//! Delays and deduplicates reconcile requests, keeps one reconcile per tenant at a time, and
//! computes per-tenant exponential backoff with jitter.
//!
//! # Guarantees
//! - A key is scheduled at most once: scheduling it again keeps the earlier due time.
//! - A key is never handed out while a run for it is in progress; a request that comes due
//!   meanwhile runs once more right after, so no change is lost.
//! - Backoff grows per key and resets on that key's success only.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use tokio::time::Instant;
use tokio_util::time::{DelayQueue, delay_queue};

/// Pending and running reconcile keys.
#[derive(Default)]
pub struct Scheduler {
    queue: DelayQueue<String>,
    /// Every key in `queue`, with its queue handle and due time.
    scheduled: HashMap<String, (delay_queue::Key, Instant)>,
    /// Keys handed out and not yet finished.
    running: HashSet<String>,
    /// Keys that came due while running; they are rescheduled at once when the run finishes.
    rerun: HashSet<String>,
}

impl Scheduler {
    /// Asks for `key` to run after `delay`, unless it is already due sooner.
    pub fn schedule(&mut self, key: &str, delay: Duration) {
        let due = Instant::now() + delay;
        match self.scheduled.get_mut(key) {
            Some((handle, current)) => {
                if due < *current {
                    self.queue.reset_at(handle, due);
                    *current = due;
                }
            }
            None => {
                let handle = self.queue.insert_at(key.to_owned(), due);
                self.scheduled.insert(key.to_owned(), (handle, due));
            }
        }
    }

    /// Keys waiting to run (scheduled, or due again while running).
    pub fn depth(&self) -> usize {
        self.scheduled.len() + self.rerun.len()
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Whether [`Scheduler::next_due`] could yield anything.
    pub fn has_scheduled(&self) -> bool {
        !self.scheduled.is_empty()
    }

    /// The next key that is due and not running; it counts as running until [`Scheduler::finish`].
    /// Waits for the earliest due time. Returns `None` when nothing is scheduled.
    pub async fn next_due(&mut self) -> Option<String> {
        loop {
            let expired = self.queue.next().await?;
            let key = expired.into_inner();
            self.scheduled.remove(&key);
            if self.running.contains(&key) {
                self.rerun.insert(key);
                continue;
            }
            self.running.insert(key.clone());
            return Some(key);
        }
    }

    /// Marks the run of `key` as done; reruns it at once if it came due meanwhile.
    pub fn finish(&mut self, key: &str) {
        let was_running = self.running.remove(key);
        debug_assert!(
            was_running,
            "finish is called only for keys handed out by next_due"
        );
        if self.rerun.remove(key) {
            self.schedule(key, Duration::ZERO);
        }
    }
}

/// Per-key exponential backoff with jitter (client-go's shape: base doubling up to a cap).
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: HashMap<String, u32>,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            failures: HashMap::new(),
        }
    }

    /// Records a failure of `key`; returns how long to wait before retrying it.
    /// The delay is `base · 2^(failures-1)`, capped, then scaled by a random 0.5–1.0 so that
    /// tenants failing together do not retry in lockstep.
    pub fn failed(&mut self, key: &str) -> Duration {
        let failures = self.failures.entry(key.to_owned()).or_default();
        *failures = failures.saturating_add(1);
        let exponent = (*failures - 1).min(30);
        let delay = self.base.saturating_mul(1u32 << exponent).min(self.max);
        delay.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Forgets the key's failures.
    pub fn succeeded(&mut self, key: &str) {
        self.failures.remove(key);
    }

    pub fn failures(&self, key: &str) -> u32 {
        self.failures.get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn scheduling_twice_keeps_the_earlier_due_time_and_yields_once() {
        let mut scheduler = Scheduler::default();
        scheduler.schedule("a", Duration::from_secs(10));
        scheduler.schedule("a", Duration::from_secs(1));
        scheduler.schedule("a", Duration::from_secs(5));
        let start = Instant::now();
        assert_eq!(scheduler.next_due().await.as_deref(), Some("a"));
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(scheduler.depth(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_due_while_running_runs_again_after_finish_and_not_before() {
        let mut scheduler = Scheduler::default();
        scheduler.schedule("a", Duration::ZERO);
        assert_eq!(scheduler.next_due().await.as_deref(), Some("a"));
        scheduler.schedule("a", Duration::ZERO);
        scheduler.schedule("b", Duration::from_millis(1));
        // "a" is running: the scheduler hands out "b" instead.
        assert_eq!(scheduler.next_due().await.as_deref(), Some("b"));
        assert_eq!(scheduler.depth(), 1, "a waits as a rerun");
        scheduler.finish("a");
        assert_eq!(scheduler.next_due().await.as_deref(), Some("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn keys_come_out_in_due_order() {
        let mut scheduler = Scheduler::default();
        scheduler.schedule("late", Duration::from_secs(3));
        scheduler.schedule("early", Duration::from_secs(1));
        assert_eq!(scheduler.next_due().await.as_deref(), Some("early"));
        assert_eq!(scheduler.next_due().await.as_deref(), Some("late"));
        assert_eq!(scheduler.next_due().await, None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets_on_success() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<_> = (0..6).map(|_| backoff.failed("a")).collect();
        for (i, delay) in delays.iter().enumerate() {
            let full = Duration::from_millis(100 * (1 << i)).min(Duration::from_secs(1));
            assert!(
                *delay >= full / 2 && *delay <= full,
                "#{i}: {delay:?} vs {full:?}"
            );
        }
        assert_eq!(backoff.failures("b"), 0, "keys back off independently");
        backoff.succeeded("a");
        assert!(backoff.failed("a") <= Duration::from_millis(100));
    }
}
