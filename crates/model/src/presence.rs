//! Presence in one shape for both platforms, with what it takes to mirror it safely: who set
//! it, and the fingerprint that marks callbridge's own writes so echoes are never mirrored back.

use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::text_serde::text_serde;
use crate::user::Platform;

/// How available a person is, in Graph's vocabulary (Slack states map onto it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub enum Availability {
    /// Free to talk.
    Available,
    /// Available, but only just (Teams `AvailableIdle`).
    AvailableIdle,
    /// Busy (in a call, in a meeting).
    Busy,
    /// Busy and idle.
    BusyIdle,
    /// Do not disturb: never ring.
    DoNotDisturb,
    /// Back soon.
    BeRightBack,
    /// Away.
    Away,
    /// Signed out.
    Offline,
    /// The platform does not know.
    PresenceUnknown,
}

/// What a person is doing (Graph `activity`), e.g. `InACall`, `Presenting`.
/// Kept as a checked token because Graph adds values without notice.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Activity(String);

impl Activity {
    /// Parses an activity token: 1 to 64 ASCII letters.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        if (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(ParseError::malformed(
                "Activity",
                "must be 1 to 64 ASCII letters",
                text,
            ))
        }
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A status line a person shows (Slack status text, Teams status message), at most 100
/// characters because that is Slack's limit, the narrower of the two.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StatusText(String);

impl StatusText {
    /// Slack's documented limit for `status_text`.
    pub const MAX_CHARS: usize = 100;

    /// Parses a status line.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        if text.chars().count() > Self::MAX_CHARS {
            return Err(ParseError::malformed(
                "StatusText",
                "must be at most 100 characters",
                text,
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StatusText {
    // A status line is personal data: keep it out of debug logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusText({} chars)", self.0.chars().count())
    }
}

/// The marker callbridge attaches to every presence or status value it writes, so that when the
/// platform echoes the write back as an event, callbridge recognises it and does not mirror it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnershipFingerprint(String);

impl OwnershipFingerprint {
    /// Parses a fingerprint: `cb1:` then 8 to 64 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let hex = text.strip_prefix("cb1:").ok_or_else(|| {
            ParseError::malformed("OwnershipFingerprint", "must start with cb1:", text)
        })?;
        if (8..=64).contains(&hex.len())
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            Ok(Self(text.to_owned()))
        } else {
            Err(ParseError::malformed(
                "OwnershipFingerprint",
                "must be 8 to 64 lowercase hex digits after cb1:",
                text,
            ))
        }
    }

    /// The fingerprint as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_serde!(Activity, Activity::parse, as_str, { "type": "string", "pattern": "^[A-Za-z]{1,64}$" });
text_serde!(StatusText, StatusText::parse, as_str, { "type": "string", "maxLength": 100 });
text_serde!(OwnershipFingerprint, OwnershipFingerprint::parse, as_str, {
    "type": "string",
    "pattern": "^cb1:[0-9a-f]{8,64}$"
});

/// Who set a presence value; decides whether callbridge may overwrite it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PresenceOrigin {
    /// The person set it by hand: never overwritten.
    User,
    /// The platform derived it (calendar, activity, idle timer).
    Automatic,
    /// callbridge wrote it, mirroring the other platform.
    Callbridge,
}

/// Where a presence value came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct PresenceSource {
    /// The platform that reported it.
    pub platform: Platform,
    /// Who set it there.
    pub origin: PresenceOrigin,
    /// callbridge's marker, present when the value carries one (then `origin` is `callbridge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<OwnershipFingerprint>,
}

/// A person's presence on one platform.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Presence {
    /// How available they are.
    pub availability: Availability,
    /// What they are doing, when the platform says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<Activity>,
    /// Their status line, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<StatusText>,
    /// Their status emoji (Slack `:name:` form), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_emoji: Option<String>,
    /// When the status lapses, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Who set it, where.
    pub source: PresenceSource,
}

impl Presence {
    /// Whether this value is callbridge's own write coming back: it must not be mirrored.
    pub fn is_own_echo(&self, ours: &OwnershipFingerprint) -> bool {
        self.source.fingerprint.as_ref() == Some(ours)
    }

    /// Whether callbridge may overwrite this value: never when a person set it by hand.
    pub const fn may_overwrite(&self) -> bool {
        !matches!(self.source.origin, PresenceOrigin::User)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_limit_is_counted_in_characters() {
        assert!(StatusText::parse(&"é".repeat(100)).is_ok());
        assert!(StatusText::parse(&"a".repeat(101)).is_err());
    }

    #[test]
    fn fingerprints_must_carry_the_marker() {
        assert!(OwnershipFingerprint::parse("cb1:0123abcd").is_ok());
        assert!(OwnershipFingerprint::parse("0123abcd").is_err());
        assert!(OwnershipFingerprint::parse("cb1:XYZ").is_err());
    }

    #[test]
    fn hand_set_presence_is_protected_and_echoes_are_recognised() {
        let ours = OwnershipFingerprint::parse("cb1:feedbeef").unwrap();
        let mut presence = Presence {
            availability: Availability::Busy,
            activity: Some(Activity::parse("InACall").unwrap()),
            status_text: None,
            status_emoji: None,
            expires_at: None,
            source: PresenceSource {
                platform: Platform::Slack,
                origin: PresenceOrigin::User,
                fingerprint: None,
            },
        };
        assert!(!presence.may_overwrite());
        assert!(!presence.is_own_echo(&ours));
        presence.source.origin = PresenceOrigin::Callbridge;
        presence.source.fingerprint = Some(ours.clone());
        assert!(presence.may_overwrite());
        assert!(presence.is_own_echo(&ours));
    }

    #[test]
    fn status_text_debug_hides_the_text() {
        let text = StatusText::parse("At the dentist").unwrap();
        assert!(!format!("{text:?}").contains("dentist"));
    }
}
