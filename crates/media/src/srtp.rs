//! SDES-SRTP (RFC 4568 `a=crypto`) keying and packet protection for the SIP/RTP leg.
//!
//! RTP, the per-packet path, is protected and unprotected in the packet's own buffer by
//! [`rtp_transform`]: `AES_CM_128_HMAC_SHA1_80`/`_32` written to RFC 3711 on `rtc-crypto`'s
//! keyed AES-CTR and HMAC-SHA1, the primitives `rtc-srtp` itself is built on. `rtc-srtp` has no
//! in-place form (each packet comes back in a new buffer) and keeps its cipher private, so the
//! passthrough path would otherwise allocate twice per packet; with the transform here an SRTP
//! packet is unprotected, rewritten and protected again in one pooled buffer, allocation-free.
//!
//! SRTCP, a few packets per second, still goes through `rtc-srtp` contexts keyed from the same
//! attributes. libsrtp through the `srtp` crate, the other in-place option, was measured slower
//! on this path and is unmaintained (see the media crate's `BENCHMARKS.md`).

mod attribute;
mod keys;
mod rtp_transform;
mod streams;

use std::fmt;

use bytes::BytesMut;
use rtc_crypto::RTCCryptoProvider as _;
use rtc_srtp::context::Context;
use rtc_srtp::option::srtcp_replay_protection;

pub use self::attribute::{CryptoAttribute, KEY_SALT_LEN, SrtpSuite};
use self::keys::{MASTER_KEY_LEN, SALT_LEN};
use self::rtp_transform::{RtpTransform, TransformError};
use crate::error::{MediaError, Result};

/// Replay window for inbound SRTCP (packets); SRTP's is the transform's, of the same size.
const RTCP_REPLAY_WINDOW: usize = 128;

/// Why an SRTP/SRTCP packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnprotectError {
    /// Authentication failed, the packet was truncated, or it is not SRTP at all.
    Auth,
    /// The packet was already received, or is older than the replay window.
    Replay,
}

/// Keyed SRTP state for one leg: ours for sending, the peer's for receiving.
pub struct SrtpSession {
    inbound_rtp: RtpTransform,
    outbound_rtp: RtpTransform,
    /// SRTCP only: RTP never goes through these.
    inbound_rtcp: Context,
    outbound_rtcp: Context,
    suite: SrtpSuite,
}

impl fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpSession")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl SrtpSession {
    /// Keys a session from our attribute (we send with it) and the peer's (we receive with it).
    pub fn new(local: &CryptoAttribute, remote: &CryptoAttribute) -> Result<Self> {
        if local.suite != remote.suite {
            return Err(MediaError::Misconfigured(
                "SRTP suites differ between directions".into(),
            ));
        }
        let provider = rtc_crypto::providers::RingProvider::new();
        let crypto = provider.crypto();
        let rtp = |attr: &CryptoAttribute, replay: bool| {
            let (key, salt) = split_key_salt(&attr.key_salt);
            RtpTransform::new(crypto, &key, &salt, attr.suite.rtp_tag_len(), replay)
                .map_err(|e| MediaError::Srtp(format!("RTP keys: {e:?}")))
        };
        let rtcp = |attr: &CryptoAttribute, replay: bool| {
            let (key, salt) = attr.key_salt.split_at(MASTER_KEY_LEN);
            let rtcp_opt = replay.then(|| srtcp_replay_protection(RTCP_REPLAY_WINDOW));
            Context::new(key, salt, attr.suite.profile(), None, rtcp_opt, crypto)
                .map_err(|e| MediaError::Srtp(e.to_string()))
        };
        Ok(Self {
            inbound_rtp: rtp(remote, true)?,
            outbound_rtp: rtp(local, false)?,
            inbound_rtcp: rtcp(remote, true)?,
            outbound_rtcp: rtcp(local, false)?,
            suite: local.suite,
        })
    }

    /// The negotiated suite.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// Authenticates, replay-checks and decrypts an inbound SRTP packet in its own buffer,
    /// removing the tag. On failure the buffer is left as it was.
    pub fn unprotect_rtp_in_place(
        &mut self,
        packet: &mut BytesMut,
    ) -> std::result::Result<(), UnprotectError> {
        self.inbound_rtp.unprotect(packet).map_err(|e| match e {
            TransformError::Replay => UnprotectError::Replay,
            TransformError::Malformed
            | TransformError::Auth
            | TransformError::Exhausted
            | TransformError::Crypto => UnprotectError::Auth,
        })
    }

    /// Encrypts and authenticates an outbound RTP packet in its own buffer, appending the tag
    /// ([`SrtpSuite::rtp_tag_len`] bytes; a buffer with that much spare capacity does not grow).
    /// On failure the buffer's contents are unspecified and it must not be sent.
    pub fn protect_rtp_in_place(&mut self, packet: &mut BytesMut) -> Result<()> {
        self.outbound_rtp
            .protect(packet)
            .map_err(|e| MediaError::Srtp(format!("cannot protect RTP: {e:?}")))
    }

    /// [`Self::unprotect_rtp_in_place`] on a copy of `packet`.
    pub fn unprotect_rtp(
        &mut self,
        packet: &[u8],
    ) -> std::result::Result<BytesMut, UnprotectError> {
        let mut buf = BytesMut::from(packet);
        self.unprotect_rtp_in_place(&mut buf)?;
        Ok(buf)
    }

    /// Authenticates and decrypts an inbound SRTCP packet.
    pub fn unprotect_rtcp(
        &mut self,
        packet: &[u8],
    ) -> std::result::Result<BytesMut, UnprotectError> {
        self.inbound_rtcp
            .decrypt_rtcp(packet)
            .map_err(|e| classify(&e))
    }

    /// [`Self::protect_rtp_in_place`] on a copy of `packet`.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<BytesMut> {
        let mut buf = BytesMut::with_capacity(packet.len() + self.outbound_rtp.tag_len());
        buf.extend_from_slice(packet);
        self.protect_rtp_in_place(&mut buf)?;
        Ok(buf)
    }

    /// Encrypts and authenticates an outbound RTCP packet.
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<BytesMut> {
        self.outbound_rtcp
            .encrypt_rtcp(packet)
            .map_err(|e| MediaError::Srtp(e.to_string()))
    }
}

/// The master key and master salt of an `inline:` key.
fn split_key_salt(key_salt: &[u8; KEY_SALT_LEN]) -> ([u8; MASTER_KEY_LEN], [u8; SALT_LEN]) {
    const _: () = assert!(MASTER_KEY_LEN + SALT_LEN == KEY_SALT_LEN);
    let (mut key, mut salt) = ([0; MASTER_KEY_LEN], [0; SALT_LEN]);
    let (k, s) = key_salt.split_at(MASTER_KEY_LEN);
    key.copy_from_slice(k);
    salt.copy_from_slice(s);
    (key, salt)
}

fn classify(e: &rtc_shared::error::Error) -> UnprotectError {
    match e {
        rtc_shared::error::Error::SrtcpSsrcDuplicated(..) => UnprotectError::Replay,
        _ => UnprotectError::Auth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0, 0, 0, 42];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0x55; 160]);
        p
    }

    #[test]
    fn protect_unprotect_round_trip_and_tamper_and_replay() {
        for suite in [
            SrtpSuite::AesCm128HmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32,
        ] {
            let a = CryptoAttribute::random(1, suite);
            let b = CryptoAttribute::random(1, suite);
            let mut alice = SrtpSession::new(&a, &b).expect("keys");
            let mut bob = SrtpSession::new(&b, &a).expect("keys");
            let plain = rtp(7);
            let wire = alice.protect_rtp(&plain).expect("protect");
            assert_eq!(wire.len(), plain.len() + suite.rtp_tag_len());
            assert_eq!(
                &bob.unprotect_rtp(&wire).expect("unprotect")[..],
                &plain[..]
            );
            assert_eq!(bob.unprotect_rtp(&wire), Err(UnprotectError::Replay));
            let mut tampered = alice.protect_rtp(&rtp(8)).expect("protect").to_vec();
            tampered[20] ^= 1;
            assert_eq!(bob.unprotect_rtp(&tampered), Err(UnprotectError::Auth));
            let truncated = alice.protect_rtp(&rtp(9)).expect("protect");
            assert_eq!(
                bob.unprotect_rtp(&truncated[..truncated.len() - 2]),
                Err(UnprotectError::Auth)
            );
        }
    }
}
