//! The E-model MOS estimate: ITU-T G.107 for narrowband codecs, G.107.1 for wideband ones,
//! with the codec impairment values of ITU-T G.113.

use std::time::Duration;

use crate::codec::Codec;

/// Equipment impairment and packet-loss robustness of a codec, on its own E-model scale.
#[derive(Debug, Clone, Copy)]
struct Impairment {
    /// Equipment impairment without loss (Ie on the narrowband scale, Ie,WB on the wideband).
    ie: f64,
    /// Packet-loss robustness Bpl for random loss, with the codec's concealment on.
    bpl: f64,
}

/// The E-model scale a codec is rated on, with its impairment values.
#[derive(Debug, Clone, Copy)]
enum Scale {
    /// ITU-T G.107: R up to 100; a connection without impairments rates 93.2.
    Narrowband(Impairment),
    /// ITU-T G.107.1: R up to 129 (Ro = 129 with the default parameters).
    Wideband(Impairment),
}

/// G.107 rating of a narrowband connection with default parameters and no impairments
/// (Ro − Is = 94.77 − 1.43).
const R_NB: f64 = 93.2;
/// Ie,eff's ceiling on the narrowband scale (G.107 §7.3).
const IE_CEILING_NB: f64 = 95.0;
/// G.107.1 rating of a wideband connection with default parameters and no impairments; it is
/// also Ie,eff,WB's ceiling.
const R_WB: f64 = 129.0;
/// Ratio between the wideband and narrowband R scales (G.107.1: R_wb = 1.29 · R_nb).
const WB_PER_NB: f64 = 1.29;

/// G.711 with the G.711 Appendix I concealment: Ie = 0, Bpl = 25.1 (ITU-T G.113 Appendix I,
/// random loss).
const G711: Impairment = Impairment { ie: 0.0, bpl: 25.1 };

/// G.722 at 64 kbit/s on the wideband scale, with packet-loss concealment: Ie,WB = 13 and
/// Bpl = 31, the provisional planning values of ITU-T G.113 Appendix IV.
const G722_64K: Impairment = Impairment {
    ie: 13.0,
    bpl: 31.0,
};

/// Opus at our 32 kbit/s voice rate. G.113 publishes no wideband value for Opus at this rate,
/// so we use the G.722 64 kbit/s figures: the Opus characterisation tests (Rämö and Toukomaa,
/// "Voice quality characterization of IETF Opus codec", Interspeech 2011) rate wideband Opus
/// at 20–32 kbit/s at least on a par with the ITU-T wideband codecs at higher rates, so
/// G.722's Ie,WB is an upper bound for Opus and its Bpl a lower bound for Opus with PLC and
/// in-band FEC. The estimate errs low, never flattering.
const OPUS_32K: Impairment = G722_64K;

fn scale(codec: Codec) -> Scale {
    match codec {
        Codec::Pcmu | Codec::Pcma => Scale::Narrowband(G711),
        Codec::G722 => Scale::Wideband(G722_64K),
        Codec::Opus => Scale::Wideband(OPUS_32K),
    }
}

/// E-model MOS estimate: ITU-T G.107 for narrowband codecs, G.107.1 for wideband ones.
///
/// `one_way_delay` should include network delay (RTT/2) and our jitter buffer; `loss` is the
/// packet loss ratio 0–1, taken as random (BurstR = 1). Echo, noise and loudness keep their
/// default values, so only the delay impairment Id and the effective equipment impairment vary:
///
/// - narrowband: R = 93.2 − Id − Ie,eff with Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl + Bpl);
/// - wideband: R_wb = 129 − 1.29 · Id − Ie,eff,WB with
///   Ie,eff,WB = Ie,WB + (129 − Ie,WB) · Ppl / (Ppl + Bpl).
///
/// The wideband rating is brought to the narrowband scale with the G.107.1 transform
/// R = R_wb / 1.29, then every R goes through the G.107 Annex B mapping to MOS (1.0–4.5). Id
/// is scaled by the same 1.29 on the wideband scale so that a given delay costs every codec
/// the same MOS. Because each scale is anchored to its own reference connection, a lossless
/// G.722 call rates slightly below a lossless G.711 one (4.34 against 4.41): the two are
/// comparable within a family, not across.
pub fn e_model_mos(codec: Codec, one_way_delay: Duration, loss: f64) -> f64 {
    let ppl = loss.clamp(0.0, 1.0) * 100.0;
    let id = delay_impairment(one_way_delay);
    let r = match scale(codec) {
        Scale::Narrowband(i) => R_NB - id - effective_ie(i, ppl, IE_CEILING_NB),
        Scale::Wideband(i) => (R_WB - WB_PER_NB * id - effective_ie(i, ppl, R_WB)) / WB_PER_NB,
    };
    r_to_mos(r)
}

/// Ie,eff for random loss of `ppl` percent, approaching `ceiling` as loss grows.
fn effective_ie(i: Impairment, ppl: f64, ceiling: f64) -> f64 {
    i.ie + (ceiling - i.ie) * ppl / (ppl + i.bpl)
}

/// G.107's delay impairment, simplified (Cole and Rosenbluth): 0.024 d, plus 0.11 (d − 177.3)
/// beyond 177.3 ms of one-way delay.
fn delay_impairment(one_way_delay: Duration) -> f64 {
    let d = one_way_delay.as_secs_f64() * 1000.0;
    0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 }
}

/// G.107 Annex B: R (narrowband scale) to MOS-CQE.
fn r_to_mos(r: f64) -> f64 {
    if r <= 0.0 {
        return 1.0;
    }
    let r = r.min(100.0);
    (1.0 + 0.035 * r + 7.0e-6 * r * (r - 60.0) * (100.0 - r)).clamp(1.0, 4.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn close(codec: Codec, delay_ms: u64, loss: f64, expected: f64) {
        let got = e_model_mos(codec, MS(delay_ms), loss);
        assert!(
            (got - expected).abs() < 0.01,
            "{codec:?} at {delay_ms} ms, {loss} loss: {got}, expected {expected}"
        );
    }

    /// Expected values worked by hand from the formulas and constants cited above.
    #[test]
    fn known_points_per_codec_family() {
        // G.711: R = 93.2 − 0.48 = 92.72 → 4.40; 5 % loss: Ie,eff = 95·5/30.1 = 15.78, R = 76.94
        // → 3.90.
        close(Codec::Pcmu, 20, 0.0, 4.3998);
        close(Codec::Pcma, 20, 0.05, 3.9033);
        // 150 ms, 2 %: R = 93.2 − 3.6 − 95·2/27.1 = 82.59 → 4.12.
        close(Codec::Pcmu, 150, 0.02, 4.1180);
        // G.722: R_wb = 129 − 13 = 116 → R = 89.92 → 4.34 at no delay and no loss.
        close(Codec::G722, 0, 0.0, 4.3371);
        // 20 ms, 1 %: Ie,eff,WB = 13 + 116/32 = 16.63, R_wb = 129 − 0.62 − 16.63 = 111.76,
        // R = 86.63 → 4.25.
        close(Codec::G722, 20, 0.01, 4.2480);
        // 300 ms, 10 %: Id = 7.2 + 0.11·122.7 = 20.70, Ie,eff,WB = 13 + 116·10/41 = 41.29,
        // R_wb = 129 − 26.70 − 41.29 = 61.01 → R = 47.29 → 2.43.
        close(Codec::G722, 300, 0.10, 2.4335);
        // Opus uses G.722's wideband figures (see OPUS_32K).
        close(Codec::Opus, 20, 0.05, 3.9038);
    }

    #[test]
    fn mos_falls_monotonically_with_loss_for_every_codec() {
        for codec in Codec::ALL {
            for delay in [0, 20, 150, 400] {
                let mut previous = e_model_mos(codec, MS(delay), 0.0);
                for step in 1..=100 {
                    let mos = e_model_mos(codec, MS(delay), f64::from(step) / 200.0);
                    assert!(
                        mos < previous || (mos == 1.0 && previous == 1.0),
                        "{codec:?} at {delay} ms: {mos} after {previous} at step {step}"
                    );
                    previous = mos;
                }
            }
        }
    }

    #[test]
    fn delay_and_bounds() {
        for codec in Codec::ALL {
            let near = e_model_mos(codec, MS(20), 0.0);
            let far = e_model_mos(codec, MS(400), 0.0);
            assert!(far < near - 0.5, "{codec:?}: {far} vs {near}");
            assert!((1.0..=4.5).contains(&near));
            assert_eq!(e_model_mos(codec, MS(2_000), 1.0), 1.0, "{codec:?}");
            // Out-of-range loss is clamped, not extrapolated.
            assert_eq!(
                e_model_mos(codec, MS(20), 7.0),
                e_model_mos(codec, MS(20), 1.0)
            );
        }
    }
}
