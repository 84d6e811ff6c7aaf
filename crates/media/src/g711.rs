//! G.711 μ-law and A-law (ITU-T G.711), sample by sample.
//!
//! Small enough that a dependency would cost more than it saves; tables are computed on the
//! fly from the standard's segment rules.

/// Encodes one 16-bit linear sample to μ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(CLIP) + BIAS;
    let exponent = (31 - (pcm as u32).leading_zeros()).saturating_sub(7).min(7);
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !(sign | ((exponent as i32) << 4) | mantissa) as u8
}

/// Decodes one μ-law byte to a 16-bit linear sample.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Encodes one 16-bit linear sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3; // A-law works on 13-bit magnitudes.
    let mask = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let pcm = pcm.min(0x0FFF);
    let byte = if pcm < 32 {
        pcm >> 1
    } else {
        let exponent = 31 - (pcm as u32).leading_zeros() as i32 - 4; // 1..=7
        (exponent << 4) | ((pcm >> exponent) & 0x0F)
    };
    (byte as u8) ^ mask
}

/// Decodes one A-law byte to a 16-bit linear sample.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let sign = a & 0x80;
    let exponent = i32::from((a >> 4) & 0x07);
    let mantissa = i32::from(a & 0x0F);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if sign != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_round_trip_error_is_within_segment_step() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let back = i32::from(ulaw_to_linear(linear_to_ulaw(s)));
            let err = (back - i32::from(s)).abs();
            // Quantisation step grows with magnitude: at most 1/16 of the value plus a floor.
            assert!(err <= (i32::from(s).abs() / 16).max(8) + 4, "{s} -> {back}");
        }
    }

    #[test]
    fn alaw_round_trip_error_is_within_segment_step() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let back = i32::from(alaw_to_linear(linear_to_alaw(s)));
            let err = (back - i32::from(s)).abs();
            assert!(
                err <= (i32::from(s).abs() / 16).max(16) + 8,
                "{s} -> {back}"
            );
        }
    }

    #[test]
    fn known_code_points() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(linear_to_alaw(0), 0xD5);
        // Every byte decodes and re-encodes to itself (the codes are a bijection on the grid).
        for b in 0..=255u8 {
            let expected = if b == 0x7F { 0xFF } else { b };
            assert_eq!(linear_to_ulaw(ulaw_to_linear(b)), expected);
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b);
        }
    }
}
