//! The Teams half of the scenario control API, under `/_sandbox/teams/` (act as a Teams user,
//! read what Teams shows).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::graph::PresenceState;
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
