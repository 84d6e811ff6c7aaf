//! The Teams half of the scenario control API, under `/_sandbox/teams/`: act as a Teams user
//! (presence in the client, preferred presence, message the bot, press card buttons, dial,
//! configure the phone), read what Teams shows (presence, status message, bot messages, calls
//! and their audio), and inject platform faults (a proxy answering 503).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::graph::PresenceState;
use super::phone::behaviour::PhoneBehaviour;
use super::state::MicrosoftState;

/// `/_sandbox/teams/...` routes.
pub(crate) fn routes() -> Router<MicrosoftState> {
    Router::new()
        .route("/_sandbox/teams/users/{user}/presence", get(read_presence))
        .route(
            "/_sandbox/teams/users/{user}/client-presence",
            post(set_client_presence),
        )
        .route(
            "/_sandbox/teams/users/{user}/preferred-presence",
            post(set_preferred).delete(clear_preferred),
        )
        .route("/_sandbox/teams/notifications", get(read_deliveries))
        .route(
            "/_sandbox/teams/subscriptions/{id}/lifecycle",
            post(send_lifecycle),
        )
        .route("/_sandbox/teams/tick", post(tick))
        .route(
            "/_sandbox/teams/apps/{client_id}/revoke-consent",
            post(revoke_consent),
        )
        .route(
            "/_sandbox/teams/apps/{client_id}/messaging-endpoint",
            put(set_messaging_endpoint),
        )
        .route(
            "/_sandbox/teams/users/{user}/bot-messages",
            get(read_bot_messages).post(message_bot),
        )
        .route(
            "/_sandbox/teams/users/{user}/card-actions",
            post(card_action),
        )
        .route(
            "/_sandbox/teams/users/{user}/card-submits",
            post(card_submit),
        )
        .route(
            "/_sandbox/teams/users/{user}/bot-installation",
            post(bot_installation),
        )
        .route("/_sandbox/teams/users/{user}/phone", put(set_phone))
        .route("/_sandbox/teams/users/{user}/dial", post(dial))
        .route("/_sandbox/teams/calls", get(read_calls))
        .route("/_sandbox/teams/ca.pem", get(read_ca))
        .route("/_sandbox/teams/calls/{call_id}/media", get(read_media))
        .route("/_sandbox/teams/calls/{call_id}/hangup", post(hang_up))
        .route("/_sandbox/teams/calls/{call_id}/hold", post(hold))
        .route(
            "/_sandbox/teams/sip/{proxy}/unavailable",
            post(set_unavailable).delete(clear_unavailable),
        )
}

fn misuse(error: impl std::fmt::Display) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"ok": false, "error": error.to_string()})),
    )
        .into_response()
}

async fn read_presence(State(state): State<MicrosoftState>, Path(user): Path<String>) -> Response {
    match state.presence_of(&user) {
        Ok(shown) => Json(shown).into_response(),
        Err(error) => misuse(error),
    }
}

#[derive(Deserialize)]
struct ClientPresence {
    /// `None` (or `signed_in: false`) signs the client out.
    availability: Option<String>,
    activity: Option<String>,
    #[serde(default = "yes")]
    signed_in: bool,
}

fn yes() -> bool {
    true
}

async fn set_client_presence(
    State(state): State<MicrosoftState>,
    Path(user): Path<String>,
    Json(change): Json<ClientPresence>,
) -> Response {
    let shown = match (change.signed_in, change.availability) {
        (true, Some(availability)) => {
            let activity = change.activity.unwrap_or_else(|| availability.clone());
            Some(PresenceState::new(&availability, &activity))
        }
        _ => None,
    };
    match state.set_presence_in_client(&user, shown) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => misuse(error),
    }
}

#[derive(Deserialize)]
struct Preferred {
    availability: String,
    activity: String,
    #[serde(default)]
    expiration_secs: Option<u64>,
}

async fn set_preferred(
    State(state): State<MicrosoftState>,
    Path(user): Path<String>,
    Json(change): Json<Preferred>,
) -> Response {
    let lasting = std::time::Duration::from_secs(change.expiration_secs.unwrap_or(7 * 24 * 3600));
    let shown = PresenceState::new(&change.availability, &change.activity);
    match state.set_preferred_presence(&user, shown, lasting) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => misuse(error),
    }
}

async fn clear_preferred(
    State(state): State<MicrosoftState>,
    Path(user): Path<String>,
) -> Response {
    match state.clear_preferred_presence(&user) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => misuse(error),
    }
}

async fn read_deliveries(State(state): State<MicrosoftState>) -> Response {
    Json(state.deliveries()).into_response()
}

#[derive(Deserialize)]
struct Lifecycle {
    event: String,
}

async fn send_lifecycle(
    State(state): State<MicrosoftState>,
    Path(id): Path<String>,
    Json(body): Json<Lifecycle>,
) -> Response {
    if !matches!(
        body.event.as_str(),
        "reauthorizationRequired" | "subscriptionRemoved"
    ) {
        return misuse(format!("unknown lifecycle event {:?}", body.event));
    }
    if state.send_lifecycle_event(&id, &body.event) {
        StatusCode::ACCEPTED.into_response()
    } else {
        misuse(format!("no subscription {id}"))
    }
}

async fn tick(State(state): State<MicrosoftState>) -> StatusCode {
    state.tick();
    StatusCode::NO_CONTENT
}

async fn revoke_consent(
    State(state): State<MicrosoftState>,
    Path(client_id): Path<String>,
) -> StatusCode {
    state.revoke_consent(&client_id);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Endpoint {
    url: String,
}

async fn set_messaging_endpoint(
    State(state): State<MicrosoftState>,
    Path(client_id): Path<String>,
    Json(body): Json<Endpoint>,
) -> StatusCode {
    state.set_messaging_endpoint(&client_id, &body.url);
    StatusCode::NO_CONTENT
}

async fn read_bot_messages(
    State(state): State<MicrosoftState>,
    Path(user): Path<String>,
) -> Response {
    match state.bot_messages(&user) {
        Ok(messages) => Json(messages).into_response(),
        Err(error) => misuse(error),
    }
}

#[derive(Deserialize)]
struct Text {
    text: String,
}

async fn message_bot(
    State(state): State<MicrosoftState>,
    Path(user): Path<String>,
    Json(body): Json<Text>,
) -> Response {
    match state.message_bot(&user, &body.text).await {
        Ok(reply) => Json(json!({"status": reply.status, "body": reply.body})).into_response(),
        Err(error) => misuse(error),
    }
}

#[derive(Deserialize)]
struct CardAction {
    verb: String,
    #[serde(default)]
    data: Value,
}

async fn card_action(
    State(state): State<MicrosoftState>,
    Path(user): Path<String>,
    Json(body): Json<CardAction>,
) -> Response {
    match state.press_card_action(&user, &body.verb, body.data).await {
        Ok(reply) => Json(json!({"status": reply.status, "body": reply.body})).into_response(),
        Err(error) => misuse(error),
    }
}

#[derive(Deserialize)]
struct CardSubmit {
    #[serde(default)]
    data: Value,
}

async fn card_submit(
    State(state): State<MicrosoftState>,
    Path(user): Path<String>,
    Json(body): Json<CardSubmit>,
) -> Response {
    match state.submit_card(&user, body.data).await {
        Ok(reply) => Json(json!({"status": reply.status, "body": reply.body})).into_response(),
        Err(error) => misuse(error),
    }
}

#[derive(Deserialize)]
struct Installation {
    installed: bool,
}

async fn bot_installation(
    State(state): State<MicrosoftState>,
    Path(user): Path<String>,
    Json(body): Json<Installation>,
) -> Response {
    match state.set_bot_installed(&user, body.installed).await {
        Ok(reply) => Json(json!({"status": reply.status, "body": reply.body})).into_response(),
        Err(error) => misuse(error),
    }
}

async fn set_phone(
    State(state): State<MicrosoftState>,
    Path(user): Path<String>,
    Json(behaviour): Json<PhoneBehaviour>,
) -> Response {
    match state.set_phone_behaviour(&user, behaviour) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => misuse(error),
    }
}

#[derive(Deserialize)]
struct Dial {
    number: String,
}

async fn dial(
    State(state): State<MicrosoftState>,
    Path(user): Path<String>,
    Json(body): Json<Dial>,
) -> Response {
    match state.dial(&user, &body.number).await {
        Ok(call_id) => (StatusCode::CREATED, Json(json!({"call_id": call_id}))).into_response(),
        Err(error) => misuse(error),
    }
}

async fn read_calls(State(state): State<MicrosoftState>) -> Response {
    Json(state.calls()).into_response()
}

async fn read_media(State(state): State<MicrosoftState>, Path(call_id): Path<String>) -> Response {
    let Some(media) = state.call(&call_id).and_then(|c| c.media) else {
        return misuse(format!("no media for call {call_id}"));
    };
    let report = media.report();
    Json(json!({
        "codec": report.codec.map(|c| format!("{c:?}")),
        "dominant_frequency_hz": report.dominant_frequency(),
        "level_dbfs": report.level_dbfs(),
        "packets_sent": report.packets_sent,
        "packets_received": report.packets_received,
        "packets_lost": report.packets_lost,
        "auth_failures": report.auth_failures,
        "dtmf": report.dtmf_events,
        "first_audio_after_ms": report.first_audio_after.map(|d| d.as_millis()),
    }))
    .into_response()
}

async fn hang_up(State(state): State<MicrosoftState>, Path(call_id): Path<String>) -> Response {
    match state.hang_up(&call_id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => misuse(error),
    }
}

async fn hold(State(state): State<MicrosoftState>, Path(call_id): Path<String>) -> Response {
    match state.hold(&call_id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => misuse(error),
    }
}

#[derive(Deserialize)]
struct Unavailable {
    retry_after_secs: u32,
}

async fn set_unavailable(
    State(state): State<MicrosoftState>,
    Path(proxy): Path<String>,
    Json(body): Json<Unavailable>,
) -> Response {
    match state.set_proxy_unavailable(&proxy, Some(body.retry_after_secs)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => misuse(error),
    }
}

async fn clear_unavailable(
    State(state): State<MicrosoftState>,
    Path(proxy): Path<String>,
) -> Response {
    match state.set_proxy_unavailable(&proxy, None) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => misuse(error),
    }
}

async fn read_ca(State(state): State<MicrosoftState>) -> Response {
    (
        [("content-type", "application/x-pem-file")],
        state.inner.ca.pem().to_owned(),
    )
        .into_response()
}
