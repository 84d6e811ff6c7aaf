//! SDES keying (RFC 4568 `a=crypto`): the suites we accept and the attribute that carries a
//! master key and salt.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rtc_srtp::protection_profile::ProtectionProfile;

use crate::error::{MediaError, Result};

/// Length of an AES-128 master key plus salt, as carried in `inline:`.
pub const KEY_SALT_LEN: usize = 30;

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

    pub(crate) const fn profile(self) -> ProtectionProfile {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
