//! Sliding one-minute windows over the sandbox clock (slack-api.md §13).

use std::collections::{HashMap, VecDeque};

/// The window every Slack budget is counted over.
const WINDOW_SECS: i64 = 60;

/// Request times per budget key; a key names a method, workspace and, where Slack counts
/// that way, a channel, user or token.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: HashMap<String, VecDeque<i64>>,
}

impl RateLimiter {
    /// Counts one request at `now` against `key`, or returns the seconds to wait (the
    /// `Retry-After` value) when `limit` requests already happened in the last minute.
    pub(crate) fn check(&mut self, key: &str, limit: u32, now: i64) -> Result<(), u64> {
        let window = self.windows.entry(key.to_owned()).or_default();
        while window.front().is_some_and(|&t| t <= now - WINDOW_SECS) {
            window.pop_front();
        }
        if window.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
            let oldest = window.front().copied().unwrap_or(now);
            let wait = (oldest + WINDOW_SECS - now).max(1);
            return Err(wait.unsigned_abs());
        }
        window.push_back(now);
        Ok(())
    }

    /// The distinct values seen under keys starting with `prefix` in the last minute.
    pub(crate) fn distinct_recent(&self, prefix: &str, now: i64) -> Vec<String> {
        self.windows
            .iter()
            .filter(|(key, times)| {
                key.starts_with(prefix) && times.iter().any(|&t| t > now - WINDOW_SECS)
            })
            .filter_map(|(key, _)| key.get(prefix.len()..).map(str::to_owned))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides_with_time() {
        let mut limiter = RateLimiter::default();
        assert!(limiter.check("k", 2, 100).is_ok());
        assert!(limiter.check("k", 2, 110).is_ok());
        assert_eq!(limiter.check("k", 2, 120), Err(40));
        assert!(limiter.check("k", 2, 160).is_ok());
        assert!(limiter.check("other", 2, 120).is_ok());
    }
}
