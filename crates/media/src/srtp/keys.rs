//! SRTP session keys for `AES_CM_128_HMAC_SHA1_*` (RFC 3711 §4.3), derived from an SDES
//! master key and salt.
//!
//! `rtc-srtp` derives the same keys, but only inside its own contexts; the in-place RTP transform
//! needs them itself, so the derivation is written here on `rtc-crypto`'s public AES-CTR. SDES
//! never sets a key derivation rate, so kdr = 0: `r` is zero and the keys are derived once.

use rtc_crypto::{CryptoError, RTCCrypto, SecretVec, StreamCipherAlgorithm};

/// Length of an AES-128 master key.
pub(crate) const MASTER_KEY_LEN: usize = 16;
/// Length of the master (and session) salt.
pub(crate) const SALT_LEN: usize = 14;
/// Length of the HMAC-SHA1 session authentication key (n_a = 160).
const AUTH_KEY_LEN: usize = 20;

/// RFC 3711 §4.3.1 labels for the SRTP (not SRTCP) keys.
const LABEL_RTP_ENCRYPTION: u8 = 0x00;
const LABEL_RTP_AUTH: u8 = 0x01;
const LABEL_RTP_SALT: u8 = 0x02;

/// The three SRTP session keys: k_e (AES-128), k_a (HMAC-SHA1) and k_s (salt).
pub(crate) struct RtpSessionKeys {
    /// Zeroed when dropped, like the master key it came from.
    pub(crate) cipher_key: SecretVec,
    /// Zeroed when dropped.
    pub(crate) auth_key: SecretVec,
    /// The session salt is not secret on its own (it only offsets the counter), so it is kept
    /// as a plain array for the per-packet IV.
    pub(crate) salt: [u8; SALT_LEN],
}

impl RtpSessionKeys {
    /// Derives k_e, k_a and k_s from the master key and salt (RFC 3711 §4.3.1, kdr = 0).
    pub(crate) fn derive(
        crypto: &dyn RTCCrypto,
        master_key: &[u8; MASTER_KEY_LEN],
        master_salt: &[u8; SALT_LEN],
    ) -> Result<Self, CryptoError> {
        let mut cipher_key = SecretVec::new(vec![0; MASTER_KEY_LEN]);
        let mut auth_key = SecretVec::new(vec![0; AUTH_KEY_LEN]);
        let mut salt = [0; SALT_LEN];
        prf(
            crypto,
            master_key,
            master_salt,
            LABEL_RTP_ENCRYPTION,
            cipher_key.as_mut(),
        )?;
        prf(
            crypto,
            master_key,
            master_salt,
            LABEL_RTP_AUTH,
            auth_key.as_mut(),
        )?;
        prf(crypto, master_key, master_salt, LABEL_RTP_SALT, &mut salt)?;
        Ok(Self {
            cipher_key,
            auth_key,
            salt,
        })
    }
}

/// The AES-CM pseudo-random function of RFC 3711 §4.3.3, filling `out` with key material.
///
/// With kdr = 0, `key_id = label || r` is the label followed by 48 zero bits, so `x = key_id
/// XOR master_salt` is the salt with the label folded into its eighth byte. AES-CM keyed with the
/// master key, started at `x · 2^16`, then produces the key stream; applying that stream to
/// zeros leaves the stream itself, which is the derived key.
fn prf(
    crypto: &dyn RTCCrypto,
    master_key: &[u8; MASTER_KEY_LEN],
    master_salt: &[u8; SALT_LEN],
    label: u8,
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let mut iv = [0u8; 16];
    iv[..SALT_LEN].copy_from_slice(master_salt);
    iv[7] ^= label;
    out.fill(0);
    crypto
        .new_stream_cipher(StreamCipherAlgorithm::Aes128Ctr, master_key)?
        .apply_keystream(&iv, out)
}

#[cfg(test)]
mod tests {
    use rtc_crypto::RTCCryptoProvider as _;
    use rtc_crypto::providers::RingProvider;

    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// RFC 3711 Appendix B.3: the published session keys for this master key and salt.
    #[test]
    fn rfc3711_b3_key_derivation_vectors() {
        let master_key: [u8; MASTER_KEY_LEN] = hex("E1F97A0D3E018BE0D64FA32C06DE4139")
            .try_into()
            .expect("16 bytes");
        let master_salt: [u8; SALT_LEN] = hex("0EC675AD498AFEEBB6960B3AABE6")
            .try_into()
            .expect("14 bytes");
        let provider = RingProvider::new();
        let keys =
            RtpSessionKeys::derive(provider.crypto(), &master_key, &master_salt).expect("derive");
        assert_eq!(
            keys.cipher_key.as_ref(),
            &hex("C61E7A93744F39EE10734AFE3FF7A087")[..]
        );
        assert_eq!(&keys.salt[..], &hex("30CBBC08863D8C85D49DB34A9AE1")[..]);
        // The RFC lists more auth-key bytes than HMAC-SHA1 uses; its first 160 bits are k_a.
        assert_eq!(
            keys.auth_key.as_ref(),
            &hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")[..]
        );
    }
}
