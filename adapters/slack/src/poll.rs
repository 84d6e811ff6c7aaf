//! Polling the presence dot (slack-api.md §0.3, §7.2, §13): Slack pushes no presence events to
//! modern apps, so the gateway schedules sweeps of `users.getPresence` within the Tier 3 budget
//! (about 50 a minute per workspace). A sweep stops at the budget instead of queueing behind
//! it, and says whom it did not reach so the next sweep starts there.

use callbridge_adapter::AdapterError;
use callbridge_model::{
    Availability, EventId, Platform, PlatformEvent, Presence, PresenceOrigin, PresenceSource,
    SlackTeamId, SlackUserId, UserRef,
};
use serde_json::{Value, json};

use crate::adapter::Shared;

/// What one sweep found.
#[derive(Debug, Default)]
pub struct PollOutcome {
    /// One `PresenceChanged` per person read (the engine drops values that did not change).
    pub events: Vec<PlatformEvent>,
    /// People not read because the budget ran out, in the order given.
    pub unpolled: Vec<SlackUserId>,
}

/// Reads the presence of `users` in `team`, in order, until the budget is spent.
pub(crate) async fn poll(
    shared: &Shared,
    team: &SlackTeamId,
    users: &[SlackUserId],
) -> Result<PollOutcome, AdapterError> {
    let mut outcome = PollOutcome::default();
    let now = shared.tokens.now().timestamp();
    for (index, user) in users.iter().enumerate() {
        let answer = match shared
            .bot_call(
                "users.getPresence",
                team.as_str(),
                true,
                &json!({"user": user.as_str()}),
            )
            .await
        {
            Ok(answer) => answer,
            Err(AdapterError::PlatformUnavailable { .. }) => {
                metrics::counter!("callbridge_slack_presence_poll_deferred_total")
                    .increment((users.len() - index) as u64);
                outcome.unpolled.extend(users[index..].iter().cloned());
                break;
            }
            Err(AdapterError::PlatformRejected { error, .. }) if error == "user_not_found" => {
                continue;
            }
            Err(error) => return Err(error),
        };
        let availability = match answer.get("presence").and_then(Value::as_str) {
            Some("active") => Availability::Available,
            Some("away") => Availability::Away,
            _ => Availability::PresenceUnknown,
        };
        let event_id: EventId = format!("slack:poll:{team}:{user}:{now}")
            .parse()
            .map_err(|_| AdapterError::Bug("poll event id malformed".to_owned()))?;
        outcome.events.push(PlatformEvent::PresenceChanged {
            event_id,
            user: UserRef::Slack {
                team: team.clone(),
                user: user.clone(),
            },
            presence: Presence {
                availability,
                activity: None,
                status_text: None,
                status_emoji: None,
                expires_at: None,
                source: PresenceSource {
                    platform: Platform::Slack,
                    origin: PresenceOrigin::Automatic,
                    fingerprint: None,
                },
            },
        });
    }
    Ok(outcome)
}
