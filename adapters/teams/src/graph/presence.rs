//! Graph presence in the common vocabulary, both ways (reference `teams-graph.md` §3): reading
//! parses availability case-insensitively and tolerates values Graph adds later; writing maps
//! a state onto the five availability/activity pairs `setPresence` accepts (§3.4), since any
//! other pair is refused with 400 or silently ignored.

use callbridge_model::{
    Activity, Availability, Platform, Presence, PresenceOrigin, PresenceSource,
};
use serde::Deserialize;

/// A Graph `presence` object, as much of it as callbridge uses.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GraphPresence {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) availability: Option<String>,
    #[serde(default)]
    pub(crate) activity: Option<String>,
    #[serde(default)]
    pub(crate) sequence_number: Option<String>,
}

/// `{"value":[presence…]}`.
#[derive(Debug, Deserialize)]
pub(crate) struct PresenceList {
    pub(crate) value: Vec<GraphPresence>,
}

/// Graph's availability token in the model's vocabulary; unknown tokens are
/// `PresenceUnknown`.
pub(crate) fn availability(token: &str) -> Availability {
    const KNOWN: [(&str, Availability); 9] = [
        ("available", Availability::Available),
        ("availableidle", Availability::AvailableIdle),
        ("away", Availability::Away),
        ("berightback", Availability::BeRightBack),
        ("busy", Availability::Busy),
        ("busyidle", Availability::BusyIdle),
        ("donotdisturb", Availability::DoNotDisturb),
        ("offline", Availability::Offline),
        ("presenceunknown", Availability::PresenceUnknown),
    ];
    KNOWN
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(token))
        .map_or(Availability::PresenceUnknown, |(_, value)| *value)
}

impl GraphPresence {
    /// The model's presence. Graph cannot say who set it, so the origin is automatic; the
    /// engine recognises its own writes by comparing with what it wrote.
    pub(crate) fn to_model(&self) -> Presence {
        Presence {
            availability: self
                .availability
                .as_deref()
                .map_or(Availability::PresenceUnknown, availability),
            activity: self
                .activity
                .as_deref()
                .and_then(|token| Activity::parse(token).ok()),
            status_text: None,
            status_emoji: None,
            expires_at: None,
            source: PresenceSource {
                platform: Platform::Teams,
                origin: PresenceOrigin::Automatic,
                fingerprint: None,
            },
        }
    }
}

/// One of the pairs `setPresence` accepts (§3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SessionState {
    /// `Available`/`Available`: fades unless re-sent within 5 minutes.
    Available,
    /// `Busy`/`InACall`.
    InACall,
    /// `Busy`/`InAConferenceCall`.
    InAConferenceCall,
    /// `Away`/`Away`.
    Away,
    /// `DoNotDisturb`/`Presenting`.
    Presenting,
}

impl SessionState {
    /// The wire pair.
    pub(crate) const fn pair(self) -> (&'static str, &'static str) {
        match self {
            Self::Available => ("Available", "Available"),
            Self::InACall => ("Busy", "InACall"),
            Self::InAConferenceCall => ("Busy", "InAConferenceCall"),
            Self::Away => ("Away", "Away"),
            Self::Presenting => ("DoNotDisturb", "Presenting"),
        }
    }

    /// The pair that best shows `presence`, or `None` when callbridge should hold no session
    /// (offline or unknown: clearing our session lets the user's own state show).
    pub(crate) fn for_presence(presence: &Presence) -> Option<Self> {
        let conference = presence
            .activity
            .as_ref()
            .is_some_and(|activity| activity.as_str().eq_ignore_ascii_case("InAConferenceCall"));
        match presence.availability {
            Availability::Available => Some(Self::Available),
            Availability::Busy | Availability::BusyIdle if conference => {
                Some(Self::InAConferenceCall)
            }
            Availability::Busy | Availability::BusyIdle => Some(Self::InACall),
            Availability::DoNotDisturb => Some(Self::Presenting),
            Availability::Away | Availability::BeRightBack | Availability::AvailableIdle => {
                Some(Self::Away)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(availability: Availability, activity: Option<&str>) -> Presence {
        Presence {
            availability,
            activity: activity.map(|a| Activity::parse(a).unwrap()),
            status_text: None,
            status_emoji: None,
            expires_at: None,
            source: PresenceSource {
                platform: Platform::Slack,
                origin: PresenceOrigin::User,
                fingerprint: None,
            },
        }
    }

    #[test]
    fn availability_parses_any_case_and_tolerates_new_values() {
        assert_eq!(availability("doNotDisturb"), Availability::DoNotDisturb);
        assert_eq!(availability("BUSY"), Availability::Busy);
        assert_eq!(availability("focusing"), Availability::PresenceUnknown);
    }

    #[test]
    fn every_state_maps_to_an_allowed_pair_or_to_no_session() {
        let allowed = [
            ("Available", "Available"),
            ("Busy", "InACall"),
            ("Busy", "InAConferenceCall"),
            ("Away", "Away"),
            ("DoNotDisturb", "Presenting"),
        ];
        for availability in [
            Availability::Available,
            Availability::AvailableIdle,
            Availability::Busy,
            Availability::BusyIdle,
            Availability::DoNotDisturb,
            Availability::BeRightBack,
            Availability::Away,
        ] {
            let state = SessionState::for_presence(&presence(availability, None)).unwrap();
            assert!(allowed.contains(&state.pair()), "{availability:?}");
        }
        assert_eq!(
            SessionState::for_presence(&presence(Availability::Busy, Some("InAConferenceCall"))),
            Some(SessionState::InAConferenceCall)
        );
        assert_eq!(
            SessionState::for_presence(&presence(Availability::Offline, None)),
            None
        );
    }
}
