//! GHL's per-location limits: a sliding window (100 requests per 10 s) and a daily
//! budget (200,000), with the five `X-RateLimit-*` headers on every answer.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::Duration,
};

use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Limits per location.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests allowed in one window (`X-RateLimit-Max`).
    pub max: u32,
    /// The window's length (`X-RateLimit-Interval-Milliseconds`).
    pub interval_ms: u64,
    /// Requests allowed per day (`X-RateLimit-Limit-Daily`).
    pub daily: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            max: 100,
            interval_ms: 10_000,
            daily: 200_000,
        }
    }
}

#[derive(Debug)]
struct Window {
    recent: VecDeque<Instant>,
    day_start: Instant,
    day_count: u64,
}

/// The windows of every location seen.
#[derive(Debug, Default)]
pub struct Windows {
    inner: Mutex<HashMap<String, Window>>,
}

/// The outcome of one request against its location's limits.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub allowed: bool,
    cfg: RateLimitConfig,
    remaining: u32,
    daily_remaining: u64,
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

impl Windows {
    /// Counts a request for `location` at `now`, unless a limit is spent.
    pub fn hit(&self, location: &str, cfg: RateLimitConfig, now: Instant) -> Verdict {
        let mut all = self.inner.lock().expect("rate window lock");
        let w = all.entry(location.to_owned()).or_insert_with(|| Window {
            recent: VecDeque::new(),
            day_start: now,
            day_count: 0,
        });
        let interval = Duration::from_millis(cfg.interval_ms);
        while w
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= interval)
        {
            w.recent.pop_front();
        }
        if now.duration_since(w.day_start) >= DAY {
            w.day_start = now;
            w.day_count = 0;
        }
        let allowed = (w.recent.len() as u64) < u64::from(cfg.max) && w.day_count < cfg.daily;
        if allowed {
            w.recent.push_back(now);
            w.day_count += 1;
        }
        Verdict {
            allowed,
            cfg,
            remaining: cfg.max.saturating_sub(w.recent.len() as u32),
            daily_remaining: cfg.daily.saturating_sub(w.day_count),
        }
    }

    /// Forgets every window.
    pub fn reset(&self) {
        self.inner.lock().expect("rate window lock").clear();
    }
}

impl Verdict {
    /// Writes the five documented headers.
    pub fn apply(&self, headers: &mut HeaderMap) {
        let pairs = [
            ("x-ratelimit-limit-daily", self.cfg.daily.to_string()),
            (
                "x-ratelimit-daily-remaining",
                self.daily_remaining.to_string(),
            ),
            (
                "x-ratelimit-interval-milliseconds",
                self.cfg.interval_ms.to_string(),
            ),
            ("x-ratelimit-max", self.cfg.max.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
        ];
        for (name, value) in pairs {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_window_slides() {
        let w = Windows::default();
        let cfg = RateLimitConfig {
            max: 3,
            interval_ms: 1000,
            daily: 100,
        };
        for _ in 0..3 {
            assert!(w.hit("loc", cfg, Instant::now()).allowed);
        }
        assert!(!w.hit("loc", cfg, Instant::now()).allowed);
        assert!(
            w.hit("other", cfg, Instant::now()).allowed,
            "locations do not pool"
        );
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert!(w.hit("loc", cfg, Instant::now()).allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn the_daily_budget_is_enforced_and_resets() {
        let w = Windows::default();
        let cfg = RateLimitConfig {
            max: 100,
            interval_ms: 10,
            daily: 2,
        };
        assert!(w.hit("loc", cfg, Instant::now()).allowed);
        assert!(w.hit("loc", cfg, Instant::now()).allowed);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!w.hit("loc", cfg, Instant::now()).allowed);
        tokio::time::advance(DAY).await;
        assert!(w.hit("loc", cfg, Instant::now()).allowed);
    }
}
