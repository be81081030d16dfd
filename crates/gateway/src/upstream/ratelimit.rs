//! The client-side limiter per GHL location, so that normal traffic never earns a 429,
//! and the split of GHL's budget between interactive and background work.
//!
//! GHL counts requests in a window (100 per 10 s) and per day (200,000). The limiter
//! admits at most `headroom` of the window's allowance in any window: a GCRA (governor)
//! whose burst plus its refills over one window stays under that share. The server's
//! `X-RateLimit-Remaining: 0` or a 429 pauses the location for one window, which covers
//! traffic from other clients of the same app that this process cannot see.
//!
//! Work is interactive (a request being served: reads through, mutations) unless it runs
//! inside [`background`] (the sync engine: backfill, polls, reconcile, the link sweep,
//! the outbox relay). Background calls are paced to `background_share` of the window,
//! wait while any interactive call is waiting, and stop for the day at
//! `background_daily_share` of the daily budget, so a bulk job never starves a person's
//! read. [`LocationLimiter::usage`] says what each class and source used.

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    num::NonZeroU32,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

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
    /// Share of this client's window that background work may take at most; it takes
    /// only what interactive work leaves of it.
    pub background_share: f64,
    /// Share of this client's daily budget after which background work stops for the
    /// day, keeping the rest for interactive work.
    pub background_daily_share: f64,
}

impl Default for ClientRateLimit {
    fn default() -> Self {
        Self {
            max_per_interval: 100,
            interval_ms: 10_000,
            daily: 200_000,
            headroom: 0.9,
            background_share: 0.5,
            background_daily_share: 0.5,
        }
    }
}

impl ClientRateLimit {
    /// The one-line problem with these limits, naming the key, when there is one.
    pub fn check(&self) -> Result<(), String> {
        for (key, share) in [
            ("headroom", self.headroom),
            ("background_share", self.background_share),
            ("background_daily_share", self.background_daily_share),
        ] {
            if !(share > 0.0 && share <= 1.0) {
                return Err(format!(
                    "key `ghl.rate_limit.{key}` must be above 0 and at most 1"
                ));
            }
        }
        if self.max_per_interval == 0 || self.interval_ms == 0 || self.daily == 0 {
            return Err(
                "keys `ghl.rate_limit.max_per_interval`, `interval_ms` and `daily` \
                        must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }

    /// Requests this client admits per window.
    fn window_allowed(&self) -> u32 {
        ((f64::from(self.max_per_interval) * self.headroom).floor() as u32).max(2)
    }

    /// Requests this client admits per day.
    fn daily_allowed(&self) -> u32 {
        ((f64::from(self.daily) * self.headroom).floor() as u32).max(1)
    }
}

tokio::task_local! {
    static WORK: Arc<str>;
}

/// Runs `work` as background work of the sync source `source` (every GHL call it makes
/// counts against the background share, under that source's name).
pub async fn background<F: Future>(source: &str, work: F) -> F::Output {
    WORK.scope(Arc::from(source), work).await
}

/// The background source the current task works for; `None` for interactive work.
fn background_source() -> Option<Arc<str>> {
    WORK.try_with(Arc::clone).ok()
}

/// What GHL's budget allows and what has been used of it in the current day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BudgetUsage {
    /// GHL's window.
    pub window: Duration,
    /// Requests admitted per window (GHL's limit times the headroom).
    pub window_allowed: u32,
    /// Of those, at most this many for background work.
    pub background_window_allowed: u32,
    /// Requests admitted per day.
    pub daily_allowed: u32,
    /// Background work stops for the day after this many.
    pub background_daily_allowed: u32,
    /// Interactive requests in the current day.
    pub interactive_used: u64,
    /// Background requests in the current day, by source, in name order.
    pub background_used: Vec<(String, u64)>,
    /// How long GHL has told the gateway to send nothing more, when it has.
    pub paused_for: Option<Duration>,
}

impl BudgetUsage {
    /// Background requests in the current day, over every source.
    pub fn background_total(&self) -> u64 {
        self.background_used.iter().map(|(_, n)| n).sum()
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

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Requests admitted in the current day (days counted from the limiter's start).
#[derive(Debug, Default)]
struct Used {
    day: u64,
    interactive: u64,
    background: BTreeMap<String, u64>,
}

/// Counts down while an interactive call waits for the window.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Self(n)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Per-location limiter shared by every request of the process.
#[derive(Debug)]
pub struct LocationLimiter {
    cfg: ClientRateLimit,
    window: Keyed,
    daily: Keyed,
    background_window: Keyed,
    background_daily: Keyed,
    clock: TokioClock,
    interval: Duration,
    /// How long background work looks away before it checks again for waiting
    /// interactive calls: one refill of the window.
    refill: Duration,
    interactive_waiting: AtomicUsize,
    used: Mutex<Used>,
    paused_until: Mutex<HashMap<String, Instant>>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least one")
}

fn share(n: u32, share: f64) -> u32 {
    ((f64::from(n) * share).floor() as u32).max(1)
}

/// A daily quota of `allowed` requests, all available at once.
fn daily_quota(allowed: u32) -> Quota {
    Quota::with_period(DAY / allowed.max(1))
        .expect("non-zero daily period")
        .allow_burst(nz(allowed))
}

impl LocationLimiter {
    pub fn new(cfg: ClientRateLimit) -> Self {
        let clock = TokioClock {
            origin: Instant::now(),
        };
        let interval = Duration::from_millis(cfg.interval_ms.max(1));
        let allowed = cfg.window_allowed();
        let burst = (allowed / 10).max(1);
        let refill = interval / (allowed - burst);
        let window_quota = Quota::with_period(refill)
            .expect("non-zero refill period")
            .allow_burst(nz(burst));
        let background_allowed = share(allowed, cfg.background_share);
        let background_quota =
            Quota::with_period(interval / background_allowed).expect("non-zero period");
        let daily_allowed = cfg.daily_allowed();
        Self {
            cfg,
            window: RateLimiter::new(window_quota, DefaultKeyedStateStore::default(), clock),
            daily: RateLimiter::new(
                daily_quota(daily_allowed),
                DefaultKeyedStateStore::default(),
                clock,
            ),
            background_window: RateLimiter::new(
                background_quota,
                DefaultKeyedStateStore::default(),
                clock,
            ),
            background_daily: RateLimiter::new(
                daily_quota(share(daily_allowed, cfg.background_daily_share)),
                DefaultKeyedStateStore::default(),
                clock,
            ),
            clock,
            interval,
            refill,
            interactive_waiting: AtomicUsize::new(0),
            used: Mutex::new(Used::default()),
            paused_until: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until a request for `location` may go out, at most `max_wait`. Sends nothing
    /// while GHL says no, but fails at once (rate limited, with how long is left) when the
    /// location is paused for longer than `max_wait` or the day's budget is spent, rather
    /// than holding the caller for minutes or hours. Background work (see [`background`])
    /// also waits for its share and for interactive calls, and fails once its daily share
    /// is spent.
    pub async fn acquire(&self, location: &str, max_wait: Duration) -> Result<(), UpstreamError> {
        let key = location.to_owned();
        let source = background_source();
        let _waiting = match &source {
            None => Some(Waiting::new(&self.interactive_waiting)),
            Some(_) => {
                self.pace(&self.background_window, &key).await;
                while self.interactive_waiting.load(Ordering::SeqCst) > 0 {
                    tokio::time::sleep(self.refill).await;
                }
                None
            }
        };
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
        if source.is_some() {
            self.spend(&self.background_daily, &key)?;
        }
        self.spend(&self.daily, &key)?;
        self.count(source.as_deref());
        Ok(())
    }

    /// Waits until `limiter` admits one request for `key`.
    async fn pace(&self, limiter: &Keyed, key: &String) {
        while let Err(not_until) = limiter.check_key(key) {
            tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
        }
    }

    /// Takes one request of a daily budget, or says until when it is spent.
    fn spend(&self, limiter: &Keyed, key: &String) -> Result<(), UpstreamError> {
        limiter
            .check_key(key)
            .map_err(|not_until| UpstreamError::RateLimited {
                retry_after: Some(not_until.wait_time_from(self.clock.now())),
                daily_exhausted: true,
            })
    }

    fn day(&self) -> u64 {
        (self.clock.now().as_secs()) / DAY.as_secs()
    }

    fn count(&self, source: Option<&str>) {
        let day = self.day();
        let mut used = self.used.lock().expect("usage lock");
        if used.day != day {
            *used = Used {
                day,
                ..Used::default()
            };
        }
        match source {
            None => used.interactive += 1,
            Some(s) => *used.background.entry(s.to_owned()).or_default() += 1,
        }
    }

    /// The budget of `location` and what the current day used of it.
    pub fn usage(&self, location: &str) -> BudgetUsage {
        let used = self.used.lock().expect("usage lock");
        let today = used.day == self.day();
        let window_allowed = self.cfg.window_allowed();
        BudgetUsage {
            window: self.interval,
            window_allowed,
            background_window_allowed: share(window_allowed, self.cfg.background_share),
            daily_allowed: self.cfg.daily_allowed(),
            background_daily_allowed: share(
                self.cfg.daily_allowed(),
                self.cfg.background_daily_share,
            ),
            interactive_used: if today { used.interactive } else { 0 },
            background_used: if today {
                used.background
                    .iter()
                    .map(|(s, n)| (s.clone(), *n))
                    .collect()
            } else {
                Vec::new()
            },
            paused_for: self.paused_for(location),
        }
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

    /// Times of `n` background acquisitions for `source`, from the start.
    async fn background_times(limiter: &LocationLimiter, source: &str, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut times = Vec::new();
        background(source, async {
            for _ in 0..n {
                limiter.acquire("loc", Duration::MAX).await.expect("budget");
                times.push(start.elapsed());
            }
        })
        .await;
        times
    }

    #[tokio::test(start_paused = true)]
    async fn background_work_keeps_to_its_share_of_the_window() {
        let limiter = LocationLimiter::new(ClientRateLimit::default());
        let times = background_times(&limiter, "backfill", 120).await;
        let window = Duration::from_secs(10);
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|u| **u < *t + window).count();
            assert!(
                in_window <= 45,
                "{in_window} background requests from {t:?}"
            );
        }
        let usage = limiter.usage("loc");
        assert_eq!(usage.background_used, vec![("backfill".to_owned(), 120)]);
        assert_eq!(usage.interactive_used, 0);
        assert_eq!(usage.background_window_allowed, 45);
    }

    #[tokio::test(start_paused = true)]
    async fn interactive_calls_go_first_while_background_work_runs() {
        // Background work that could take the whole window, four loops of it.
        let limiter = Arc::new(LocationLimiter::new(ClientRateLimit {
            background_share: 1.0,
            ..ClientRateLimit::default()
        }));
        let bg: Vec<_> = (0..4)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                tokio::spawn(async move { background_times(&limiter, "ghl_contacts", 400).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(30)).await;
        let mut longest = Duration::ZERO;
        for _ in 0..40 {
            let start = Instant::now();
            limiter.acquire("loc", Duration::MAX).await.expect("budget");
            longest = longest.max(start.elapsed());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(
            longest <= 2 * limiter.refill,
            "an interactive call waited {longest:?} behind background work"
        );
        bg.iter().for_each(|t| t.abort());
        assert_eq!(limiter.usage("loc").interactive_used, 40);
    }

    #[tokio::test(start_paused = true)]
    async fn background_work_waits_while_an_interactive_call_waits() {
        let limiter = LocationLimiter::new(ClientRateLimit::default());
        let waiting = Waiting::new(&limiter.interactive_waiting);
        let held = tokio::time::timeout(
            Duration::from_secs(60),
            background("backfill", limiter.acquire("loc", Duration::MAX)),
        )
        .await;
        assert!(held.is_err(), "background went ahead of a waiting request");
        drop(waiting);
        background("backfill", limiter.acquire("loc", Duration::MAX))
            .await
            .expect("budget");
        assert_eq!(limiter.usage("loc").background_total(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn background_work_stops_at_its_daily_share_and_interactive_goes_on() {
        let limiter = LocationLimiter::new(ClientRateLimit {
            daily: 10,
            headroom: 1.0,
            background_daily_share: 0.4,
            ..ClientRateLimit::default()
        });
        let spent = background("reconcile", async {
            let mut ok = 0;
            loop {
                match limiter.acquire("loc", Duration::MAX).await {
                    Ok(()) => ok += 1,
                    Err(e) => break (ok, e),
                }
            }
        })
        .await;
        assert_eq!(spent.0, 4, "40 % of 10");
        assert!(matches!(
            spent.1,
            UpstreamError::RateLimited {
                daily_exhausted: true,
                ..
            }
        ));
        for _ in 0..6 {
            limiter
                .acquire("loc", Duration::MAX)
                .await
                .expect("interactive budget");
        }
        let usage = limiter.usage("loc");
        assert_eq!((usage.interactive_used, usage.background_total()), (6, 4));
        assert_eq!(usage.background_daily_allowed, 4);
    }

    #[test]
    fn shares_outside_zero_to_one_are_refused_by_key() {
        let bad = ClientRateLimit {
            background_share: 1.5,
            ..ClientRateLimit::default()
        };
        assert_eq!(
            bad.check().unwrap_err(),
            "key `ghl.rate_limit.background_share` must be above 0 and at most 1"
        );
        assert!(ClientRateLimit::default().check().is_ok());
    }
}
