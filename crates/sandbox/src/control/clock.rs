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
    /// Nanoseconds added to the wall clock (or to the frozen instant). Signed: time spent
    /// frozen is subtracted on resume and may exceed the time skipped forward.
    offset_nanos: i128,
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
        shift(
            state.frozen_at.unwrap_or_else(SystemTime::now),
            state.offset_nanos,
        )
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
        state.offset_nanos += i128::try_from(by.as_nanos()).unwrap_or(i128::MAX / 2);
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
            state.offset_nanos -= i128::try_from(stood_still.as_nanos()).unwrap_or(0);
        }
    }

    /// Whether time currently stands still.
    pub fn is_frozen(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.frozen_at.is_some()
    }
}

/// `at` moved by a signed number of nanoseconds.
fn shift(at: SystemTime, nanos: i128) -> SystemTime {
    let magnitude = Duration::from_nanos(u64::try_from(nanos.unsigned_abs()).unwrap_or(u64::MAX));
    if nanos >= 0 {
        at + magnitude
    } else {
        at - magnitude
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

    #[test]
    fn time_spent_frozen_beyond_the_skipped_time_is_not_added_on_resume() {
        let clock = SandboxClock::new();
        clock.freeze();
        let frozen_now = clock.now();
        // Simulate a long freeze without sleeping: move the freeze point into the past.
        clock.state.lock().unwrap().frozen_at = Some(SystemTime::now() - Duration::from_secs(10));
        let frozen_view = clock.now();
        clock.resume();
        let after = clock.now();
        let jump = after.duration_since(frozen_view).unwrap_or_default();
        assert!(jump < Duration::from_secs(2), "resume jumped by {jump:?}");
        assert!(frozen_now.duration_since(after).unwrap_or_default() < Duration::from_secs(12));
    }
}
