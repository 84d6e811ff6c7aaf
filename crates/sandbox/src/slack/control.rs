//! The Slack half of the scenario control API, under `/_sandbox/slack/` (next to the shared
//! `/_sandbox/clock` and `/_sandbox/faults`). Acts are `POST …/act/<what>`; reads are `GET`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::error::SandboxError;
use super::outbound::SigningKnobs;
use super::state::{AppUrls, SlackState};

/// The Slack control routes.
pub(crate) fn routes() -> Router<SlackState> {
    Router::new()
        .route("/_sandbox/slack/messages", get(messages))
        .route("/_sandbox/slack/calls", get(calls))
        .route("/_sandbox/slack/users", get(users))
        .route("/_sandbox/slack/deliveries", get(deliveries))
        .route("/_sandbox/slack/app", post(set_app))
        .route("/_sandbox/slack/signing", post(set_signing))
        .route("/_sandbox/slack/act/slash_command", post(slash_command))
        .route("/_sandbox/slack/act/click", post(click))
        .route("/_sandbox/slack/act/status", post(status))
        .route("/_sandbox/slack/act/dnd", post(dnd))
        .route("/_sandbox/slack/act/presence", post(presence))
        .route("/_sandbox/slack/act/huddle", post(huddle))
        .route("/_sandbox/slack/act/reject_call", post(reject_call))
        .route("/_sandbox/slack/act/uninstall", post(uninstall))
        .route("/_sandbox/slack/act/ssl_check", post(ssl_check))
}

fn refused(error: &SandboxError) -> Response {
    let status = match error {
        SandboxError::NoAppUrl(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, Json(json!({"error": error.to_string()}))).into_response()
}

fn done(result: Result<(), SandboxError>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize)]
struct ChannelFilter {
    channel: Option<String>,
}

async fn messages(State(state): State<SlackState>, Query(f): Query<ChannelFilter>) -> Response {
    Json(state.messages(f.channel.as_deref())).into_response()
}

async fn calls(State(state): State<SlackState>) -> Response {
    Json(json!({"cards": state.call_cards(), "calls": state.calls()})).into_response()
}

async fn users(State(state): State<SlackState>) -> Response {
    Json(state.user_views()).into_response()
}

async fn deliveries(State(state): State<SlackState>) -> Response {
    Json(state.deliveries()).into_response()
}

#[derive(Deserialize)]
struct AppChange {
    #[serde(default)]
    app_base_url: Option<Url>,
    #[serde(default)]
    command_url: Option<Url>,
    #[serde(default)]
    interactivity_url: Option<Url>,
    #[serde(default)]
    events_url: Option<Url>,
}

/// Points Slack's requests at the app; a new events URL is challenged at once (§9.1).
async fn set_app(State(state): State<SlackState>, Json(change): Json<AppChange>) -> Response {
    let urls = {
        let world = state.world();
        let mut urls = change.app_base_url.as_ref().map_or_else(
            || world.app_urls.clone(),
            |b| AppUrls::from_base(b, &world.app),
        );
        if change.command_url.is_some() {
            urls.command = change.command_url;
        }
        if change.interactivity_url.is_some() {
            urls.interactivity = change.interactivity_url;
        }
        if change.events_url.is_some() {
            urls.events = change.events_url;
        }
        urls
    };
    let verified = state.set_app_urls(urls).await;
    Json(json!({"events_url_verified": verified})).into_response()
}

async fn set_signing(State(state): State<SlackState>, Json(knobs): Json<SigningKnobs>) -> Response {
    state.world().signing = knobs;
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct SlashAct {
    user: String,
    text: String,
    #[serde(default)]
    channel: Option<String>,
}

async fn slash_command(State(state): State<SlackState>, Json(act): Json<SlashAct>) -> Response {
    let outcome = match act.channel {
        Some(channel) => {
            state
                .type_slash_command_in(&act.user, &channel, &act.text)
                .await
        }
        None => state.type_slash_command(&act.user, &act.text).await,
    };
    match outcome {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize)]
struct ClickAct {
    user: String,
    channel: String,
    ts: String,
    action_id: String,
}

async fn click(State(state): State<SlackState>, Json(act): Json<ClickAct>) -> Response {
    match state
        .click_button(&act.user, &act.channel, &act.ts, &act.action_id)
        .await
    {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize)]
struct StatusAct {
    user: String,
    #[serde(default)]
    status_text: String,
    #[serde(default)]
    status_emoji: String,
    #[serde(default)]
    status_expiration: i64,
}

async fn status(State(state): State<SlackState>, Json(act): Json<StatusAct>) -> Response {
    done(state.set_status_by_hand(
        &act.user,
        &act.status_text,
        &act.status_emoji,
        act.status_expiration,
    ))
}

#[derive(Deserialize)]
struct DndAct {
    user: String,
    /// Minutes to snooze; absent or null ends the snooze.
    #[serde(default)]
    num_minutes: Option<u32>,
}

async fn dnd(State(state): State<SlackState>, Json(act): Json<DndAct>) -> Response {
    done(state.set_dnd(&act.user, act.num_minutes))
}

#[derive(Deserialize)]
struct PresenceAct {
    user: String,
    online: bool,
}

async fn presence(State(state): State<SlackState>, Json(act): Json<PresenceAct>) -> Response {
    done(state.set_online(&act.user, act.online))
}

#[derive(Deserialize)]
struct HuddleAct {
    user: String,
    in_huddle: bool,
}

async fn huddle(State(state): State<SlackState>, Json(act): Json<HuddleAct>) -> Response {
    if act.in_huddle {
        match state.start_huddle(&act.user) {
            Ok(call_id) => Json(json!({"huddle_call_id": call_id})).into_response(),
            Err(e) => refused(&e),
        }
    } else {
        done(state.stop_huddle(&act.user))
    }
}

#[derive(Deserialize)]
struct RejectAct {
    user: String,
    call_id: String,
}

async fn reject_call(State(state): State<SlackState>, Json(act): Json<RejectAct>) -> Response {
    done(state.reject_call(&act.user, &act.call_id))
}

async fn uninstall(State(state): State<SlackState>) -> Response {
    done(state.uninstall())
}

async fn ssl_check(State(state): State<SlackState>) -> Response {
    match state.send_ssl_check().await {
        Ok(status) => Json(json!({"status": status})).into_response(),
        Err(e) => refused(&e),
    }
}

impl SlackState {
    /// Replaces the app's request URLs; a changed events URL must pass `url_verification`
    /// again. Returns whether the events URL is verified.
    pub(crate) async fn set_app_urls(&self, urls: AppUrls) -> bool {
        let events_changed = {
            let mut world = self.world();
            let changed = world.app_urls.events != urls.events;
            world.app_urls = urls;
            if changed {
                world.events.verified = false;
            }
            changed
        };
        if events_changed {
            self.verify_events_url().await
        } else {
            self.world().events.verified
        }
    }

    /// Points Slack's requests at the app under test: the seed's paths joined to `base`.
    pub async fn set_app_base_url(&self, base: &Url) -> bool {
        let urls = AppUrls::from_base(base, &self.world().app);
        self.set_app_urls(urls).await
    }
}
