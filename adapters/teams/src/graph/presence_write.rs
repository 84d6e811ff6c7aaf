//! Writing presence to Teams (reference `teams-graph.md` §3.4, §3.5, §3.7): `setPresence` on
//! callbridge's app session (the session id is the app's client id), `clearPresence` when
//! there is nothing to show, and `setStatusMessage` for the status line. Every call draws on
//! the tenant's presence budget; 429 and `Retry-After` are handled by the client layer.

use callbridge_adapter::{AdapterError, Secret};
use callbridge_model::{AadObjectId, Presence};
use chrono::{DateTime, Utc};
use http::StatusCode;
use reqwest::Method;
use serde_json::json;

use super::http::{GraphHttp, PRESENCE_BUDGET};
use super::presence::SessionState;
use crate::config::TeamsConfig;

/// `POST /users/{id}/presence/setPresence` with an allowed pair.
pub(crate) async fn set_session(
    http: &GraphHttp,
    config: &TeamsConfig,
    token: &Secret,
    user: AadObjectId,
    state: SessionState,
    expiration: &str,
) -> Result<(), AdapterError> {
    let (availability, activity) = state.pair();
    let body = json!({
        "sessionId": config.client_id,
        "availability": availability,
        "activity": activity,
        "expirationDuration": expiration,
    });
    let url = config.graph_url(&format!("/users/{user}/presence/setPresence"))?;
    // Re-sending the same state is harmless, so 5xx may be retried.
    http.send(
        PRESENCE_BUDGET,
        Method::POST,
        url,
        token.expose(),
        Some(&body),
        true,
    )
    .await?
    .success("setPresence")
}

/// `POST /users/{id}/presence/clearPresence`; a missing session (404) is already clear.
pub(crate) async fn clear_session(
    http: &GraphHttp,
    config: &TeamsConfig,
    token: &Secret,
    user: AadObjectId,
) -> Result<(), AdapterError> {
    let body = json!({ "sessionId": config.client_id });
    let url = config.graph_url(&format!("/users/{user}/presence/clearPresence"))?;
    let reply = http
        .send(
            PRESENCE_BUDGET,
            Method::POST,
            url,
            token.expose(),
            Some(&body),
            true,
        )
        .await?;
    if reply.status == StatusCode::NOT_FOUND {
        return Ok(());
    }
    reply.success("clearPresence")
}

/// `POST /users/{id}/presence/setStatusMessage`; an empty text clears the line.
pub(crate) async fn set_status_message(
    http: &GraphHttp,
    config: &TeamsConfig,
    token: &Secret,
    user: AadObjectId,
    text: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(), AdapterError> {
    let mut status = json!({ "message": { "content": text, "contentType": "text" } });
    if let Some(at) = expires_at {
        // Graph's dateTimeTimeZone: no offset in the text, the zone named beside it.
        status["expiryDateTime"] = json!({
            "dateTime": at.format("%Y-%m-%dT%H:%M:%S").to_string(),
            "timeZone": "UTC",
        });
    }
    let body = json!({ "statusMessage": status });
    let url = config.graph_url(&format!("/users/{user}/presence/setStatusMessage"))?;
    http.send(
        PRESENCE_BUDGET,
        Method::POST,
        url,
        token.expose(),
        Some(&body),
        true,
    )
    .await?
    .success("setStatusMessage")
}

/// The status line to write for `presence`: its text, or empty to clear ours.
pub(crate) fn status_text(presence: &Presence) -> &str {
    presence
        .status_text
        .as_ref()
        .map_or("", |text| text.as_str())
}
