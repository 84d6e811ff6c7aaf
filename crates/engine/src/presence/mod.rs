//! The presence mirroring policy between Slack and Teams (DESIGN.md §3), sans-IO.
//!
//! Owns what a presence change on one platform becomes on the other: which pairs mirror,
//! how a state maps across ([`MirrorConfig`]), coalescing of bursts, echo recognition through
//! ownership fingerprints, protection of hand-set statuses, "on a call" with restore, the
//! conflict rule, and a per-user circuit breaker. The gateway feeds [`PresenceInput`]s with
//! `now`, drains [`PresenceOutput`]s until a `Timeout`, performs the writes and persists the
//! records. Nothing here reads the clock or draws randomness.

mod breaker;
mod config;
mod fingerprint;
mod io;
mod mirror;
mod rules;
mod slots;
mod user;

pub use config::MirrorConfig;
pub use io::{AlertReason, MirrorRecord, PresenceInput, PresenceOutput};
pub use mirror::{MirrorStats, PresenceMirror};
pub use rules::{SlackMatch, SlackToTeamsRule, SlackToTeamsRules, TeamsToSlackRule};
