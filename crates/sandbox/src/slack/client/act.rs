//! What the person does through the client's forms: type (a slash command through the real
//! signed path, or a plain message), click a button (the real signed `block_actions` path),
//! and change status, DND and presence by hand.
//!
//! Without the script a form gets `303 See Other` back to the page with the outcome in
//! `?notice=`; with it (`X-Requested-With: fetch`) the answer is the outcome as plain text.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::super::error::SandboxError;
use super::super::interact::ActOutcome;
use super::super::state::SlackState;
use super::MAX_TEXT_CHARS;
use super::html::{error_page, unknown_user};

/// The message box's value for the DM with the app before Slack has opened it.
pub(crate) const APP_DM: &str = "app";
/// The longest DND snooze the form offers: a day, as the Slack client's menu does.
pub(crate) const MAX_SNOOZE_MINUTES: u32 = 1440;
/// Slack's limit on a custom status text and emoji.
const MAX_STATUS_CHARS: usize = 100;
/// A status may last up to a year.
const MAX_STATUS_MINUTES: u32 = 525_600;

type Fields = Form<HashMap<String, String>>;

/// How to answer: the script wants text, a bare form wants to go back to the page.
struct Reply {
    user: String,
    via_script: bool,
}

impl Reply {
    fn new(user: &str, headers: &HeaderMap) -> Self {
        Self {
            user: user.to_owned(),
            via_script: headers
                .get("x-requested-with")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"fetch")),
        }
    }

    fn done(&self, notice: &str) -> Response {
        if self.via_script {
            return plain(StatusCode::OK, notice);
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("notice", notice)
            .finish();
        (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/client/{}?{query}", self.user))],
        )
            .into_response()
    }

    fn refused(&self, status: StatusCode, reason: &str) -> Response {
        if self.via_script {
            plain(status, reason)
        } else {
            error_page(status, reason)
        }
    }

    fn sandbox_error(&self, error: &SandboxError) -> Response {
        let status = match error {
            SandboxError::NoAppUrl(_) => StatusCode::CONFLICT,
            SandboxError::ApiMisuse(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let reason = match error {
            SandboxError::ApiMisuse(what) => what.clone(),
            SandboxError::NoAppUrl(kind) => {
                format!(
                    "The app has no {kind} URL configured yet, so Slack has nowhere to send this."
                )
            }
            other => other.to_string(),
        };
        self.refused(status, &reason)
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_owned(),
    )
        .into_response()
}

fn field<'a>(form: &'a HashMap<String, String>, key: &str) -> &'a str {
    form.get(key).map_or("", |v| v.trim())
}

/// What the person sees after the app got their request: its answer shows in the conversation,
/// a failure as Slack's client error.
fn outcome_notice(what: &str, outcome: &ActOutcome) -> String {
    match outcome.error.as_deref() {
        None => format!(
            "{what}: the app acknowledged it (HTTP {}).",
            outcome.status.unwrap_or(200)
        ),
        Some("operation_timeout") => format!(
            "{what} failed with the error \"operation_timeout\": the app did not answer in time."
        ),
        Some(code) => {
            let answered = outcome
                .status
                .map(|s| format!(" (it answered HTTP {s})"))
                .unwrap_or_default();
            format!(
                "{what} failed with the error \"{code}\": the app could not be reached or did not answer 200{answered}."
            )
        }
    }
}

/// `POST /client/{user}/say` with `channel` and `text`.
pub(crate) async fn say(
    State(state): State<SlackState>,
    Path(user): Path<String>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let reply = Reply::new(&user, &headers);
    if !state.client_knows(&user) {
        return unknown_user(&user);
    }
    let text = field(&form, "text");
    if text.is_empty() {
        return reply.refused(
            StatusCode::BAD_REQUEST,
            "The message is empty: type a message or a slash command.",
        );
    }
    let length = text.chars().count();
    if length > MAX_TEXT_CHARS {
        return reply.refused(
            StatusCode::BAD_REQUEST,
            &format!(
                "The message is {length} characters long; at most {MAX_TEXT_CHARS} are accepted."
            ),
        );
    }
    let channel = match field(&form, "channel") {
        "" | APP_DM => match state.dm_with_app(&user) {
            Ok(dm) => dm,
            Err(e) => return reply.sandbox_error(&e),
        },
        other => other.to_owned(),
    };
    if text.starts_with('/') {
        let command = text.split_whitespace().next().unwrap_or(text);
        match state.type_slash_command_in(&user, &channel, text).await {
            Ok(outcome) => reply.done(&outcome_notice(command, &outcome)),
            Err(e) => reply.sandbox_error(&e),
        }
    } else {
        match state.client_post(&user, &channel, text) {
            Ok(()) => reply.done("Message posted."),
            Err(e) => reply.sandbox_error(&e),
        }
    }
}

/// `POST /client/{user}/click` with `channel`, `ts` and `action_id`.
pub(crate) async fn click(
    State(state): State<SlackState>,
    Path(user): Path<String>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let reply = Reply::new(&user, &headers);
    if !state.client_knows(&user) {
        return unknown_user(&user);
    }
    let (channel, ts, action) = (
        field(&form, "channel"),
        field(&form, "ts"),
        field(&form, "action_id"),
    );
    if channel.is_empty() || ts.is_empty() || action.is_empty() {
        return reply.refused(
            StatusCode::BAD_REQUEST,
            "A click needs the conversation, the message and the button.",
        );
    }
    match state.click_button(&user, channel, ts, action).await {
        Ok(outcome) => reply.done(&outcome_notice("The click", &outcome)),
        Err(e) => reply.sandbox_error(&e),
    }
}

/// `POST /client/{user}/status` with `emoji`, `text` and `expires_in` (minutes), or `clear`.
pub(crate) async fn status(
    State(state): State<SlackState>,
    Path(user): Path<String>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let reply = Reply::new(&user, &headers);
    if !state.client_knows(&user) {
        return unknown_user(&user);
    }
    if !field(&form, "clear").is_empty() {
        return match state.set_status_by_hand(&user, "", "", 0) {
            Ok(()) => reply.done("Status cleared."),
            Err(e) => reply.sandbox_error(&e),
        };
    }
    let text = field(&form, "text");
    let emoji = field(&form, "emoji");
    if text.chars().count() > MAX_STATUS_CHARS || emoji.chars().count() > MAX_STATUS_CHARS {
        return reply.refused(
            StatusCode::BAD_REQUEST,
            &format!("A status text or emoji is at most {MAX_STATUS_CHARS} characters."),
        );
    }
    if emoji.chars().any(char::is_whitespace) {
        return reply.refused(
            StatusCode::BAD_REQUEST,
            "An emoji is a name such as :palm_tree:, without spaces.",
        );
    }
    // Slack stores emoji as `:name:`; accept the bare name too.
    let emoji = if emoji.is_empty() {
        String::new()
    } else {
        format!(":{}:", emoji.trim_matches(':'))
    };
    let expiration = match field(&form, "expires_in") {
        "" | "0" => 0,
        minutes => match minutes.parse::<u32>() {
            Ok(m) if m <= MAX_STATUS_MINUTES => state.now() + i64::from(m) * 60,
            _ => {
                return reply.refused(
                    StatusCode::BAD_REQUEST,
                    &format!("Clear after must be a whole number of minutes from 0 to {MAX_STATUS_MINUTES}."),
                );
            }
        },
    };
    match state.set_status_by_hand(&user, text, &emoji, expiration) {
        Ok(()) if text.is_empty() && emoji.is_empty() => reply.done("Status cleared."),
        Ok(()) => reply.done("Status set."),
        Err(e) => reply.sandbox_error(&e),
    }
}

/// `POST /client/{user}/dnd` with `minutes`, or `end` to stop snoozing.
pub(crate) async fn dnd(
    State(state): State<SlackState>,
    Path(user): Path<String>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let reply = Reply::new(&user, &headers);
    if !state.client_knows(&user) {
        return unknown_user(&user);
    }
    let (minutes, notice) = if field(&form, "end").is_empty() {
        match field(&form, "minutes").parse::<u32>() {
            Ok(m) if (1..=MAX_SNOOZE_MINUTES).contains(&m) => {
                (Some(m), format!("Notifications snoozed for {m} minutes."))
            }
            _ => {
                return reply.refused(
                    StatusCode::BAD_REQUEST,
                    &format!("Snooze for must be a whole number of minutes from 1 to {MAX_SNOOZE_MINUTES}."),
                );
            }
        }
    } else {
        (None, "Snooze ended.".to_owned())
    };
    match state.set_dnd(&user, minutes) {
        Ok(()) => reply.done(&notice),
        Err(e) => reply.sandbox_error(&e),
    }
}

/// `POST /client/{user}/presence` with `online=true|false`: opening or closing Slack.
pub(crate) async fn presence(
    State(state): State<SlackState>,
    Path(user): Path<String>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let reply = Reply::new(&user, &headers);
    if !state.client_knows(&user) {
        return unknown_user(&user);
    }
    let online = match field(&form, "online") {
        "true" => true,
        "false" => false,
        _ => {
            return reply.refused(
                StatusCode::BAD_REQUEST,
                "Presence must be online=true or online=false.",
            );
        }
    };
    match state.set_online(&user, online) {
        Ok(()) if online => reply.done("Slack is open: you show as active."),
        Ok(()) => reply.done("Slack is closed: you show as away."),
        Err(e) => reply.sandbox_error(&e),
    }
}
