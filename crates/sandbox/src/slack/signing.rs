//! The v0 request-signing scheme Slack applies to every request it sends an app (slack-api.md §2).

use aws_lc_rs::hmac;

/// The replay window: a timestamp further than this from "now" is refused (§2).
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The timestamp header is not a Unix time in seconds.
    #[error("the request timestamp is not a Unix time")]
    BadTimestamp,
    /// The timestamp is more than five minutes away from now.
    #[error("the request timestamp is outside the 5-minute replay window")]
    Stale,
    /// The signature is not `v0=` followed by hex.
    #[error("the signature is not in the v0=<hex> format")]
    Malformed,
    /// The signature does not match the body.
    #[error("the signature does not match")]
    Mismatch,
}

/// The `X-Slack-Signature` value for `body` sent at Unix time `ts`:
/// `"v0=" + hex(HMAC_SHA256(secret, "v0:{ts}:{body}"))`.
pub fn sign_v0(secret: &str, ts: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, &basestring(&ts.to_string(), body));
    format!("v0={}", hex::encode(tag.as_ref()))
}

/// Checks a request the way Slack's SDKs do: the timestamp header must be within
/// [`REPLAY_WINDOW_SECS`] of `now` (absolute difference, as python-slack-sdk does) and the
/// signature must match the raw body, compared in constant time.
pub fn verify_v0(
    secret: &str,
    timestamp_header: &str,
    body: &[u8],
    signature_header: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if now.abs_diff(ts) > REPLAY_WINDOW_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let tag = signature_header
        .strip_prefix("v0=")
        .and_then(|hex_tag| hex::decode(hex_tag).ok())
        .ok_or(SignatureError::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    // The header's own text is signed, not the re-rendered number: "0012" must not verify as "12".
    hmac::verify(&key, &basestring(timestamp_header.trim(), body), &tag)
        .map_err(|_| SignatureError::Mismatch)
}

fn basestring(ts: &str, body: &[u8]) -> Vec<u8> {
    let mut base = Vec::with_capacity(body.len() + ts.len() + 4);
    base.extend_from_slice(b"v0:");
    base.extend_from_slice(ts.as_bytes());
    base.push(b':');
    base.extend_from_slice(body);
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let sig = sign_v0("secret", 1_700_000_000, b"a=1");
        assert_eq!(sig.len(), 3 + 64);
        assert_eq!(
            verify_v0("secret", "1700000000", b"a=1", &sig, 1_700_000_100),
            Ok(())
        );
        assert_eq!(
            verify_v0("secret", "1700000000", b"a=2", &sig, 1_700_000_100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_v0("secret", "1700000000", b"a=1", &sig, 1_700_000_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_v0("secret", "1700000000", b"a=1", "v1=00", 1_700_000_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_v0("secret", "soon", b"a=1", &sig, 1_700_000_000),
            Err(SignatureError::BadTimestamp)
        );
    }
}
