//! Carrying RFC 4733 events from one leg to the other: timestamp anchoring in the outbound
//! timeline, duration rescaling between clocks, End-bit redundancy preserved packet by packet.

use std::time::Duration;

use crate::dtmf::TelephoneEvent;

/// Per-direction relay state.
#[derive(Debug, Default, Clone)]
pub struct DtmfRelay {
    /// Inbound event timestamp and the outbound timestamp it maps to.
    current: Option<(u32, u32)>,
    /// Inbound event timestamp whose End was already reported.
    reported_end: Option<u32>,
}

/// One event packet ready to send on the other leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayedEvent {
    /// Outbound RTP timestamp (event start in the outbound clock).
    pub ts: u32,
    /// Marker: first packet of the event.
    pub marker: bool,
    /// Payload, duration rescaled.
    pub payload: [u8; 4],
    /// A digit that completed with this packet (first End packet only).
    pub completed: Option<(char, Duration)>,
}

impl DtmfRelay {
    /// Maps one inbound event packet. `start_ts` gives the outbound timestamp for a new event.
    pub fn relay(
        &mut self,
        in_ts: u32,
        payload: &[u8],
        in_clock: u32,
        out_clock: u32,
        start_ts: impl FnOnce() -> u32,
    ) -> Option<RelayedEvent> {
        let event = TelephoneEvent::parse(payload)?;
        let (marker, out_ts) = match self.current {
            Some((ts, out)) if ts == in_ts => (false, out),
            _ => {
                let out = start_ts();
                self.current = Some((in_ts, out));
                (true, out)
            }
        };
        let completed = if event.end && self.reported_end != Some(in_ts) {
            self.reported_end = Some(in_ts);
            event.digit().map(|d| {
                let micros = u64::from(event.duration) * 1_000_000 / u64::from(in_clock.max(1));
                (d, Duration::from_micros(micros))
            })
        } else {
            None
        };
        Some(RelayedEvent {
            ts: out_ts,
            marker,
            payload: event.rescaled(in_clock, out_clock).to_bytes(),
            completed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_event_reaches_pcmu_with_rescaled_duration_and_redundant_ends() {
        let mut r = DtmfRelay::default();
        let mut sent = Vec::new();
        // A 200 ms '5' at 48 kHz: updates every 50 ms, then three End packets.
        for (dur, end) in [
            (2400u16, false),
            (4800, false),
            (7200, false),
            (9600, true),
            (9600, true),
            (9600, true),
        ] {
            let ev = TelephoneEvent {
                event: 5,
                end,
                volume: 10,
                duration: dur,
            };
            sent.push(
                r.relay(96_000, &ev.to_bytes(), 48_000, 8_000, || 4_000)
                    .expect("event"),
            );
        }
        assert!(sent[0].marker && sent[1..].iter().all(|e| !e.marker));
        assert!(sent.iter().all(|e| e.ts == 4_000));
        let last = TelephoneEvent::parse(&sent[5].payload).expect("payload");
        assert_eq!((last.duration, last.end), (1600, true));
        let completions: Vec<_> = sent.iter().filter_map(|e| e.completed).collect();
        assert_eq!(completions, [('5', Duration::from_millis(200))]);
    }

    #[test]
    fn a_new_event_gets_a_new_anchor() {
        let mut r = DtmfRelay::default();
        let ev = TelephoneEvent {
            event: 1,
            end: false,
            volume: 10,
            duration: 160,
        }
        .to_bytes();
        assert_eq!(r.relay(100, &ev, 8000, 8000, || 7).map(|e| e.ts), Some(7));
        assert_eq!(
            r.relay(900, &ev, 8000, 8000, || 55)
                .map(|e| (e.ts, e.marker)),
            Some((55, true))
        );
        assert!(r.relay(901, &[1, 2], 8000, 8000, || 0).is_none());
    }
}
