//! Slack's v0 request signatures (slack-api.md §2), checked on the raw body before anything
//! parses it: a 300-second window both ways around the time the gateway received the request,
//! HMAC-SHA256 under every signing secret in force (two during a rotation), compared in
//! constant time by aws-lc-rs.

use aws_lc_rs::hmac;
use callbridge_adapter::{AdapterError, Secret};
use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::config::SigningSecrets;

/// How far a request's timestamp may be from the time it was received, either way (§2).
pub const REPLAY_WINDOW_SECS: i64 = 300;

const TIMESTAMP: &str = "x-slack-request-timestamp";
const SIGNATURE: &str = "x-slack-signature";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Whether the request carries a signature header at all (only `ssl_check` pings do not).
pub(crate) fn is_signed(headers: &HeaderMap) -> bool {
    headers.contains_key(SIGNATURE) || headers.contains_key(TIMESTAMP)
}

/// Signs a body the way Slack does: `v0=` and the hex HMAC-SHA256 of `v0:{ts}:{body}`.
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(format!("v0:{timestamp}:").as_bytes());
    context.update(body);
    format!("v0={}", hex::encode(context.sign().as_ref()))
}

/// Checks a request's v0 signature against every secret in force.
pub fn verify(
    secrets: &SigningSecrets,
    headers: &HeaderMap,
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<(), AdapterError> {
    let timestamp = header(headers, TIMESTAMP).ok_or(AdapterError::Unauthenticated(
        "missing X-Slack-Request-Timestamp",
    ))?;
    let timestamp: i64 = timestamp
        .parse()
        .map_err(|_| AdapterError::Unauthenticated("X-Slack-Request-Timestamp is not a number"))?;
    if timestamp
        .checked_sub(received_at.timestamp())
        .is_none_or(|skew| skew.abs() > REPLAY_WINDOW_SECS)
    {
        return Err(AdapterError::Unauthenticated(
            "request timestamp outside the 300 s window",
        ));
    }
    let signature = header(headers, SIGNATURE)
        .ok_or(AdapterError::Unauthenticated("missing X-Slack-Signature"))?;
    let hex_digest = signature
        .strip_prefix("v0=")
        .ok_or(AdapterError::Unauthenticated(
            "unsupported signature version",
        ))?;
    let tag = hex::decode(hex_digest)
        .ok()
        .filter(|tag| tag.len() == 32)
        .ok_or(AdapterError::Unauthenticated(
            "signature is not 64 hex digits",
        ))?;
    let mut message = Vec::with_capacity(body.len() + 24);
    message.extend_from_slice(format!("v0:{timestamp}:").as_bytes());
    message.extend_from_slice(body);
    let mut matched = false;
    // Try every secret even after a match, so timing does not tell which secret signed.
    for secret in secrets.all() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
        matched |= hmac::verify(&key, &message, &tag).is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(AdapterError::Unauthenticated("signature does not match"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(previous: Option<&str>) -> SigningSecrets {
        SigningSecrets {
            current: Secret::new("new-secret"),
            previous: previous.map(Secret::new),
        }
    }

    fn signed(secret: &str, ts: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP, ts.to_string().parse().unwrap());
        headers.insert(
            SIGNATURE,
            sign(&Secret::new(secret), ts, body).parse().unwrap(),
        );
        headers
    }

    #[test]
    fn matches_slacks_documented_example() {
        // The worked example of Slack's "Verifying requests" page.
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = sign(
            &Secret::new("8f742231b10e8888abcd99yyyzzz85a5"),
            1_531_420_618,
            body,
        );
        assert_eq!(
            signature,
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }

    #[test]
    fn window_is_300_seconds_both_ways() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let body = b"a=b";
        for (offset, ok) in [
            (0, true),
            (300, true),
            (-300, true),
            (301, false),
            (-301, false),
        ] {
            let headers = signed("new-secret", now.timestamp() + offset, body);
            assert_eq!(
                verify(&secrets(None), &headers, body, now).is_ok(),
                ok,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn both_secrets_are_accepted_during_a_rotation_and_only_then() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let body = b"a=b";
        let headers = signed("old-secret", now.timestamp(), body);
        assert!(verify(&secrets(Some("old-secret")), &headers, body, now).is_ok());
        assert!(verify(&secrets(None), &headers, body, now).is_err());
        assert!(verify(&secrets(Some("old-secret")), &headers, b"a=c", now).is_err());
    }
}
