//! Login and signup rate limits: token buckets per IP and per account, in memory.
//!
//! In memory rather than in Postgres because tenantd is one process, counters lost on restart
//! cost little, and a table written on every failed attempt would turn a guessing flood into
//! a write flood. Buckets that are full again are dropped, so memory stays bounded by the
//! number of keys active in the last window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `capacity` attempts per `window`, refilled continuously: after a burst of `capacity`, one
/// more attempt every `window / capacity`.
pub struct RateLimiter {
    capacity: f64,
    window: Duration,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(capacity: u32, window: Duration) -> RateLimiter {
        assert!(
            capacity > 0 && !window.is_zero(),
            "a rate limit allows something"
        );
        RateLimiter {
            capacity: f64::from(capacity),
            window,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn rate(&self) -> f64 {
        self.capacity / self.window.as_secs_f64()
    }

    /// Takes one attempt for `key`; on refusal, how long until the next is allowed.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let rate = self.rate();
        let mut buckets = self.buckets.lock().expect("never poisoned");
        if buckets.len() > 10_000 {
            // Forget keys whose bucket refilled completely: they carry no state.
            let capacity = self.capacity;
            buckets.retain(|_, (tokens, last)| {
                *tokens + now.saturating_duration_since(*last).as_secs_f64() * rate < capacity
            });
        }
        let (tokens, last) = buckets
            .entry(key.to_owned())
            .or_insert((self.capacity, now));
        *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * rate)
            .min(self.capacity);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_attempts_pass_then_the_eleventh_waits_for_a_refill() {
        let limiter = RateLimiter::new(10, Duration::from_secs(15 * 60));
        let start = Instant::now();
        for attempt in 0..10 {
            limiter
                .take("account:a@b.io", start)
                .unwrap_or_else(|_| panic!("attempt {attempt} is allowed"));
        }
        let wait = limiter.take("account:a@b.io", start).unwrap_err();
        assert!(
            wait > Duration::from_secs(80) && wait <= Duration::from_secs(90),
            "one attempt every 90 s: {wait:?}"
        );
        limiter
            .take("account:c@d.io", start)
            .expect("other keys have their own bucket");
        limiter
            .take("account:a@b.io", start + Duration::from_secs(90))
            .expect("refilled one attempt after 90 s");
        assert!(
            limiter
                .take("account:a@b.io", start + Duration::from_secs(91))
                .is_err()
        );
    }
}
