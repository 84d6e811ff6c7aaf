//! What the gateway feeds the mirror and what it drains from it.

use callbridge_model::{Presence, UserRef};
use chrono::{DateTime, Utc};

/// One input to [`super::PresenceMirror::handle_input`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PresenceInput {
    /// A pair of linked users; `mirror` is the pair's opt-in. Re-sent to change opt-in.
    Link {
        /// The Slack side.
        slack: UserRef,
        /// The Teams side.
        teams: UserRef,
        /// Whether the pair opted in to mirroring.
        mirror: bool,
    },
    /// The pair containing this user is unlinked.
    Unlink {
        /// Either side of the pair.
        user: UserRef,
    },
    /// A user's presence changed on their own platform (`PlatformEvent::PresenceChanged`).
    Changed {
        /// Whose presence.
        user: UserRef,
        /// The new value, as the adapter reported it.
        presence: Presence,
    },
    /// A user started or stopped being on a callbridge call.
    OnCall {
        /// The user on the call; their counterpart shows "on a call".
        user: UserRef,
        /// Whether the call runs.
        on_call: bool,
    },
    /// A write the mirror asked for succeeded or failed on the platform.
    WriteResult {
        /// The user written.
        target: UserRef,
        /// Whether the platform accepted it.
        ok: bool,
    },
    /// The operator pauses or resumes mirroring for a user (either side of a pair).
    Pause {
        /// Either side of the pair.
        user: UserRef,
        /// Paused or resumed.
        paused: bool,
    },
    /// Restores what the store remembers for a target after a restart.
    Restore {
        /// The user the record is about.
        target: UserRef,
        /// The stored record.
        record: MirrorRecord,
    },
    /// The deadline from [`super::PresenceMirror::poll_output`] was reached.
    Timeout,
}

/// One output of [`super::PresenceMirror::poll_output`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PresenceOutput {
    /// Write this presence for `target` on the target's platform (the gateway runs
    /// `PlatformCommand::SetPresence { user: target, presence }`); `presence.source` is
    /// `{ platform: target's platform, origin: Callbridge, fingerprint: Some(..) }`.
    Write {
        /// The user written.
        target: UserRef,
        /// The value, carrying callbridge's fingerprint.
        presence: Presence,
    },
    /// Persist this target's record.
    Save {
        /// The user the record is about.
        target: UserRef,
        /// The record to store.
        record: MirrorRecord,
    },
    /// Tell the operator about a user whose mirroring stopped.
    Alert {
        /// The user concerned.
        user: UserRef,
        /// Why.
        reason: AlertReason,
    },
    /// Nothing more now; feed [`PresenceInput::Timeout`] at this time.
    Timeout(DateTime<Utc>),
}

/// Why the mirror alerts the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlertReason {
    /// More writes to one user within the breaker window than allowed: a loop is likely.
    /// Writes to the user stop for the cooldown.
    BreakerTripped,
    /// Writes to the user failed this many times in a row.
    WritesFailing(u32),
}

/// What the store keeps per target user, so a restart neither forgets callbridge's own values
/// (and then protects them as hand-set forever) nor loses the status to restore after a call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MirrorRecord {
    /// The last value callbridge wrote for this user, with its fingerprint.
    pub last_written: Option<Presence>,
    /// What the user showed before callbridge put up "on a call", to restore afterwards.
    pub previous: Option<Presence>,
    /// Whether the operator paused mirroring for this user.
    pub paused: bool,
    /// Writes that failed in a row.
    pub error_count: u32,
}
