//! The app presence sessions callbridge holds for Teams users, and when each must be re-sent
//! (reference `teams-graph.md` §3.4): an `Available` session fades after 5 minutes unless it
//! is refreshed, and every session ends at its `expirationDuration`. Sans-IO: fed writes and
//! `now`, it answers which sessions are due.

use std::collections::BTreeMap;

use callbridge_model::AadObjectId;
use chrono::{DateTime, Duration, Utc};

use super::presence::SessionState;

/// A session is renewed this long before it would expire.
const EXPIRY_MARGIN_MINUTES: i64 = 5;

#[derive(Clone, Copy, Debug)]
struct Session {
    state: SessionState,
    refresh_at: DateTime<Utc>,
}

/// Every app session held.
#[derive(Debug)]
pub(crate) struct SessionBook {
    lifetime: Duration,
    available_refresh: Duration,
    sessions: BTreeMap<AadObjectId, Session>,
}

impl SessionBook {
    pub(crate) fn new(lifetime: Duration, available_refresh: Duration) -> Self {
        Self {
            lifetime,
            available_refresh,
            sessions: BTreeMap::new(),
        }
    }

    /// The `expirationDuration` to send, ISO 8601 minutes within PT5M–PT4H.
    pub(crate) fn expiration_duration(&self) -> String {
        format!("PT{}M", self.lifetime.num_minutes().clamp(5, 240))
    }

    /// Records a successful `setPresence` at `now`.
    pub(crate) fn written(&mut self, user: AadObjectId, state: SessionState, now: DateTime<Utc>) {
        let expiry = self.lifetime - Duration::minutes(EXPIRY_MARGIN_MINUTES);
        let wait = if state == SessionState::Available {
            self.available_refresh.min(expiry)
        } else {
            expiry
        };
        self.sessions.insert(
            user,
            Session {
                state,
                refresh_at: now + wait.max(Duration::minutes(1)),
            },
        );
    }

    /// Records a `clearPresence`.
    pub(crate) fn cleared(&mut self, user: AadObjectId) {
        self.sessions.remove(&user);
    }

    /// Tries a failed refresh again at `at`.
    pub(crate) fn postpone(&mut self, user: AadObjectId, at: DateTime<Utc>) {
        if let Some(session) = self.sessions.get_mut(&user) {
            session.refresh_at = at;
        }
    }

    /// The sessions to re-send now.
    pub(crate) fn due(&self, now: DateTime<Utc>) -> Vec<(AadObjectId, SessionState)> {
        self.sessions
            .iter()
            .filter(|(_, session)| session.refresh_at <= now)
            .map(|(user, session)| (*user, session.state))
            .collect()
    }

    /// When the next session is due.
    pub(crate) fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.sessions
            .values()
            .map(|session| session.refresh_at)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_sessions_are_refreshed_before_they_fade_others_before_expiry() {
        let mut book = SessionBook::new(Duration::minutes(60), Duration::minutes(4));
        let start = Utc::now();
        let alice: AadObjectId = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b".parse().unwrap();
        let bob: AadObjectId = "4a3b2c1d-6e5f-4a70-9b8c-1d0e2f3a4b5c".parse().unwrap();
        book.written(alice, SessionState::Available, start);
        book.written(bob, SessionState::InACall, start);
        assert_eq!(book.expiration_duration(), "PT60M");
        assert!(book.due(start + Duration::minutes(3)).is_empty());
        // Fading starts at 5 minutes: the refresh comes first.
        assert_eq!(
            book.due(start + Duration::minutes(4)),
            vec![(alice, SessionState::Available)]
        );
        assert_eq!(book.next_deadline(), Some(start + Duration::minutes(4)));
        book.written(alice, SessionState::Available, start + Duration::minutes(4));
        // Busy lasts until shortly before its hour is up.
        assert!(
            book.due(start + Duration::minutes(55))
                .contains(&(bob, SessionState::InACall))
        );
        assert!(
            !book
                .due(start + Duration::minutes(54))
                .contains(&(bob, SessionState::InACall))
        );
        book.cleared(bob);
        assert!(
            book.due(start + Duration::minutes(56))
                .iter()
                .all(|(user, _)| *user == alice)
        );
    }
}
