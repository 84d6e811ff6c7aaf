//! `/v1.0/subscriptions` for presence (reference `teams-graph.md` §4.1–§4.2): delegated-only
//! creation with the validation handshake, expiry clamped to 45–60 minutes, one subscription per
//! user per app, PATCH renewal, DELETE, GET and reauthorize.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::auth::{Caller, authenticate};
use super::error::GraphError;
use super::notify::{self, EndpointStats};
use super::resource::presence_ids;
use super::rich::EncryptionCertificate;
use crate::microsoft::state::{MicrosoftState, lock};

/// Longest presence subscription lifetime (§4.1).
const MAX_LIFETIME_MINUTES: i64 = 60;
/// Requested expiries closer than this are raised to it (§4.1).
const MIN_LIFETIME_MINUTES: i64 = 45;

/// One presence subscription.
#[derive(Clone, Debug)]
pub(crate) struct Subscription {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) app_id: String,
    pub(crate) creator_id: String,
    pub(crate) resource: String,
    pub(crate) user_ids: Vec<String>,
    pub(crate) notification_url: String,
    pub(crate) lifecycle_url: Option<String>,
    pub(crate) client_state: Option<String>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) certificate: Option<EncryptionCertificate>,
    pub(crate) latest_tls: String,
    /// Set by a `reauthorizationRequired` event; delivery pauses until reauthorized.
    pub(crate) paused: bool,
    /// Whether the pre-expiry `reauthorizationRequired` was already sent.
    pub(crate) expiry_warned: bool,
}

impl Subscription {
    pub(crate) fn json(&self) -> Value {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": "updated",
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": null,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": graph_time(self.expires_at),
            "creatorId": self.creator_id,
            "includeResourceData": self.certificate.is_some(),
            "latestSupportedTlsVersion": self.latest_tls,
            "encryptionCertificate": self.certificate.as_ref().map(|c| c.base64.clone()),
            "encryptionCertificateId": self.certificate.as_ref().map(|c| c.id.clone()),
            "notificationUrlAppId": null,
        })
    }
}

/// Graph's timestamp format.
pub(crate) fn graph_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What became of one notification POST, for tests to read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// Accepted with 2xx after this many attempts.
    Delivered {
        /// Attempts made, the successful one included.
        attempts: u32,
    },
    /// Given up on.
    Dropped {
        /// Why: `endpoint_too_slow` or `retry_window_elapsed`.
        reason: String,
    },
}

/// A notification POST and its outcome.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeliveryRecord {
    /// The subscription it belonged to.
    pub subscription_id: String,
    /// Where it was posted.
    pub url: String,
    /// `change` or a lifecycle event name.
    pub kind: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: DeliveryOutcome,
}

/// Every subscription plus delivery bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionBook {
    pub(crate) subscriptions: HashMap<String, Subscription>,
    /// The last aggregate notified per user, to detect changes (fades included).
    pub(crate) last_notified: HashMap<String, (String, String)>,
    pub(crate) endpoint_stats: HashMap<String, EndpointStats>,
    pub(crate) deliveries: Vec<DeliveryRecord>,
}

impl SubscriptionBook {
    /// Drops expired subscriptions.
    pub(crate) fn sweep(&mut self, now: DateTime<Utc>) {
        self.subscriptions.retain(|_, s| s.expires_at > now);
    }
}

fn respond(state: &MicrosoftState, result: Result<Response, GraphError>) -> Response {
    result.unwrap_or_else(|error| error.into_response_at(state.inner.clock.now_utc()))
}

fn extension_error(status: StatusCode, reason: &str) -> GraphError {
    GraphError::new(
        status,
        "ExtensionError",
        format!("Operation: Create; Exception: [Status Code: {status}; Reason: {reason}]"),
    )
}

/// Clamps a requested expiry to the documented 45–60 minutes (§4.1).
fn clamp_expiry(requested: &Value, now: DateTime<Utc>) -> Result<DateTime<Utc>, GraphError> {
    let text = requested
        .as_str()
        .ok_or_else(|| GraphError::bad_request("expirationDateTime is required."))?;
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|_| {
            GraphError::bad_request(format!("'{text}' is not a valid expirationDateTime."))
        })?
        .with_timezone(&Utc);
    if at <= now {
        return Err(GraphError::bad_request(
            "Subscription expiration must be in the future.",
        ));
    }
    if at > now + Duration::minutes(MAX_LIFETIME_MINUTES) {
        return Err(GraphError::bad_request(format!(
            "Subscription expiration can only be {MAX_LIFETIME_MINUTES} minutes in the future."
        )));
    }
    Ok(at.max(now + Duration::minutes(MIN_LIFETIME_MINUTES)))
}

fn delegated(caller: &Caller) -> Result<String, GraphError> {
    let user = caller.user_id.clone().ok_or_else(|| {
        extension_error(
            StatusCode::FORBIDDEN,
            "Presence subscriptions support only delegated permissions; application permissions are not supported.",
        )
    })?;
    caller.require(&["Presence.Read.All", "Presence.ReadWrite.All"])?;
    Ok(user)
}

/// `POST /v1.0/subscriptions`.
pub(super) async fn create(
    State(state): State<MicrosoftState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = create_inner(&state, &headers, &body).await;
    respond(&state, result)
}

async fn create_inner(
    state: &MicrosoftState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GraphError> {
    let caller = authenticate(state, headers)?;
    let creator = delegated(&caller)?;
    let body: Value = serde_json::from_slice(body).map_err(|_| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid request body.",
        )
    })?;
    let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    if field("changeType").as_deref() != Some("updated") {
        return Err(GraphError::bad_request(
            "Presence subscriptions support only changeType 'updated'.",
        ));
    }
    let notification_url = field("notificationUrl")
        .ok_or_else(|| GraphError::bad_request("notificationUrl is required."))?;
    check_url(&notification_url)?;
    let lifecycle_url = field("lifecycleNotificationUrl");
    if let Some(url) = &lifecycle_url {
        check_url(url)?;
    }
    let resource =
        field("resource").ok_or_else(|| GraphError::bad_request("resource is required."))?;
    let user_ids = presence_ids(&resource).map_err(GraphError::bad_request)?;
    for id in &user_ids {
        if state
            .inner
            .directory
            .user_in(&caller.tenant_id, id)
            .is_none()
        {
            return Err(GraphError::bad_request(format!(
                "User '{id}' was not found in the tenant."
            )));
        }
    }
    let now = state.inner.clock.now_utc();
    let expires_at = clamp_expiry(body.get("expirationDateTime").unwrap_or(&Value::Null), now)?;
    let client_state = field("clientState");
    if client_state.as_ref().is_some_and(|c| c.len() > 128) {
        return Err(GraphError::bad_request(
            "clientState must be at most 128 characters.",
        ));
    }
    let certificate = if body.get("includeResourceData").and_then(Value::as_bool) == Some(true) {
        let cert = field("encryptionCertificate").ok_or_else(|| {
            GraphError::bad_request(
                "encryptionCertificate is required when includeResourceData is true.",
            )
        })?;
        let id = field("encryptionCertificateId").unwrap_or_default();
        Some(EncryptionCertificate::parse(&cert, &id).map_err(GraphError::bad_request)?)
    } else {
        None
    };
    let duplicate = {
        let mut book = lock(&state.inner.subscriptions);
        book.sweep(now);
        book.subscriptions
            .values()
            .any(|s| s.creator_id.eq_ignore_ascii_case(&creator) && s.app_id == caller.app_id)
    };
    if duplicate {
        return Err(extension_error(
            StatusCode::FORBIDDEN,
            "A user may hold only one presence subscription per application.",
        ));
    }
    notify::validate_endpoint(state, &notification_url).await?;
    if let Some(url) = &lifecycle_url {
        notify::validate_endpoint(state, url).await?;
    }
    // Establish the baseline so the first notification is a real change.
    notify::presence_changed(state);
    let subscription = Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: caller.tenant_id.clone(),
        app_id: caller.app_id.clone(),
        creator_id: creator,
        resource,
        user_ids,
        notification_url,
        lifecycle_url,
        client_state,
        expires_at,
        certificate,
        latest_tls: field("latestSupportedTlsVersion").unwrap_or_else(|| "v1_2".to_owned()),
        paused: false,
        expiry_warned: false,
    };
    let body = subscription.json();
    lock(&state.inner.subscriptions)
        .subscriptions
        .insert(subscription.id.clone(), subscription);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn check_url(url: &str) -> Result<(), GraphError> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => Ok(()),
        _ => Err(GraphError::bad_request(format!(
            "'{url}' is not a valid notification URL."
        ))),
    }
}

/// The caller's own, unexpired subscription `id`.
fn owned(state: &MicrosoftState, caller: &Caller, id: &str) -> Result<Subscription, GraphError> {
    let now = state.inner.clock.now_utc();
    let mut book = lock(&state.inner.subscriptions);
    book.sweep(now);
    book.subscriptions
        .get(id)
        .filter(|s| s.app_id == caller.app_id && s.tenant_id == caller.tenant_id)
        .cloned()
        .ok_or_else(|| {
            GraphError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                format!("The object was not found. Subscription '{id}' does not exist."),
            )
        })
}

/// `GET /v1.0/subscriptions`.
pub(super) async fn list(State(state): State<MicrosoftState>, headers: HeaderMap) -> Response {
    let result = (|| {
        let caller = authenticate(&state, &headers)?;
        let now = state.inner.clock.now_utc();
        let mut book = lock(&state.inner.subscriptions);
        book.sweep(now);
        let value: Vec<Value> = book
            .subscriptions
            .values()
            .filter(|s| s.app_id == caller.app_id && s.tenant_id == caller.tenant_id)
            .map(Subscription::json)
            .collect();
        Ok(Json(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions",
            "value": value,
        }))
        .into_response())
    })();
    respond(&state, result)
}

/// `GET /v1.0/subscriptions/{id}`.
pub(super) async fn get_one(
    State(state): State<MicrosoftState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let caller = authenticate(&state, &headers)?;
        Ok(Json(owned(&state, &caller, &id)?.json()).into_response())
    })();
    respond(&state, result)
}

/// `PATCH /v1.0/subscriptions/{id}`: renew (and resume a paused subscription).
pub(super) async fn renew(
    State(state): State<MicrosoftState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let caller = authenticate(&state, &headers)?;
        owned(&state, &caller, &id)?;
        let body: Value = serde_json::from_slice(&body).map_err(|_| {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Invalid request body.",
            )
        })?;
        let now = state.inner.clock.now_utc();
        let expires_at = clamp_expiry(body.get("expirationDateTime").unwrap_or(&Value::Null), now)?;
        if body.get("lifecycleNotificationUrl").is_some() {
            return Err(GraphError::bad_request(
                "lifecycleNotificationUrl cannot be added or changed after creation.",
            ));
        }
        let mut book = lock(&state.inner.subscriptions);
        let subscription = book
            .subscriptions
            .get_mut(&id)
            .ok_or_else(|| GraphError::not_found("Subscription not found."))?;
        subscription.expires_at = expires_at;
        subscription.paused = false;
        subscription.expiry_warned = false;
        if let Some(url) = body.get("notificationUrl").and_then(Value::as_str) {
            check_url(url)?;
            url.clone_into(&mut subscription.notification_url);
        }
        Ok(Json(subscription.json()).into_response())
    })();
    respond(&state, result)
}

/// `DELETE /v1.0/subscriptions/{id}`.
pub(super) async fn delete(
    State(state): State<MicrosoftState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let caller = authenticate(&state, &headers)?;
        owned(&state, &caller, &id)?;
        lock(&state.inner.subscriptions).subscriptions.remove(&id);
        Ok(StatusCode::NO_CONTENT.into_response())
    })();
    respond(&state, result)
}

/// `POST /v1.0/subscriptions/{id}/reauthorize`: resumes delivery without extending expiry.
pub(super) async fn reauthorize(
    State(state): State<MicrosoftState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let caller = authenticate(&state, &headers)?;
        delegated(&caller)?;
        owned(&state, &caller, &id)?;
        if let Some(subscription) = lock(&state.inner.subscriptions).subscriptions.get_mut(&id) {
            subscription.paused = false;
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })();
    respond(&state, result)
}
