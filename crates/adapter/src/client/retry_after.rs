//! How long to wait before the next attempt: the server's `Retry-After`, or jittered exponential
//! back-off when it gave none. Jitter spreads the retries of many callers throttled at once.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::{DATE, RETRY_AFTER};
use rand::Rng;

/// The wait a response's `Retry-After` asks for: delay-seconds (Graph sends fractional values
/// such as `2.128`) or an HTTP date. A date is measured against the response's own `Date`
/// header when it has one (so a skewed local clock does not matter), else against `now`.
/// `None` when the header is absent or unreadable; a date in the past is a zero wait.
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        // Also rejects NaN, infinities and negatives, which no server should send.
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let reference = headers
        .get(DATE)
        .and_then(|date| date.to_str().ok())
        .and_then(|date| httpdate::parse_http_date(date).ok())
        .unwrap_or(now);
    Some(at.duration_since(reference).unwrap_or(Duration::ZERO))
}

/// A server-requested wait plus up to a tenth of it (at least 50 ms) of random jitter, so
/// callers throttled together do not return together.
pub(super) fn jittered_wait(wait: Duration) -> Duration {
    let spread = (wait / 10).max(Duration::from_millis(50));
    wait + spread.mul_f64(rand::rng().random::<f64>())
}

/// Exponential back-off for retry number `retry` (0 for the first), capped, with "equal
/// jitter": half the delay is fixed, half random.
pub(super) fn backoff(base: Duration, cap: Duration, retry: u32) -> Duration {
    let delay = base.saturating_mul(1u32 << retry.min(16)).min(cap);
    let half = delay / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(http::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn delay_seconds_whole_and_fractional() {
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(
            parse_retry_after(&headers(&[(RETRY_AFTER, "30")]), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after(&headers(&[(RETRY_AFTER, "2.128")]), now),
            Some(Duration::from_millis(2128))
        );
    }

    #[test]
    fn garbage_negative_and_missing_are_none() {
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(
            parse_retry_after(&headers(&[(RETRY_AFTER, "soon")]), now),
            None
        );
        assert_eq!(
            parse_retry_after(&headers(&[(RETRY_AFTER, "-3")]), now),
            None
        );
        assert_eq!(
            parse_retry_after(&headers(&[(RETRY_AFTER, "NaN")]), now),
            None
        );
        assert_eq!(parse_retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn http_date_is_measured_from_the_date_header() {
        let far_local_clock = SystemTime::UNIX_EPOCH;
        let parsed = parse_retry_after(
            &headers(&[
                (RETRY_AFTER, "Wed, 21 Oct 2026 07:28:30 GMT"),
                (DATE, "Wed, 21 Oct 2026 07:28:00 GMT"),
            ]),
            far_local_clock,
        );
        assert_eq!(parsed, Some(Duration::from_secs(30)));
    }

    #[test]
    fn http_date_without_date_header_uses_now_and_past_is_zero() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after(
                &headers(&[(RETRY_AFTER, "Wed, 21 Oct 2026 07:28:05 GMT")]),
                now
            ),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after(
                &headers(&[(RETRY_AFTER, "Wed, 21 Oct 2026 07:27:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        // The obsolete RFC 850 form, which recipients must still accept.
        assert_eq!(
            parse_retry_after(
                &headers(&[(RETRY_AFTER, "Wednesday, 21-Oct-26 07:28:10 GMT")]),
                now
            ),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        for _ in 0..200 {
            let wait = jittered_wait(Duration::from_secs(10));
            assert!(wait >= Duration::from_secs(10) && wait <= Duration::from_secs(11));
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        for _ in 0..200 {
            let first = backoff(base, cap, 0);
            assert!(first >= Duration::from_millis(50) && first <= base);
            let third = backoff(base, cap, 2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = backoff(base, cap, 40);
            assert!(late >= cap / 2 && late <= cap);
        }
    }
}
