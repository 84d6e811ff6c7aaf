//! Join tokens: the signed, expiring, single-use credential in a call card's `join_url`.
//!
//! A token is base64url (no padding) of `version ‖ call id ‖ leg id ‖ expiry ‖ nonce ‖ tag`, where
//! the expiry is big-endian Unix seconds and the tag is HMAC-SHA256 over everything before it.
//! Checking a token is stateless; single use is the job of [`super::used::UsedNonces`].

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use callbridge_model::{CallId, LegId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The layout version; a new layout gets a new number so old links fail as malformed.
const VERSION: u8 = 1;
/// Bytes covered by the tag: version, two UUIDs, expiry, nonce.
const SIGNED_LEN: usize = 1 + 16 + 16 + 8 + 16;
/// HMAC-SHA256 output.
const TAG_LEN: usize = 32;
/// The whole decoded token.
const TOKEN_LEN: usize = SIGNED_LEN + TAG_LEN;

/// Why a join link does not let its holder in, sorted by fault (all the holder's link).
///
/// Messages never contain the token: it is a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of this gateway's format (truncated, wrong version, not base64url).
    #[error("join token is malformed")]
    Malformed,
    /// Well formed, but not signed with this gateway's key (tampered, or another deployment's).
    #[error("join token signature does not match")]
    BadSignature,
    /// Genuine, but past its expiry.
    #[error("join token has expired")]
    Expired,
    /// Genuine and current, but already spent on a join.
    #[error("join token was already used")]
    AlreadyUsed,
}

/// What a genuine, unexpired token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinClaim {
    /// The call to join.
    pub call: CallId,
    /// The leg the browser becomes.
    pub leg: LegId,
    /// When the link stops working (whole seconds).
    pub expires_at: DateTime<Utc>,
    /// Unique per token; what single use is tracked by.
    pub nonce: [u8; 16],
}

/// Issues and checks join tokens under one HMAC key.
#[derive(Clone)]
pub struct JoinTokens {
    key: hmac::Key,
}

impl std::fmt::Debug for JoinTokens {
    // The key is a secret: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinTokens { .. }")
    }
}

impl JoinTokens {
    /// Tokens signed with `key` (32 random bytes, kept outside the database).
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// A token for `leg` of `call`, valid until `expires_at` (sub-second precision is dropped).
    ///
    /// `nonce` must be fresh random bytes: two tokens with the same nonce share one use.
    pub fn issue(
        &self,
        call: CallId,
        leg: LegId,
        expires_at: DateTime<Utc>,
        nonce: [u8; 16],
    ) -> String {
        let mut bytes = Vec::with_capacity(TOKEN_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(call.as_uuid().as_bytes());
        bytes.extend_from_slice(leg.as_uuid().as_bytes());
        bytes.extend_from_slice(&expires_at.timestamp().to_be_bytes());
        bytes.extend_from_slice(&nonce);
        let tag = hmac::sign(&self.key, &bytes);
        bytes.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The claim of a genuine token that has not expired at `now`.
    ///
    /// The tag is compared in constant time, and checked before anything the token says is
    /// believed. Single use is not checked here.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<JoinClaim, TokenError> {
        // A token is 119 characters; refuse anything far off before decoding it.
        if token.len() > 2 * TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Malformed)?;
        if bytes.len() != TOKEN_LEN || bytes[0] != VERSION {
            return Err(TokenError::Malformed);
        }
        let (signed, tag) = bytes.split_at(SIGNED_LEN);
        hmac::verify(&self.key, signed, tag).map_err(|_| TokenError::BadSignature)?;
        let claim = parse_signed(signed).ok_or(TokenError::Malformed)?;
        if now >= claim.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claim)
    }
}

/// Reads the signed part (after the tag has been checked).
fn parse_signed(signed: &[u8]) -> Option<JoinClaim> {
    let call = Uuid::from_slice(signed.get(1..17)?).ok()?;
    let leg = Uuid::from_slice(signed.get(17..33)?).ok()?;
    let expiry = i64::from_be_bytes(signed.get(33..41)?.try_into().ok()?);
    let nonce = signed.get(41..57)?.try_into().ok()?;
    Some(JoinClaim {
        call: CallId::from_uuid(call),
        leg: LegId::from_uuid(leg),
        // Only an expiry this gateway signed gets here; out of chrono's range means a bad key.
        expires_at: DateTime::from_timestamp(expiry, 0)?,
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn sample() -> (JoinTokens, CallId, LegId, String) {
        let tokens = JoinTokens::new(&[7; 32]);
        let (call, leg) = (CallId::generate(), LegId::generate());
        let token = tokens.issue(call, leg, at(1_000), [9; 16]);
        (tokens, call, leg, token)
    }

    #[test]
    fn a_token_round_trips_to_its_claim() {
        let (tokens, call, leg, token) = sample();
        let claim = tokens.verify(&token, at(999)).unwrap();
        assert_eq!(
            claim,
            JoinClaim {
                call,
                leg,
                expires_at: at(1_000),
                nonce: [9; 16]
            }
        );
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "URL-safe, unpadded: {token}"
        );
    }

    #[test]
    fn sub_second_expiry_is_truncated_to_the_second() {
        let tokens = JoinTokens::new(&[7; 32]);
        let token = tokens.issue(
            CallId::generate(),
            LegId::generate(),
            at(1_000) + TimeDelta::milliseconds(900),
            [1; 16],
        );
        assert_eq!(tokens.verify(&token, at(0)).unwrap().expires_at, at(1_000));
    }

    #[test]
    fn a_token_is_expired_from_its_expiry_on() {
        let (tokens, _, _, token) = sample();
        assert_eq!(tokens.verify(&token, at(1_000)), Err(TokenError::Expired));
        assert_eq!(tokens.verify(&token, at(5_000)), Err(TokenError::Expired));
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let (tokens, _, _, token) = sample();
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for index in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[index] ^= 0x01;
            let result = tokens.verify(&URL_SAFE_NO_PAD.encode(&tampered), at(0));
            // Flipping the version byte changes the format; every other byte breaks the tag.
            let expected = if index == 0 {
                TokenError::Malformed
            } else {
                TokenError::BadSignature
            };
            assert_eq!(result, Err(expected), "byte {index}");
        }
    }

    #[test]
    fn another_key_does_not_verify() {
        let (_, _, _, token) = sample();
        let other = JoinTokens::new(&[8; 32]);
        assert_eq!(other.verify(&token, at(0)), Err(TokenError::BadSignature));
    }

    #[test]
    fn a_forged_later_expiry_is_a_bad_signature_not_a_longer_link() {
        let (tokens, _, _, token) = sample();
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[33..41].copy_from_slice(&9_999_i64.to_be_bytes());
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            tokens.verify(&forged, at(2_000)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_text_is_malformed() {
        let (tokens, _, _, token) = sample();
        for bad in [
            "",
            "not a token",
            "abc",
            &token[..token.len() - 1],
            &format!("{token}A"),
            &format!("{token}=="),
            &"A".repeat(10_000),
        ] {
            assert_eq!(
                tokens.verify(bad, at(0)),
                Err(TokenError::Malformed),
                "{bad:.20}"
            );
        }
    }

    #[test]
    fn messages_and_debug_never_carry_secrets() {
        let tokens = JoinTokens::new(&[0xAB; 32]);
        assert_eq!(format!("{tokens:?}"), "JoinTokens { .. }");
        for error in [
            TokenError::Malformed,
            TokenError::BadSignature,
            TokenError::Expired,
            TokenError::AlreadyUsed,
        ] {
            assert!(error.to_string().starts_with("join token"));
        }
    }
}
