//! 2:1 and 1:2 resampling between 16 kHz (G.722) and 8 kHz (G.711).
//!
//! Only this one ratio is ever needed: Opus decodes and encodes natively at 8/16/48 kHz, so the
//! only pair without a native rate is G.722 ↔ G.711. A short windowed-sinc half-band FIR keeps
//! the state to a few samples and the cost to a few multiply-adds per sample.

/// Half-band low-pass taps (odd length, symmetric), cut-off at a quarter of the high rate.
const TAPS: [f32; 31] = [
    0.0000000, 0.0000000, 0.0004103, -0.0000000, -0.0022303, 0.0000000, 0.0071009, -0.0000000,
    -0.0179170, 0.0000000, 0.0401074, -0.0000000, -0.0901069, 0.0000000, 0.3126333, 0.5000046,
    0.3126333, 0.0000000, -0.0901069, -0.0000000, 0.0401074, 0.0000000, -0.0179170, -0.0000000,
    0.0071009, 0.0000000, -0.0022303, -0.0000000, 0.0004103, 0.0000000, 0.0000000,
];

/// Stateful 16 kHz → 8 kHz decimator.
#[derive(Debug, Default, Clone)]
pub struct Downsampler {
    history: [f32; TAPS.len()],
    phase: bool,
}

impl Downsampler {
    /// Consumes 16 kHz samples and appends half as many 8 kHz samples to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        for &s in input {
            self.history.copy_within(1.., 0);
            self.history[TAPS.len() - 1] = f32::from(s);
            self.phase = !self.phase;
            if self.phase {
                continue;
            }
            let acc: f32 = self
                .history
                .iter()
                .zip(TAPS)
                .map(|(h, t)| h * t)
                .sum::<f32>();
            out.push(clamp(acc));
        }
    }
}

/// Stateful 8 kHz → 16 kHz interpolator.
#[derive(Debug, Default, Clone)]
pub struct Upsampler {
    history: [f32; TAPS.len()],
}

impl Upsampler {
    /// Consumes 8 kHz samples and appends twice as many 16 kHz samples to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        for &s in input {
            // Zero-stuff: push the sample and a zero, filtering after each; gain 2 restores level.
            for v in [f32::from(s), 0.0] {
                self.history.copy_within(1.., 0);
                self.history[TAPS.len() - 1] = v;
                let acc: f32 = self.history.iter().zip(TAPS).map(|(h, t)| h * t).sum();
                out.push(clamp(acc * 2.0));
            }
        }
    }
}

fn clamp(v: f32) -> i16 {
    v.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: f32, freq: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate).sin()) as i16)
            .collect()
    }

    fn rms(x: &[i16]) -> f32 {
        (x.iter().map(|&v| f32::from(v) * f32::from(v)).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn passband_tone_keeps_its_level_both_ways() {
        let mut down = Downsampler::default();
        let mut out = Vec::new();
        down.process(&tone(16_000.0, 1000.0, 3200), &mut out);
        assert_eq!(out.len(), 1600);
        let level = rms(&out[100..]);
        assert!(
            (level / (8000.0 / 2f32.sqrt()) - 1.0).abs() < 0.1,
            "down level {level}"
        );

        let mut up = Upsampler::default();
        let mut out16 = Vec::new();
        up.process(&tone(8000.0, 1000.0, 1600), &mut out16);
        assert_eq!(out16.len(), 3200);
        let level = rms(&out16[100..]);
        assert!(
            (level / (8000.0 / 2f32.sqrt()) - 1.0).abs() < 0.1,
            "up level {level}"
        );
    }

    #[test]
    fn stopband_tone_is_attenuated_when_decimating() {
        let mut down = Downsampler::default();
        let mut out = Vec::new();
        down.process(&tone(16_000.0, 6000.0, 3200), &mut out);
        assert!(rms(&out[100..]) < 8000.0 / 2f32.sqrt() * 0.2);
    }
}
