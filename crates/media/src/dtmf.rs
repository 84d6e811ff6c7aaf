//! RFC 4733 telephone-events: parsing, building, and rescaling between RTP clock rates.
//!
//! When the two legs run different RTP clocks (Opus 48 kHz vs G.711/G.722 8 kHz) the event's
//! duration field is in the *sender's* clock units and must be rescaled, or the far end hears a
//! digit six times too long or too short (the FreeSWITCH #1724 bug class).

/// One RFC 4733 telephone-event payload (4 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–9, 10 = `*`, 11 = `#`, 12–15 = A–D, 16 = flash.
    pub event: u8,
    /// End-of-event bit.
    pub end: bool,
    /// Volume in -dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in RTP clock units of the stream it travels in.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses a payload; `None` for anything that is not exactly one well-formed event.
    ///
    /// Payloads carrying several events (rare, RFC 4733 §2.5.1.1) are read as their first event.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let [event, flags, d0, d1, ..] = *payload else {
            return None;
        };
        Some(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// Serialises into the 4-byte wire form.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    /// Rescales the duration from one RTP clock to another, saturating at the field's maximum.
    pub fn rescaled(self, from_clock: u32, to_clock: u32) -> Self {
        Self {
            duration: rescale_u16(self.duration, from_clock, to_clock),
            ..self
        }
    }

    /// The character this event stands for, if it is a DTMF digit.
    pub fn digit(self) -> Option<char> {
        b"0123456789*#ABCD"
            .get(usize::from(self.event))
            .map(|&b| char::from(b))
    }
}

/// Rescales a 16-bit duration between clock rates, rounding to nearest and saturating.
pub fn rescale_u16(value: u16, from_clock: u32, to_clock: u32) -> u16 {
    if from_clock == 0 {
        return value;
    }
    let scaled = (u64::from(value) * u64::from(to_clock) + u64::from(from_clock) / 2)
        / u64::from(from_clock);
    u16::try_from(scaled).unwrap_or(u16::MAX)
}

/// Rescales a timestamp *difference* between clock rates (wrapping arithmetic domain).
pub fn rescale_delta(delta: u32, from_clock: u32, to_clock: u32) -> u32 {
    if from_clock == 0 {
        return delta;
    }
    ((u64::from(delta) * u64::from(to_clock) + u64::from(from_clock) / 2) / u64::from(from_clock))
        as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_build_round_trip() {
        let ev = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 1600,
        };
        assert_eq!(TelephoneEvent::parse(&ev.to_bytes()), Some(ev));
        assert_eq!(ev.digit(), Some('#'));
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), None);
    }

    #[test]
    fn opus_to_pcmu_duration_is_divided_by_six() {
        // 100 ms at 48 kHz = 4800 units -> 800 units at 8 kHz.
        let ev = TelephoneEvent {
            event: 5,
            end: false,
            volume: 10,
            duration: 4800,
        };
        assert_eq!(ev.rescaled(48_000, 8_000).duration, 800);
        assert_eq!(
            ev.rescaled(48_000, 8_000).rescaled(8_000, 48_000).duration,
            4800
        );
    }

    #[test]
    fn long_event_saturates_instead_of_wrapping() {
        let ev = TelephoneEvent {
            event: 1,
            end: false,
            volume: 0,
            duration: 20_000,
        };
        assert_eq!(ev.rescaled(8_000, 48_000).duration, u16::MAX);
    }

    proptest! {
        #[test]
        fn rescale_up_then_down_is_identity(d in 0u16..10_922) {
            prop_assert_eq!(rescale_u16(rescale_u16(d, 8_000, 48_000), 48_000, 8_000), d);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            prop_assert_eq!(TelephoneEvent::parse(&bytes).is_some(), bytes.len() >= 4);
        }
    }
}
