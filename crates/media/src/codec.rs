//! The audio codecs the bridge understands, with their RTP clock and sample rates.

/// An audio codec either leg can negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus, 48 kHz RTP clock, mono voice.
    Opus,
    /// G.722: 16 kHz audio but an 8 kHz RTP clock (RFC 3551).
    G722,
    /// G.711 μ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl Codec {
    /// All codecs, in our default preference order for a SIP leg.
    pub const ALL: [Self; 4] = [Self::G722, Self::Pcmu, Self::Pcma, Self::Opus];

    /// The RTP timestamp clock rate.
    pub const fn rtp_clock(self) -> u32 {
        match self {
            Self::Opus => 48_000,
            Self::G722 | Self::Pcmu | Self::Pcma => 8_000,
        }
    }

    /// The audio sample rate the codec's own samples are at.
    pub const fn sample_rate(self) -> u32 {
        match self {
            Self::Opus => 48_000,
            Self::G722 => 16_000,
            Self::Pcmu | Self::Pcma => 8_000,
        }
    }

    /// The static payload type, if the codec has one.
    pub const fn static_payload_type(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::G722 => Some(9),
            Self::Opus => None,
        }
    }

    /// The `a=rtpmap` encoding name.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Self::Opus => "opus",
            Self::G722 => "G722",
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    /// Recognises an `a=rtpmap` encoding name and clock (case-insensitive name).
    pub fn from_rtpmap(name: &str, clock: u32) -> Option<Self> {
        let c = Self::ALL
            .into_iter()
            .find(|c| c.encoding_name().eq_ignore_ascii_case(name))?;
        (c.rtp_clock() == clock).then_some(c)
    }

    /// The rate at which this codec's *decoder* can produce PCM for a consumer that wants
    /// `wanted` Hz without resampling, if any. libopus decodes natively at 8/16/48 kHz.
    pub const fn native_decode_rate(self, wanted: u32) -> u32 {
        match self {
            Self::Opus => match wanted {
                8_000 | 16_000 | 48_000 => wanted,
                _ => 48_000,
            },
            other => other.sample_rate(),
        }
    }

    /// The rate at which this codec's *encoder* can accept PCM produced at `offered` Hz
    /// without resampling, if any. libopus encodes from 8/16/48 kHz input natively.
    pub const fn native_encode_rate(self, offered: u32) -> u32 {
        self.native_decode_rate(offered)
    }
}

/// Payload type for RFC 3389 comfort noise at 8 kHz.
pub const CN_PAYLOAD_TYPE: u8 = 13;
