//! What the mirror keeps per linked user, both as the source of changes and as the target of
//! writes, and the judgements made on it: is this change our own echo, is the value shown
//! protected as hand-set.

use std::hash::{Hash, Hasher};

use callbridge_model::{Availability, Platform, Presence, PresenceOrigin, UserRef};
use chrono::{DateTime, Utc};

use super::breaker::Breaker;
use super::fingerprint;
use super::io::MirrorRecord;

/// How many recent fingerprints per user are recognised as ours: echoes arrive within
/// seconds, and the breaker bounds the writes in that time.
const RECENT_PRINTS: usize = 4;

/// A write into this user waiting for its burst to end.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    /// When it is due.
    pub(crate) due: DateTime<Utc>,
    /// The value to write (unstamped).
    pub(crate) value: Presence,
    /// When the latest change it carries happened on the other platform.
    pub(crate) changed_at: DateTime<Utc>,
}

/// One linked (or restored) user, kept small: a million pairs hold two million of these.
/// What the person shows is kept as a fingerprint and a flag, not as a value; values are
/// boxed and only held while they matter (the last write, a write in flight, a call).
#[derive(Clone, Debug)]
pub(crate) struct UserState {
    pub(crate) user: UserRef,
    /// The slot of the other side of the pair.
    pub(crate) counterpart: Option<u32>,
    /// A hash of the latest value the user's own platform reported (0: none yet), to
    /// recognise duplicate reports.
    pub(crate) observed: u64,
    /// `last_written` before the write in flight, put back if that write fails.
    pub(crate) before_write: Option<Box<Presence>>,
    /// A coalesced write into this user.
    pub(crate) pending: Option<Box<Pending>>,
    /// The counterpart is on a call: this user shows "on a call", and mirrored values wait
    /// here (`Some(None)`: held, nothing waiting).
    pub(crate) held: Option<Box<Option<Presence>>>,
    /// The last value callbridge wrote for this user, with its fingerprint (stored record).
    pub(crate) last_written: Option<Box<Presence>>,
    /// Our value from before "on a call", to restore afterwards (stored record).
    pub(crate) previous: Option<Box<Presence>>,
    /// Recent writes, for the circuit breaker; boxed since most users write rarely.
    pub(crate) breaker: Option<Box<Breaker>>,
    prints: [u64; RECENT_PRINTS],
    /// Writes that failed in a row (stored record).
    pub(crate) error_count: u32,
    next_print: u8,
    /// The pair's opt-in.
    pub(crate) mirror: bool,
    /// Whether the operator paused mirroring for this user (stored record).
    pub(crate) paused: bool,
    /// Whether the value shown was set by the person and shows something (a status line,
    /// an emoji, DND): see [`Self::protected`].
    pub(crate) observed_by_hand: bool,
    /// Whether the value shown now is callbridge's (no change by anyone else since our write).
    pub(crate) shows_ours: bool,
    /// A write is in flight: its result decides whether `before_write` is put back.
    pub(crate) in_flight: bool,
    /// A Teams echo (which carries no fingerprint) of our last write is still expected.
    pub(crate) echo_expected: bool,
    /// The operator was told the writes keep failing.
    pub(crate) failing_alerted: bool,
}

impl UserState {
    pub(crate) fn new(user: UserRef) -> Self {
        Self {
            user,
            counterpart: None,
            observed: 0,
            before_write: None,
            pending: None,
            held: None,
            last_written: None,
            previous: None,
            breaker: None,
            prints: [0; RECENT_PRINTS],
            error_count: 0,
            next_print: 0,
            mirror: false,
            paused: false,
            observed_by_hand: false,
            shows_ours: false,
            in_flight: false,
            echo_expected: false,
            failing_alerted: false,
        }
    }

    /// The stored record, as the store keeps it.
    pub(crate) fn record(&self) -> MirrorRecord {
        MirrorRecord {
            last_written: self.last_written.as_deref().cloned(),
            previous: self.previous.as_deref().cloned(),
            paused: self.paused,
            error_count: self.error_count,
        }
    }

    /// Takes a stored record back (after a restart).
    pub(crate) fn set_record(&mut self, record: MirrorRecord) {
        self.last_written = record.last_written.map(Box::new);
        self.previous = record.previous.map(Box::new);
        self.paused = record.paused;
        self.error_count = record.error_count;
    }

    /// Notes a value the user's own platform reported (not our echo).
    pub(crate) fn observe(&mut self, presence: &Presence) {
        self.observed = observed_hash(presence);
        self.observed_by_hand = presence.source.origin == PresenceOrigin::User
            && (presence.status_text.is_some()
                || presence.status_emoji.is_some()
                || presence.availability == Availability::DoNotDisturb);
    }

    /// Whether `presence` is the value last reported (a duplicate notification).
    pub(crate) fn is_duplicate(&self, presence: &Presence) -> bool {
        self.observed != 0 && self.observed == observed_hash(presence)
    }

    pub(crate) const fn platform(&self) -> Platform {
        self.user.platform()
    }

    /// Remembers a fingerprint issued for this user.
    pub(crate) fn remember_print(&mut self, value: u64) {
        self.prints[usize::from(self.next_print) % RECENT_PRINTS] = value;
        self.next_print = (self.next_print + 1) % RECENT_PRINTS as u8;
    }

    /// Whether `presence`, reported by this user's platform, is callbridge's own write
    /// coming back. Slack echoes carry origin `Callbridge` and the fingerprint; Graph cannot
    /// say who set a state, so a Teams report is our echo when it shows the `setPresence`
    /// pair our last write became, once per write. A Slack status equal to the last one we
    /// wrote is ours too: after a restart the adapter no longer knows it, the record does.
    pub(crate) fn is_echo(&self, presence: &Presence) -> bool {
        if presence.source.origin == PresenceOrigin::Callbridge {
            return true;
        }
        if let Some(value) = presence
            .source
            .fingerprint
            .as_ref()
            .and_then(fingerprint::value_of)
            && value != 0
            && self.prints.contains(&value)
        {
            return true;
        }
        let Some(written) = self.last_written.as_deref() else {
            return false;
        };
        match self.platform() {
            Platform::Teams => {
                self.echo_expected
                    && teams_session(written).is_some()
                    && teams_session(written) == teams_session(presence)
            }
            _ => {
                (written.status_text.is_some() || written.status_emoji.is_some())
                    && written.status_text == presence.status_text
                    && written.status_emoji == presence.status_emoji
            }
        }
    }

    /// Whether the value shown now was set by the person by hand and must not be overwritten:
    /// a user-set value that shows something (a status line, an emoji, DND). Automatic states
    /// (Teams activity, Slack with nothing set) may be overwritten.
    pub(crate) const fn protected(&self) -> bool {
        !self.shows_ours && self.observed_by_hand
    }

    /// Heap bytes held beyond the struct itself.
    pub(crate) fn heap_bytes(&self) -> usize {
        let boxed = [
            self.last_written.as_deref(),
            self.previous.as_deref(),
            self.before_write.as_deref(),
            self.pending.as_ref().map(|p| &p.value),
            self.held.as_deref().and_then(Option::as_ref),
        ];
        let boxes = [
            self.pending.as_ref().map(|_| size_of::<Pending>()),
            self.held.as_ref().map(|_| size_of::<Option<Presence>>()),
            self.last_written.as_ref().map(|_| size_of::<Presence>()),
            self.previous.as_ref().map(|_| size_of::<Presence>()),
            self.before_write.as_ref().map(|_| size_of::<Presence>()),
            self.breaker
                .as_ref()
                .map(|b| size_of::<Breaker>() + b.heap_bytes()),
        ];
        user_ref_heap(&self.user)
            + boxes.into_iter().flatten().sum::<usize>()
            + boxed
                .into_iter()
                .flatten()
                .map(presence_heap)
                .sum::<usize>()
    }
}

/// A hash of a reported value, never 0 (0 stands for "nothing reported").
fn observed_hash(presence: &Presence) -> u64 {
    let mut hasher = fingerprint::Fnv::new();
    presence.hash(&mut hasher);
    hasher.finish().max(1)
}

/// The `setPresence` pair the Teams adapter writes for a value (teams-graph.md §3.4), as an
/// index; `None` when it holds no session. Mirrors `SessionState::for_presence` there.
fn teams_session(presence: &Presence) -> Option<u8> {
    let conference = presence
        .activity
        .as_ref()
        .is_some_and(|a| a.as_str().eq_ignore_ascii_case("InAConferenceCall"));
    match presence.availability {
        Availability::Available => Some(0),
        Availability::Busy | Availability::BusyIdle if conference => Some(1),
        Availability::Busy | Availability::BusyIdle => Some(2),
        Availability::DoNotDisturb => Some(3),
        Availability::Away | Availability::BeRightBack | Availability::AvailableIdle => Some(4),
        _ => None,
    }
}

pub(crate) fn user_ref_heap(user: &UserRef) -> usize {
    match user {
        UserRef::Slack { team, user } => team.as_str().len() + user.as_str().len(),
        _ => 0,
    }
}

fn presence_heap(presence: &Presence) -> usize {
    presence.activity.as_ref().map_or(0, |a| a.as_str().len())
        + presence
            .status_text
            .as_ref()
            .map_or(0, |t| t.as_str().len())
        + presence.status_emoji.as_ref().map_or(0, String::len)
        + presence
            .source
            .fingerprint
            .as_ref()
            .map_or(0, |f| f.as_str().len())
}
