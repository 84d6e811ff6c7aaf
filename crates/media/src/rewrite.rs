//! Outbound stream identity: SSRC, sequence and timestamp rewriting with continuity.
//!
//! Each leg sends exactly one outbound stream whose SSRC never changes. Whatever happens on the
//! inbound side (an SSRC change, a re-INVITE, a hold, a sequence jump, a wrap) the outbound
//! sequence continues at `last + 1` and the timestamp advances by the wall-clock time that
//! passed, so the receiver's SRTP replay window and jitter buffer never see a regression (the
//! Janus #3640 class: after a long hold a regressed sequence got every packet rejected).

use std::time::{Duration, Instant};

/// Largest sequence jump still treated as loss or reordering within one input run.
const MAX_SEQ_JUMP: i32 = 3_000;
/// Largest timestamp jump (in clock units) still treated as the same input run: 10 s.
const MAX_TS_JUMP_SECONDS: u32 = 10;
/// An inbound pause longer than this starts a new run (hold, DTX, a restarted peer).
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// The fields of an inbound RTP header the rewriter cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InHeader {
    /// Inbound SSRC.
    pub ssrc: u32,
    /// Inbound sequence number.
    pub seq: u16,
    /// Inbound timestamp, in the outbound stream's clock.
    pub ts: u32,
}

/// What to write into the outbound header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutHeader {
    /// Outbound SSRC (constant for the leg).
    pub ssrc: u32,
    /// Outbound sequence number.
    pub seq: u16,
    /// Outbound timestamp.
    pub ts: u32,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    in_ssrc: u32,
    seq_offset: u16,
    ts_offset: u32,
    /// Highest inbound sequence seen in this run (for jump detection).
    highest_in_seq: u16,
    highest_in_ts: u32,
}

/// The one outbound RTP stream of a leg.
#[derive(Debug, Clone)]
pub struct OutboundStream {
    ssrc: u32,
    clock: u32,
    anchor: Option<Anchor>,
    /// Last (highest) sequence and timestamp we emitted, and when.
    last: Option<(u16, u32, Instant)>,
    /// The next sequence to use if nothing has been sent yet.
    initial_seq: u16,
    initial_ts: u32,
}

impl OutboundStream {
    /// A stream with the given SSRC, starting sequence and timestamp, at `clock` Hz.
    pub fn new(ssrc: u32, initial_seq: u16, initial_ts: u32, clock: u32) -> Self {
        Self {
            ssrc,
            clock,
            anchor: None,
            last: None,
            initial_seq,
            initial_ts,
        }
    }

    /// The outbound SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The RTP clock rate of the stream.
    pub fn clock(&self) -> u32 {
        self.clock
    }

    /// The last sequence, timestamp and send time, if anything was sent.
    pub fn last_sent(&self) -> Option<(u16, u32, Instant)> {
        self.last
    }

    /// Forgets the inbound anchor: the next inbound packet starts a new run that continues the
    /// outbound numbering (used on re-INVITE, re-key or resume from hold).
    pub fn reanchor(&mut self) {
        self.anchor = None;
    }

    /// Maps an inbound header to the outbound one (passthrough path).
    pub fn rewrite(&mut self, input: InHeader, now: Instant) -> OutHeader {
        let anchor = match self.anchor {
            Some(a) if a.in_ssrc == input.ssrc && !self.is_jump(&a, input) && !self.paused(now) => {
                a
            }
            _ => self.new_anchor(input, now),
        };
        let seq = input.seq.wrapping_add(anchor.seq_offset);
        let ts = input.ts.wrapping_add(anchor.ts_offset);
        let mut anchor = anchor;
        if seq_newer(input.seq, anchor.highest_in_seq) {
            anchor.highest_in_seq = input.seq;
            anchor.highest_in_ts = input.ts;
        }
        self.anchor = Some(anchor);
        self.note_sent(seq, ts, now);
        OutHeader {
            ssrc: self.ssrc,
            seq,
            ts,
        }
    }

    /// Allocates the next header for a packet we generate ourselves (transcode path, DTMF
    /// generation), with the timestamp chosen by the caller.
    pub fn generate(&mut self, ts: u32, now: Instant) -> OutHeader {
        let seq = match self.last {
            Some((s, _, _)) => s.wrapping_add(1),
            None => self.initial_seq,
        };
        self.note_sent(seq, ts, now);
        OutHeader {
            ssrc: self.ssrc,
            seq,
            ts,
        }
    }

    /// The timestamp that continues the stream at `now` given wall-clock time since the last
    /// packet (at least one `min_step`), or the initial timestamp.
    pub fn continuation_ts(&self, now: Instant, min_step: u32) -> u32 {
        match self.last {
            Some((_, ts, at)) => {
                let elapsed = duration_to_clock(now.saturating_duration_since(at), self.clock);
                ts.wrapping_add(elapsed.max(min_step))
            }
            None => self.initial_ts,
        }
    }

    fn paused(&self, now: Instant) -> bool {
        self.last
            .is_some_and(|(_, _, at)| now.saturating_duration_since(at) > MAX_PAUSE)
    }

    fn is_jump(&self, anchor: &Anchor, input: InHeader) -> bool {
        let seq_delta = i32::from(input.seq.wrapping_sub(anchor.highest_in_seq) as i16);
        let ts_delta = input.ts.wrapping_sub(anchor.highest_in_ts) as i32;
        seq_delta.abs() > MAX_SEQ_JUMP
            || ts_delta.unsigned_abs() > MAX_TS_JUMP_SECONDS.saturating_mul(self.clock)
    }

    fn new_anchor(&self, input: InHeader, now: Instant) -> Anchor {
        let (out_seq, out_ts) = match self.last {
            Some((s, _, _)) => (s.wrapping_add(1), self.continuation_ts(now, 1)),
            None => (self.initial_seq, self.initial_ts),
        };
        Anchor {
            in_ssrc: input.ssrc,
            seq_offset: out_seq.wrapping_sub(input.seq),
            ts_offset: out_ts.wrapping_sub(input.ts),
            highest_in_seq: input.seq,
            highest_in_ts: input.ts,
        }
    }

    fn note_sent(&mut self, seq: u16, ts: u32, now: Instant) {
        match self.last {
            Some((s, _, _)) if !seq_newer(seq, s) => {}
            _ => self.last = Some((seq, ts, now)),
        }
    }
}

/// Whether sequence `a` is newer than `b` under 16-bit wrap (RFC 1982 serial arithmetic).
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

/// Converts a duration to RTP clock units (saturating at `u32::MAX`).
pub fn duration_to_clock(d: Duration, clock: u32) -> u32 {
    u32::try_from(d.as_micros().saturating_mul(u128::from(clock)) / 1_000_000).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS20: Duration = Duration::from_millis(20);

    #[test]
    fn ssrc_change_continues_numbering() {
        let t0 = crate::test_support::epoch();
        let mut out = OutboundStream::new(0xABCD, 100, 5000, 8000);
        let a = out.rewrite(
            InHeader {
                ssrc: 1,
                seq: 65_535,
                ts: 1_000,
            },
            t0,
        );
        assert_eq!((a.seq, a.ts), (100, 5000));
        let b = out.rewrite(
            InHeader {
                ssrc: 1,
                seq: 0,
                ts: 1_160,
            },
            t0 + MS20,
        );
        assert_eq!(
            (b.seq, b.ts),
            (101, 5160),
            "sequence wrap on input is seamless"
        );
        // New SSRC with unrelated numbering 20 ms later.
        let c = out.rewrite(
            InHeader {
                ssrc: 2,
                seq: 7,
                ts: 999_999,
            },
            t0 + 2 * MS20,
        );
        assert_eq!((c.ssrc, c.seq, c.ts), (0xABCD, 102, 5320));
    }

    #[test]
    fn long_hold_then_resume_never_regresses() {
        let t0 = crate::test_support::epoch();
        let mut out = OutboundStream::new(1, 65_000, 0, 8000);
        let mut now = t0;
        for i in 0..10u16 {
            out.rewrite(
                InHeader {
                    ssrc: 9,
                    seq: i,
                    ts: u32::from(i) * 160,
                },
                now,
            );
            now += MS20;
        }
        // 30 minutes of hold, then the peer restarts its numbering.
        now += Duration::from_secs(1800);
        let r = out.rewrite(
            InHeader {
                ssrc: 9,
                seq: 3,
                ts: 480,
            },
            now,
        );
        assert_eq!(r.seq, 65_000u16.wrapping_add(10));
        let expected_ts = 9 * 160 + duration_to_clock(Duration::from_secs(1800) + MS20, 8000);
        assert_eq!(r.ts, expected_ts);
    }

    proptest! {
        /// Within a run, output deltas equal input deltas (loss and reordering preserved).
        #[test]
        fn deltas_are_preserved(start_seq: u16, start_ts: u32, out_seq: u16, out_ts: u32,
                                steps in proptest::collection::vec((1u16..50, 0u32..2000), 1..200)) {
            let t0 = crate::test_support::epoch();
            let mut out = OutboundStream::new(7, out_seq, out_ts, 48_000);
            let (mut s, mut t) = (start_seq, start_ts);
            let first = out.rewrite(InHeader { ssrc: 3, seq: s, ts: t }, t0);
            for (ds, dt) in steps {
                s = s.wrapping_add(ds);
                t = t.wrapping_add(dt);
                let o = out.rewrite(InHeader { ssrc: 3, seq: s, ts: t }, t0);
                prop_assert_eq!(o.seq.wrapping_sub(first.seq), s.wrapping_sub(start_seq));
                prop_assert_eq!(o.ts.wrapping_sub(first.ts), t.wrapping_sub(start_ts));
                prop_assert_eq!(o.ssrc, 7);
            }
        }

        /// Across any number of source changes, the output sequence is strictly increasing.
        #[test]
        fn output_sequence_is_monotonic_across_source_changes(
            runs in proptest::collection::vec((any::<u32>(), any::<u16>(), any::<u32>(), 1usize..40), 1..20)) {
            let t0 = crate::test_support::epoch();
            let mut out = OutboundStream::new(7, 65_500, 0, 8000);
            let mut now = t0;
            let mut prev: Option<OutHeader> = None;
            for (ssrc, seq0, ts0, len) in runs {
                for k in 0..len {
                    let k16 = k as u16;
                    let o = out.rewrite(InHeader { ssrc, seq: seq0.wrapping_add(k16), ts: ts0.wrapping_add(160 * k as u32) }, now);
                    if let Some(p) = prev {
                        prop_assert_eq!(o.seq, p.seq.wrapping_add(1));
                        let dts = o.ts.wrapping_sub(p.ts);
                        prop_assert!(dts > 0 && dts < 0x8000_0000, "timestamp regressed: {:?} -> {:?}", p, o);
                    }
                    prev = Some(o);
                    now += MS20;
                }
            }
        }
    }
}
