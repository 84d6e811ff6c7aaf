//! SDES-SRTP (RFC 4568 `a=crypto`) keying and packet protection for the SIP/RTP leg.
//!
//! The cipher work is done by `rtc-srtp`; this module turns SDP key lines into its contexts and
//! maps its failures onto drop reasons.
//!
//! `rtc-srtp` has no in-place form in its public API: each protected or unprotected packet
//! comes back in a buffer of its own, the two heap allocations per packet left on the SRTP
//! passthrough path (a few more for packets with CSRCs or header extensions, whose header it
//! parses into lists of its own). The in-place alternative, libsrtp through the `srtp` crate, was measured
//! slower on this path and is unmaintained (see the media crate's `BENCHMARKS.md`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::BytesMut;
use rtc_crypto::RTCCryptoProvider as _;
use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;

use crate::error::{MediaError, Result};

/// Length of an AES-128 master key plus salt, as carried in `inline:`.
pub const KEY_SALT_LEN: usize = 30;
/// Replay window for inbound streams (packets).
const REPLAY_WINDOW: usize = 128;

/// The SDES crypto suites we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpSuite {
    /// `AES_CM_128_HMAC_SHA1_80`, mandatory for Teams Direct Routing.
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32`, which Teams may list first.
    AesCm128HmacSha1_32,
}

impl SrtpSuite {
    /// The suite name as written in `a=crypto`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::AesCm128HmacSha1_80, Self::AesCm128HmacSha1_32]
            .into_iter()
            .find(|s| s.name() == name)
    }

    const fn profile(self) -> ProtectionProfile {
        match self {
            Self::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            Self::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        }
    }

    /// Bytes the RTP auth tag adds.
    pub const fn rtp_tag_len(self) -> usize {
        match self {
            Self::AesCm128HmacSha1_80 => 10,
            Self::AesCm128HmacSha1_32 => 4,
        }
    }
}

/// One `a=crypto` attribute: tag, suite and master key || salt.
#[derive(Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    /// The attribute's tag (the number after `a=crypto:`).
    pub tag: u32,
    /// The crypto suite.
    pub suite: SrtpSuite,
    /// Master key (16 bytes) followed by master salt (14 bytes).
    pub key_salt: [u8; KEY_SALT_LEN],
}

impl fmt::Debug for CryptoAttribute {
    // Keys never reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoAttribute")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl CryptoAttribute {
    /// A fresh attribute with random key material.
    pub fn random(tag: u32, suite: SrtpSuite) -> Self {
        let mut key_salt = [0u8; KEY_SALT_LEN];
        rand::fill(&mut key_salt);
        Self {
            tag,
            suite,
            key_salt,
        }
    }

    /// Parses the value of an `a=crypto` attribute (everything after `crypto:`).
    ///
    /// Unknown suites, session parameters other than none, MKIs and keys of the wrong size are
    /// refused: a peer that sends them cannot be keyed by us.
    pub fn parse(value: &str) -> Result<Self> {
        let bad = |why: &str| MediaError::PeerCrypto(why.to_owned());
        let mut parts = value.split_ascii_whitespace();
        let tag = parts
            .next()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad("missing tag"))?;
        let suite_name = parts.next().ok_or_else(|| bad("missing suite"))?;
        let suite = SrtpSuite::from_name(suite_name).ok_or_else(|| bad("unsupported suite"))?;
        let key_params = parts.next().ok_or_else(|| bad("missing key"))?;
        if parts.next().is_some() {
            return Err(bad("session parameters are not supported"));
        }
        // Several keys may be joined with ';'; we use the first, which RFC 4568 allows.
        let first = key_params.split(';').next().unwrap_or_default();
        let inline = first
            .strip_prefix("inline:")
            .ok_or_else(|| bad("not an inline key"))?;
        let mut fields = inline.split('|');
        let b64 = fields.next().unwrap_or_default();
        for field in fields {
            // Lifetime is fine; an MKI (`n:len`) would need per-packet MKI handling.
            if field.contains(':') {
                return Err(bad("MKI is not supported"));
            }
        }
        let raw = B64.decode(b64).map_err(|_| bad("key is not base64"))?;
        let key_salt: [u8; KEY_SALT_LEN] = raw
            .try_into()
            .map_err(|_| bad("key and salt must be 30 bytes"))?;
        Ok(Self {
            tag,
            suite,
            key_salt,
        })
    }

    /// Formats the value of an `a=crypto` attribute.
    pub fn to_value(&self) -> String {
        format!(
            "{} {} inline:{}|2^31",
            self.tag,
            self.suite.name(),
            B64.encode(self.key_salt)
        )
    }
}

/// Why an SRTP/SRTCP packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnprotectError {
    /// Authentication failed, the packet was truncated, or it is not SRTP at all.
    Auth,
    /// The packet was already received (replay window).
    Replay,
}

/// Keyed SRTP contexts for one leg: ours for sending, the peer's for receiving.
pub struct SrtpSession {
    inbound: Context,
    outbound: Context,
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
        let make = |attr: &CryptoAttribute, replay: bool| {
            let (key, salt) = attr.key_salt.split_at(16);
            let (rtp_opt, rtcp_opt) = if replay {
                (
                    Some(srtp_replay_protection(REPLAY_WINDOW)),
                    Some(srtcp_replay_protection(REPLAY_WINDOW)),
                )
            } else {
                (None, None)
            };
            Context::new(
                key,
                salt,
                attr.suite.profile(),
                rtp_opt,
                rtcp_opt,
                provider.crypto(),
            )
            .map_err(|e| MediaError::Srtp(e.to_string()))
        };
        Ok(Self {
            inbound: make(remote, true)?,
            outbound: make(local, false)?,
            suite: local.suite,
        })
    }

    /// The negotiated suite.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// Authenticates and decrypts an inbound SRTP packet.
    pub fn unprotect_rtp(
        &mut self,
        packet: &[u8],
    ) -> std::result::Result<BytesMut, UnprotectError> {
        self.inbound.decrypt_rtp(packet).map_err(|e| classify(&e))
    }

    /// Authenticates and decrypts an inbound SRTCP packet.
    pub fn unprotect_rtcp(
        &mut self,
        packet: &[u8],
    ) -> std::result::Result<BytesMut, UnprotectError> {
        self.inbound.decrypt_rtcp(packet).map_err(|e| classify(&e))
    }

    /// Encrypts and authenticates an outbound RTP packet.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<BytesMut> {
        self.outbound
            .encrypt_rtp(packet)
            .map_err(|e| MediaError::Srtp(e.to_string()))
    }

    /// Encrypts and authenticates an outbound RTCP packet.
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<BytesMut> {
        self.outbound
            .encrypt_rtcp(packet)
            .map_err(|e| MediaError::Srtp(e.to_string()))
    }
}

fn classify(e: &rtc_shared::error::Error) -> UnprotectError {
    match e {
        rtc_shared::error::Error::SrtpSsrcDuplicated(..)
        | rtc_shared::error::Error::SrtcpSsrcDuplicated(..) => UnprotectError::Replay,
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
    fn crypto_attribute_round_trips_and_rejects_bad_lines() {
        let a = CryptoAttribute::random(1, SrtpSuite::AesCm128HmacSha1_32);
        assert_eq!(CryptoAttribute::parse(&a.to_value()).ok(), Some(a));
        for bad in [
            "",
            "1",
            "1 AES_CM_128_HMAC_SHA1_80",
            "1 F8_128_HMAC_SHA1_80 inline:AAAA",
            "1 AES_CM_128_HMAC_SHA1_80 inline:!!!!",
            "1 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
            "1 AES_CM_128_HMAC_SHA1_80 inline:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e|2^20|1:4",
        ] {
            assert!(CryptoAttribute::parse(bad).is_err(), "{bad}");
        }
        let teams =
            "1 AES_CM_128_HMAC_SHA1_80 inline:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e|2^31";
        assert!(CryptoAttribute::parse(teams).is_ok());
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
