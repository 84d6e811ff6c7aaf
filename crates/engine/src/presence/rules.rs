//! The mapping tables, as plain data so the gateway can load them from configuration: a
//! vector of rules per direction, the first rule that matches wins, no match writes nothing.
//!
//! The values produced are shaped for the adapters that execute them: Slack shows a status
//! line only for `Busy` and `DoNotDisturb` (it snoozes DND for the latter and sets manual away
//! for `Away`/`BeRightBack`/`Offline`, clearing callbridge's own status for anything else);
//! Teams maps the availability onto the five `setPresence` pairs and clears callbridge's
//! session for `PresenceUnknown`/`Offline`, with the status line as the status message.

use std::time::Duration;

use callbridge_model::{
    Activity, Availability, Platform, Presence, PresenceOrigin, PresenceSource, StatusText,
};
use chrono::{DateTime, Utc};

/// One row of the Teams -> Slack table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamsToSlackRule {
    /// The Teams availability this rule applies to.
    pub availability: Availability,
    /// The Teams activity it applies to (compared ignoring case); `None` matches any.
    pub activity: Option<String>,
    /// The Slack status line to show, if any.
    pub text: Option<String>,
    /// The Slack status emoji (`:name:`), if any.
    pub emoji: Option<String>,
    /// How long the Slack status lasts; `None` keeps it until changed.
    pub expiry: Option<Duration>,
    /// Snooze Slack notifications (DND) while this state lasts.
    pub dnd: bool,
    /// Show the person as away in Slack (no status line).
    pub away: bool,
}

impl TeamsToSlackRule {
    /// A rule that shows a status line in Slack.
    fn status(availability: Availability, activity: Option<&str>, text: &str, emoji: &str) -> Self {
        Self {
            availability,
            activity: activity.map(str::to_owned),
            text: Some(text.to_owned()),
            emoji: Some(emoji.to_owned()),
            expiry: None,
            dnd: false,
            away: false,
        }
    }

    /// A rule that shows no status line: clear ours, or away.
    const fn plain(availability: Availability, away: bool) -> Self {
        Self {
            availability,
            activity: None,
            text: None,
            emoji: None,
            expiry: None,
            dnd: false,
            away,
        }
    }

    fn matches(&self, presence: &Presence) -> bool {
        self.availability == presence.availability
            && self.activity.as_deref().is_none_or(|wanted| {
                presence
                    .activity
                    .as_ref()
                    .is_some_and(|a| a.as_str().eq_ignore_ascii_case(wanted))
            })
    }

    /// The Slack value this rule writes for `teams` (source not yet stamped).
    fn apply(&self, teams: &Presence, now: DateTime<Utc>) -> Presence {
        let availability = if self.dnd {
            Availability::DoNotDisturb
        } else if self.away {
            Availability::Away
        } else if self.text.is_some() || self.emoji.is_some() {
            // The Slack adapter shows a status line for Busy only (and DND).
            Availability::Busy
        } else {
            Availability::Available
        };
        let shows_line = !self.away;
        Presence {
            availability,
            activity: teams.activity.clone(),
            status_text: self
                .text
                .as_deref()
                .filter(|_| shows_line)
                .and_then(|t| StatusText::parse(t).ok()),
            status_emoji: self.emoji.clone().filter(|_| shows_line),
            expires_at: self
                .expiry
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| now + d),
            source: unstamped(Platform::Slack),
        }
    }
}

/// The documented Teams -> Slack defaults.
pub(crate) fn default_teams_to_slack() -> Vec<TeamsToSlackRule> {
    use Availability as A;
    let in_a_call = ("In a call", ":telephone_receiver:");
    let mut rules = Vec::new();
    for busy in [A::Busy, A::BusyIdle] {
        for call in ["InACall", "InAConferenceCall"] {
            rules.push(TeamsToSlackRule::status(
                busy,
                Some(call),
                in_a_call.0,
                in_a_call.1,
            ));
        }
        rules.push(TeamsToSlackRule::status(
            busy,
            Some("InAMeeting"),
            "In a meeting",
            ":calendar:",
        ));
        rules.push(TeamsToSlackRule::status(busy, None, "Busy", ":red_circle:"));
    }
    rules.push(TeamsToSlackRule {
        dnd: true,
        ..TeamsToSlackRule::status(A::DoNotDisturb, None, "Do not disturb", ":no_bell:")
    });
    for away in [A::Away, A::BeRightBack, A::Offline] {
        rules.push(TeamsToSlackRule::plain(away, true));
    }
    for available in [A::Available, A::AvailableIdle] {
        rules.push(TeamsToSlackRule::plain(available, false));
    }
    rules
}

/// What a Slack state must show for a [`SlackToTeamsRule`] to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlackMatch {
    /// In a huddle (the Slack adapter reports `Busy`/`InACall`).
    Huddle,
    /// A DND snooze runs.
    DoNotDisturb,
    /// The status line contains this text, ignoring case.
    TextContains(String),
    /// The status emoji is exactly this (`:name:`).
    Emoji(String),
    /// No status line, no emoji, no DND, no huddle.
    Cleared,
    /// Anything.
    Any,
}

impl SlackMatch {
    fn matches(&self, slack: &Presence) -> bool {
        match self {
            Self::Huddle => {
                matches!(slack.availability, Availability::Busy)
                    && slack
                        .activity
                        .as_ref()
                        .is_some_and(|a| a.as_str().eq_ignore_ascii_case("InACall"))
            }
            Self::DoNotDisturb => slack.availability == Availability::DoNotDisturb,
            Self::TextContains(needle) => slack.status_text.as_ref().is_some_and(|text| {
                text.as_str()
                    .to_lowercase()
                    .contains(&needle.to_lowercase())
            }),
            Self::Emoji(emoji) => slack.status_emoji.as_deref() == Some(emoji.as_str()),
            Self::Cleared => {
                slack.status_text.is_none()
                    && slack.status_emoji.is_none()
                    && !matches!(
                        slack.availability,
                        Availability::DoNotDisturb | Availability::Busy | Availability::BusyIdle
                    )
            }
            Self::Any => true,
        }
    }
}

/// One row of the Slack -> Teams table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackToTeamsRule {
    /// When it applies.
    pub when: SlackMatch,
    /// The Teams availability to write (`PresenceUnknown` clears callbridge's session).
    pub availability: Availability,
    /// The Teams activity to write.
    pub activity: Option<String>,
    /// Copy the Slack status line (and its expiry) into the Teams status message; otherwise
    /// the status message callbridge set is cleared.
    pub copy_status_text: bool,
}

impl SlackToTeamsRule {
    fn new(when: SlackMatch, availability: Availability, activity: &str, copy: bool) -> Self {
        Self {
            when,
            availability,
            activity: Some(activity.to_owned()),
            copy_status_text: copy,
        }
    }

    fn apply(&self, slack: &Presence) -> Presence {
        Presence {
            availability: self.availability,
            activity: self
                .activity
                .as_deref()
                .and_then(|a| Activity::parse(a).ok()),
            status_text: slack.status_text.clone().filter(|_| self.copy_status_text),
            status_emoji: None,
            expires_at: slack.expires_at.filter(|_| self.copy_status_text),
            source: unstamped(Platform::Teams),
        }
    }
}

/// The Slack -> Teams table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackToTeamsRules {
    /// The rules, first match wins.
    pub rules: Vec<SlackToTeamsRule>,
}

impl Default for SlackToTeamsRules {
    /// Huddle or "In a call" -> Busy/InACall; DND -> DoNotDisturb/DoNotDisturb; a `:calendar:`
    /// or "meeting" status -> Busy/InAMeeting with the status line; cleared -> Available; any
    /// other status -> no app session, the status line as the Teams status message.
    fn default() -> Self {
        use Availability as A;
        Self {
            rules: vec![
                SlackToTeamsRule::new(SlackMatch::Huddle, A::Busy, "InACall", false),
                SlackToTeamsRule::new(
                    SlackMatch::TextContains("in a call".to_owned()),
                    A::Busy,
                    "InACall",
                    false,
                ),
                SlackToTeamsRule::new(
                    SlackMatch::DoNotDisturb,
                    A::DoNotDisturb,
                    "DoNotDisturb",
                    false,
                ),
                SlackToTeamsRule::new(
                    SlackMatch::Emoji(":calendar:".to_owned()),
                    A::Busy,
                    "InAMeeting",
                    true,
                ),
                SlackToTeamsRule::new(
                    SlackMatch::TextContains("meeting".to_owned()),
                    A::Busy,
                    "InAMeeting",
                    true,
                ),
                SlackToTeamsRule::new(SlackMatch::Cleared, A::Available, "Available", false),
                SlackToTeamsRule {
                    when: SlackMatch::Any,
                    availability: A::PresenceUnknown,
                    activity: None,
                    copy_status_text: true,
                },
            ],
        }
    }
}

/// A source to be replaced by the mirror's stamp when the value is written.
const fn unstamped(platform: Platform) -> PresenceSource {
    PresenceSource {
        platform,
        origin: PresenceOrigin::Callbridge,
        fingerprint: None,
    }
}

/// What `presence`, shown on `from`, becomes on the other platform; `None` when no rule
/// applies.
pub(crate) fn map_across(
    teams_to_slack: &[TeamsToSlackRule],
    slack_to_teams: &SlackToTeamsRules,
    from: Platform,
    presence: &Presence,
    now: DateTime<Utc>,
) -> Option<Presence> {
    match from {
        Platform::Teams => teams_to_slack
            .iter()
            .find(|rule| rule.matches(presence))
            .map(|rule| rule.apply(presence, now)),
        Platform::Slack => slack_to_teams
            .rules
            .iter()
            .find(|rule| rule.when.matches(presence))
            .map(|rule| rule.apply(presence)),
        _ => None,
    }
}

/// What a user shows while their counterpart is on a callbridge call: in Slack the status the
/// Teams -> Slack table gives `Busy`/`InACall` (by default "In a call" with
/// :telephone_receiver:), never expiring; in Teams `Busy`/`InACall`.
pub(crate) fn on_call_value(
    teams_to_slack: &[TeamsToSlackRule],
    target: Platform,
    now: DateTime<Utc>,
) -> Presence {
    let in_a_call = Presence {
        availability: Availability::Busy,
        activity: Activity::parse("InACall").ok(),
        status_text: None,
        status_emoji: None,
        expires_at: None,
        source: unstamped(Platform::Teams),
    };
    match target {
        Platform::Slack => {
            let mut slack = teams_to_slack
                .iter()
                .find(|rule| rule.matches(&in_a_call))
                .map_or_else(
                    || Presence {
                        status_text: StatusText::parse("In a call").ok(),
                        status_emoji: Some(":telephone_receiver:".to_owned()),
                        ..in_a_call.clone()
                    },
                    |rule| rule.apply(&in_a_call, now),
                );
            slack.expires_at = None;
            slack.source = unstamped(Platform::Slack);
            slack
        }
        _ => Presence {
            source: unstamped(target),
            ..in_a_call
        },
    }
}

/// The value that takes callbridge's own state off a user: Slack clears callbridge's status
/// (and the DND snooze or away it set); Teams ends callbridge's app session and status line,
/// so the person's own state shows again.
pub(crate) fn clear_value(target: Platform) -> Presence {
    Presence {
        availability: match target {
            Platform::Slack => Availability::Available,
            _ => Availability::PresenceUnknown,
        },
        activity: None,
        status_text: None,
        status_emoji: None,
        expires_at: None,
        source: unstamped(target),
    }
}
