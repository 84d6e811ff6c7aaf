//! Teams bot rate limits (§5.6): per bot per conversation 7/1 s, 8/2 s, 60/30 s, 1800/3600 s
//! for sends, and 50 requests per second per app per tenant overall.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

/// (requests, window in seconds) limits for sends in one conversation.
const PER_CONVERSATION: [(usize, i64); 4] = [(7, 1), (8, 2), (60, 30), (1800, 3600)];
/// Requests per second per app per tenant.
const GLOBAL_PER_SECOND: usize = 50;

/// Send timestamps per conversation and per (app, tenant).
#[derive(Debug, Default)]
pub(crate) struct RateBook {
    conversations: HashMap<String, VecDeque<DateTime<Utc>>>,
    apps: HashMap<(String, String), VecDeque<DateTime<Utc>>>,
}

fn within(window: &VecDeque<DateTime<Utc>>, now: DateTime<Utc>, secs: i64) -> usize {
    window
        .iter()
        .rev()
        .take_while(|t| now - **t < Duration::seconds(secs))
        .count()
}

impl RateBook {
    /// Counts one send; `false` when it is over a limit (and is not counted).
    pub(crate) fn admit(
        &mut self,
        conversation: &str,
        app: &str,
        tenant: &str,
        now: DateTime<Utc>,
    ) -> bool {
        let sends = self
            .conversations
            .entry(conversation.to_owned())
            .or_default();
        while sends
            .front()
            .is_some_and(|t| now - *t >= Duration::seconds(3600))
        {
            sends.pop_front();
        }
        let global = self
            .apps
            .entry((app.to_owned(), tenant.to_owned()))
            .or_default();
        while global
            .front()
            .is_some_and(|t| now - *t >= Duration::seconds(1))
        {
            global.pop_front();
        }
        let over = PER_CONVERSATION
            .iter()
            .any(|(limit, secs)| within(sends, now, *secs) >= *limit)
            || global.len() >= GLOBAL_PER_SECOND;
        if over {
            return false;
        }
        sends.push_back(now);
        global.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_per_second_then_eight_per_two_seconds() {
        let mut rates = RateBook::default();
        let t0 = Utc::now();
        for _ in 0..7 {
            assert!(rates.admit("a:1", "app", "t", t0));
        }
        assert!(!rates.admit("a:1", "app", "t", t0));
        assert!(
            rates.admit("a:2", "app", "t", t0),
            "other conversations are separate"
        );
        let t1 = t0 + Duration::milliseconds(1100);
        assert!(rates.admit("a:1", "app", "t", t1));
        assert!(!rates.admit("a:1", "app", "t", t1), "8 per 2 s");
        assert!(rates.admit("a:1", "app", "t", t0 + Duration::seconds(3)));
    }
}
