//! The read retry policy both clients share: exponential backoff with full jitter,
//! `Retry-After` honoured up to a cap, and a retry budget so that an upstream in trouble
//! is not hammered by retries. Writes never come through here: only the outbox relay
//! retries a write.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use backon::{ExponentialBuilder, Retryable};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::UpstreamError;

/// Retry settings (config section `[retry]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included.
    pub max_attempts: usize,
    /// First backoff ceiling; full jitter picks a delay in `[0, ceiling]`.
    pub base_delay_ms: u64,
    /// Largest backoff ceiling.
    pub max_delay_ms: u64,
    /// A `Retry-After` (or rate-limit window) longer than this is cut to it.
    pub retry_after_cap_ms: u64,
    /// Retries allowed per first attempt, over time (0.2 = one retry per five calls).
    pub budget_ratio: f64,
    /// Retries always allowed before the ratio applies, so a quiet client can still retry.
    pub budget_reserve: u32,
    /// One read's deadline across its retries: no retry starts, and no backoff or
    /// `Retry-After` wait runs, past it (so a read ends within it plus one attempt's
    /// timeout). A GHL pause longer than it fails a call at once, read or write.
    pub deadline_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay_ms: 100,
            max_delay_ms: 2_000,
            retry_after_cap_ms: 10_000,
            budget_ratio: 0.2,
            budget_reserve: 10,
            deadline_ms: 10_000,
        }
    }
}

/// Tokens for retries, in thousandths: each first attempt deposits `ratio`, each retry
/// withdraws one, and the balance never exceeds `reserve`.
#[derive(Debug)]
pub struct RetryBudget {
    milli_tokens: AtomicI64,
    deposit: i64,
    cap: i64,
}

impl RetryBudget {
    fn new(cfg: &RetryConfig) -> Self {
        let cap = i64::from(cfg.budget_reserve.max(1)) * 1000;
        Self {
            milli_tokens: AtomicI64::new(cap),
            deposit: (cfg.budget_ratio * 1000.0) as i64,
            cap,
        }
    }

    fn deposit(&self) {
        let _ = self
            .milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some((t + self.deposit).min(self.cap))
            });
    }

    fn try_withdraw(&self) -> bool {
        self.milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                (t >= 1000).then_some(t - 1000)
            })
            .is_ok()
    }
}

/// A retry policy with its budget; clone it to share the budget.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    cfg: RetryConfig,
    budget: Arc<RetryBudget>,
}

impl RetryPolicy {
    pub fn new(cfg: RetryConfig) -> Self {
        Self {
            budget: Arc::new(RetryBudget::new(&cfg)),
            cfg,
        }
    }

    /// Runs a read, retrying transient failures while attempts and budget last.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, UpstreamError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        self.budget.deposit();
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.cfg.base_delay_ms))
            .with_max_delay(Duration::from_millis(self.cfg.max_delay_ms))
            .with_max_times(self.cfg.max_attempts.saturating_sub(1));
        let cap = Duration::from_millis(self.cfg.retry_after_cap_ms);
        // An upstream asking for a longer pause than the cap is not retried at all: the
        // caller learns at once (and may serve a stale copy) instead of waiting.
        let retryable = move |e: &UpstreamError| {
            e.is_transient() && e.retry_after().is_none_or(|wait| wait <= cap)
        };
        let start = tokio::time::Instant::now();
        let deadline = self.deadline();
        let left = move || deadline.saturating_sub(start.elapsed());
        op.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e: &UpstreamError| {
                retryable(e) && !left().is_zero() && self.budget.try_withdraw()
            })
            .adjust(move |e: &UpstreamError, ceiling: Option<Duration>| {
                let ceiling = ceiling?;
                let wait = match e.retry_after() {
                    Some(wait) => wait.min(cap),
                    None => full_jitter(ceiling),
                };
                // No retry whose wait alone would pass the deadline.
                (wait < left()).then_some(wait)
            })
            .notify(|e: &UpstreamError, wait: Duration| {
                tracing::debug!(error = %e, ?wait, "retrying upstream read");
            })
            .await
    }

    /// One call's deadline ([`RetryConfig::deadline_ms`]).
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.cfg.deadline_ms)
    }
}

fn full_jitter(ceiling: Duration) -> Duration {
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=ms))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn policy(max_attempts: usize, reserve: u32) -> RetryPolicy {
        RetryPolicy::new(RetryConfig {
            max_attempts,
            budget_reserve: reserve,
            ..RetryConfig::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicUsize::new(0);
        let out = policy(3, 10)
            .run(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(UpstreamError::Unavailable { status: 503 }),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(out, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicUsize::new(0);
        let out: Result<(), _> = policy(5, 10)
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(UpstreamError::NotFound {
                    message: "gone".into(),
                })
            })
            .await;
        assert!(matches!(out, Err(UpstreamError::NotFound { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_capped() {
        let calls = AtomicUsize::new(0);
        let out: Result<(), _> = policy(3, 10)
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(UpstreamError::Timeout)
            })
            .await;
        assert_eq!(out, Err(UpstreamError::Timeout));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_up_to_the_cap_and_not_retried_past_it() {
        let start = tokio::time::Instant::now();
        let calls = AtomicUsize::new(0);
        let out = policy(2, 10)
            .run(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(UpstreamError::RateLimited {
                        retry_after: Some(Duration::from_secs(3600)),
                        daily_exhausted: false,
                    }),
                    _ => Ok(()),
                }
            })
            .await;
        assert!(
            matches!(out, Err(UpstreamError::RateLimited { .. })),
            "a pause past the cap is not waited for: {out:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
        calls.store(0, Ordering::SeqCst);
        let out = policy(2, 10)
            .run(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(UpstreamError::RateLimited {
                        retry_after: Some(Duration::from_secs(4)),
                        daily_exhausted: false,
                    }),
                    _ => Ok(()),
                }
            })
            .await;
        assert_eq!(out, Ok(()));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(4), "waited {waited:?}");
        assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_runs_past_the_deadline() {
        let start = tokio::time::Instant::now();
        let calls = AtomicUsize::new(0);
        let out: Result<(), _> = RetryPolicy::new(RetryConfig {
            max_attempts: 10,
            deadline_ms: 3_000,
            retry_after_cap_ms: 10_000,
            ..RetryConfig::default()
        })
        .run(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(UpstreamError::RateLimited {
                retry_after: Some(Duration::from_secs(2)),
                daily_exhausted: false,
            })
        })
        .await;
        assert!(out.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "one retry fits in 3 s, a second does not"
        );
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_budget_stops_retries() {
        let p = policy(10, 1);
        let calls = AtomicUsize::new(0);
        let _: Result<(), _> = p
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(UpstreamError::Timeout)
            })
            .await;
        // One reserve token: the first call plus one retry, then the budget is empty.
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
