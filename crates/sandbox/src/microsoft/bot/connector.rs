//! `{serviceUrl}/v3/conversations…` (§5.3) and the Bot Framework OpenID metadata (§5.2).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::BotMessage;
use crate::microsoft::state::{MicrosoftState, lock};

/// The resource the connector's tokens are for.
const BOT_AUDIENCE: &str = "https://api.botframework.com";

fn with_correlation(mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response
            .headers_mut()
            .insert("x-correlating-operationid", value);
    }
    response
}

/// A connector failure in the ErrorResponse shape `{"error":{"code","message"}}`.
#[derive(Debug, Clone, Copy)]
struct ConnectorError {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
}

impl IntoResponse for ConnectorError {
    fn into_response(self) -> Response {
        with_correlation(
            (
                self.status,
                Json(json!({"error": {"code": self.code, "message": self.message}})),
            )
                .into_response(),
        )
    }
}

fn error(status: StatusCode, code: &'static str, message: &'static str) -> ConnectorError {
    ConnectorError {
        status,
        code,
        message,
    }
}

fn ok(status: StatusCode, body: Value) -> Response {
    with_correlation((status, Json(body)).into_response())
}

/// `GET /v1/.well-known/openidconfiguration`.
pub(super) async fn openid_configuration(State(state): State<MicrosoftState>) -> Json<Value> {
    Json(json!({
        "issuer": "https://api.botframework.com",
        "authorization_endpoint": "https://invalid.botframework.com",
        "jwks_uri": format!("{}/v1/.well-known/keys", state.inner.base_url),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
}

/// `GET /v1/.well-known/keys`, each key endorsed for the `msteams` channel.
pub(super) async fn keys(State(state): State<MicrosoftState>) -> Json<Value> {
    Json(json!({"keys": [state.inner.bot_key.jwk(&json!({"endorsements": ["msteams"]}))]}))
}

/// The bot app id and tenant of a connector bearer token.
fn authenticate(
    state: &MicrosoftState,
    headers: &HeaderMap,
) -> Result<(String, String), ConnectorError> {
    let unauthorized = || {
        error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Authorization has been denied for this request.",
        )
    };
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let claims = state
        .inner
        .entra_key
        .verify(token, state.inner.clock.unix())
        .map_err(|_| unauthorized())?;
    if claims.get("aud").and_then(Value::as_str) != Some(BOT_AUDIENCE) {
        return Err(unauthorized());
    }
    let app = claims
        .get("appid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (tenant, _) = state.inner.directory.app(&app).ok_or_else(unauthorized)?;
    Ok((app, tenant.id.clone()))
}

fn parse(body: &[u8]) -> Result<Value, ConnectorError> {
    serde_json::from_slice(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "BadSyntax",
            "Invalid JSON in the request body.",
        )
    })
}

/// `POST /v3/conversations`: a personal conversation with one member.
pub(super) async fn create_conversation(
    State(state): State<MicrosoftState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<Response, ConnectorError> = (|| {
        let (app, tenant) = authenticate(&state, &headers)?;
        let body = parse(&body)?;
        let member = body
            .pointer("/members/0/id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "BadArgument",
                    "members[0].id is required.",
                )
            })?;
        let user_key = member.strip_prefix("29:").unwrap_or(member);
        let user = state
            .inner
            .directory
            .user_in(&tenant, user_key)
            .ok_or_else(|| {
                error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "The member is not in the tenant.",
                )
            })?;
        let id = lock(&state.inner.bot).conversation(&user.id, &app);
        Ok(ok(StatusCode::CREATED, json!({"id": id})))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

fn post_activity(
    state: &MicrosoftState,
    headers: &HeaderMap,
    conversation: &str,
    body: &[u8],
    reply_to: Option<&str>,
) -> Response {
    let result: Result<Response, ConnectorError> = (|| {
        let (app, tenant) = authenticate(state, headers)?;
        let mut activity = parse(body)?;
        let now = state.inner.clock.now_utc();
        let mut book = lock(&state.inner.bot);
        let (user, owner) = book
            .conversations
            .get(conversation)
            .cloned()
            .ok_or_else(|| {
                error(
                    StatusCode::NOT_FOUND,
                    "ConversationNotFound",
                    "Conversation not found.",
                )
            })?;
        if owner != app {
            return Err(error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The bot is not part of the conversation.",
            ));
        }
        if !book.rates.admit(conversation, &app, &tenant, now) {
            return Err(error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests. Retry after a while.",
            ));
        }
        let id = format!("1:{}", hex::encode(rand::random::<[u8; 12]>()));
        if let Some(parent) = reply_to {
            activity["replyToId"] = json!(parent);
        }
        book.messages.push(BotMessage {
            conversation_id: conversation.to_owned(),
            user_id: user,
            activity_id: id.clone(),
            activity,
            deleted: false,
        });
        Ok(ok(StatusCode::CREATED, json!({"id": id})))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /v3/conversations/{id}/activities`.
pub(super) async fn send_activity(
    State(state): State<MicrosoftState>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_activity(&state, &headers, &conversation, &body, None)
}

/// `POST /v3/conversations/{id}/activities/{activityId}` (reply).
pub(super) async fn reply_activity(
    State(state): State<MicrosoftState>,
    Path((conversation, activity)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_activity(&state, &headers, &conversation, &body, Some(&activity))
}

fn change_activity(
    state: &MicrosoftState,
    headers: &HeaderMap,
    conversation: &str,
    activity_id: &str,
    replacement: Option<Value>,
) -> Response {
    let result: Result<Response, ConnectorError> = (|| {
        authenticate(state, headers)?;
        let mut book = lock(&state.inner.bot);
        let message = book
            .messages
            .iter_mut()
            .find(|m| {
                m.conversation_id == conversation && m.activity_id == activity_id && !m.deleted
            })
            .ok_or_else(|| {
                error(
                    StatusCode::NOT_FOUND,
                    "ActivityNotFound",
                    "Activity not found.",
                )
            })?;
        match replacement {
            Some(activity) => message.activity = activity,
            None => message.deleted = true,
        }
        Ok(ok(StatusCode::OK, json!({"id": activity_id})))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `PUT /v3/conversations/{id}/activities/{activityId}` (update, e.g. a ringing card).
pub(super) async fn update_activity(
    State(state): State<MicrosoftState>,
    Path((conversation, activity)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match parse(&body) {
        Ok(replacement) => change_activity(
            &state,
            &headers,
            &conversation,
            &activity,
            Some(replacement),
        ),
        Err(error) => error.into_response(),
    }
}

/// `DELETE /v3/conversations/{id}/activities/{activityId}`.
pub(super) async fn delete_activity(
    State(state): State<MicrosoftState>,
    Path((conversation, activity)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    change_activity(&state, &headers, &conversation, &activity, None)
}

/// `GET /v3/conversations/{id}/members`.
pub(super) async fn members(
    State(state): State<MicrosoftState>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result: Result<Response, ConnectorError> = (|| {
        authenticate(&state, &headers)?;
        let (user_id, _) = lock(&state.inner.bot)
            .conversations
            .get(&conversation)
            .cloned()
            .ok_or_else(|| {
                error(
                    StatusCode::NOT_FOUND,
                    "ConversationNotFound",
                    "Conversation not found.",
                )
            })?;
        let (tenant, user) = state
            .inner
            .directory
            .user(&user_id)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "NotFound", "Member not found."))?;
        Ok(ok(
            StatusCode::OK,
            json!([{
                "id": format!("29:{}", user.id), "name": user.display_name, "aadObjectId": user.id,
                "email": user.mail, "userPrincipalName": user.upn, "tenantId": tenant.id,
            }]),
        ))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}
