//! Per-leg statistics: RFC 3550 reception state (loss, jitter), sending counters, RTT, drop
//! counters and an E-model MOS estimate (ITU-T G.107 for narrowband codecs, G.107.1 for
//! wideband ones).

use std::time::{Duration, Instant};

use crate::codec::Codec;

mod mos;

pub use mos::e_model_mos;

/// Why inbound datagrams were dropped; every drop lands in exactly one counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// From an address other than the latched (or negotiated) peer.
    pub wrong_source: u64,
    /// From the right address but an SSRC we do not accept.
    pub wrong_ssrc: u64,
    /// SRTP/SRTCP authentication failed (includes truncated tags).
    pub auth_failed: u64,
    /// SRTP/SRTCP replayed packet.
    pub replayed: u64,
    /// Not parseable as RTP/RTCP (bad version, CSRC count, extension overflow, zero payload…).
    pub malformed: u64,
    /// A payload type that was not negotiated.
    pub unknown_payload_type: u64,
    /// Arrived too late for the jitter buffer (transcode path only).
    pub late: u64,
    /// Sent while the leg is on hold in that direction.
    pub while_held: u64,
}

impl DropCounters {
    /// Total dropped datagrams.
    pub fn total(&self) -> u64 {
        self.wrong_source
            + self.wrong_ssrc
            + self.auth_failed
            + self.replayed
            + self.malformed
            + self.unknown_payload_type
            + self.late
            + self.while_held
    }
}

/// RFC 3550 Appendix A.1/A.8 reception state for one source.
#[derive(Debug, Clone, Default)]
pub struct ReceiveStats {
    /// Packets received (accepted).
    pub packets: u64,
    /// Payload bytes received.
    pub bytes: u64,
    base_seq: u32,
    cycles: u32,
    max_seq: u16,
    started: bool,
    expected_prior: u64,
    received_prior: u64,
    /// Interarrival jitter in RTP clock units (RFC 3550 §6.4.1), scaled by 16 internally.
    jitter_q4: u64,
    last_transit: Option<i64>,
    /// Packets expected in earlier runs (before SSRC changes).
    carried_expected: u64,
    /// Middle 32 bits of the last SR's NTP time and when it arrived (for LSR/DLSR).
    pub last_sr: Option<(u32, Instant)>,
    /// When the last packet arrived.
    pub last_arrival: Option<Instant>,
}

impl ReceiveStats {
    /// Records an accepted packet: its sequence, RTP timestamp, arrival and clock.
    pub fn record(
        &mut self,
        seq: u16,
        ts: u32,
        payload_len: usize,
        arrival_clock: u64,
        now: Instant,
    ) {
        self.packets += 1;
        self.bytes += payload_len as u64;
        self.last_arrival = Some(now);
        if !self.started {
            self.started = true;
            self.base_seq = u32::from(seq);
            self.max_seq = seq;
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            if delta != 0 && delta < 0x8000 {
                if seq < self.max_seq {
                    self.cycles = self.cycles.wrapping_add(1 << 16);
                }
                self.max_seq = seq;
            }
        }
        let transit = arrival_clock as i64 - i64::from(ts);
        if let Some(prev) = self.last_transit {
            // RTP timestamps wrap; the difference of transits is taken modulo 2^32.
            let d = i64::from((transit - prev) as i32).unsigned_abs();
            self.jitter_q4 = (self.jitter_q4 + d).saturating_sub((self.jitter_q4 + 8) / 16);
        }
        self.last_transit = Some(transit);
    }

    /// Restarts sequence tracking for a new source (SSRC change); totals are kept.
    pub fn restart(&mut self) {
        self.carried_expected += self.expected();
        self.started = false;
        self.cycles = 0;
        self.last_transit = None;
    }

    /// Extended highest sequence number received.
    pub fn extended_max(&self) -> u32 {
        self.cycles | u32::from(self.max_seq)
    }

    fn expected_total(&self) -> u64 {
        self.carried_expected + self.expected()
    }

    fn expected(&self) -> u64 {
        if !self.started {
            return 0;
        }
        u64::from(self.extended_max().wrapping_sub(self.base_seq)) + 1
    }

    /// Cumulative packets lost (never negative in our report; duplicates can exceed expected).
    pub fn cumulative_lost(&self) -> u64 {
        self.expected_total().saturating_sub(self.packets)
    }

    /// Interarrival jitter in RTP clock units.
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_q4 / 16).unwrap_or(u32::MAX)
    }

    /// Fraction lost since the previous call, as the RTCP 8-bit fixed point value.
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected_total();
        let received = self.packets;
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = received;
        let lost = expected_interval.saturating_sub(received_interval);
        if expected_interval == 0 || lost == 0 {
            0
        } else {
            u8::try_from((lost << 8) / expected_interval).unwrap_or(u8::MAX)
        }
    }
}

/// Counters of what a leg sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendStats {
    /// RTP packets sent.
    pub packets: u64,
    /// RTP payload bytes sent.
    pub bytes: u64,
}

/// A snapshot of one leg's quality, as reported to the rest of the system.
#[derive(Debug, Clone, Copy, Default)]
pub struct LegStats {
    /// Packets received and accepted.
    pub packets_received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Packets lost on the way to us.
    pub packets_lost: u64,
    /// Loss ratio 0–1 on the way to us.
    pub loss_ratio: f64,
    /// Interarrival jitter of what we receive.
    pub jitter: Duration,
    /// Round-trip time from the peer's reception reports, if any.
    pub rtt: Option<Duration>,
    /// Loss the peer reports about what we send (fraction 0–1), if any.
    pub remote_loss: Option<f64>,
    /// E-model MOS estimate (1.0–4.5).
    pub mos: f64,
    /// Dropped inbound datagrams by reason.
    pub drops: DropCounters,
}

impl LegStats {
    /// A snapshot from a leg's counters: loss and jitter of `rx` at the codec's clock, and a
    /// MOS whose one-way delay is half the RTT plus `extra_delay` (our jitter buffer towards
    /// the other leg) plus twice the jitter.
    pub fn from_counters(
        codec: Codec,
        rx: &ReceiveStats,
        tx: SendStats,
        drops: DropCounters,
        rtt: Option<Duration>,
        remote_loss: Option<f64>,
        extra_delay: Duration,
    ) -> Self {
        let lost = rx.cumulative_lost();
        let expected = rx.packets + lost;
        let loss_ratio = if expected == 0 {
            0.0
        } else {
            lost as f64 / expected as f64
        };
        let jitter = Duration::from_secs_f64(f64::from(rx.jitter()) / f64::from(codec.rtp_clock()));
        let one_way = rtt.map_or(Duration::ZERO, |r| r / 2) + extra_delay + jitter * 2;
        Self {
            packets_received: rx.packets,
            bytes_received: rx.bytes,
            packets_sent: tx.packets,
            bytes_sent: tx.bytes,
            packets_lost: lost,
            loss_ratio,
            jitter,
            rtt,
            remote_loss,
            mos: e_model_mos(codec, one_way, loss_ratio),
            drops,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_wrap_are_counted() {
        let t = crate::test_support::epoch();
        let mut s = ReceiveStats::default();
        let mut seq: u16 = 65_530;
        for i in 0..20u32 {
            if i % 5 != 4 {
                s.record(seq, i * 160, 160, u64::from(i) * 160, t);
            }
            seq = seq.wrapping_add(1);
        }
        assert_eq!(s.extended_max(), (1 << 16) | 12, "wrapped once");
        assert_eq!(s.cumulative_lost(), 3, "last lost packet is not yet known");
        assert_eq!(u32::from(s.take_fraction_lost()), (3u32 << 8) / 19);
        assert_eq!(s.jitter(), 0, "perfectly paced packets have no jitter");
    }

    #[test]
    fn jitter_converges_to_the_mean_deviation() {
        let t = crate::test_support::epoch();
        let mut s = ReceiveStats::default();
        for i in 0..2000u32 {
            let wobble = if i % 2 == 0 { 0 } else { 80 }; // 10 ms at 8 kHz every other packet
            s.record(i as u16, i * 160, 160, u64::from(i * 160 + wobble), t);
        }
        assert!((75..=85).contains(&s.jitter()), "jitter {}", s.jitter());
    }
}
