//! `POST /commands`: the signed `/call` slash command (slack-api.md §3). Acked at once with an
//! ephemeral line; the call itself is the returned `CallRequested`, and the command's
//! `response_url` is kept for the engine's later `Reply`.

use callbridge_adapter::{AdapterError, Inbound, InboundReply, InboundRequest};
use callbridge_model::{CallTarget, EventId, PlatformEvent, SlackTeamId, SlackUserId, UserRef};
use http::StatusCode;
use url::Url;

use crate::adapter::Shared;
use crate::blocks;
use crate::call_text::{self, CallText};
use crate::form::{Form, expect_media_type};

fn reply(text: &str) -> Inbound {
    Inbound::reply_only(InboundReply::json(StatusCode::OK, blocks::ephemeral(text)))
}

pub(crate) fn parse_ids(
    team: &str,
    user: &str,
) -> Result<(SlackTeamId, SlackUserId), AdapterError> {
    let team = team
        .parse::<SlackTeamId>()
        .map_err(|_| AdapterError::Malformed("team_id is not a Slack team id".to_owned()))?;
    let user = user
        .parse::<SlackUserId>()
        .map_err(|_| AdapterError::Malformed("user_id is not a Slack user id".to_owned()))?;
    Ok((team, user))
}

pub(crate) fn response_url(text: &str) -> Result<Url, AdapterError> {
    Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
        .ok_or_else(|| AdapterError::Malformed("response_url is not an http(s) URL".to_owned()))
}

/// Handles a verified command request.
pub(crate) fn handle(shared: &Shared, request: &InboundRequest) -> Result<Inbound, AdapterError> {
    expect_media_type(&request.headers, "application/x-www-form-urlencoded")?;
    let form = Form::parse(&request.body)?;
    let (team, user) = parse_ids(form.required("team_id")?, form.required("user_id")?)?;
    let trigger = form.required("trigger_id")?;
    let response_url = response_url(form.required("response_url")?)?;
    let text = form.text("text")?;
    let event_id: EventId = format!("slack:command:{trigger}")
        .parse()
        .map_err(|_| AdapterError::Malformed("trigger_id is not printable ASCII".to_owned()))?;
    shared
        .tokens
        .note_enterprise(team.as_str(), form.optional("enterprise_id"));
    metrics::counter!("callbridge_slack_commands_total").increment(1);
    let (target, shown) = match call_text::parse(text) {
        Ok(CallText::Help) => return Ok(reply(blocks::HELP)),
        Err(call_text::Unparseable(why)) => {
            metrics::counter!("callbridge_slack_command_rejected_total", "reason" => "unparseable")
                .increment(1);
            return Ok(reply(&format!(
                ":warning: {why} Type `/call help` for examples."
            )));
        }
        Ok(CallText::Mention(callee)) => {
            if callee == user {
                return Ok(reply(":warning: You cannot call yourself."));
            }
            let shown = format!("<@{callee}>");
            (
                CallTarget::User(UserRef::Slack {
                    team: team.clone(),
                    user: callee,
                }),
                shown,
            )
        }
        Ok(CallText::Email(email)) => {
            let shown = blocks::escape(email.as_str());
            (CallTarget::Email(email), shown)
        }
        Ok(CallText::Phone(number)) => {
            let shown = number.to_string();
            (CallTarget::Phone(number), shown)
        }
    };
    shared
        .replies
        .remember(&event_id, response_url, team.as_str(), request.received_at);
    let event = PlatformEvent::CallRequested {
        event_id,
        caller: UserRef::Slack { team, user },
        target,
    };
    Ok(Inbound {
        reply: InboundReply::json(
            StatusCode::OK,
            blocks::ephemeral(&format!(":telephone_receiver: Calling {shown}…")),
        ),
        events: vec![event],
    })
}
