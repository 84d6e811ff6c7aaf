//! Call cards (slack-api.md §6): `calls.add` registers the call with callbridge's call id as
//! `external_unique_id` and the signed join URL, a DM carries the `call` block with *Join* and
//! *Decline*, participants follow the leg's state, and `calls.end` closes it with its duration.
//! The Slack call id and the message are remembered per leg, so later commands find them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use callbridge_adapter::{AdapterError, CommandOutcome};
use callbridge_model::{CallId, LegId, LegState, TerminationCause, UserRef};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use url::Url;

use crate::adapter::Shared;
use crate::blocks;

/// One posted card.
#[derive(Clone, Debug)]
pub(crate) struct Card {
    team: String,
    user: String,
    slack_call: String,
    channel: String,
    ts: String,
    title: String,
    started: DateTime<Utc>,
}

/// Cards by leg.
#[derive(Debug, Default)]
pub(crate) struct Cards {
    cards: Mutex<HashMap<(CallId, LegId), Card>>,
}

impl Cards {
    fn get(&self, call: CallId, leg: LegId) -> Option<Card> {
        self.cards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(call, leg))
            .cloned()
    }

    /// Whether the card of this leg was sent to this person in this workspace.
    pub(crate) fn belongs_to(&self, call: CallId, leg: LegId, team: &str, user: &str) -> bool {
        self.get(call, leg)
            .is_some_and(|card| card.team == team && card.user == user)
    }

    /// The leg whose card went to `user` in `team` for `call` (for `call_rejected`).
    pub(crate) fn leg_of(&self, call: CallId, team: &str, user: &str) -> Option<(CallId, LegId)> {
        self.cards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|((c, _), card)| *c == call && card.team == team && card.user == user)
            .map(|(key, _)| *key)
    }

    /// The Slack call id of a leg's card.
    pub(crate) fn slack_call(&self, call: CallId, leg: LegId) -> Option<String> {
        self.get(call, leg).map(|card| card.slack_call)
    }
}

fn slack_user(to: &UserRef) -> Result<(String, String), AdapterError> {
    match to {
        UserRef::Slack { team, user } => Ok((team.to_string(), user.to_string())),
        _ => Err(AdapterError::Bug(
            "Slack call card for a non-Slack user".to_owned(),
        )),
    }
}

fn field<'a>(value: &'a Value, path: &[&str], method: &str) -> Result<&'a str, AdapterError> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .ok_or_else(|| AdapterError::PlatformMisbehaved {
            method: method.to_owned(),
            detail: format!("answer lacks {}", path.join(".")),
        })
}

/// `PostCallCard`.
pub(crate) async fn post(
    shared: &Shared,
    call: CallId,
    leg: LegId,
    to: &UserRef,
    join_url: &Url,
    title: &str,
) -> Result<CommandOutcome, AdapterError> {
    if let Some(card) = shared.cards.get(call, leg) {
        // Posted already (the command was retried): the same card stands.
        return Ok(CommandOutcome::with_ref(card.slack_call));
    }
    let (team, user) = slack_user(to)?;
    let now = shared.tokens.now();
    let added = shared
        .bot_call(
            "calls.add",
            &team,
            false,
            &json!({
                "external_unique_id": call.to_string(),
                "join_url": join_url.as_str(),
                "created_by": user,
                "title": title,
                "date_start": now.timestamp(),
            }),
        )
        .await?;
    let slack_call = field(&added, &["call", "id"], "calls.add")?.to_owned();
    let posted = shared
        .bot_call(
            "chat.postMessage",
            &team,
            false,
            &json!({
                "channel": user,
                "text": title,
                "blocks": blocks::call_card(&slack_call, join_url, call, leg),
            }),
        )
        .await;
    let posted = match posted {
        Ok(posted) => posted,
        Err(error) => {
            // A registered call nobody can see would linger as a zombie (§15.16): end it.
            let ended = shared
                .bot_call(
                    "calls.end",
                    &team,
                    true,
                    &json!({"id": slack_call, "duration": 0}),
                )
                .await;
            if let Err(end_error) = ended {
                tracing::warn!(error = %end_error, "ending an unposted Slack call failed");
            }
            return Err(error);
        }
    };
    let card = Card {
        team,
        user,
        slack_call: slack_call.clone(),
        channel: field(&posted, &["channel"], "chat.postMessage")?.to_owned(),
        ts: field(&posted, &["ts"], "chat.postMessage")?.to_owned(),
        title: title.to_owned(),
        started: now,
    };
    shared
        .cards
        .cards
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert((call, leg), card);
    Ok(CommandOutcome::with_ref(slack_call))
}

/// Treats Slack's "already so" answers as success, so each command can be repeated.
fn already(result: Result<Value, AdapterError>, codes: &[&str]) -> Result<(), AdapterError> {
    match result {
        Ok(_) => Ok(()),
        Err(AdapterError::PlatformRejected { error, .. }) if codes.contains(&error.as_str()) => {
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// `UpdateCallCard`.
pub(crate) async fn update(
    shared: &Shared,
    call: CallId,
    leg: LegId,
    state: LegState,
) -> Result<CommandOutcome, AdapterError> {
    let Some(card) = shared.cards.get(call, leg) else {
        return Err(AdapterError::Bug(
            "no Slack call card for this leg".to_owned(),
        ));
    };
    let users = json!([{ "slack_id": card.user }]);
    let retitle =
        |suffix: &str| json!({"id": card.slack_call, "title": format!("{}{suffix}", card.title)});
    match state {
        LegState::Ringing => {
            already(
                shared
                    .bot_call("calls.update", &card.team, true, &retitle(" · ringing"))
                    .await,
                &["inactive_call"],
            )?;
        }
        LegState::Active => {
            already(
                shared
                    .bot_call(
                        "calls.participants.add",
                        &card.team,
                        true,
                        &json!({"id": card.slack_call, "users": users}),
                    )
                    .await,
                &["bad_users"],
            )?;
            already(
                shared
                    .bot_call("calls.update", &card.team, true, &retitle(""))
                    .await,
                &["inactive_call"],
            )?;
        }
        LegState::OnHold => {
            already(
                shared
                    .bot_call("calls.update", &card.team, true, &retitle(" · on hold"))
                    .await,
                &["inactive_call"],
            )?;
        }
        LegState::Ended => {
            already(
                shared
                    .bot_call(
                        "calls.participants.remove",
                        &card.team,
                        true,
                        &json!({"id": card.slack_call, "users": users}),
                    )
                    .await,
                &["bad_users", "inactive_call"],
            )?;
        }
        // Placing, and states added later, change nothing on the card.
        _ => {}
    }
    Ok(CommandOutcome::with_ref(card.slack_call))
}

fn ended_line(cause: TerminationCause) -> &'static str {
    match cause {
        TerminationCause::Normal => "Call ended.",
        TerminationCause::Declined => "Call declined.",
        TerminationCause::NoAnswer => "No answer.",
        TerminationCause::Busy => "The other side was busy.",
        TerminationCause::Cancelled => "Call cancelled.",
        _ => "Call ended unexpectedly.",
    }
}

/// `HangUp`: `calls.end` with the duration, then the card loses its buttons.
pub(crate) async fn hang_up(
    shared: &Shared,
    call: CallId,
    leg: LegId,
    cause: TerminationCause,
) -> Result<CommandOutcome, AdapterError> {
    let Some(card) = shared.cards.get(call, leg) else {
        // No card for this leg on Slack (it was never posted, or is gone): nothing to end.
        return Ok(CommandOutcome::default());
    };
    let duration = (shared.tokens.now() - card.started).num_seconds().max(0);
    already(
        shared
            .bot_call(
                "calls.end",
                &card.team,
                true,
                &json!({"id": card.slack_call, "duration": duration}),
            )
            .await,
        &["inactive_call"],
    )?;
    let updated = shared
        .bot_call(
            "chat.update",
            &card.team,
            true,
            &json!({
                "channel": card.channel,
                "ts": card.ts,
                "text": ended_line(cause),
                "blocks": blocks::ended_card(&card.slack_call, ended_line(cause)),
            }),
        )
        .await;
    if let Err(error) = updated {
        // The call is ended on Slack; a card that keeps its buttons is cosmetic.
        tracing::warn!(error = %error, "updating an ended call card failed");
    }
    shared
        .cards
        .cards
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&(call, leg));
    Ok(CommandOutcome::with_ref(card.slack_call))
}
