//! Calls and their legs, with the states the engine moves them through.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{CallId, LegId, TenantId};
use crate::user::{Platform, UserRef};

/// Which way a call goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Direction {
    /// A Slack user calls a Teams user.
    SlackToTeams,
    /// A Teams user calls a Slack user.
    TeamsToSlack,
}

/// Where a whole call is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallState {
    /// Recorded, the callee not yet alerted.
    Requested,
    /// The callee's leg is alerting.
    Ringing,
    /// Both legs are up and media is bridged.
    Connected,
    /// One side hung up; the other leg is being torn down.
    Ending,
    /// Over; a CDR exists.
    Ended,
}

impl CallState {
    /// Whether the call still holds platform or media resources.
    pub const fn is_live(self) -> bool {
        !matches!(self, Self::Ended)
    }
}

/// Where one leg is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LegState {
    /// Being set up (INVITE sent, call card posted).
    Placing,
    /// The user's client is alerting.
    Ringing,
    /// Answered and carrying media.
    Active,
    /// Answered, media held (`a=inactive` / `sendonly`): not a dead leg.
    OnHold,
    /// Torn down.
    Ended,
}

/// Why a call ended; exactly one per CDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TerminationCause {
    /// A party hung up after the call connected.
    Normal,
    /// The callee declined.
    Declined,
    /// The callee did not answer before the ring timeout.
    NoAnswer,
    /// The callee was busy or in Do Not Disturb.
    Busy,
    /// The caller gave up while the callee was ringing.
    Cancelled,
    /// Media stopped flowing on a leg for longer than its timeout.
    MediaTimeout,
    /// The call reached the configured maximum duration.
    MaxDuration,
    /// The gateway drained and the call outlived the drain deadline.
    DrainForced,
    /// The gateway restarted and could not recover the call.
    CrashRecovered,
    /// A platform or internal failure ended the call.
    Error,
}

impl TerminationCause {
    /// The cause as written in CDRs and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Declined => "declined",
            Self::NoAnswer => "no_answer",
            Self::Busy => "busy",
            Self::Cancelled => "cancelled",
            Self::MediaTimeout => "media_timeout",
            Self::MaxDuration => "max_duration",
            Self::DrainForced => "drain_forced",
            Self::CrashRecovered => "crash_recovered",
            Self::Error => "error",
        }
    }
}

/// One leg: the part of a call that reaches one user on one platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Leg {
    /// The leg's id.
    pub id: LegId,
    /// Whom this leg reaches.
    pub user: UserRef,
    /// Where the leg is in its life.
    pub state: LegState,
    /// The platform's own handle for the leg (Slack call `R…` id, SIP Call-ID), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_ref: Option<String>,
}

impl Leg {
    /// The platform the leg is on.
    pub const fn platform(&self) -> Platform {
        self.user.platform()
    }
}

/// A bridged call between two users on different platforms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Call {
    /// The call's id.
    pub id: CallId,
    /// The organisation the call belongs to.
    pub tenant: TenantId,
    /// Which way it goes.
    pub direction: Direction,
    /// Where it is in its life.
    pub state: CallState,
    /// The caller's leg first, then the callee's.
    pub legs: Vec<Leg>,
    /// When the call was requested.
    pub created_at: DateTime<Utc>,
    /// When the callee answered, if they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<DateTime<Utc>>,
    /// When the call ended, if it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended, if it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination: Option<TerminationCause>,
}

/// The call detail record: what happened, written exactly once when a call ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Cdr {
    /// The call this record describes.
    pub call_id: CallId,
    /// The organisation the call belonged to.
    pub tenant: TenantId,
    /// Which way it went.
    pub direction: Direction,
    /// Who called.
    pub caller: UserRef,
    /// Who was called.
    pub callee: UserRef,
    /// When the call was requested.
    pub started_at: DateTime<Utc>,
    /// When the callee answered, if they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<DateTime<Utc>>,
    /// When the call ended.
    pub ended_at: DateTime<Utc>,
    /// Why it ended.
    pub cause: TerminationCause,
}

impl Cdr {
    /// Seconds the parties were connected (zero for calls never answered).
    pub fn talk_seconds(&self) -> i64 {
        self.answered_at.map_or(0, |answered| {
            (self.ended_at - answered).num_seconds().max(0)
        })
    }
}
