//! Receive-side reconstruction and tone analysis for the audio tests.

use callbridge_media::transcode::codecs::Decoder;

use super::Peer;

/// Decodes what a peer received, slot by slot in timestamp order, concealing missing slots
/// the way a real endpoint's jitter buffer would.
pub fn reconstruct(peer: &Peer) -> Vec<i16> {
    let codec = peer.codec();
    let frame_ts = i64::from(codec.rtp_clock() * peer.negotiated.ptime / 1000);
    let samples = (codec.sample_rate() * peer.negotiated.ptime / 1000) as usize;
    let audio = peer.audio();
    let Some(first) = audio.first() else {
        return Vec::new();
    };
    let mut ext = Vec::with_capacity(audio.len());
    let (mut prev_ts, mut prev_ext) = (first.ts, i64::from(0));
    for p in &audio {
        let e = prev_ext + i64::from(p.ts.wrapping_sub(prev_ts) as i32);
        ext.push((e, p.payload().to_vec()));
        prev_ts = p.ts;
        prev_ext = e;
    }
    ext.sort_by_key(|(e, _)| *e);
    ext.dedup_by_key(|(e, _)| *e);
    let start = ext.first().map_or(0, |(e, _)| *e);
    let end = ext.last().map_or(0, |(e, _)| *e);
    let mut decoder = Decoder::new(codec, codec.sample_rate()).expect("decoder");
    let mut out = Vec::new();
    let mut idx = 0;
    let mut slot = start;
    while slot <= end {
        while idx < ext.len() && ext[idx].0 < slot {
            idx += 1;
        }
        if idx < ext.len() && ext[idx].0 == slot {
            decoder.decode(&ext[idx].1, samples, &mut out);
        } else {
            let next = ext
                .get(idx)
                .filter(|(e, _)| *e == slot + frame_ts)
                .map(|(_, p)| p.as_slice());
            decoder.conceal(next, samples, &mut out);
        }
        slot += frame_ts;
    }
    out
}

/// Dominant frequency (Hz) and SNR (dB) of a tone in `pcm` at `rate`, over a window that
/// skips the first `skip_s` seconds.
pub fn analyse(pcm: &[i16], rate: u32, skip_s: f64, window_s: f64) -> (f64, f64) {
    let skip = (skip_s * f64::from(rate)) as usize;
    let len = ((window_s * f64::from(rate)) as usize).min(pcm.len().saturating_sub(skip));
    assert!(
        len > rate as usize / 4,
        "not enough audio: {} samples",
        pcm.len()
    );
    let x: Vec<f64> = pcm[skip..skip + len]
        .iter()
        .map(|&s| f64::from(s))
        .collect();
    let n = x.len() as f64;
    let hann: Vec<f64> = (0..x.len())
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos())
        .collect();
    let power = |f: f64| {
        let w = 2.0 * std::f64::consts::PI * f / f64::from(rate);
        let (mut re, mut im) = (0.0, 0.0);
        let (mut c, mut s) = (1.0f64, 0.0f64);
        let (cw, sw) = (w.cos(), w.sin());
        for (i, v) in x.iter().enumerate() {
            let v = v * hann[i];
            re += v * c;
            im -= v * s;
            let c2 = c * cw - s * sw;
            s = s * cw + c * sw;
            c = c2;
        }
        re * re + im * im
    };
    let mut best = (0.0, 0.0);
    let mut f = 200.0;
    while f < 3400.0 {
        let p = power(f);
        if p > best.1 {
            best = (f, p);
        }
        f += 10.0;
    }
    let mut fine = best;
    let mut f = best.0 - 10.0;
    while f <= best.0 + 10.0 {
        let p = power(f);
        if p > fine.1 {
            fine = (f, p);
        }
        f += 0.25;
    }
    let freq = fine.0;
    // Least-squares fit of a sinusoid at `freq` plus DC; the residual is noise + distortion.
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let (mut ss, mut cc, mut sc, mut xs, mut xc, mut sum) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, v) in x.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        ss += s * s;
        cc += c * c;
        sc += s * c;
        xs += v * s;
        xc += v * c;
        sum += v;
    }
    let mean = sum / n;
    let det = ss * cc - sc * sc;
    let a = (xs * cc - xc * sc) / det;
    let b = (xc * ss - xs * sc) / det;
    let (mut sig, mut noise) = (0.0, 0.0);
    for (i, v) in x.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        let fit = a * s + b * c;
        sig += fit * fit;
        noise += (v - mean - fit).powi(2);
    }
    (freq, 10.0 * (sig / noise.max(1e-9)).log10())
}
