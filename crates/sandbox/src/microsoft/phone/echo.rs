//! The echo a phone plays back: decoded frames it received, each replayed once a fixed delay
//! after it arrived. Working on decoded PCM makes the echo codec-independent: the receive side
//! decodes whatever was negotiated, the send side encodes with the same codec.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Most frames held (5 s of 20 ms frames): a stalled sender cannot grow the buffer without bound.
const MAX_FRAMES: usize = 250;
/// A frame this much later than its playout time is dropped rather than played, so a burst of
/// late packets (or a spoken prompt played first) does not push the echo ever later.
const STALE: Duration = Duration::from_millis(200);

/// Received frames waiting for their playout time.
#[derive(Debug, Default)]
pub(crate) struct EchoBuffer {
    frames: VecDeque<(Instant, Vec<i16>)>,
}

impl EchoBuffer {
    /// Keeps a decoded frame that arrived at `at`.
    pub(crate) fn push(&mut self, at: Instant, pcm: Vec<i16>) {
        if self.frames.len() >= MAX_FRAMES {
            self.frames.pop_front();
        }
        self.frames.push_back((at, pcm));
    }

    /// The frame to play at `now` with `delay`, `len` samples long: the oldest frame whose
    /// playout time has come, or silence.
    pub(crate) fn next(&mut self, now: Instant, delay: Duration, len: usize) -> Vec<i16> {
        while self
            .frames
            .front()
            .is_some_and(|(at, _)| *at + delay + STALE < now)
        {
            self.frames.pop_front();
        }
        let due = self
            .frames
            .front()
            .is_some_and(|(at, _)| *at + delay <= now);
        let mut frame = if due {
            self.frames
                .pop_front()
                .map(|(_, pcm)| pcm)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        frame.resize(len, 0);
        frame
    }

    /// Drops frames that are already too old to echo (while something else plays).
    pub(crate) fn discard_stale(&mut self, now: Instant, delay: Duration) {
        self.frames.retain(|(at, _)| *at + delay + STALE >= now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_back_after_the_delay_in_order_and_stale_ones_are_dropped() {
        let start = Instant::now();
        let delay = Duration::from_millis(400);
        let mut buffer = EchoBuffer::default();
        buffer.push(start, vec![1; 160]);
        buffer.push(start + Duration::from_millis(20), vec![2; 160]);
        assert_eq!(
            buffer.next(start + Duration::from_millis(399), delay, 160),
            vec![0; 160]
        );
        assert_eq!(buffer.next(start + delay, delay, 160), vec![1; 160]);
        assert_eq!(buffer.next(start + delay, delay, 160), vec![0; 160]);
        // Far too late: dropped, silence instead.
        assert_eq!(
            buffer.next(start + Duration::from_secs(2), delay, 160),
            vec![0; 160]
        );
        // A short frame is padded to the frame length.
        buffer.push(start, vec![3; 80]);
        let frame = buffer.next(start + delay, delay, 160);
        assert_eq!((frame[79], frame[80], frame.len()), (3, 0, 160));
    }

    #[test]
    fn the_buffer_is_bounded() {
        let start = Instant::now();
        let mut buffer = EchoBuffer::default();
        for _ in 0..MAX_FRAMES * 2 {
            buffer.push(start, vec![1; 160]);
        }
        assert_eq!(buffer.frames.len(), MAX_FRAMES);
        buffer.discard_stale(start + Duration::from_secs(1), Duration::from_millis(400));
        assert!(buffer.frames.is_empty());
    }
}
