//! The transcode path for one direction: jitter buffer → decode (with PLC / Opus FEC) →
//! resample where no native rate exists → encode → packetize on a steady clock.
//!
//! The output clock is ours: one packet every output ptime, whatever the input burstiness.
//! When the input goes quiet (DTX, comfort noise, hold) the direction stops sending after a
//! short tail and restarts on the next packet, continuing the outbound timeline.

pub mod codecs;

use std::time::{Duration, Instant};

use codecs::{Decoder, Encoder};

use crate::codec::Codec;
use crate::error::{MediaError, Result};
use crate::jitter::{JitterBuffer, JitterConfig, Playout, Push};
use crate::resample::{Downsampler, Upsampler};

/// Consecutive empty slots after which an idle input stops the output (200 ms at 20 ms).
const IDLE_SLOTS: u32 = 10;

/// Settings of the transcode path.
#[derive(Debug, Clone, Copy)]
pub struct TranscodeConfig {
    /// Opus encoder complexity (0–10).
    pub opus_complexity: i32,
    /// Jitter buffer limits.
    pub jitter: JitterConfig,
}

impl Default for TranscodeConfig {
    fn default() -> Self {
        Self {
            opus_complexity: 5,
            jitter: JitterConfig::default(),
        }
    }
}

#[derive(Debug)]
enum Resampler {
    None,
    Down(Downsampler),
    Up(Upsampler),
}

/// One encoded output frame.
#[derive(Debug)]
pub struct EncodedFrame<'a> {
    /// Codec payload.
    pub payload: &'a [u8],
    /// RTP timestamp in the output clock.
    pub ts: u32,
    /// First packet of a talk spurt.
    pub marker: bool,
}

/// One direction of a transcoded call.
#[derive(Debug)]
pub struct TranscodeDirection {
    jb: JitterBuffer,
    decoder: Decoder,
    in_samples: usize,
    resampler: Resampler,
    encoder: Encoder,
    out_samples: usize,
    out_frame_ts: u32,
    out_ptime: Duration,
    pcm: Vec<i16>,
    scratch: Vec<i16>,
    encoded: Vec<u8>,
    next_tick: Option<Instant>,
    out_ts: Option<u32>,
    in_comfort_noise: bool,
    idle_slots: u32,
    talkspurt: bool,
}

impl TranscodeDirection {
    /// Builds a direction from `input` (at `in_ptime`) to `output` (at `out_ptime`).
    pub fn new(
        input: Codec,
        in_ptime: Duration,
        output: Codec,
        out_ptime: Duration,
        cfg: TranscodeConfig,
    ) -> Result<Self> {
        let decode_rate = input.native_decode_rate(output.sample_rate());
        let encode_rate = output.native_encode_rate(decode_rate);
        let resampler = match (decode_rate, encode_rate) {
            (a, b) if a == b => Resampler::None,
            (16_000, 8_000) => Resampler::Down(Downsampler::default()),
            (8_000, 16_000) => Resampler::Up(Upsampler::default()),
            (a, b) => {
                return Err(MediaError::Misconfigured(format!(
                    "no resampler for {a} -> {b} Hz"
                )));
            }
        };
        let samples = |d: Duration, rate: u32| (d.as_micros() as usize * rate as usize) / 1_000_000;
        Ok(Self {
            jb: JitterBuffer::new(cfg.jitter, input.rtp_clock(), in_ptime),
            decoder: Decoder::new(input, decode_rate)?,
            in_samples: samples(in_ptime, decode_rate),
            resampler,
            encoder: Encoder::new(output, encode_rate, cfg.opus_complexity)?,
            out_samples: samples(out_ptime, encode_rate),
            out_frame_ts: crate::rewrite::duration_to_clock(out_ptime, output.rtp_clock()),
            out_ptime,
            pcm: Vec::with_capacity(2048),
            scratch: Vec::with_capacity(2048),
            encoded: Vec::with_capacity(1500),
            next_tick: None,
            out_ts: None,
            in_comfort_noise: false,
            idle_slots: 0,
            talkspurt: true,
        })
    }

    /// Buffers an inbound audio or comfort-noise payload.
    pub fn push(&mut self, ts: u32, payload: &[u8], comfort_noise: bool, now: Instant) -> Push {
        if comfort_noise && self.next_tick.is_none() {
            // Silence updates while we are already quiet: nothing to send (DTX towards the
            // other leg), and nothing worth restarting the output clock for.
            return Push::Accepted;
        }
        let result = self.jb.push(ts, payload, comfort_noise, now);
        if self.next_tick.is_none() && result == Push::Accepted {
            self.next_tick = Some(now + self.jb.target());
            self.talkspurt = true;
        }
        result
    }

    /// Forgets buffered input (new inbound source, hold, resume); the output timeline
    /// continues, re-anchored on the outbound stream's clock so that a pause in the input
    /// (a hold with no media at all) shows as elapsed time in the timestamps.
    pub fn reset_input(&mut self) {
        self.jb.reset();
        self.out_ts = None;
    }

    /// When the next output frame is due.
    pub fn deadline(&self) -> Option<Instant> {
        self.next_tick
    }

    /// The timestamp the next output frame will carry, once started (for DTMF alignment).
    pub fn next_out_ts(&self) -> Option<u32> {
        self.out_ts
    }

    /// Current jitter buffer target delay.
    pub fn buffer_delay(&self) -> Duration {
        self.jb.target()
    }

    /// Produces the output frame due at `now`, if any. `first_ts` supplies the timestamp that
    /// continues the outbound stream when the output (re)starts.
    pub fn tick(
        &mut self,
        now: Instant,
        first_ts: impl FnOnce() -> u32,
    ) -> Result<Option<EncodedFrame<'_>>> {
        let Some(due) = self.next_tick else {
            return Ok(None);
        };
        if now < due {
            return Ok(None);
        }
        self.next_tick = Some(due + self.out_ptime);
        while self.pcm.len() < self.out_samples {
            self.scratch.clear();
            match self.jb.pop(now) {
                Playout::NotStarted => return Ok(None),
                Playout::Frame(f) if f.comfort_noise => {
                    self.in_comfort_noise = true;
                    self.idle_slots += 1;
                    self.scratch.resize(self.in_samples, 0);
                }
                Playout::Frame(f) => {
                    self.in_comfort_noise = false;
                    self.idle_slots = 0;
                    self.decoder
                        .decode(&f.payload, self.in_samples, &mut self.scratch);
                }
                Playout::Missing { next } => {
                    self.idle_slots += 1;
                    if self.in_comfort_noise {
                        self.scratch.resize(self.in_samples, 0);
                    } else {
                        self.decoder
                            .conceal(next.as_deref(), self.in_samples, &mut self.scratch);
                    }
                }
            }
            match &mut self.resampler {
                Resampler::None => self.pcm.extend_from_slice(&self.scratch),
                Resampler::Down(d) => d.process(&self.scratch, &mut self.pcm),
                Resampler::Up(u) => u.process(&self.scratch, &mut self.pcm),
            }
        }
        if self.idle_slots >= IDLE_SLOTS && self.jb.is_empty() {
            // The input went quiet: stop sending until it comes back (DTX towards the peer).
            self.next_tick = None;
            self.jb.reset();
            self.pcm.clear();
            self.idle_slots = 0;
            self.out_ts = None;
            return Ok(None);
        }
        let ts = match self.out_ts {
            Some(ts) => ts,
            None => first_ts(),
        };
        self.out_ts = Some(ts.wrapping_add(self.out_frame_ts));
        self.encoder
            .encode(&self.pcm[..self.out_samples], &mut self.encoded)?;
        self.pcm.drain(..self.out_samples);
        let marker = std::mem::take(&mut self.talkspurt);
        Ok(Some(EncodedFrame {
            payload: &self.encoded,
            ts,
            marker,
        }))
    }
}
