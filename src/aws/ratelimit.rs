//! A client-side request rate limit shared by every caller of one API
//! (FilterLogEvents has a hard quota of 5 requests per second per account
//! and region, shared with every other client of the account).
//!
//! Requests are spaced evenly: the n-th caller gets a slot `interval` after
//! the previous one, with no bursts. Every attempt takes a slot, retries
//! included, so the rate holds whatever happens.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Evenly spaced request slots, shared (behind an `Arc`) by every task that
/// calls the limited API.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use denytrail::aws::RateLimiter;
/// let l = RateLimiter::per_second(50.0).unwrap();
/// let t0 = tokio::time::Instant::now();
/// for _ in 0..5 { l.acquire().await; }
/// // 5 slots at 50/s: the first at once, the fifth 80 ms later.
/// assert!(t0.elapsed().as_millis() >= 80);
/// # });
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// At most `rate` requests per second (`0 < rate <= 1000`).
    pub fn per_second(rate: f64) -> Option<RateLimiter> {
        if !(rate > 0.0 && rate <= 1000.0) {
            return None;
        }
        Some(RateLimiter {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(None),
        })
    }

    /// The spacing between two requests.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Wait for the next free slot. A caller dropped while waiting wastes its
    /// slot (the rate only gets lower).
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |t| t.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn rejects_bad_rates() {
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e6] {
            assert!(RateLimiter::per_second(r).is_none(), "{r}");
        }
    }

    #[tokio::test]
    async fn shared_by_tasks_keeps_the_rate() {
        let l = Arc::new(RateLimiter::per_second(100.0).unwrap());
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let l = l.clone();
            tasks.push(tokio::spawn(async move {
                let mut at = Vec::new();
                for _ in 0..4 {
                    l.acquire().await;
                    at.push(t0.elapsed().as_millis());
                }
                at
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        // 12 requests at 100/s: one every 10 ms at the earliest, never two
        // in the same slot (a late wake-up only spaces them more).
        for (i, at) in all.iter().enumerate() {
            assert!(*at >= i as u128 * 10, "request {i} at {at} ms: {all:?}");
        }
    }
}
