//! The client-side limiter per GHL location, so that normal traffic never earns a 429.
//!
//! GHL counts requests in a window (100 per 10 s) and per day (200,000). The limiter
//! admits at most `headroom` of the window's allowance in any window: a GCRA (governor)
//! whose burst plus its refills over one window stays under that share. The server's
//! `X-RateLimit-Remaining: 0` or a 429 pauses the location for one window, which covers
//! traffic from other clients of the same app that this process cannot see.

use std::{collections::HashMap, num::NonZeroU32, sync::Mutex, time::Duration};

use governor::{
    Quota, RateLimiter, clock::Clock, middleware::NoOpMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::UpstreamError;

/// GHL's published limits and the share of them this client may use.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClientRateLimit {
    /// Requests per window at GHL (`X-RateLimit-Max`).
    pub max_per_interval: u32,
    /// The window (`X-RateLimit-Interval-Milliseconds`).
    pub interval_ms: u64,
    /// Requests per day at GHL.
    pub daily: u32,
    /// Share of each limit this client uses, leaving room for other clients of the app.
    pub headroom: f64,
}

impl Default for ClientRateLimit {
    fn default() -> Self {
        Self {
            max_per_interval: 100,
            interval_ms: 10_000,
            daily: 200_000,
            headroom: 0.9,
        }
    }
}

/// governor on tokio's clock, so that tests can pause and advance time.
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, TokioClock, NoOpMiddleware<Duration>>;

/// Per-location limiter shared by every request of the process.
#[derive(Debug)]
pub struct LocationLimiter {
    window: Keyed,
    daily: Keyed,
    clock: TokioClock,
    interval: Duration,
    paused_until: Mutex<HashMap<String, Instant>>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least one")
}

impl LocationLimiter {
    pub fn new(cfg: ClientRateLimit) -> Self {
        let clock = TokioClock {
            origin: Instant::now(),
        };
        let interval = Duration::from_millis(cfg.interval_ms.max(1));
        let allowed = ((f64::from(cfg.max_per_interval) * cfg.headroom).floor() as u32).max(2);
        let burst = (allowed / 10).max(1);
        let refill = interval / (allowed - burst);
        let window_quota = Quota::with_period(refill)
            .expect("non-zero refill period")
            .allow_burst(nz(burst));
        let daily_allowed = ((f64::from(cfg.daily) * cfg.headroom).floor() as u32).max(1);
        let day = Duration::from_secs(24 * 60 * 60);
        let daily_quota = Quota::with_period(day / daily_allowed)
            .expect("non-zero daily period")
            .allow_burst(nz(daily_allowed));
        Self {
            window: RateLimiter::new(window_quota, DefaultKeyedStateStore::default(), clock),
            daily: RateLimiter::new(daily_quota, DefaultKeyedStateStore::default(), clock),
            clock,
            interval,
            paused_until: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until a request for `location` may go out, at most `max_wait`. Sends nothing
    /// while GHL says no, but fails at once (rate limited, with how long is left) when the
    /// location is paused for longer than `max_wait` or the day's budget is spent, rather
    /// than holding the caller for minutes or hours.
    pub async fn acquire(&self, location: &str, max_wait: Duration) -> Result<(), UpstreamError> {
        let key = location.to_owned();
        let give_up = Instant::now().checked_add(max_wait);
        loop {
            let pause = self
                .paused_until
                .lock()
                .expect("pause lock")
                .get(location)
                .copied();
            if let Some(until) = pause.filter(|u| *u > Instant::now()) {
                if give_up.is_some_and(|g| until > g) {
                    return Err(UpstreamError::RateLimited {
                        retry_after: Some(until - Instant::now()),
                        daily_exhausted: false,
                    });
                }
                tokio::time::sleep_until(until).await;
                continue;
            }
            match self.window.check_key(&key) {
                Ok(()) => break,
                Err(not_until) => {
                    tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await
                }
            }
        }
        self.daily
            .check_key(&key)
            .map_err(|not_until| UpstreamError::RateLimited {
                retry_after: Some(not_until.wait_time_from(self.clock.now())),
                daily_exhausted: true,
            })
    }

    /// How much longer GHL has told the gateway to send nothing for `location`, if it has.
    pub fn paused_for(&self, location: &str) -> Option<Duration> {
        let until = *self
            .paused_until
            .lock()
            .expect("pause lock")
            .get(location)?;
        until
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
    }

    /// Reads GHL's answer: when it says the window is spent, hold this location's
    /// requests for `wait` (or one window).
    pub fn observe(&self, location: &str, remaining: Option<u32>, wait: Option<Duration>) {
        if remaining == Some(0) || wait.is_some() {
            let until = Instant::now() + wait.unwrap_or(self.interval);
            let mut paused = self.paused_until.lock().expect("pause lock");
            let slot = paused.entry(location.to_owned()).or_insert(until);
            *slot = (*slot).max(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_share() {
        let limiter = LocationLimiter::new(ClientRateLimit::default());
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..300 {
            limiter
                .acquire("loc", Duration::MAX)
                .await
                .expect("daily budget left");
            times.push(start.elapsed());
        }
        let window = Duration::from_secs(10);
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|u| **u < *t + window).count();
            assert!(
                in_window <= 90,
                "{in_window} requests in the window from {t:?}"
            );
        }
        assert!(
            times[299] < Duration::from_secs(40),
            "too slow: {:?}",
            times[299]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn locations_have_their_own_budget() {
        let limiter = LocationLimiter::new(ClientRateLimit::default());
        let start = Instant::now();
        for _ in 0..9 {
            limiter.acquire("a", Duration::MAX).await.expect("budget");
            limiter.acquire("b", Duration::MAX).await.expect("budget");
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "bursts do not wait");
    }

    #[tokio::test(start_paused = true)]
    async fn an_exhausted_server_window_pauses_the_location() {
        let limiter = LocationLimiter::new(ClientRateLimit::default());
        limiter.observe("loc", Some(0), None);
        let start = Instant::now();
        limiter.acquire("loc", Duration::MAX).await.expect("budget");
        assert!(start.elapsed() >= Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_longer_than_the_deadline_fails_fast_and_says_how_long() {
        let limiter = LocationLimiter::new(ClientRateLimit::default());
        limiter.observe("loc", None, Some(Duration::from_secs(3600)));
        let start = Instant::now();
        let err = limiter
            .acquire("loc", Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(start.elapsed(), Duration::ZERO, "no wait");
        let UpstreamError::RateLimited {
            retry_after: Some(left),
            daily_exhausted: false,
        } = err
        else {
            panic!("rate limited: {err:?}");
        };
        assert!(left > Duration::from_secs(3590), "{left:?}");
        limiter.observe("other", None, Some(Duration::from_secs(5)));
        limiter
            .acquire("other", Duration::from_secs(10))
            .await
            .expect("a short pause is waited out");
        assert!(start.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_day_fails_fast() {
        let limiter = LocationLimiter::new(ClientRateLimit {
            daily: 3,
            headroom: 1.0,
            ..ClientRateLimit::default()
        });
        for _ in 0..3 {
            limiter.acquire("loc", Duration::MAX).await.expect("budget");
        }
        let err = limiter.acquire("loc", Duration::MAX).await.unwrap_err();
        assert!(matches!(
            err,
            UpstreamError::RateLimited {
                daily_exhausted: true,
                ..
            }
        ));
    }
}
