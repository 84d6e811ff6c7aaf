//! The `response_url` of each slash command and click, kept so that
//! `PlatformCommand::Reply { to_event }` can answer the person where they asked (slack-api.md
//! §0.5, §4): a URL works five times within 30 minutes, so entries expire then, and the cache
//! is bounded so a flood of commands cannot grow it without limit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use callbridge_model::EventId;
use chrono::{DateTime, Utc};
use url::Url;

/// A `response_url` works for 30 minutes (§0.5).
pub const RESPONSE_URL_LIFETIME: chrono::Duration = chrono::Duration::minutes(30);
/// ... and five times (§0.5).
pub const RESPONSE_URL_MAX_USES: u8 = 5;
/// Entries kept at most; the oldest go first.
pub(crate) const CAPACITY: usize = 10_000;

#[derive(Debug)]
struct Entry {
    url: Url,
    team: String,
    at: DateTime<Utc>,
    uses: u8,
}

/// The cache.
#[derive(Debug, Default)]
pub(crate) struct ResponseUrls {
    inner: Mutex<(HashMap<EventId, Entry>, VecDeque<EventId>)>,
}

impl ResponseUrls {
    /// Remembers the URL a request came with.
    pub(crate) fn remember(&self, event: &EventId, url: Url, team: &str, at: DateTime<Utc>) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (entries, order) = &mut *guard;
        while order.len() >= CAPACITY
            || order
                .front()
                .and_then(|id| entries.get(id))
                .is_some_and(|e| at - e.at > RESPONSE_URL_LIFETIME)
        {
            let Some(old) = order.pop_front() else { break };
            entries.remove(&old);
        }
        if entries
            .insert(
                event.clone(),
                Entry {
                    url,
                    team: team.to_owned(),
                    at,
                    uses: 0,
                },
            )
            .is_none()
        {
            order.push_back(event.clone());
        }
    }

    /// Takes one use of the URL for `event`, if it is still usable at `now`.
    pub(crate) fn take(&self, event: &EventId, now: DateTime<Utc>) -> Option<(Url, String)> {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = guard.0.get_mut(event)?;
        if now - entry.at > RESPONSE_URL_LIFETIME || entry.uses >= RESPONSE_URL_MAX_USES {
            return None;
        }
        entry.uses += 1;
        Some((entry.url.clone(), entry.team.clone()))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> EventId {
        format!("ev{n}").parse().unwrap()
    }

    #[test]
    fn five_uses_within_thirty_minutes() {
        let urls = ResponseUrls::default();
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        urls.remember(
            &id(1),
            Url::parse("https://hooks.slack.com/x").unwrap(),
            "T1",
            t0,
        );
        for _ in 0..5 {
            assert!(urls.take(&id(1), t0).is_some());
        }
        assert!(urls.take(&id(1), t0).is_none());
        urls.remember(
            &id(2),
            Url::parse("https://hooks.slack.com/y").unwrap(),
            "T1",
            t0,
        );
        assert!(
            urls.take(&id(2), t0 + chrono::Duration::minutes(31))
                .is_none()
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let urls = ResponseUrls::default();
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        for n in 0..CAPACITY + 10 {
            urls.remember(
                &id(n),
                Url::parse("https://hooks.slack.com/x").unwrap(),
                "T1",
                t0,
            );
        }
        assert_eq!(urls.len(), CAPACITY);
        assert!(urls.take(&id(0), t0).is_none());
        assert!(urls.take(&id(CAPACITY + 9), t0).is_some());
    }
}
