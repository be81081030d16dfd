//! Wall-clock time for the outbox: when a write was recorded, when it is due again, when
//! a lease ends. The gateway reads the system clock; a test holds a [`ManualClock`] and
//! moves time by hand, so that backoff and leases are tested without waiting.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

/// Epoch milliseconds as ISO-8601 (UTC, with milliseconds), the form the API answers
/// times in.
pub fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Milliseconds since the Unix epoch, from the system or from a [`ManualClock`].
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(now) => now.load(Ordering::SeqCst),
            None => crate::store::now_ms(),
        }
    }

    /// Whether time moves only when a [`ManualClock`] moves it.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}

/// A clock that stands still until it is moved.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn at(now_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now_ms)))
    }

    /// Moves it forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// The [`Clock`] that reads it.
    pub fn clock(&self) -> Clock {
        Clock {
            manual: Some(self.0.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let manual = ManualClock::at(1_000);
        let clock = manual.clock();
        assert_eq!(clock.now_ms(), 1_000);
        manual.advance(Duration::from_millis(250));
        assert_eq!(clock.now_ms(), 1_250);
        assert!(clock.is_manual());
        assert!(!Clock::system().is_manual());
    }
}
