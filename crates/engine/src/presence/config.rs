//! How the mirror behaves: the mapping tables and the timing and loop-protection limits.

use std::time::Duration;

use super::rules::{SlackToTeamsRules, TeamsToSlackRule, default_teams_to_slack};

/// The mirror's settings. [`Default`] holds the documented mapping tables and limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorConfig {
    /// Teams state -> Slack status, first matching rule wins; no match writes nothing.
    pub teams_to_slack: Vec<TeamsToSlackRule>,
    /// Slack status, DND and huddle -> Teams state, first matching rule wins.
    pub slack_to_teams: SlackToTeamsRules,
    /// A burst of changes is written once, as its last state, this long after its first
    /// change.
    pub coalesce: Duration,
    /// At most this many writes to one user within [`Self::breaker_window`]; one more trips
    /// the breaker. Slack allows 10 profile writes per minute per user, so 8 leaves headroom
    /// for the DND and away calls a write may add.
    pub breaker_writes: u32,
    /// The window the breaker counts writes in.
    pub breaker_window: Duration,
    /// How long writes to a user stay stopped once the breaker tripped.
    pub breaker_cooldown: Duration,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        Self {
            teams_to_slack: default_teams_to_slack(),
            slack_to_teams: SlackToTeamsRules::default(),
            coalesce: Duration::from_secs(2),
            breaker_writes: 8,
            breaker_window: Duration::from_secs(60),
            breaker_cooldown: Duration::from_secs(15 * 60),
        }
    }
}
