//! Decoders and encoders behind one enum each, so a pipeline can be built for any pair.

use ezk_g722::libg722::{self, Bitrate};

use crate::codec::Codec;
use crate::error::{MediaError, Result};
use crate::g711;
use crate::plc::Concealer;

/// Opus bitrate for voice we send (bits/s).
const OPUS_BITRATE: i32 = 32_000;

/// A decoder producing mono PCM at a fixed rate, with concealment.
pub enum Decoder {
    /// libopus, with its own PLC and in-band FEC.
    Opus(opus::Decoder),
    /// G.722 with pitch-repeating concealment.
    G722(Box<libg722::decoder::Decoder>, Concealer),
    /// G.711 μ-law with pitch-repeating concealment.
    Pcmu(Concealer),
    /// G.711 A-law with pitch-repeating concealment.
    Pcma(Concealer),
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Opus(_) => "Decoder::Opus",
            Self::G722(..) => "Decoder::G722",
            Self::Pcmu(_) => "Decoder::Pcmu",
            Self::Pcma(_) => "Decoder::Pcma",
        })
    }
}

impl Decoder {
    /// A decoder for `codec` producing PCM at `rate` (must be the codec's native decode rate).
    pub fn new(codec: Codec, rate: u32) -> Result<Self> {
        Ok(match codec {
            Codec::Opus => Self::Opus(
                opus::Decoder::new(rate, opus::Channels::Mono)
                    .map_err(|e| MediaError::Codec(e.to_string()))?,
            ),
            Codec::G722 => Self::G722(
                Box::new(libg722::decoder::Decoder::new(
                    Bitrate::Mode1_64000,
                    false,
                    false,
                )),
                Concealer::new(rate),
            ),
            Codec::Pcmu => Self::Pcmu(Concealer::new(rate)),
            Codec::Pcma => Self::Pcma(Concealer::new(rate)),
        })
    }

    /// Decodes one payload, appending `samples` PCM samples (or concealment on failure).
    pub fn decode(&mut self, payload: &[u8], samples: usize, out: &mut Vec<i16>) {
        let start = out.len();
        match self {
            Self::Opus(d) => {
                out.resize(start + samples, 0);
                match d.decode(payload, &mut out[start..], false) {
                    Ok(n) => out.truncate(start + n),
                    Err(_) => {
                        // A corrupt packet from the peer: conceal instead.
                        out.truncate(start);
                        self.conceal(None, samples, out);
                    }
                }
            }
            Self::G722(d, plc) => {
                let pcm = d.decode(payload);
                plc.good(&pcm);
                out.extend_from_slice(&pcm);
            }
            Self::Pcmu(plc) => {
                out.extend(payload.iter().map(|&b| g711::ulaw_to_linear(b)));
                plc.good(&out[start..]);
            }
            Self::Pcma(plc) => {
                out.extend(payload.iter().map(|&b| g711::alaw_to_linear(b)));
                plc.good(&out[start..]);
            }
        }
    }

    /// Conceals one lost frame of `samples`; uses Opus in-band FEC from `next` when present.
    pub fn conceal(&mut self, next: Option<&[u8]>, samples: usize, out: &mut Vec<i16>) {
        match self {
            Self::Opus(d) => {
                let start = out.len();
                out.resize(start + samples, 0);
                let result = match next {
                    Some(next) => d.decode(next, &mut out[start..], true),
                    None => d.decode(&[], &mut out[start..], false),
                };
                match result {
                    Ok(n) => out.truncate(start + n),
                    Err(_) => out.truncate(start + samples),
                }
            }
            Self::G722(_, plc) | Self::Pcmu(plc) | Self::Pcma(plc) => plc.conceal(samples, out),
        }
    }
}

/// An encoder taking mono PCM at a fixed rate.
pub enum Encoder {
    /// libopus (VoIP application, voice signal, in-band FEC on).
    Opus(opus::Encoder),
    /// G.722 at 64 kbit/s.
    G722(Box<libg722::encoder::Encoder>),
    /// G.711 μ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Opus(_) => "Encoder::Opus",
            Self::G722(_) => "Encoder::G722",
            Self::Pcmu => "Encoder::Pcmu",
            Self::Pcma => "Encoder::Pcma",
        })
    }
}

impl Encoder {
    /// An encoder for `codec` fed at `rate`; `complexity` applies to Opus.
    pub fn new(codec: Codec, rate: u32, complexity: i32) -> Result<Self> {
        let codec_err = |e: opus::Error| MediaError::Codec(e.to_string());
        Ok(match codec {
            Codec::Opus => {
                let mut e = opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Voip)
                    .map_err(codec_err)?;
                e.set_bitrate(opus::Bitrate::Bits(OPUS_BITRATE))
                    .map_err(codec_err)?;
                e.set_complexity(complexity).map_err(codec_err)?;
                e.set_signal(opus::Signal::Voice).map_err(codec_err)?;
                e.set_inband_fec(true).map_err(codec_err)?;
                e.set_packet_loss_perc(5).map_err(codec_err)?;
                Self::Opus(e)
            }
            Codec::G722 => Self::G722(Box::new(libg722::encoder::Encoder::new(
                Bitrate::Mode1_64000,
                false,
                false,
            ))),
            Codec::Pcmu => Self::Pcmu,
            Codec::Pcma => Self::Pcma,
        })
    }

    /// Tells the Opus encoder how much loss to expect (0–100 %), which sizes its in-band FEC.
    /// Other codecs ignore it.
    pub fn set_expected_loss(&mut self, percent: i32) -> Result<()> {
        if let Self::Opus(e) = self {
            e.set_packet_loss_perc(percent.clamp(0, 100))
                .map_err(|e| MediaError::Codec(e.to_string()))?;
        }
        Ok(())
    }

    /// Encodes one frame of PCM into `out` (cleared first).
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        match self {
            Self::Opus(e) => {
                out.resize(1275, 0);
                let n = e
                    .encode(pcm, out)
                    .map_err(|e| MediaError::Codec(e.to_string()))?;
                out.truncate(n);
            }
            Self::G722(e) => out.extend_from_slice(&e.encode(pcm)),
            Self::Pcmu => out.extend(pcm.iter().map(|&s| g711::linear_to_ulaw(s))),
            Self::Pcma => out.extend(pcm.iter().map(|&s| g711::linear_to_alaw(s))),
        }
        Ok(())
    }
}
