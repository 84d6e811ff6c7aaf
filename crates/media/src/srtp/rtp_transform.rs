//! The SRTP transform for RTP packets, `AES_CM_128_HMAC_SHA1_80` and `_32` (RFC 3711), done in
//! the packet's own buffer.
//!
//! `rtc-srtp` has no in-place form: every packet it protects or unprotects comes back in a new
//! buffer. Its cipher and key derivation are private to it, so the transform is composed here
//! from the same primitives it uses, which `rtc-crypto` does export: a keyed AES-128-CTR stream
//! cipher that works in place and a keyed HMAC-SHA1 that signs scattered input. The passthrough
//! path then decrypts, rewrites and re-encrypts a packet without copying it.

use bytes::BytesMut;
use rtc_crypto::{
    HmacAlgorithm, Mac, RTCCrypto, StreamCipher, StreamCipherAlgorithm, constant_time_eq,
};

use super::keys::{MASTER_KEY_LEN, RtpSessionKeys, SALT_LEN};
use super::streams::{Estimate, IndexError, Streams};

/// An untruncated HMAC-SHA1 tag.
const FULL_TAG_LEN: usize = 20;
/// The fixed RTP header.
const FIXED_HEADER_LEN: usize = 12;

/// Why a packet could not be transformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransformError {
    /// Not an RTP header, or shorter than its header and tag.
    Malformed,
    /// The tag does not match.
    Auth,
    /// Already received or older than the replay window.
    Replay,
    /// The packet index space is used up; the keys must be replaced.
    Exhausted,
    /// The cryptographic provider failed (it does not for the inputs given here).
    Crypto,
}

impl From<IndexError> for TransformError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Replay => Self::Replay,
            IndexError::Exhausted => Self::Exhausted,
        }
    }
}

/// The header fields the transform needs.
struct Header {
    /// Fixed header, CSRCs and extension: the part that stays in the clear.
    len: usize,
    seq: u16,
    ssrc: u32,
}

/// Reads the clear-text header at the start of `packet`; `None` if it is not a whole RTP header.
fn header(packet: &[u8]) -> Option<Header> {
    let fixed: &[u8; FIXED_HEADER_LEN] = packet.get(..FIXED_HEADER_LEN)?.try_into().ok()?;
    if fixed[0] >> 6 != 2 {
        return None;
    }
    let mut len = FIXED_HEADER_LEN + 4 * usize::from(fixed[0] & 0x0F);
    if fixed[0] & 0x10 != 0 {
        // Profile (2 bytes), length in 32-bit words (2 bytes), then the words.
        let words = packet.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    (packet.len() >= len).then(|| Header {
        len,
        seq: u16::from_be_bytes([fixed[2], fixed[3]]),
        ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
    })
}

/// One direction's SRTP transform for RTP.
pub(crate) struct RtpTransform {
    cipher: Box<dyn StreamCipher>,
    mac: Box<dyn Mac>,
    salt: [u8; SALT_LEN],
    tag_len: usize,
    streams: Streams,
}

impl RtpTransform {
    /// Keys a transform from a master key and salt; `tag_len` is 10 (`_80`) or 4 (`_32`), and
    /// `replay_protection` is for the receiving direction.
    pub(crate) fn new(
        crypto: &dyn RTCCrypto,
        master_key: &[u8; MASTER_KEY_LEN],
        master_salt: &[u8; SALT_LEN],
        tag_len: usize,
        replay_protection: bool,
    ) -> Result<Self, TransformError> {
        let keys = RtpSessionKeys::derive(crypto, master_key, master_salt)
            .map_err(|_| TransformError::Crypto)?;
        // Both are keyed once here: the per-packet work is then the cipher and MAC passes only.
        let cipher = crypto
            .new_stream_cipher(StreamCipherAlgorithm::Aes128Ctr, keys.cipher_key.as_ref())
            .map_err(|_| TransformError::Crypto)?;
        let mac = crypto
            .new_hmac(HmacAlgorithm::Sha1, keys.auth_key.as_ref())
            .map_err(|_| TransformError::Crypto)?;
        Ok(Self {
            cipher,
            mac,
            salt: keys.salt,
            tag_len: tag_len.min(FULL_TAG_LEN),
            streams: Streams::new(replay_protection),
        })
    }

    /// Bytes the tag adds to a packet.
    pub(crate) fn tag_len(&self) -> usize {
        self.tag_len
    }

    /// Encrypts the payload of the RTP packet in `buf` and appends the tag.
    ///
    /// `buf` grows by [`Self::tag_len`] bytes, which a pooled buffer has spare.
    pub(crate) fn protect(&mut self, buf: &mut BytesMut) -> Result<(), TransformError> {
        let h = header(buf).ok_or(TransformError::Malformed)?;
        let est = self.streams.estimate(h.ssrc, h.seq)?;
        let payload = buf.get_mut(h.len..).ok_or(TransformError::Malformed)?;
        self.apply_keystream(h.ssrc, est, payload)?;
        let tag = self.tag(buf, est.roc)?;
        buf.extend_from_slice(tag.get(..self.tag_len).ok_or(TransformError::Crypto)?);
        // The sender's ROC moves with what it has sent (RFC 3711 §3.3.1).
        self.streams.commit(est);
        Ok(())
    }

    /// Authenticates the SRTP packet in `buf`, checks it against the replay window, decrypts its
    /// payload and removes the tag, leaving the plain RTP packet.
    ///
    /// On failure `buf` is unchanged and so is the stream's state: only an authentic packet moves
    /// the rollover counter and the window.
    pub(crate) fn unprotect(&mut self, buf: &mut BytesMut) -> Result<(), TransformError> {
        let auth_len = buf
            .len()
            .checked_sub(self.tag_len)
            .ok_or(TransformError::Malformed)?;
        let (authenticated, received_tag) = buf.split_at(auth_len);
        let h = header(authenticated).ok_or(TransformError::Malformed)?;
        // The replay check comes first: it is cheap, and a replay needs no MAC (§3.3.2).
        let est = self.streams.estimate(h.ssrc, h.seq)?;
        let tag = self.tag(authenticated, est.roc)?;
        let expected = tag.get(..self.tag_len).ok_or(TransformError::Crypto)?;
        if !constant_time_eq(expected, received_tag) {
            return Err(TransformError::Auth);
        }
        let payload = buf
            .get_mut(h.len..auth_len)
            .ok_or(TransformError::Malformed)?;
        self.apply_keystream(h.ssrc, est, payload)?;
        buf.truncate(auth_len);
        self.streams.commit(est);
        Ok(())
    }

    /// HMAC-SHA1 over the authenticated portion followed by the ROC (RFC 3711 §4.2).
    fn tag(
        &mut self,
        authenticated: &[u8],
        roc: u32,
    ) -> Result<[u8; FULL_TAG_LEN], TransformError> {
        let mut tag = [0; FULL_TAG_LEN];
        self.mac
            .sign(&[authenticated, &roc.to_be_bytes()], &mut tag)
            .map_err(|_| TransformError::Crypto)?;
        Ok(tag)
    }

    /// AES-CM over `data`: encryption and decryption are the same XOR with the key stream.
    fn apply_keystream(
        &mut self,
        ssrc: u32,
        est: Estimate,
        data: &mut [u8],
    ) -> Result<(), TransformError> {
        self.cipher
            .apply_keystream(&self.iv(ssrc, est.index), data)
            .map_err(|_| TransformError::Crypto)
    }

    /// IV = (k_s · 2^16) ⊕ (SSRC · 2^64) ⊕ (i · 2^16) (RFC 3711 §4.1.1); the low 16 bits are
    /// the block counter, which starts at zero.
    fn iv(&self, ssrc: u32, index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..SALT_LEN].copy_from_slice(&self.salt);
        for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *b ^= s;
        }
        // The 48-bit index, shifted up 16 bits, occupies bytes 8..14.
        for (b, i) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *b ^= i;
        }
        iv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_with_csrcs_and_extensions_are_measured_and_short_ones_refused() {
        let mut p = vec![0x80 | 0x10 | 2, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5];
        p.extend_from_slice(&[0; 8]); // two CSRCs
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0x7F, 0, 0]); // one extension word
        let h = header(&p).expect("header");
        assert_eq!((h.len, h.seq, h.ssrc), (12 + 8 + 8, 9, 5));
        for cut in 0..p.len() {
            assert!(header(&p[..cut]).is_none(), "{cut} bytes");
        }
        p[0] = 0x40;
        assert!(header(&p).is_none(), "version 1");
    }
}
