//! Packet loss concealment for codecs without their own (G.711, G.722), in the spirit of
//! G.711 Appendix I: repeat the last pitch period with phase continuity, fading out over
//! consecutive losses.

/// History kept for pitch search: 40 ms at the highest rate we conceal (16 kHz).
const MAX_HISTORY: usize = 640;

/// Pitch-repeating concealment state for one decoder output.
#[derive(Debug, Clone)]
pub struct Concealer {
    rate: u32,
    history: Vec<i16>,
    period: usize,
    pos: usize,
    lost_in_row: u32,
}

impl Concealer {
    /// A concealer for PCM at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        Self {
            rate,
            history: Vec::with_capacity(MAX_HISTORY),
            period: 0,
            pos: 0,
            lost_in_row: 0,
        }
    }

    /// Records good decoded audio.
    pub fn good(&mut self, pcm: &[i16]) {
        self.lost_in_row = 0;
        self.history.extend_from_slice(pcm);
        let excess = self.history.len().saturating_sub(MAX_HISTORY);
        self.history.drain(..excess);
    }

    /// Appends `samples` of concealment audio to `out`.
    pub fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        if self.history.is_empty() {
            out.resize(out.len() + samples, 0);
            return;
        }
        if self.lost_in_row == 0 {
            self.period = self.find_period();
            self.pos = 0;
        }
        self.lost_in_row += 1;
        // Full level for the first loss, then fade 20 % per lost frame, silent after five.
        let gain = match self.lost_in_row {
            1 => 1.0,
            n => (1.0 - 0.2 * f32::from(u16::try_from(n - 1).unwrap_or(u16::MAX))).max(0.0),
        };
        let period = self.period.max(1).min(self.history.len());
        let start = self.history.len() - period;
        for _ in 0..samples {
            let s = f32::from(self.history[start + self.pos]) * gain;
            out.push(s as i16);
            self.pos = (self.pos + 1) % period;
        }
    }

    /// Autocorrelation pitch search over 2.5–15 ms on the last 20 ms of history.
    fn find_period(&self) -> usize {
        let rate = self.rate as usize;
        let (min_p, max_p) = (rate / 400, rate * 15 / 1000);
        let win = (rate / 50).min(self.history.len().saturating_sub(max_p));
        if win < min_p {
            return self.history.len().min(rate / 100).max(1);
        }
        let h = &self.history;
        let end = h.len();
        let mut best = (min_p, f64::MIN);
        for p in min_p..=max_p {
            let mut corr = 0.0f64;
            let mut energy = 0.0f64;
            for i in end - win..end {
                let a = f64::from(h[i]);
                let b = f64::from(h[i - p]);
                corr += a * b;
                energy += b * b;
            }
            let score = if energy > 0.0 {
                corr / energy.sqrt()
            } else {
                0.0
            };
            if score > best.1 {
                best = (p, score);
            }
        }
        best.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conceals_a_tone_with_phase_continuity() {
        let rate = 8000.0;
        let f = 440.0;
        let wave =
            |i: usize| (10_000.0 * (2.0 * std::f64::consts::PI * f * i as f64 / rate).sin()) as i16;
        let mut c = Concealer::new(8000);
        let good: Vec<i16> = (0..480).map(wave).collect();
        c.good(&good);
        let mut out = Vec::new();
        c.conceal(160, &mut out);
        // The concealed frame should track the real continuation closely.
        let err: f64 = out
            .iter()
            .enumerate()
            .map(|(k, &s)| (f64::from(s) - f64::from(wave(480 + k))).powi(2))
            .sum::<f64>()
            / 160.0;
        let snr = 10.0 * (5.0e7 / err).log10();
        assert!(snr > 10.0, "concealment SNR {snr:.1} dB");
    }

    #[test]
    fn fades_to_silence_over_a_long_loss() {
        let mut c = Concealer::new(8000);
        c.good(&[1000; 320]);
        let mut out = Vec::new();
        for _ in 0..7 {
            out.clear();
            c.conceal(160, &mut out);
        }
        assert!(out.iter().all(|&s| s == 0));
    }
}
