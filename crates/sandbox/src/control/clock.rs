//! A clock tests can freeze and advance, so that expiries (tokens, subscriptions, snoozes,
//! `response_url` windows) are tested without waiting.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// The sandbox's notion of "now": wall-clock time plus an offset, optionally frozen.
///
/// Cloning shares the clock: every part of one sandbox sees the same time.
#[derive(Clone, Debug, Default)]
pub struct SandboxClock {
    state: Arc<Mutex<ClockState>>,
}

#[derive(Debug, Default)]
struct ClockState {
    /// Added to the wall clock (or to the frozen instant).
    offset: Duration,
    /// When set, time stands still at this wall-clock instant (before the offset).
    frozen_at: Option<SystemTime>,
}

impl SandboxClock {
    /// A clock that follows the wall clock until told otherwise.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current sandbox time.
    pub fn now(&self) -> SystemTime {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.frozen_at.unwrap_or_else(SystemTime::now) + state.offset
    }

    /// The current sandbox time as a UTC timestamp.
    pub fn now_utc(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.now())
    }

    /// The current sandbox time in whole seconds since the Unix epoch, as Slack and JWTs use.
    pub fn unix(&self) -> i64 {
        let since = self.now().duration_since(UNIX_EPOCH).unwrap_or_default();
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
    }

    /// Moves time forward by `by`, frozen or not.
    pub fn advance(&self, by: Duration) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.offset += by;
    }

    /// Stops time at the current instant (idempotent).
    pub fn freeze(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.frozen_at.is_none() {
            state.frozen_at = Some(SystemTime::now());
        }
    }

    /// Lets time run again from where it stood, keeping the time already skipped.
    pub fn resume(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(frozen_at) = state.frozen_at.take() {
            // Time spent frozen must not jump forward on resume: fold it into the offset.
            let stood_still = SystemTime::now()
                .duration_since(frozen_at)
                .unwrap_or_default();
            state.offset = state.offset.saturating_sub(stood_still);
        }
    }

    /// Whether time currently stands still.
    pub fn is_frozen(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.frozen_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let clock = SandboxClock::new();
        clock.freeze();
        let t0 = clock.now();
        std::thread::yield_now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_secs(3600));
        assert_eq!(
            clock.now().duration_since(t0).unwrap(),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn resume_keeps_skipped_time_but_not_frozen_time() {
        let clock = SandboxClock::new();
        clock.freeze();
        clock.advance(Duration::from_secs(60));
        let frozen_now = clock.now();
        clock.resume();
        let after = clock.now();
        assert!(!clock.is_frozen());
        let drift = after.duration_since(frozen_now).unwrap_or_default();
        assert!(drift < Duration::from_secs(5), "resume jumped by {drift:?}");
        assert!(clock.unix() > 0);
    }
}
