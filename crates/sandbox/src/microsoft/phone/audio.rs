//! Audio analysis for the virtual phones: dominant frequency, level, SNR against the sent tone,
//! and DTMF digits, all from PCM samples (Goertzel filters; no FFT needed for these checks).

use std::f64::consts::PI;

/// Power of one frequency in `samples` (Goertzel), normalised so a full-scale sine gives 0.5.
pub fn goertzel_power(samples: &[i16], sample_rate: u32, frequency: f64) -> f64 {
    if samples.is_empty() || sample_rate == 0 {
        return 0.0;
    }
    let omega = 2.0 * PI * frequency / f64::from(sample_rate);
    let coefficient = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &sample in samples {
        let s0 = f64::from(sample) / 32768.0 + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    let n = samples.len() as f64;
    2.0 * power / (n * n)
}

/// Mean power of the samples (full-scale sine: 0.5).
pub fn mean_power(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| {
            let x = f64::from(s) / 32768.0;
            x * x
        })
        .sum();
    sum / samples.len() as f64
}

/// RMS level in dBFS (a full-scale sine is about −3 dBFS); −120 for silence.
pub fn level_dbfs(samples: &[i16]) -> f64 {
    let power = mean_power(samples);
    if power <= 0.0 {
        -120.0
    } else {
        10.0 * power.log10()
    }
}

/// The strongest frequency between 50 Hz and Nyquist, to about 0.1 Hz: a coarse Goertzel scan
/// over a short window (wide main lobes, so a coarse step cannot miss the peak), then finer
/// scans over all samples around it.
pub fn dominant_frequency(samples: &[i16], sample_rate: u32) -> Option<f64> {
    if samples.len() < 256 || mean_power(samples) <= 0.0 {
        return None;
    }
    let nyquist = f64::from(sample_rate) / 2.0;
    let scan = |window: &[i16], from: f64, to: f64, step: f64| {
        let mut best = (from, f64::MIN);
        let mut f = from.max(1.0);
        while f <= to.min(nyquist) {
            let p = goertzel_power(window, sample_rate, f);
            if p > best.1 {
                best = (f, p);
            }
            f += step;
        }
        best.0
    };
    // 256 samples give a main lobe of sample_rate/256 Hz (31 Hz at 8 kHz, 62 Hz at 16 kHz).
    let short = &samples[samples.len() / 2 - 128..samples.len() / 2 + 128];
    let lobe = f64::from(sample_rate) / 256.0;
    let coarse = scan(short, 50.0, nyquist - 50.0, lobe / 4.0);
    let fine = scan(samples, coarse - lobe, coarse + lobe, 0.5);
    Some(scan(samples, fine - 0.5, fine + 0.5, 0.05))
}

/// Signal-to-noise ratio in dB of a tone at `frequency`: its power against everything else.
pub fn tone_snr_db(samples: &[i16], sample_rate: u32, frequency: f64) -> f64 {
    let tone = goertzel_power(samples, sample_rate, frequency);
    let noise = (mean_power(samples) - tone).max(1e-12);
    10.0 * (tone.max(1e-12) / noise).log10()
}

const DTMF_LOW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const DTMF_HIGH: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const DTMF_KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The DTMF digits in `samples`, analysed in 20 ms blocks; a digit counts once per key press.
pub fn detect_dtmf(samples: &[i16], sample_rate: u32) -> String {
    let block = (sample_rate / 50) as usize;
    if block == 0 {
        return String::new();
    }
    let mut digits = String::new();
    let mut previous = None;
    for chunk in samples.chunks_exact(block) {
        let total = mean_power(chunk);
        let strongest = |freqs: &[f64; 4]| {
            freqs
                .iter()
                .enumerate()
                .map(|(i, &f)| (i, goertzel_power(chunk, sample_rate, f)))
                .fold((0, 0.0), |best, x| if x.1 > best.1 { x } else { best })
        };
        let (row, low) = strongest(&DTMF_LOW);
        let (column, high) = strongest(&DTMF_HIGH);
        // Both tones present and together carrying most of the block's energy.
        let key =
            (total > 1e-5 && low > total * 0.2 && high > total * 0.2 && low + high > total * 0.6)
                .then(|| DTMF_KEYS[row][column]);
        if key.is_some() && key != previous {
            digits.extend(key);
        }
        previous = key;
    }
    digits
}

/// A sine tone at `frequency` and `level_dbfs` (RMS), starting at sample `offset`.
pub fn tone(
    frequency: f64,
    level_dbfs: f64,
    sample_rate: u32,
    offset: u64,
    count: usize,
) -> Vec<i16> {
    let amplitude = 10f64.powf(level_dbfs / 20.0) * 2f64.sqrt() * 32767.0;
    (0..count as u64)
        .map(|i| {
            let t = (offset + i) as f64 / f64::from(sample_rate);
            let value = amplitude * (2.0 * PI * frequency * t).sin();
            value.clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// A DTMF key press (both tones at −10 dBFS each).
pub fn dtmf_tone(digit: char, sample_rate: u32, count: usize) -> Option<Vec<i16>> {
    let (row, column) = DTMF_KEYS.iter().enumerate().find_map(|(r, keys)| {
        keys.iter()
            .position(|&k| k == digit.to_ascii_uppercase())
            .map(|c| (r, c))
    })?;
    let low = tone(DTMF_LOW[row], -10.0, sample_rate, 0, count);
    let high = tone(DTMF_HIGH[column], -10.0, sample_rate, 0, count);
    Some(
        low.iter()
            .zip(high)
            .map(|(a, b)| a.saturating_add(b))
            .collect(),
    )
}

/// A deterministic two-second speech-like signal: a voiced source (120 Hz harmonics) shaped by
/// moving vowel formants and cut into syllables. Generated, so no recording is shipped, and
/// the same on both ends, so a receiver can compare against what was sent.
pub fn speech_fixture(sample_rate: u32) -> Vec<i16> {
    let rate = f64::from(sample_rate);
    let count = sample_rate as usize * 2;
    // (F1, F2) of /a/, /i/, /u/, /e/, /o/ in Hz.
    let vowels = [
        (730.0, 1090.0),
        (270.0, 2290.0),
        (300.0, 870.0),
        (530.0, 1840.0),
        (570.0, 840.0),
    ];
    (0..count)
        .map(|i| {
            let t = i as f64 / rate;
            let syllable = (t / 0.25) as usize;
            let (f1, f2) = vowels[syllable % vowels.len()];
            let phase_in_syllable = (t % 0.25) / 0.25;
            // Syllable envelope with a short pause between syllables.
            let envelope = if phase_in_syllable < 0.85 {
                (PI * phase_in_syllable / 0.85).sin()
            } else {
                0.0
            };
            let pitch = 120.0 + 15.0 * (2.0 * PI * 0.7 * t).sin();
            let mut value = 0.0;
            let mut harmonic = pitch;
            while harmonic < rate / 2.0 - 200.0 && harmonic < 3400.0 {
                let gain = 1.0 / (1.0 + ((harmonic - f1) / 90.0).powi(2))
                    + 0.5 / (1.0 + ((harmonic - f2) / 120.0).powi(2));
                value += gain * (2.0 * PI * harmonic * t).sin();
                harmonic += pitch;
            }
            (value * envelope * 6000.0).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Aligns `received` against `sent` (the same signal, looped from its start): the delay in
/// samples that maximises their correlation, and the SNR of `received` against the aligned,
/// gain-matched `sent` signal. `None` when either is too short or silent.
pub fn align(sent: &[i16], received: &[i16], max_lag: usize) -> Option<(usize, f64)> {
    let window = sent.len().min(received.len().saturating_sub(max_lag));
    if window < 256 || sent.is_empty() {
        return None;
    }
    let sample = |s: i16| f64::from(s) / 32768.0;
    let mut best = (0, f64::MIN);
    for lag in 0..=max_lag {
        let mut dot = 0.0;
        let mut energy = 0.0;
        for i in 0..window {
            let r = sample(received[lag + i]);
            dot += r * sample(sent[i % sent.len()]);
            energy += r * r;
        }
        let score = if energy > 0.0 {
            dot / energy.sqrt()
        } else {
            0.0
        };
        if score > best.1 {
            best = (lag, score);
        }
    }
    let lag = best.0;
    let (mut dot, mut sent_energy) = (0.0, 0.0);
    for i in 0..window {
        let s = sample(sent[i % sent.len()]);
        dot += s * sample(received[lag + i]);
        sent_energy += s * s;
    }
    if sent_energy <= 0.0 {
        return None;
    }
    let gain = dot / sent_energy;
    let (mut signal, mut noise) = (0.0, 0.0);
    for i in 0..window {
        let expected = gain * sample(sent[i % sent.len()]);
        let error = sample(received[lag + i]) - expected;
        signal += expected * expected;
        noise += error * error;
    }
    Some((lag, 10.0 * (signal / noise.max(1e-12)).log10()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominant_frequency_of_a_tone_is_within_a_hertz() {
        for (frequency, rate) in [(1000.0, 16_000), (440.0, 8000), (3150.0, 16_000)] {
            let samples = tone(frequency, -12.0, rate, 0, rate as usize);
            let found = dominant_frequency(&samples, rate).unwrap();
            assert!((found - frequency).abs() < 1.0, "{frequency}: {found}");
        }
        assert_eq!(dominant_frequency(&[0; 1000], 8000), None);
    }

    #[test]
    fn level_and_snr_track_the_signal() {
        let clean = tone(1000.0, -20.0, 16_000, 0, 16_000);
        assert!(
            (level_dbfs(&clean) + 20.0).abs() < 0.2,
            "{}",
            level_dbfs(&clean)
        );
        assert!(tone_snr_db(&clean, 16_000, 1000.0) > 40.0);
        let noisy: Vec<i16> = clean
            .iter()
            .map(|&s| s.saturating_add(rand::random_range(-2000..2000)))
            .collect();
        let snr = tone_snr_db(&noisy, 16_000, 1000.0);
        assert!(snr < 20.0 && snr > 5.0, "{snr}");
    }

    #[test]
    fn alignment_recovers_delay_and_snr_of_speech() {
        let sent = speech_fixture(8000);
        let mut received = vec![0i16; 400];
        received.extend(sent.iter().map(|&s| (f64::from(s) * 0.5) as i16));
        let (lag, snr) = align(&sent, &received, 800).unwrap();
        assert_eq!(lag, 400);
        assert!(snr > 30.0, "{snr}");
        let noisy: Vec<i16> = received
            .iter()
            .map(|&s| s.saturating_add(rand::random_range(-1500..1500)))
            .collect();
        let (lag, snr) = align(&sent, &noisy, 800).unwrap();
        assert_eq!(lag, 400);
        assert!(snr < 20.0 && snr > 3.0, "{snr}");
        assert!(level_dbfs(&sent) > -30.0);
    }

    #[test]
    fn dtmf_digits_are_detected_once_per_press() {
        let rate = 8000;
        let mut samples = Vec::new();
        for digit in ['1', '5', '#', '5'] {
            samples.extend(dtmf_tone(digit, rate, 800).unwrap());
            samples.extend(std::iter::repeat_n(0, 800));
        }
        assert_eq!(detect_dtmf(&samples, rate), "15#5");
        assert_eq!(detect_dtmf(&tone(1000.0, -10.0, rate, 0, 8000), rate), "");
    }
}
