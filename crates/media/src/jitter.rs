//! Adaptive jitter buffer, used only in front of a decoder (transcode path).
//!
//! Playout is by RTP timestamp: the consumer pulls one frame per frame duration on its own
//! steady clock. The target delay follows the measured interarrival jitter (about three times
//! it, plus one frame), grows by a frame whenever a packet arrives too late, and shrinks by
//! skipping a frame when the buffer has run persistently deeper than the target (sender clock
//! drift, bursts).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Limits of the adaptive target.
#[derive(Debug, Clone, Copy)]
pub struct JitterConfig {
    /// Lowest target delay.
    pub min_delay: Duration,
    /// Highest target delay.
    pub max_delay: Duration,
    /// Most frames held at once (older ones are discarded).
    pub capacity: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(300),
            capacity: 64,
        }
    }
}

/// A buffered media frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Extended (unwrapped) RTP timestamp.
    pub ext_ts: i64,
    /// Codec payload.
    pub payload: Vec<u8>,
    /// Whether this is a comfort-noise frame (RFC 3389) rather than codec audio.
    pub comfort_noise: bool,
}

/// What the consumer gets for one frame slot.
#[derive(Debug)]
pub enum Playout {
    /// Nothing has arrived yet (or the buffer is still filling up to its target).
    NotStarted,
    /// The frame for this slot.
    Frame(Frame),
    /// The frame is missing; `next` is the following frame's payload when it is already here
    /// (for Opus in-band FEC).
    Missing {
        /// Payload of the next frame, if buffered.
        next: Option<Vec<u8>>,
    },
}

/// Result of inserting a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Buffered.
    Accepted,
    /// Its slot has already been played out.
    Late,
    /// Already buffered.
    Duplicate,
}

/// The adaptive jitter buffer.
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    clock: u32,
    frame_ts: i64,
    frames: VecDeque<Frame>,
    last_ts: Option<(u32, i64)>,
    /// Extended timestamp of the next slot to play.
    next_ts: Option<i64>,
    /// When playout may begin (first arrival + target).
    start_at: Option<Instant>,
    /// RFC 3550-style jitter estimate in seconds.
    jitter: f64,
    last_transit: Option<f64>,
    target: Duration,
    /// Pulls in a row where the buffer was deeper than target + 2 frames.
    deep_streak: u32,
    grow_pending: u32,
    origin: Option<Instant>,
}

impl JitterBuffer {
    /// A buffer for a stream at `clock` Hz with `frame` duration per packet.
    pub fn new(cfg: JitterConfig, clock: u32, frame: Duration) -> Self {
        let frame_ts = i64::from(crate::rewrite::duration_to_clock(frame, clock)).max(1);
        Self {
            target: cfg.min_delay.max(frame),
            cfg,
            clock,
            frame_ts,
            frames: VecDeque::with_capacity(cfg.capacity),
            last_ts: None,
            next_ts: None,
            start_at: None,
            jitter: 0.0,
            last_transit: None,
            deep_streak: 0,
            grow_pending: 0,
            origin: None,
        }
    }

    /// Current target delay.
    pub fn target(&self) -> Duration {
        self.target
    }

    /// Frame duration in clock units.
    pub fn frame_ts(&self) -> i64 {
        self.frame_ts
    }

    /// Forgets everything (new source): playout restarts from the next packet.
    pub fn reset(&mut self) {
        self.frames.clear();
        self.last_ts = None;
        self.next_ts = None;
        self.start_at = None;
        self.last_transit = None;
        self.deep_streak = 0;
        self.grow_pending = 0;
    }

    fn extend(&mut self, ts: u32) -> i64 {
        let ext = match self.last_ts {
            Some((last, last_ext)) => last_ext + i64::from(ts.wrapping_sub(last) as i32),
            None => i64::from(ts),
        };
        if self.last_ts.is_none_or(|(_, e)| ext > e) {
            self.last_ts = Some((ts, ext));
        }
        ext
    }

    /// Inserts a packet's payload.
    pub fn push(&mut self, ts: u32, payload: &[u8], comfort_noise: bool, now: Instant) -> Push {
        let ext_ts = self.extend(ts);
        self.update_jitter(ext_ts, now);
        if let Some(next) = self.next_ts {
            // A jump of more than ten seconds either way is a new timeline, not jitter.
            let ten_s = i64::from(self.clock) * 10;
            if (ext_ts - next).abs() > ten_s {
                self.reset();
                return self.push(ts, payload, comfort_noise, now);
            }
            if ext_ts < next {
                self.grow_pending = self.grow_pending.saturating_add(1);
                return Push::Late;
            }
        } else {
            self.next_ts = Some(ext_ts);
            self.start_at = Some(now + self.target);
        }
        let pos = self.frames.partition_point(|f| f.ext_ts < ext_ts);
        if self.frames.get(pos).is_some_and(|f| f.ext_ts == ext_ts) {
            return Push::Duplicate;
        }
        if self.frames.len() >= self.cfg.capacity {
            self.frames.pop_front();
        }
        let pos = self.frames.partition_point(|f| f.ext_ts < ext_ts);
        self.frames.insert(
            pos,
            Frame {
                ext_ts,
                payload: payload.to_vec(),
                comfort_noise,
            },
        );
        Push::Accepted
    }

    fn update_jitter(&mut self, ext_ts: i64, now: Instant) {
        let origin = *self.origin.get_or_insert(now);
        let arrival = now.saturating_duration_since(origin).as_secs_f64();
        let transit = arrival - ext_ts as f64 / f64::from(self.clock);
        if let Some(prev) = self.last_transit {
            let d = (transit - prev).abs().min(1.0);
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
        let frame = self.frame_ts as f64 / f64::from(self.clock);
        let wanted = Duration::from_secs_f64(frame + 3.0 * self.jitter);
        // Only ever raise the target from the estimate; lowering is done by skipping frames.
        if wanted > self.target {
            self.target = wanted.min(self.cfg.max_delay);
        }
    }

    /// Pulls the frame for the next slot. Call once per frame duration.
    pub fn pop(&mut self, now: Instant) -> Playout {
        let (Some(next), Some(start)) = (self.next_ts, self.start_at) else {
            return Playout::NotStarted;
        };
        if now < start {
            return Playout::NotStarted;
        }
        if self.grow_pending > 0 {
            // Something arrived late: stretch by one slot so the buffer gets deeper.
            self.grow_pending = 0;
            let frame = Duration::from_secs_f64(self.frame_ts as f64 / f64::from(self.clock));
            self.target = (self.target + frame).min(self.cfg.max_delay);
            return Playout::Missing { next: None };
        }
        self.shrink_if_too_deep(next);
        let next = self.next_ts.unwrap_or(next);
        self.next_ts = Some(next + self.frame_ts);
        // Discard anything that is now behind the playout point.
        while self.frames.front().is_some_and(|f| f.ext_ts < next) {
            self.frames.pop_front();
        }
        match self.frames.front() {
            Some(f) if f.ext_ts < next + self.frame_ts => self
                .frames
                .pop_front()
                .map_or(Playout::Missing { next: None }, Playout::Frame),
            Some(f) if f.ext_ts < next + 2 * self.frame_ts && !f.comfort_noise => {
                Playout::Missing {
                    next: Some(f.payload.clone()),
                }
            }
            _ => Playout::Missing { next: None },
        }
    }

    fn shrink_if_too_deep(&mut self, next: i64) {
        let newest = self.frames.back().map_or(next, |f| f.ext_ts);
        let depth = (newest - next).max(0);
        let target_ts = i64::from(crate::rewrite::duration_to_clock(self.target, self.clock));
        let max_ts = i64::from(crate::rewrite::duration_to_clock(
            self.cfg.max_delay,
            self.clock,
        ));
        if depth > max_ts {
            // A burst deeper than the buffer may ever be (a stalled socket, a backlog after a
            // pause): jump to `target` behind the newest frame instead of playing the backlog.
            let behind = (target_ts / self.frame_ts).max(1) * self.frame_ts;
            let jump_to = next + ((depth - behind) / self.frame_ts) * self.frame_ts;
            self.next_ts = Some(jump_to);
            while self.frames.front().is_some_and(|f| f.ext_ts < jump_to) {
                self.frames.pop_front();
            }
            self.deep_streak = 0;
            return;
        }
        if depth > target_ts + 2 * self.frame_ts {
            self.deep_streak += 1;
        } else {
            self.deep_streak = 0;
        }
        if self.deep_streak >= 50 {
            // Persistently too deep for a second: drop the oldest slot.
            self.deep_streak = 0;
            self.next_ts = Some(next + self.frame_ts);
            while self
                .frames
                .front()
                .is_some_and(|f| f.ext_ts < next + self.frame_ts)
            {
                self.frames.pop_front();
            }
        }
    }

    /// Frames currently buffered.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS20: Duration = Duration::from_millis(20);

    fn jb() -> JitterBuffer {
        JitterBuffer::new(JitterConfig::default(), 8000, MS20)
    }

    #[test]
    fn reorders_and_reports_missing_with_fec_hint() {
        let t = crate::test_support::epoch();
        let mut b = jb();
        b.push(160, &[1], false, t);
        b.push(480, &[3], false, t);
        b.push(320, &[2], false, t);
        b.push(320, &[2], false, t);
        b.push(800, &[5], false, t);
        let later = t + Duration::from_millis(100);
        let got: Vec<String> = (0..5)
            .map(|_| match b.pop(later) {
                Playout::Frame(f) => format!("{}", f.payload[0]),
                Playout::Missing { next: Some(n) } => format!("m{}", n[0]),
                Playout::Missing { next: None } => "m".into(),
                Playout::NotStarted => "-".into(),
            })
            .collect();
        assert_eq!(got, ["1", "2", "3", "m5", "5"]);
    }

    #[test]
    fn waits_for_the_target_delay_then_plays() {
        let t = crate::test_support::epoch();
        let mut b = jb();
        assert!(matches!(b.pop(t), Playout::NotStarted));
        b.push(0, &[1], false, t);
        assert!(matches!(b.pop(t), Playout::NotStarted));
        assert!(matches!(b.pop(t + b.target()), Playout::Frame(_)));
    }

    #[test]
    fn a_backlog_deeper_than_the_maximum_is_skipped_not_played() {
        let t = crate::test_support::epoch();
        let mut b = jb();
        // Two seconds of packets arrive at once (a stalled socket drained in one go).
        for i in 0..100u32 {
            b.push(i * 160, &[i as u8], false, t);
        }
        let played: Vec<u8> = (0..3)
            .filter_map(|_| match b.pop(t + Duration::from_secs(1)) {
                Playout::Frame(f) => Some(f.payload[0]),
                _ => None,
            })
            .collect();
        assert_eq!(played.len(), 3);
        assert!(
            played[0] >= 90,
            "jumped close to the newest frame: {played:?}"
        );
    }

    #[test]
    fn late_packets_grow_the_target() {
        let t = crate::test_support::epoch();
        let mut b = jb();
        b.push(0, &[0], false, t);
        let before = b.target();
        let mut now = t + before;
        for _ in 0..3 {
            b.pop(now);
            now += MS20;
        }
        assert_eq!(b.push(160, &[1], false, now), Push::Late);
        assert!(matches!(b.pop(now), Playout::Missing { next: None }));
        assert!(b.target() > before);
    }

    #[test]
    fn jitter_raises_the_target_and_timestamp_wrap_is_seamless() {
        let t = crate::test_support::epoch();
        // A generous maximum so the whole second can sit in the buffer before playout.
        let cfg = JitterConfig {
            max_delay: Duration::from_secs(2),
            ..JitterConfig::default()
        };
        let mut b = JitterBuffer::new(cfg, 8000, MS20);
        let mut ts: u32 = u32::MAX - 160 * 20;
        for i in 0..50u32 {
            let wobble = if i % 2 == 0 {
                Duration::ZERO
            } else {
                Duration::from_millis(40)
            };
            b.push(ts, &[i as u8], false, t + MS20 * i + wobble);
            ts = ts.wrapping_add(160);
        }
        assert!(b.target() >= Duration::from_millis(60), "{:?}", b.target());
        let mut played = 0;
        let mut now = t + Duration::from_secs(3);
        while let Playout::Frame(_) = b.pop(now) {
            played += 1;
            now += MS20;
        }
        assert_eq!(played, 50, "every frame played across the wrap");
    }
}
