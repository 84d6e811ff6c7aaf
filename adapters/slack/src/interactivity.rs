//! `POST /interactivity`: `block_actions` from callbridge's buttons (slack-api.md §11). Every
//! click is acked with an empty 200, link buttons included; *Decline* and *Cancel* end the leg
//! their card stands for, but only when the person clicking is the one the card was sent to;
//! *Call back* asks for a new call. Other payload types are acked and ignored.

use callbridge_adapter::{AdapterError, Inbound, InboundReply, InboundRequest};
use callbridge_model::{CallTarget, EventId, PlatformEvent, TerminationCause, UserRef};
use serde_json::Value;

use crate::adapter::Shared;
use crate::blocks;
use crate::commands::{parse_ids, response_url};
use crate::form::{Form, expect_media_type, printable};

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn missing(field: &str) -> AdapterError {
    AdapterError::Malformed(format!("interaction payload lacks {field}"))
}

/// Handles a verified interaction.
pub(crate) fn handle(shared: &Shared, request: &InboundRequest) -> Result<Inbound, AdapterError> {
    expect_media_type(&request.headers, "application/x-www-form-urlencoded")?;
    let form = Form::parse(&request.body)?;
    let payload: Value = serde_json::from_str(form.required("payload")?).map_err(|e| {
        AdapterError::Malformed(format!(
            "payload is not JSON: line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    if !payload.is_object() {
        return Err(AdapterError::Malformed(
            "payload is not a JSON object".to_owned(),
        ));
    }
    let kind = str_at(&payload, &["type"]).ok_or_else(|| missing("type"))?;
    if kind != "block_actions" {
        shared.ignored("interaction", kind);
        return Ok(Inbound::reply_only(InboundReply::ok()));
    }
    let team = str_at(&payload, &["team", "id"])
        .or_else(|| str_at(&payload, &["user", "team_id"]))
        .ok_or_else(|| missing("team.id"))?;
    let user = str_at(&payload, &["user", "id"]).ok_or_else(|| missing("user.id"))?;
    let (team, user) = parse_ids(team, user)?;
    let action = payload
        .get("actions")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .ok_or_else(|| missing("actions"))?;
    let action_id =
        str_at(action, &["action_id"]).ok_or_else(|| missing("actions[0].action_id"))?;
    let value = str_at(action, &["value"]).unwrap_or_default();
    let ack = InboundReply::ok();
    let events = match action_id {
        blocks::ACTION_JOIN => Vec::new(),
        blocks::ACTION_DECLINE | blocks::ACTION_CANCEL => {
            let (call, leg) = blocks::parse_leg_value(value).ok_or_else(|| {
                AdapterError::Malformed("button value is not a call leg".to_owned())
            })?;
            if !shared
                .cards
                .belongs_to(call, leg, team.as_str(), user.as_str())
            {
                // Someone else's card, or a card already ended: acked, nothing happens.
                tracing::info!(
                    action = action_id,
                    "click on a card the user does not hold ignored"
                );
                return Ok(Inbound::reply_only(ack));
            }
            let cause = if action_id == blocks::ACTION_DECLINE {
                TerminationCause::Declined
            } else {
                TerminationCause::Cancelled
            };
            vec![PlatformEvent::LegEnded { call, leg, cause }]
        }
        blocks::ACTION_CALL_BACK => {
            let target: UserRef = serde_json::from_str(value)
                .map_err(|_| AdapterError::Malformed("call-back value is not a user".to_owned()))?;
            let trigger = str_at(&payload, &["trigger_id"]).ok_or_else(|| missing("trigger_id"))?;
            let event_id: EventId = format!("slack:action:{trigger}").parse().map_err(|_| {
                AdapterError::Malformed("trigger_id is not printable ASCII".to_owned())
            })?;
            if let Some(url) = str_at(&payload, &["response_url"]) {
                shared.replies.remember(
                    &event_id,
                    response_url(url)?,
                    team.as_str(),
                    request.received_at,
                );
            }
            vec![PlatformEvent::CallRequested {
                event_id,
                caller: UserRef::Slack { team, user },
                target: CallTarget::User(target),
            }]
        }
        other => {
            shared.ignored("action", &printable(other));
            Vec::new()
        }
    };
    Ok(Inbound { reply: ack, events })
}
