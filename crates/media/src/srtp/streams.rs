//! Per-SSRC SRTP state for the in-place RTP transform: the rollover counter and highest
//! sequence number behind the packet index (RFC 3711 §3.3.1, Appendix A), and the replay window
//! (§3.3.2).
//!
//! The state is only ever advanced through [`Streams::commit`], which the transform calls once a
//! packet has been authenticated (or, sending, protected): a forged or replayed packet must not
//! move the rollover counter or the window.

use rtc_shared::replay_detector::{ReplayDetector, SlidingWindowDetector};

/// Inbound replay window, in packets.
const REPLAY_WINDOW: usize = 128;
/// The largest packet index: SRTP indices are 48 bits (ROC ‖ SEQ).
const MAX_INDEX: u64 = (1 << 48) - 1;
/// SSRCs tracked per direction. A peer switches SSRC rarely and the leg quarantines old ones,
/// so a few suffice; the bound keeps a key holder from growing the table without limit, and
/// reserving it up front keeps a new SSRC from allocating the table again.
const MAX_STREAMS: usize = 8;
/// Half the sequence space, the threshold of the Appendix A estimation.
const HALF: u16 = 1 << 15;

/// Why a packet cannot get an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexError {
    /// Already received, or older than the replay window.
    Replay,
    /// The rollover counter would pass 2^32: RFC 3711 §9.2 requires new keys first.
    Exhausted,
}

/// The index a packet was given, and what committing it will record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Estimate {
    /// The rollover counter `v` used for this packet (authenticated with it).
    pub(crate) roc: u32,
    /// The packet index `i = 2^16 · v + SEQ`.
    pub(crate) index: u64,
    ssrc: u32,
    seq: u16,
    /// Where the SSRC's state is, if it has any yet.
    slot: Option<usize>,
}

struct Stream {
    ssrc: u32,
    roc: u32,
    /// `s_l`, the highest sequence number received (or sent) in rollover `roc`.
    highest: u16,
    replay: Option<SlidingWindowDetector>,
    /// When the stream was last used, to pick one to forget when the table is full.
    last_used: u64,
}

/// The per-SSRC state of one direction.
pub(crate) struct Streams {
    streams: Vec<Stream>,
    replay_protection: bool,
    uses: u64,
}

impl Streams {
    /// Empty state; `replay_protection` for the receiving direction.
    pub(crate) fn new(replay_protection: bool) -> Self {
        Self {
            streams: Vec::with_capacity(MAX_STREAMS),
            replay_protection,
            uses: 0,
        }
    }

    /// The index of a packet with `seq` from `ssrc` (Appendix A), refused if it is a replay.
    pub(crate) fn estimate(&mut self, ssrc: u32, seq: u16) -> Result<Estimate, IndexError> {
        let slot = self.streams.iter().position(|s| s.ssrc == ssrc);
        let Some(stream) = slot.and_then(|i| self.streams.get_mut(i)) else {
            // The first packet of a stream sets `s_l` and starts rollover 0 (§3.3.1).
            return Ok(Estimate {
                roc: 0,
                index: u64::from(seq),
                ssrc,
                seq,
                slot: None,
            });
        };
        let (roc, s_l) = (stream.roc, stream.highest);
        let v = if s_l < HALF {
            if seq > s_l && seq - s_l > HALF {
                // From the rollover before; in rollover 0 there is none, so keep 0 as the
                // sender would have.
                roc.saturating_sub(1)
            } else {
                roc
            }
        } else if s_l - HALF > seq {
            roc.checked_add(1).ok_or(IndexError::Exhausted)?
        } else {
            roc
        };
        let index = (u64::from(v) << 16) | u64::from(seq);
        if index > MAX_INDEX {
            return Err(IndexError::Exhausted);
        }
        if let Some(window) = &mut stream.replay
            && !window.check(index)
        {
            return Err(IndexError::Replay);
        }
        Ok(Estimate {
            roc: v,
            index,
            ssrc,
            seq,
            slot,
        })
    }

    /// Records an authenticated (or protected) packet: advances `s_l`/ROC and marks the index
    /// as received.
    pub(crate) fn commit(&mut self, est: Estimate) {
        self.uses += 1;
        let Some(stream) = est.slot.and_then(|i| self.streams.get_mut(i)) else {
            self.insert(est);
            return;
        };
        stream.last_used = self.uses;
        if est.roc == stream.roc {
            if est.seq > stream.highest {
                stream.highest = est.seq;
            }
        } else if est.roc > stream.roc {
            stream.roc = est.roc;
            stream.highest = est.seq;
        }
        if let Some(window) = &mut stream.replay {
            window.accept();
        }
    }

    /// Starts the state of `est`'s SSRC at its first packet, replacing the least recently used
    /// stream when the table is full.
    fn insert(&mut self, est: Estimate) {
        let replay = self.replay_protection.then(|| {
            let mut window = SlidingWindowDetector::new(REPLAY_WINDOW, MAX_INDEX);
            // `accept` records what `check` last passed; an empty window passes anything.
            window.check(est.index);
            window.accept();
            window
        });
        let stream = Stream {
            ssrc: est.ssrc,
            roc: est.roc,
            highest: est.seq,
            replay,
            last_used: self.uses,
        };
        if self.streams.len() < MAX_STREAMS {
            self.streams.push(stream);
        } else if let Some(oldest) = self.streams.iter_mut().min_by_key(|s| s.last_used) {
            *oldest = stream;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Receives `seq` from SSRC 1: the index it got, or why not.
    fn receive(streams: &mut Streams, seq: u16) -> Result<u64, IndexError> {
        let est = streams.estimate(1, seq)?;
        streams.commit(est);
        Ok(est.index)
    }

    #[test]
    fn index_follows_wraps_and_reordering_across_them() {
        let mut s = Streams::new(true);
        assert_eq!(receive(&mut s, 65_534), Ok(65_534));
        assert_eq!(receive(&mut s, 1), Ok(65_537), "wrapped: ROC 1");
        assert_eq!(receive(&mut s, 65_535), Ok(65_535), "late, from ROC 0");
        assert_eq!(receive(&mut s, 2), Ok(65_538));
        assert_eq!(receive(&mut s, 30_000), Ok(65_536 + 30_000));
        assert_eq!(receive(&mut s, 60_000), Ok(65_536 + 60_000));
        assert_eq!(receive(&mut s, 100), Ok(2 * 65_536 + 100), "second wrap");
    }

    #[test]
    fn replays_and_packets_older_than_the_window_are_refused() {
        let mut s = Streams::new(true);
        for seq in 1000..1200 {
            assert!(receive(&mut s, seq).is_ok());
        }
        assert_eq!(receive(&mut s, 1199), Err(IndexError::Replay));
        assert_eq!(receive(&mut s, 1150), Err(IndexError::Replay));
        assert_eq!(
            receive(&mut s, 1000),
            Err(IndexError::Replay),
            "outside the window"
        );
    }

    #[test]
    fn an_uncommitted_packet_moves_nothing() {
        let mut s = Streams::new(true);
        assert!(receive(&mut s, 10).is_ok());
        // Estimated (as if a forgery were checked) but never committed.
        assert!(s.estimate(1, 30_000).is_ok());
        assert_eq!(receive(&mut s, 11), Ok(11));
        assert_eq!(
            receive(&mut s, 30_000),
            Ok(30_000),
            "not marked as received"
        );
    }

    #[test]
    fn the_table_forgets_the_least_recently_used_ssrc() {
        let mut s = Streams::new(false);
        for ssrc in 0..=MAX_STREAMS as u32 {
            let est = s.estimate(ssrc, 7).expect("index");
            s.commit(est);
        }
        assert_eq!(s.streams.len(), MAX_STREAMS);
        assert!(s.streams.iter().all(|st| st.ssrc != 0), "SSRC 0 forgotten");
    }
}
