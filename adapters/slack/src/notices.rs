//! Messages outside a live call: notices by DM (a missed call with *Call back*, a plain
//! explanation), and replies through a command's `response_url` (slack-api.md §4, §12).

use callbridge_adapter::client::ApiCall;
use callbridge_adapter::{AdapterError, CommandOutcome};
use callbridge_model::{EventId, Notice, UserRef};
use serde_json::json;

use crate::adapter::Shared;
use crate::blocks;

/// `SendNotice`.
pub(crate) async fn send(
    shared: &Shared,
    to: &UserRef,
    notice: &Notice,
) -> Result<CommandOutcome, AdapterError> {
    let UserRef::Slack { team, user } = to else {
        return Err(AdapterError::Bug(
            "Slack notice for a non-Slack user".to_owned(),
        ));
    };
    let args = match notice {
        Notice::MissedCall {
            caller,
            caller_name,
        } => {
            let value = serde_json::to_string(caller)
                .map_err(|e| AdapterError::Bug(format!("caller not serialisable: {e}")))?;
            json!({
                "channel": user.as_str(),
                "text": format!("Missed call from {caller_name}"),
                "blocks": blocks::missed_call(caller_name, &value),
            })
        }
        Notice::Info { text } => json!({"channel": user.as_str(), "text": text}),
        _ => {
            return Err(AdapterError::Bug(
                "notice kind unknown to the Slack adapter".to_owned(),
            ));
        }
    };
    let posted = shared
        .bot_call("chat.postMessage", team.as_str(), false, &args)
        .await?;
    Ok(posted
        .get("ts")
        .and_then(serde_json::Value::as_str)
        .map_or_else(CommandOutcome::default, CommandOutcome::with_ref))
}

/// `Reply`: an ephemeral answer through the `response_url` of the request behind `to_event`.
pub(crate) async fn reply(
    shared: &Shared,
    to_event: &EventId,
    text: &str,
) -> Result<CommandOutcome, AdapterError> {
    let now = shared.tokens.now();
    let Some((url, team)) = shared.replies.take(to_event, now) else {
        return Err(AdapterError::PlatformRejected {
            method: "response_url".to_owned(),
            error: "expired_url".to_owned(),
        });
    };
    let body =
        json!({"response_type": "ephemeral", "replace_original": false, "text": text}).to_string();
    let response = shared
        .api
        .send(
            ApiCall {
                method: "response_url",
                budget_key: &team,
                idempotent: false,
            },
            |http| {
                http.post(url.clone())
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/json; charset=utf-8",
                    )
                    .body(body.clone())
            },
        )
        .await?;
    let status = response.status();
    if status.is_success() {
        return Ok(CommandOutcome::default());
    }
    // Answers are UNCONFIRMED (§4): plain text or JSON codes; keep the first word.
    let text = response.text().await.unwrap_or_default();
    let code: String = text
        .trim()
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
        .take(48)
        .collect();
    Err(AdapterError::PlatformRejected {
        method: "response_url".to_owned(),
        error: if code.is_empty() {
            format!("http_{}", status.as_u16())
        } else {
            code
        },
    })
}
