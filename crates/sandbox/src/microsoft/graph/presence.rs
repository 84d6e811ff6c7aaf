//! Presence routes (§3.2–§3.7): read one, read a batch, and the app/user writes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::auth::{Caller, authenticate};
use super::duration::parse_iso8601;
use super::error::GraphError;
use super::presence_model::{
    PREFERRED_PAIRS, PresenceState, PresenceWriteError, SET_PRESENCE_PAIRS, StatusMessage,
};
use crate::microsoft::state::{MicrosoftState, lock};

/// Most ids one `getPresencesByUserId` call may name (§3.3).
const MAX_BATCH_IDS: usize = 650;

const READ: [&str; 3] = [
    "Presence.Read.All",
    "Presence.ReadWrite.All",
    "Presence.Read",
];
const WRITE: [&str; 2] = ["Presence.ReadWrite.All", "Presence.ReadWrite"];

fn respond(state: &MicrosoftState, result: Result<Response, GraphError>) -> Response {
    result.unwrap_or_else(|error| error.into_response_at(state.inner.clock.now_utc()))
}

/// Authenticates and charges the caller's presence budget.
fn presence_caller(state: &MicrosoftState, headers: &HeaderMap) -> Result<Caller, GraphError> {
    let caller = authenticate(state, headers)?;
    let now = state.inner.clock.now_utc();
    lock(&state.inner.throttle)
        .admit(
            &caller.tenant_id,
            &caller.app_id,
            now,
            state.inner.tunables.presence_budget,
        )
        .map_err(GraphError::throttled)?;
    Ok(caller)
}

/// The user must be a GUID of the caller's tenant.
fn tenant_user(state: &MicrosoftState, caller: &Caller, id: &str) -> Result<String, GraphError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(GraphError::bad_request(format!(
            "The provided id '{id}' is not a valid user object id; presence requires the user's GUID."
        )));
    }
    state
        .inner
        .directory
        .user_in(&caller.tenant_id, id)
        .map(|u| u.id.clone())
        .ok_or_else(|| GraphError::not_found(format!("User '{id}' was not found.")))
}

fn presence_json(state: &MicrosoftState, id: &str) -> Result<Value, GraphError> {
    let now = state.inner.clock.now_utc();
    lock(&state.inner.presence)
        .resource(id, now)
        .ok_or_else(|| GraphError::not_found(format!("User '{id}' was not found.")))
}

/// `GET /v1.0/users/{id}/presence` and `GET /v1.0/communications/presences/{id}`.
pub(super) async fn get_presence(
    State(state): State<MicrosoftState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let caller = presence_caller(&state, &headers)?;
        caller.require(&READ[..2])?;
        let id = tenant_user(&state, &caller, &id)?;
        let mut body = presence_json(&state, &id)?;
        body["@odata.context"] = json!(format!(
            "https://graph.microsoft.com/v1.0/$metadata#users('{id}')/presence/$entity"
        ));
        Ok(Json(body).into_response())
    })();
    respond(&state, result)
}

/// `GET /v1.0/me/presence` (delegated `Presence.Read`).
pub(super) async fn get_my_presence(
    State(state): State<MicrosoftState>,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let caller = presence_caller(&state, &headers)?;
        caller.require(&READ)?;
        let id = caller.user_id.ok_or_else(|| {
            GraphError::bad_request("/me request is only valid with delegated authentication flow.")
        })?;
        let mut body = presence_json(&state, &id)?;
        body["@odata.context"] =
            json!("https://graph.microsoft.com/v1.0/$metadata#users('me')/presence/$entity");
        Ok(Json(body).into_response())
    })();
    respond(&state, result)
}

fn json_body(body: &[u8]) -> Result<Value, GraphError> {
    serde_json::from_slice(body).map_err(|_| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid request body.",
        )
    })
}

/// `POST /v1.0/communications/getPresencesByUserId`.
pub(super) async fn get_presences_by_user_id(
    State(state): State<MicrosoftState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let caller = presence_caller(&state, &headers)?;
        caller.require(&READ[..2])?;
        let body = json_body(&body)?;
        let ids = body
            .get("ids")
            .and_then(Value::as_array)
            .ok_or_else(|| GraphError::bad_request("The 'ids' parameter is required."))?;
        if ids.len() > MAX_BATCH_IDS {
            return Err(GraphError::bad_request(format!(
                "The number of ids ({}) exceeds the maximum of {MAX_BATCH_IDS}.",
                ids.len()
            )));
        }
        let mut value = Vec::new();
        for id in ids {
            let id = id
                .as_str()
                .ok_or_else(|| GraphError::bad_request("Every id must be a string."))?;
            // Ids that are GUIDs of no user in the tenant are left out of the answer.
            match tenant_user(&state, &caller, id) {
                Ok(id) => value.push(presence_json(&state, &id)?),
                Err(error) if error.status == StatusCode::NOT_FOUND => {}
                Err(error) => return Err(error),
            }
        }
        Ok(Json(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.presence)",
            "value": value,
        }))
        .into_response())
    })();
    respond(&state, result)
}

/// `POST /v1.0/users/{id}/presence/{action}`.
pub(super) async fn presence_action(
    State(state): State<MicrosoftState>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let caller = presence_caller(&state, &headers)?;
        caller.require(&WRITE)?;
        let id = tenant_user(&state, &caller, &id)?;
        if caller
            .user_id
            .as_ref()
            .is_some_and(|me| !me.eq_ignore_ascii_case(&id))
        {
            // Delegated writes only reach the signed-in user (§8.5).
            return Err(GraphError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Cannot set the presence of another user.",
            ));
        }
        let body = json_body(&body)?;
        let now = state.inner.clock.now_utc();
        let outcome = match action.as_str() {
            "setPresence" => set_presence(&state, &caller, &id, &body, now),
            "clearPresence" => clear_presence(&state, &caller, &id, &body, now),
            "setUserPreferredPresence" => set_preferred(&state, &id, &body, now),
            "clearUserPreferredPresence" => lock(&state.inner.presence)
                .clear_preferred(&id)
                .map_err(write_error),
            "setStatusMessage" => set_status(&state, &id, &body, now),
            _ => {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("Resource not found for the segment '{action}'."),
                ));
            }
        };
        outcome?;
        crate::microsoft::graph::notify::presence_changed(&state);
        Ok(StatusCode::OK.into_response())
    })();
    respond(&state, result)
}

fn write_error(error: PresenceWriteError) -> GraphError {
    match error {
        PresenceWriteError::UnknownUser => GraphError::not_found("User was not found."),
        PresenceWriteError::NoSuchSession => {
            GraphError::not_found("The presence session was not found.")
        }
    }
}

fn text<'a>(body: &'a Value, name: &str) -> Result<&'a str, GraphError> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request(format!("The '{name}' parameter is required.")))
}

fn set_presence(
    state: &MicrosoftState,
    caller: &Caller,
    id: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<(), GraphError> {
    let session_id = text(body, "sessionId")?;
    if !session_id.eq_ignore_ascii_case(&caller.app_id) {
        return Err(GraphError::bad_request(
            "The sessionId must be the application id of the caller.",
        ));
    }
    let availability = text(body, "availability")?;
    let activity = text(body, "activity")?;
    if !SET_PRESENCE_PAIRS
        .iter()
        .any(|(a, b)| a.eq_ignore_ascii_case(availability) && b.eq_ignore_ascii_case(activity))
    {
        return Err(GraphError::bad_request(format!(
            "The availability '{availability}' and activity '{activity}' combination is not supported."
        )));
    }
    let duration = match body.get("expirationDuration").and_then(Value::as_str) {
        Some(text) => parse_iso8601(text).ok_or_else(|| {
            GraphError::bad_request("expirationDuration is not an ISO-8601 duration.")
        })?,
        None => Duration::minutes(5),
    };
    if duration < Duration::minutes(5) || duration > Duration::hours(4) {
        return Err(GraphError::bad_request(
            "expirationDuration must be between PT5M and PT4H.",
        ));
    }
    let canonical = SET_PRESENCE_PAIRS
        .iter()
        .find(|(a, b)| a.eq_ignore_ascii_case(availability) && b.eq_ignore_ascii_case(activity))
        .map(|(a, b)| PresenceState::new(a, b))
        .unwrap_or_else(|| PresenceState::new(availability, activity));
    lock(&state.inner.presence)
        .set_app_session(id, session_id, canonical, duration, now)
        .map_err(write_error)
}

fn clear_presence(
    state: &MicrosoftState,
    caller: &Caller,
    id: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<(), GraphError> {
    let session_id = text(body, "sessionId")?;
    if !session_id.eq_ignore_ascii_case(&caller.app_id) {
        return Err(GraphError::bad_request(
            "The sessionId must be the application id of the caller.",
        ));
    }
    lock(&state.inner.presence)
        .clear_app_session(id, session_id, now)
        .map_err(write_error)
}

fn set_preferred(
    state: &MicrosoftState,
    id: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<(), GraphError> {
    let availability = text(body, "availability")?;
    let activity = text(body, "activity")?;
    let (availability, activity) = PREFERRED_PAIRS
        .iter()
        .find(|(a, b)| a.eq_ignore_ascii_case(availability) && b.eq_ignore_ascii_case(activity))
        .ok_or_else(|| {
            GraphError::bad_request(format!(
                "The availability '{availability}' and activity '{activity}' combination is not supported."
            ))
        })?;
    let duration = match body.get("expirationDuration").and_then(Value::as_str) {
        Some(text) => parse_iso8601(text).ok_or_else(|| {
            GraphError::bad_request("expirationDuration is not an ISO-8601 duration.")
        })?,
        // §3.6: one day for DoNotDisturb and Busy, seven days otherwise.
        None if matches!(*availability, "DoNotDisturb" | "Busy") => Duration::days(1),
        None => Duration::days(7),
    };
    lock(&state.inner.presence)
        .set_preferred(
            id,
            PresenceState::new(availability, activity),
            now + duration,
        )
        .map_err(write_error)
}

fn set_status(
    state: &MicrosoftState,
    id: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<(), GraphError> {
    let status = body
        .get("statusMessage")
        .filter(|v| v.is_object())
        .ok_or_else(|| GraphError::bad_request("The 'statusMessage' parameter is required."))?;
    let content = status
        .pointer("/message/content")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(kind) = status
        .pointer("/message/contentType")
        .and_then(Value::as_str)
        && !kind.eq_ignore_ascii_case("text")
    {
        return Err(GraphError::bad_request(
            "Only contentType 'text' is supported.",
        ));
    }
    let expiry = status.get("expiryDateTime").filter(|v| !v.is_null());
    let expires_at = match expiry {
        Some(expiry) => Some(parse_date_time_time_zone(expiry)?),
        None => None,
    };
    let message = (!content.is_empty()).then(|| StatusMessage {
        content: content.to_owned(),
        expires_at,
        expiry_json: expiry.cloned().unwrap_or(Value::Null),
        published_at: now,
    });
    lock(&state.inner.presence)
        .set_status(id, message)
        .map_err(write_error)
}

/// A Graph `dateTimeTimeZone`; only UTC zones are understood here.
fn parse_date_time_time_zone(value: &Value) -> Result<DateTime<Utc>, GraphError> {
    let text = value
        .get("dateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("expiryDateTime.dateTime is required."))?;
    let zone = value
        .get("timeZone")
        .and_then(Value::as_str)
        .unwrap_or("UTC");
    if !matches!(zone, "UTC" | "Etc/UTC" | "Coordinated Universal Time") {
        return Err(GraphError::bad_request(format!(
            "The sandbox understands only UTC expiry time zones, not '{zone}'."
        )));
    }
    let trimmed = text.trim_end_matches('Z');
    NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|naive| naive.and_utc())
        .map_err(|_| GraphError::bad_request(format!("'{text}' is not a valid dateTime.")))
}
