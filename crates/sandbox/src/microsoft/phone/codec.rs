//! The codecs the Direct Routing leg carries (reference `sip-direct-routing.md` §1.5): G.722
//! (through `ezk-g722`), and G.711 µ-law/A-law (ITU-T G.711, a few lines of bit twiddling).

use ezk_g722::libg722::{Bitrate, decoder::Decoder, encoder::Encoder};

/// A negotiated audio codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// G.722, static payload type 9, 16 kHz audio on an 8 kHz RTP clock.
    G722,
    /// G.711 µ-law, payload type 0.
    Pcmu,
    /// G.711 A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Self::G722 => 9,
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The codec of a static payload type.
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            9 => Some(Self::G722),
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            _ => None,
        }
    }

    /// PCM sample rate of the audio the codec carries.
    pub fn sample_rate(self) -> u32 {
        match self {
            Self::G722 => 16_000,
            Self::Pcmu | Self::Pcma => 8000,
        }
    }

    /// The `a=rtpmap` encoding name (G.722 advertises 8000 by RFC 3551's historical error).
    pub fn rtpmap(self) -> &'static str {
        match self {
            Self::G722 => "G722/8000",
            Self::Pcmu => "PCMU/8000",
            Self::Pcma => "PCMA/8000",
        }
    }
}

/// Encoder and decoder state for one call direction pair.
pub(crate) struct CodecState {
    codec: Codec,
    encoder: Option<Encoder>,
    decoder: Option<Decoder>,
}

impl std::fmt::Debug for CodecState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodecState")
            .field("codec", &self.codec)
            .finish()
    }
}

impl CodecState {
    pub(crate) fn new(codec: Codec) -> Self {
        let g722 = codec == Codec::G722;
        Self {
            codec,
            encoder: g722.then(|| Encoder::new(Bitrate::Mode1_64000, false, false)),
            decoder: g722.then(|| Decoder::new(Bitrate::Mode1_64000, false, false)),
        }
    }

    pub(crate) fn encode(&mut self, pcm: &[i16]) -> Vec<u8> {
        match (self.codec, &mut self.encoder) {
            (Codec::G722, Some(encoder)) => encoder.encode(pcm),
            (Codec::Pcma, _) => pcm.iter().map(|&s| linear_to_alaw(s)).collect(),
            _ => pcm.iter().map(|&s| linear_to_ulaw(s)).collect(),
        }
    }

    pub(crate) fn decode(&mut self, payload: &[u8]) -> Vec<i16> {
        match (self.codec, &mut self.decoder) {
            (Codec::G722, Some(decoder)) => decoder.decode(payload),
            (Codec::Pcma, _) => payload.iter().map(|&b| alaw_to_linear(b)).collect(),
            _ => payload.iter().map(|&b| ulaw_to_linear(b)).collect(),
        }
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(ULAW_CLIP) + ULAW_BIAS;
    let exponent = (7 - (pcm.leading_zeros() as i32 - 17)).clamp(0, 7);
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

fn ulaw_to_linear(byte: u8) -> i16 {
    let byte = !byte;
    let sign = byte & 0x80;
    let exponent = i32::from((byte >> 4) & 0x07);
    let mantissa = i32::from(byte & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

fn linear_to_alaw(sample: i16) -> u8 {
    let pcm = i32::from(sample);
    let (sign, magnitude) = if pcm >= 0 {
        (0xD5, pcm)
    } else {
        (0x55, -pcm - 1)
    };
    let magnitude = magnitude.min(0x7FFF);
    let byte = if magnitude < 256 {
        magnitude >> 4
    } else {
        let exponent = 31 - magnitude.leading_zeros() as i32 - 7;
        (exponent << 4) | ((magnitude >> (exponent + 3)) & 0x0F)
    };
    (byte as u8) ^ sign
}

fn alaw_to_linear(byte: u8) -> i16 {
    let byte = byte ^ 0x55;
    let sign = byte & 0x80;
    let exponent = i32::from((byte >> 4) & 0x07);
    let mantissa = i32::from(byte & 0x0F);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if sign != 0 { magnitude } else { -magnitude }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microsoft::phone::audio::{dominant_frequency, tone, tone_snr_db};

    #[test]
    fn every_codec_carries_a_tone() {
        for codec in [Codec::G722, Codec::Pcmu, Codec::Pcma] {
            let rate = codec.sample_rate();
            let sent = tone(1000.0, -12.0, rate, 0, rate as usize);
            let mut state = CodecState::new(codec);
            let mut received = Vec::new();
            for frame in sent.chunks(rate as usize / 50) {
                let payload = state.encode(frame);
                received.extend(state.decode(&payload));
            }
            let found = dominant_frequency(&received, rate).unwrap();
            assert!((found - 1000.0).abs() < 2.0, "{codec:?}: {found}");
            assert!(
                tone_snr_db(&received[800..], rate, 1000.0) > 25.0,
                "{codec:?}"
            );
        }
    }

    #[test]
    fn g711_round_trips_within_quantisation() {
        for sample in [-32768i16, -1000, -1, 0, 1, 1000, 32767] {
            let u = ulaw_to_linear(linear_to_ulaw(sample));
            let a = alaw_to_linear(linear_to_alaw(sample));
            let tolerance = (i32::from(sample).abs() / 16).max(16);
            assert!(
                (i32::from(u) - i32::from(sample)).abs() <= tolerance,
                "u {sample} {u}"
            );
            assert!(
                (i32::from(a) - i32::from(sample)).abs() <= tolerance,
                "a {sample} {a}"
            );
        }
    }
}
