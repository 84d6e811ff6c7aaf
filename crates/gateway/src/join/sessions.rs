//! Browser sessions: the random id a joined browser holds (its WHIP resource) and the leg it is.
//!
//! Per node and in process, like the call it belongs to. A session ends when the browser hangs
//! up or the page's event stream sees the call end; one whose browser vanished is dropped after
//! [`MAX_AGE`], checked whenever a session is opened.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use callbridge_model::{CallId, LegId};
use chrono::{DateTime, TimeDelta, Utc};

/// Longer than any call is allowed to last.
pub(crate) const MAX_AGE: TimeDelta = TimeDelta::hours(24);

/// The leg a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    /// The call.
    pub(crate) call: CallId,
    /// The browser's leg.
    pub(crate) leg: LegId,
    /// When the browser joined.
    opened_at: DateTime<Utc>,
}

/// Open browser sessions by id.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

/// The system's random source failed; no id can be made safely.
#[derive(Debug, thiserror::Error)]
#[error("random source unavailable")]
pub(crate) struct NoRandomness;

impl Sessions {
    /// Opens a session for `leg` of `call`; its id (128 random bits, base64url).
    pub(crate) fn open(
        &self,
        call: CallId,
        leg: LegId,
        now: DateTime<Utc>,
    ) -> Result<String, NoRandomness> {
        let mut bytes = [0_u8; 16];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| NoRandomness)?;
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let mut open = self.lock();
        open.retain(|_, session| now - session.opened_at < MAX_AGE);
        open.insert(
            id.clone(),
            Session {
                call,
                leg,
                opened_at: now,
            },
        );
        Ok(id)
    }

    /// The session with `id`, if open.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        self.lock().get(id).copied()
    }

    /// Ends the session with `id`; what it was, if open.
    pub(crate) fn close(&self, id: &str) -> Option<Session> {
        self.lock().remove(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // Single inserts/removes: the map is consistent whatever panicked while holding it.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn a_session_is_found_until_closed() {
        let sessions = Sessions::default();
        let (call, leg) = (CallId::generate(), LegId::generate());
        let id = sessions.open(call, leg, at(0)).unwrap();
        assert_eq!(id.len(), 22);
        let session = sessions.get(&id).unwrap();
        assert_eq!((session.call, session.leg), (call, leg));
        assert_eq!(sessions.close(&id), Some(session));
        assert_eq!(sessions.get(&id), None);
        assert_eq!(sessions.close(&id), None);
    }

    #[test]
    fn ids_are_distinct() {
        let sessions = Sessions::default();
        let (call, leg) = (CallId::generate(), LegId::generate());
        let a = sessions.open(call, leg, at(0)).unwrap();
        let b = sessions.open(call, leg, at(0)).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn abandoned_sessions_are_dropped_when_another_opens() {
        let sessions = Sessions::default();
        let (call, leg) = (CallId::generate(), LegId::generate());
        let old = sessions.open(call, leg, at(0)).unwrap();
        let fresh = sessions
            .open(call, leg, at(0) + MAX_AGE - TimeDelta::seconds(1))
            .unwrap();
        assert!(sessions.get(&old).is_some(), "not yet too old");
        sessions.open(call, leg, at(0) + MAX_AGE).unwrap();
        assert!(sessions.get(&old).is_none());
        assert!(sessions.get(&fresh).is_some());
    }
}
