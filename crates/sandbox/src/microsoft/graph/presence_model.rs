//! The presence aggregation model (reference `teams-graph.md` §3.4–§3.8): the user's own Teams
//! client, app sessions keyed by `sessionId` with fading and expiry, a user-preferred presence
//! that wins over every session, and a status message. Pure: every method takes `now`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::microsoft::MicrosoftSeed;

/// An Available app session fades after this long without a refresh (§3.4).
const FADE_MINUTES: i64 = 5;

/// The (availability, activity) pairs `setPresence` accepts (§3.4).
pub(crate) const SET_PRESENCE_PAIRS: [(&str, &str); 5] = [
    ("Available", "Available"),
    ("Busy", "InACall"),
    ("Busy", "InAConferenceCall"),
    ("Away", "Away"),
    ("DoNotDisturb", "Presenting"),
];

/// The pairs `setUserPreferredPresence` accepts (§3.6).
pub(crate) const PREFERRED_PAIRS: [(&str, &str); 6] = [
    ("Available", "Available"),
    ("Busy", "Busy"),
    ("DoNotDisturb", "DoNotDisturb"),
    ("BeRightBack", "BeRightBack"),
    ("Away", "Away"),
    ("Offline", "OffWork"),
];

/// An availability and an activity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceState {
    /// Graph `availability`.
    pub availability: String,
    /// Graph `activity`.
    pub activity: String,
}

impl PresenceState {
    /// A state from its two parts.
    pub fn new(availability: &str, activity: &str) -> Self {
        Self {
            availability: availability.to_owned(),
            activity: activity.to_owned(),
        }
    }

    fn offline() -> Self {
        Self::new("Offline", "Offline")
    }
}

/// Aggregation precedence: DoNotDisturb > Busy > Available > Away (§3.8).
fn rank(availability: &str) -> u8 {
    match availability {
        "DoNotDisturb" => 6,
        "Busy" => 5,
        "BusyIdle" => 4,
        "Available" => 3,
        "AvailableIdle" => 2,
        "BeRightBack" | "Away" => 1,
        _ => 0,
    }
}

/// One app's presence session.
#[derive(Clone, Debug)]
struct AppSession {
    state: PresenceState,
    set_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl AppSession {
    /// The state the session shows at `now`, or `None` once expired (§3.4 fading).
    fn state_at(&self, now: DateTime<Utc>) -> Option<PresenceState> {
        if now >= self.expires_at {
            return None;
        }
        if self.state.availability != "Available" {
            return Some(self.state.clone());
        }
        let idle = now - self.set_at;
        Some(if idle >= Duration::minutes(2 * FADE_MINUTES) {
            PresenceState::new("Away", "Away")
        } else if idle >= Duration::minutes(FADE_MINUTES) {
            PresenceState::new("Available", "AvailableInactive")
        } else {
            self.state.clone()
        })
    }
}

/// A preferred presence with its expiry.
#[derive(Clone, Debug)]
struct Preferred {
    state: PresenceState,
    expires_at: DateTime<Utc>,
}

/// A status message with an optional expiry.
#[derive(Clone, Debug)]
pub(crate) struct StatusMessage {
    pub(crate) content: String,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) expiry_json: Value,
    pub(crate) published_at: DateTime<Utc>,
}

/// Everything that makes up one user's presence.
#[derive(Clone, Debug, Default)]
struct UserPresence {
    /// The user's own Teams client; `None` when signed out.
    client: Option<PresenceState>,
    apps: HashMap<String, AppSession>,
    preferred: Option<Preferred>,
    status: Option<StatusMessage>,
    /// The last aggregate reported and its sequence number.
    last: Option<PresenceState>,
    sequence: u64,
}

/// Why a presence write is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PresenceWriteError {
    UnknownUser,
    NoSuchSession,
}

/// The presence of every user.
#[derive(Debug, Default)]
pub(crate) struct PresenceBook {
    users: HashMap<String, UserPresence>,
}

impl PresenceBook {
    pub(crate) fn from_seed(seed: &MicrosoftSeed, _now: DateTime<Utc>) -> Self {
        let mut users = HashMap::new();
        for user in seed.tenants.iter().flat_map(|t| t.users.iter()) {
            let client = (user.availability != "Offline")
                .then(|| PresenceState::new(&user.availability, &user.activity));
            users.insert(
                user.id.to_ascii_lowercase(),
                UserPresence {
                    client,
                    ..UserPresence::default()
                },
            );
        }
        Self { users }
    }

    fn user(&mut self, id: &str) -> Result<&mut UserPresence, PresenceWriteError> {
        self.users
            .get_mut(&id.to_ascii_lowercase())
            .ok_or(PresenceWriteError::UnknownUser)
    }

    /// The user's own Teams client changes state (`None` signs it out).
    pub(crate) fn set_client(
        &mut self,
        id: &str,
        state: Option<PresenceState>,
    ) -> Result<(), PresenceWriteError> {
        self.user(id)?.client = state;
        Ok(())
    }

    /// `setPresence`: creates or refreshes the app session `session_id`.
    pub(crate) fn set_app_session(
        &mut self,
        id: &str,
        session_id: &str,
        state: PresenceState,
        duration: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), PresenceWriteError> {
        self.user(id)?.apps.insert(
            session_id.to_ascii_lowercase(),
            AppSession {
                state,
                set_at: now,
                expires_at: now + duration,
            },
        );
        Ok(())
    }

    /// `clearPresence`: ends the app session.
    pub(crate) fn clear_app_session(
        &mut self,
        id: &str,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), PresenceWriteError> {
        let user = self.user(id)?;
        let key = session_id.to_ascii_lowercase();
        match user.apps.remove(&key) {
            Some(session) if session.expires_at > now => Ok(()),
            _ => Err(PresenceWriteError::NoSuchSession),
        }
    }

    /// `setUserPreferredPresence`.
    pub(crate) fn set_preferred(
        &mut self,
        id: &str,
        state: PresenceState,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PresenceWriteError> {
        self.user(id)?.preferred = Some(Preferred { state, expires_at });
        Ok(())
    }

    /// `clearUserPreferredPresence`.
    pub(crate) fn clear_preferred(&mut self, id: &str) -> Result<(), PresenceWriteError> {
        self.user(id)?.preferred = None;
        Ok(())
    }

    /// `setStatusMessage` (an empty message clears it).
    pub(crate) fn set_status(
        &mut self,
        id: &str,
        status: Option<StatusMessage>,
    ) -> Result<(), PresenceWriteError> {
        self.user(id)?.status = status;
        Ok(())
    }

    /// The aggregated state of a user at `now` (§3.8).
    pub(crate) fn aggregate(&self, id: &str, now: DateTime<Utc>) -> Option<PresenceState> {
        let user = self.users.get(&id.to_ascii_lowercase())?;
        let mut sessions: Vec<PresenceState> =
            user.apps.values().filter_map(|s| s.state_at(now)).collect();
        sessions.extend(user.client.clone());
        if sessions.is_empty() {
            return Some(PresenceState::offline());
        }
        if let Some(preferred) = user.preferred.as_ref().filter(|p| p.expires_at > now) {
            return Some(preferred.state.clone());
        }
        sessions.into_iter().max_by_key(|s| rank(&s.availability))
    }

    /// The current status message text, if one is set and not expired.
    pub(crate) fn status_message(&self, id: &str, now: DateTime<Utc>) -> Option<String> {
        let status = self.users.get(&id.to_ascii_lowercase())?.status.as_ref()?;
        status
            .expires_at
            .is_none_or(|at| at > now)
            .then(|| status.content.clone())
    }

    /// The Graph `presence` resource of a user, bumping `sequenceNumber` when the aggregate
    /// changed since the last read.
    pub(crate) fn resource(&mut self, id: &str, now: DateTime<Utc>) -> Option<Value> {
        let state = self.aggregate(id, now)?;
        let status_text = self.status_message(id, now);
        let user = self.users.get_mut(&id.to_ascii_lowercase())?;
        if user.last.as_ref() != Some(&state) {
            user.last = Some(state.clone());
            user.sequence += 1;
        }
        let status = match (status_text, &user.status) {
            (Some(content), Some(status)) => json!({
                "message": {"content": content, "contentType": "text"},
                "expiryDateTime": status.expiry_json,
                "publishedDateTime": status.published_at.to_rfc3339(),
            }),
            _ => Value::Null,
        };
        Some(json!({
            "id": id,
            "availability": state.availability,
            "activity": state.activity,
            "statusMessage": status,
            "outOfOfficeSettings": {"message": null, "isOutOfOffice": false},
            "sequenceNumber": format!("{:020}", user.sequence),
        }))
    }

    /// Every user id the book knows.
    pub(crate) fn user_ids(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";

    fn book() -> (PresenceBook, DateTime<Utc>) {
        let now = Utc::now();
        (PresenceBook::from_seed(&MicrosoftSeed::demo(), now), now)
    }

    fn shown(book: &PresenceBook, now: DateTime<Utc>) -> (String, String) {
        let s = book.aggregate(ALICE, now).unwrap();
        (s.availability, s.activity)
    }

    #[test]
    fn sessions_aggregate_by_precedence_and_preferred_wins() {
        let (mut book, now) = book();
        assert_eq!(shown(&book, now).0, "Available");
        book.set_app_session(
            ALICE,
            "app",
            PresenceState::new("Busy", "InACall"),
            Duration::hours(1),
            now,
        )
        .unwrap();
        assert_eq!(shown(&book, now), ("Busy".into(), "InACall".into()));
        book.set_client(
            ALICE,
            Some(PresenceState::new("DoNotDisturb", "Presenting")),
        )
        .unwrap();
        assert_eq!(shown(&book, now).0, "DoNotDisturb");
        book.set_client(ALICE, Some(PresenceState::new("Away", "Away")))
            .unwrap();
        assert_eq!(shown(&book, now).0, "Busy");
        book.set_preferred(
            ALICE,
            PresenceState::new("BeRightBack", "BeRightBack"),
            now + Duration::days(7),
        )
        .unwrap();
        assert_eq!(shown(&book, now).0, "BeRightBack");
        book.clear_preferred(ALICE).unwrap();
        assert_eq!(shown(&book, now).0, "Busy");
    }

    #[test]
    fn preferred_needs_a_session_and_expiry_leaves_offline() {
        let (mut book, now) = book();
        book.set_client(ALICE, None).unwrap();
        book.set_preferred(
            ALICE,
            PresenceState::new("Busy", "Busy"),
            now + Duration::days(1),
        )
        .unwrap();
        assert_eq!(shown(&book, now), ("Offline".into(), "Offline".into()));
        book.set_app_session(
            ALICE,
            "app",
            PresenceState::new("Away", "Away"),
            Duration::minutes(5),
            now,
        )
        .unwrap();
        assert_eq!(shown(&book, now).0, "Busy");
        assert_eq!(shown(&book, now + Duration::minutes(5)).0, "Offline");
        assert_eq!(
            book.clear_app_session(ALICE, "app", now + Duration::minutes(6)),
            Err(PresenceWriteError::NoSuchSession)
        );
    }

    #[test]
    fn available_session_fades_unless_refreshed() {
        let (mut book, now) = book();
        book.set_client(ALICE, None).unwrap();
        let available = PresenceState::new("Available", "Available");
        book.set_app_session(ALICE, "app", available.clone(), Duration::hours(1), now)
            .unwrap();
        assert_eq!(shown(&book, now + Duration::minutes(4)).1, "Available");
        assert_eq!(
            shown(&book, now + Duration::minutes(5)).1,
            "AvailableInactive"
        );
        assert_eq!(
            shown(&book, now + Duration::minutes(10)),
            ("Away".into(), "Away".into())
        );
        let later = now + Duration::minutes(9);
        book.set_app_session(ALICE, "app", available, Duration::hours(1), later)
            .unwrap();
        assert_eq!(shown(&book, later + Duration::minutes(4)).1, "Available");
    }

    #[test]
    fn sequence_number_moves_only_on_change() {
        let (mut book, now) = book();
        let first = book.resource(ALICE, now).unwrap()["sequenceNumber"].clone();
        assert_eq!(book.resource(ALICE, now).unwrap()["sequenceNumber"], first);
        book.set_client(ALICE, Some(PresenceState::new("Busy", "Busy")))
            .unwrap();
        let second = book.resource(ALICE, now).unwrap()["sequenceNumber"].clone();
        assert!(second.as_str() > first.as_str());
    }
}
