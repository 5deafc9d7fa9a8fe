//! Request limits: a per-caller token bucket on writes, and a request timeout, both answering
//! in the API's error shape.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;

/// Token buckets by caller: `rate` tokens per second, at most `burst` saved up.
pub struct WriteLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl WriteLimiter {
    pub fn new(rate: f64, burst: f64) -> WriteLimiter {
        WriteLimiter {
            rate,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; on refusal, returns how long until one is available.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().expect("never poisoned");
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * self.rate;
        *tokens = (*tokens + refill).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.rate))
        }
    }
}

/// Middleware: writes beyond the caller's rate get 429 with Retry-After.
pub async fn limit_writes(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let is_write = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if is_write {
        let key = request
            .extensions()
            .get::<Principal>()
            .map(Principal::rate_key)
            .unwrap_or_default();
        if let Err(wait) = state.write_limiter.take(&key, Instant::now()) {
            let seconds = wait.as_secs_f64().ceil().max(1.0);
            let mut response = axum::response::IntoResponse::into_response(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                format!("too many writes; retry in {seconds} s"),
            ));
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds as u64),
            );
            return Ok(response);
        }
    }
    Ok(next.run(request).await)
}

/// Middleware: a request whose response has not started within the timeout gets 408.
/// Streaming responses (logs, watch) start at once and are not cut.
pub async fn timeout(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    tokio::time::timeout(state.request_timeout, next.run(request))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "Timeout",
                "the request took too long; try again",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_writes_wait_for_refill() {
        let limiter = WriteLimiter::new(2.0, 3.0);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.take("a", start).unwrap();
        }
        let wait = limiter.take("a", start).unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        limiter
            .take("b", start)
            .expect("callers have separate buckets");
        limiter
            .take("a", start + Duration::from_millis(500))
            .expect("one token refilled after 0.5 s at 2/s");
    }
}
