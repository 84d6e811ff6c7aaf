//! `POST /events`: the Events API (slack-api.md §9). `url_verification` is answered with its
//! challenge; `event_callback` envelopes are translated, each keeping Slack's `event_id` so the
//! inbox drops retries. Status, huddle and DND changes become `PresenceChanged` (with
//! callbridge's own writes recognised as echoes); `tokens_revoked` and `app_uninstalled` delete
//! the tokens at once and become `InstallationRevoked`; `call_rejected` ends the leg whose card
//! was declined. Any other type is acked, counted and logged.

use callbridge_adapter::{AdapterError, Inbound, InboundReply, InboundRequest};
use callbridge_model::{
    Activity, Availability, EventId, Platform, PlatformEvent, Presence, PresenceOrigin,
    PresenceSource, SlackUserId, StatusText, TerminationCause, UserRef,
};
use chrono::DateTime;
use http::StatusCode;
use serde_json::{Value, json};

use crate::adapter::Shared;
use crate::commands::parse_ids;
use crate::form::{expect_media_type, printable};
use crate::status::Observed;

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn missing(field: &str) -> AdapterError {
    AdapterError::Malformed(format!("event envelope lacks {field}"))
}

/// Handles a verified Events API request.
pub(crate) async fn handle(
    shared: &Shared,
    request: &InboundRequest,
) -> Result<Inbound, AdapterError> {
    expect_media_type(&request.headers, "application/json")?;
    let envelope: Value = serde_json::from_slice(&request.body).map_err(|e| {
        AdapterError::Malformed(format!(
            "body is not JSON: line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let kind = str_at(&envelope, "type").ok_or_else(|| missing("type"))?;
    match kind {
        "url_verification" => {
            let challenge = str_at(&envelope, "challenge").ok_or_else(|| missing("challenge"))?;
            if challenge.len() > 512 {
                return Err(AdapterError::Malformed("challenge is too long".to_owned()));
            }
            let body = json!({ "challenge": challenge }).to_string();
            Ok(Inbound::reply_only(InboundReply::json(
                StatusCode::OK,
                body,
            )))
        }
        "event_callback" => callback(shared, &envelope).await,
        other => {
            shared.ignored("envelope", &printable(other));
            Ok(Inbound::reply_only(InboundReply::ok()))
        }
    }
}

async fn callback(shared: &Shared, envelope: &Value) -> Result<Inbound, AdapterError> {
    let event_id: EventId = str_at(envelope, "event_id")
        .ok_or_else(|| missing("event_id"))?
        .parse()
        .map_err(|_| AdapterError::Malformed("event_id is not printable ASCII".to_owned()))?;
    let team = str_at(envelope, "team_id").ok_or_else(|| missing("team_id"))?;
    shared
        .tokens
        .note_enterprise(team, str_at(envelope, "enterprise_id"));
    let event = envelope
        .get("event")
        .filter(|e| e.is_object())
        .ok_or_else(|| missing("event"))?;
    let kind = str_at(event, "type").ok_or_else(|| missing("event.type"))?;
    let ack = InboundReply::ok();
    let translated = match kind {
        "user_change" | "user_status_changed" | "user_huddle_changed" => {
            profile_change(shared, team, event_id, event)?
        }
        "dnd_updated_user" => dnd_change(shared, team, event_id, event)?,
        "tokens_revoked" => {
            let list = |key: &str| -> Vec<String> {
                event
                    .get("tokens")
                    .and_then(|t| t.get(key))
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (users, bots) = (list("oauth"), list("bot"));
            shared.tokens.revoke(team, &users, !bots.is_empty()).await?;
            tracing::info!(
                users = users.len(),
                bot = !bots.is_empty(),
                "slack tokens revoked"
            );
            (!bots.is_empty()).then(|| revoked(event_id, team))
        }
        "app_uninstalled" => {
            shared.tokens.revoke_all(team).await?;
            tracing::info!("slack app uninstalled from a workspace");
            Some(revoked(event_id, team))
        }
        "call_rejected" => {
            let rejected = str_at(event, "external_unique_id")
                .and_then(|id| id.parse().ok())
                .zip(str_at(event, "user_id"))
                .and_then(|(call, user)| shared.cards.leg_of(call, team, user));
            rejected.map(|(call, leg)| PlatformEvent::LegEnded {
                call,
                leg,
                cause: TerminationCause::Declined,
            })
        }
        other => {
            shared.ignored("event", &printable(other));
            None
        }
    };
    Ok(Inbound {
        reply: ack,
        events: translated.into_iter().collect(),
    })
}

fn revoked(event_id: EventId, team: &str) -> PlatformEvent {
    PlatformEvent::InstallationRevoked {
        event_id,
        platform: Platform::Slack,
        external_id: team.to_owned(),
    }
}

/// `user_change`, `user_status_changed`, `user_huddle_changed` (§7.8): the full user object.
fn profile_change(
    shared: &Shared,
    team: &str,
    event_id: EventId,
    event: &Value,
) -> Result<Option<PlatformEvent>, AdapterError> {
    let user = event
        .get("user")
        .filter(|u| u.is_object())
        .ok_or_else(|| missing("event.user"))?;
    presence_of_user(shared, team, event_id, user)
}

/// A `PresenceChanged` from an event's full user object.
fn presence_of_user(
    shared: &Shared,
    team: &str,
    event_id: EventId,
    user: &Value,
) -> Result<Option<PlatformEvent>, AdapterError> {
    if user.get("is_bot").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let id = str_at(user, "id").ok_or_else(|| missing("event.user.id"))?;
    let (team_id, user_id) = parse_ids(team, id)?;
    let empty = json!({});
    let profile = user.get("profile").unwrap_or(&empty);
    let text: String = str_at(profile, "status_text")
        .unwrap_or_default()
        .chars()
        .take(StatusText::MAX_CHARS)
        .collect();
    let emoji = str_at(profile, "status_emoji")
        .unwrap_or_default()
        .to_owned();
    let expiration = profile
        .get("status_expiration")
        .and_then(Value::as_i64)
        .filter(|t| *t > 0);
    let in_huddle = str_at(profile, "huddle_state") == Some("in_a_huddle");
    let observed = Observed {
        text: text.clone(),
        emoji: emoji.clone(),
        expiration: expiration.unwrap_or(0),
    };
    let fingerprint = shared.status.recognise(team, id, &observed);
    // Statuses carry no presence dot (polled separately, §0.3): a huddle is a call; otherwise
    // the availability is unknown and the status line is what changed.
    let (availability, activity) = if in_huddle {
        (Availability::Busy, Some(activity("InACall")?))
    } else {
        (Availability::PresenceUnknown, None)
    };
    Ok(Some(PlatformEvent::PresenceChanged {
        event_id,
        user: UserRef::Slack {
            team: team_id,
            user: user_id,
        },
        presence: Presence {
            availability,
            activity,
            status_text: (!text.is_empty())
                .then(|| StatusText::parse(&text))
                .transpose()
                .map_err(|_| AdapterError::Bug("status text over the checked limit".to_owned()))?,
            status_emoji: (!emoji.is_empty()).then_some(emoji),
            expires_at: expiration.and_then(|t| DateTime::from_timestamp(t, 0)),
            source: source(fingerprint),
        },
    }))
}

fn activity(token: &str) -> Result<Activity, AdapterError> {
    Activity::parse(token).map_err(|_| AdapterError::Bug(format!("activity {token} rejected")))
}

fn source(fingerprint: Option<callbridge_model::OwnershipFingerprint>) -> PresenceSource {
    PresenceSource {
        platform: Platform::Slack,
        origin: if fingerprint.is_some() {
            PresenceOrigin::Callbridge
        } else {
            PresenceOrigin::User
        },
        fingerprint,
    }
}

/// `dnd_updated_user` (§7.7): `user` is an id, `dnd_status` says whether a snooze runs.
fn dnd_change(
    shared: &Shared,
    team: &str,
    event_id: EventId,
    event: &Value,
) -> Result<Option<PlatformEvent>, AdapterError> {
    let id = str_at(event, "user").ok_or_else(|| missing("event.user"))?;
    let (team_id, user_id): (_, SlackUserId) = parse_ids(team, id)?;
    let status = event
        .get("dnd_status")
        .ok_or_else(|| missing("event.dnd_status"))?;
    let snoozing = status
        .get("snooze_enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let until = status
        .get("snooze_endtime")
        .and_then(Value::as_i64)
        .filter(|_| snoozing)
        .and_then(|t| DateTime::from_timestamp(t, 0));
    let fingerprint = shared.status.recognise_dnd(team, id, snoozing);
    Ok(Some(PlatformEvent::PresenceChanged {
        event_id,
        user: UserRef::Slack {
            team: team_id,
            user: user_id,
        },
        presence: Presence {
            availability: if snoozing {
                Availability::DoNotDisturb
            } else {
                Availability::PresenceUnknown
            },
            activity: None,
            status_text: None,
            status_emoji: None,
            expires_at: until,
            source: source(fingerprint),
        },
    }))
}
