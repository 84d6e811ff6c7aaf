//! `response_url`s: `POST /hooks/{commands|actions}/{team}/{n}/{key}` (slack-api.md §4).
//!
//! What Slack answers here is UNCONFIRMED (§4); the sandbox follows the reference's suggestion:
//! `200 ok`, `404 expired_url` after 5 uses or 30 minutes, `400 invalid_payload` on a body
//! that is not a JSON object.

use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::api::MAX_BODY_BYTES;
use super::state::SlackState;

/// A `response_url` works this many times…
pub const RESPONSE_URL_MAX_USES: u32 = 5;
/// …within this many seconds of the invocation (§4).
pub const RESPONSE_URL_LIFETIME_SECS: i64 = 30 * 60;

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

pub(crate) async fn response_url(
    State(state): State<SlackState>,
    Path((_kind, _team, _n, key)): Path<(String, String, String, String)>,
    body: Body,
) -> Response {
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "invalid_payload");
    };
    let now = state.now();
    let mut world = state.world();
    let Some(record) = world.response_urls.get_mut(&key) else {
        return text(StatusCode::NOT_FOUND, "no_service");
    };
    if record.uses >= RESPONSE_URL_MAX_USES || now - record.created_at > RESPONSE_URL_LIFETIME_SECS
    {
        return text(StatusCode::NOT_FOUND, "expired_url");
    }
    let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(&body) else {
        return text(StatusCode::BAD_REQUEST, "invalid_payload");
    };
    record.uses += 1;
    let record = record.clone();
    let flag = |key: &str| message.get(key).and_then(Value::as_bool).unwrap_or(false);
    let text_field = message
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let blocks = message.get("blocks").cloned().filter(Value::is_array);
    if let Some((channel, ts)) = &record.source {
        let position = world
            .messages
            .iter()
            .position(|m| &m.channel == channel && &m.ts == ts);
        if let Some(index) = position {
            if flag("delete_original") {
                world.messages.remove(index);
                return text(StatusCode::OK, "ok");
            }
            if flag("replace_original") {
                let mut replaced = world.messages.remove(index);
                replaced.text = text_field;
                replaced.blocks = blocks;
                replaced.edited = true;
                world.post(replaced);
                if let Some(last) = world.messages.pop() {
                    world.messages.insert(index, last);
                }
                return text(StatusCode::OK, "ok");
            }
        }
    }
    if text_field.is_empty() && blocks.is_none() {
        return text(StatusCode::BAD_REQUEST, "no_text");
    }
    let bot = world
        .workspace(&record.team_id)
        .and_then(|w| w.bot_user_id.clone())
        .unwrap_or_default();
    let mut reply = world.new_message(&record.channel, &bot, &text_field, blocks, now);
    // Ephemeral is the default (§4).
    if message.get("response_type").and_then(Value::as_str) != Some("in_channel") {
        reply.ephemeral_to = Some(record.user);
    }
    reply.thread_ts = message
        .get("thread_ts")
        .and_then(Value::as_str)
        .map(str::to_owned);
    world.post(reply);
    text(StatusCode::OK, "ok")
}
