//! The per-user circuit breaker: a loop that slipped past echo recognition shows up as many
//! writes to one user; past the limit, writes to that user stop for a cooldown.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

/// Whether a write may go out now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Write it.
    Allowed,
    /// The breaker is open until then; hold the write.
    Blocked(DateTime<Utc>),
    /// This write tripped the breaker, open until then: hold the write and alert once.
    Tripped(DateTime<Utc>),
}

/// The limits, converted once to chrono durations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) writes: u32,
    pub(crate) window: Duration,
    pub(crate) cooldown: Duration,
}

/// One user's recent writes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Breaker {
    writes: VecDeque<DateTime<Utc>>,
    open_until: Option<DateTime<Utc>>,
}

impl Breaker {
    /// Decides on one write at `now`, counting it when allowed.
    pub(crate) fn admit(&mut self, now: DateTime<Utc>, limits: Limits) -> Admit {
        if let Some(until) = self.open_until {
            if now < until {
                return Admit::Blocked(until);
            }
            self.open_until = None;
            self.writes.clear();
        }
        while self
            .writes
            .front()
            .is_some_and(|t| *t <= now - limits.window)
        {
            self.writes.pop_front();
        }
        if self.writes.len() >= limits.writes as usize {
            let until = now + limits.cooldown;
            self.open_until = Some(until);
            return Admit::Tripped(until);
        }
        self.writes.push_back(now);
        Admit::Allowed
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.writes.capacity() * size_of::<DateTime<Utc>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_on_the_write_past_the_limit_and_closes_after_the_cooldown() {
        let limits = Limits {
            writes: 3,
            window: Duration::seconds(60),
            cooldown: Duration::seconds(600),
        };
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let mut breaker = Breaker::default();
        for i in 0..3 {
            assert_eq!(
                breaker.admit(t0 + Duration::seconds(i), limits),
                Admit::Allowed
            );
        }
        let until = t0 + Duration::seconds(603);
        assert_eq!(
            breaker.admit(t0 + Duration::seconds(3), limits),
            Admit::Tripped(until)
        );
        assert_eq!(
            breaker.admit(t0 + Duration::seconds(4), limits),
            Admit::Blocked(until)
        );
        assert_eq!(breaker.admit(until, limits), Admit::Allowed);
    }

    #[test]
    fn writes_older_than_the_window_do_not_count() {
        let limits = Limits {
            writes: 2,
            window: Duration::seconds(60),
            cooldown: Duration::seconds(600),
        };
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let mut breaker = Breaker::default();
        for minute in 0..10 {
            for s in 0..2 {
                let at = t0 + Duration::seconds(minute * 60 + s);
                assert_eq!(breaker.admit(at, limits), Admit::Allowed);
            }
        }
    }
}
