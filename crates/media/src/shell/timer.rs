//! The worker's one timer: a `timerfd` armed for the earliest bridge deadline, so a deadline
//! fires when due rather than at the next whole millisecond (the resolution of a poll timeout),
//! which would make the transcoders' 20 ms ticks bunch up and wait on each other.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

pub(crate) struct WorkerTimer {
    fd: TimerFd,
    armed: Option<Instant>,
}

impl WorkerTimer {
    /// A disarmed timer that wakes `registry`'s poll with `token`.
    pub(crate) fn new(registry: &Registry, token: Token) -> io::Result<Self> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        registry.register(
            &mut SourceFd(&fd.as_fd().as_raw_fd()),
            token,
            Interest::READABLE,
        )?;
        Ok(Self { fd, armed: None })
    }

    /// Arms the timer for `deadline` (unless it already is) and returns the poll timeout to
    /// use: zero when the deadline has passed, otherwise none (the timer wakes the poll).
    /// Re-arming resets the timer's expiry count, so a read is never needed.
    pub(crate) fn arm(
        &mut self,
        deadline: Option<Instant>,
        now: Instant,
    ) -> io::Result<Option<Duration>> {
        let Some(at) = deadline else {
            return Ok(None);
        };
        let Some(wait) = at.checked_duration_since(now).filter(|d| !d.is_zero()) else {
            return Ok(Some(Duration::ZERO));
        };
        if self.armed != Some(at) {
            self.fd.set(
                Expiration::OneShot(TimeSpec::from_duration(wait)),
                TimerSetTimeFlags::empty(),
            )?;
            self.armed = Some(at);
        }
        Ok(None)
    }

    /// The timer went off: the next [`WorkerTimer::arm`] sets it again.
    pub(crate) fn fired(&mut self) {
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use mio::{Events, Poll};

    use super::*;
    use crate::shell::worker::now;

    #[test]
    fn an_armed_timer_wakes_the_poll_and_a_passed_deadline_asks_for_no_wait() {
        let mut poll = Poll::new().expect("poll");
        let mut timer = WorkerTimer::new(poll.registry(), Token(7)).expect("timer");
        let t = now();
        assert_eq!(timer.arm(None, t).expect("arm"), None, "no deadline: sleep");
        assert_eq!(
            timer.arm(Some(t), t).expect("arm"),
            Some(Duration::ZERO),
            "due now: poll without sleeping"
        );
        let wait = timer
            .arm(Some(t + Duration::from_millis(5)), t)
            .expect("arm");
        assert_eq!(wait, None, "the timer, not the poll timeout, wakes us");
        let mut events = Events::with_capacity(4);
        // A generous bound: only that the timer fires at all is under test.
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .expect("poll");
        assert!(
            events.iter().any(|e| e.token() == Token(7)),
            "the timer woke the poll"
        );
        timer.fired();
        assert_eq!(timer.armed, None);
    }
}
