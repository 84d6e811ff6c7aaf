//! The one place errors become HTTP responses.
//!
//! Handlers return [`ApiError`]. Its response carries a stable JSON body (`code`, `message`,
//! `request_id`) and never internal text; the internal detail travels in a response extension
//! that the [`render_errors`] middleware logs once, inside the request's span. The same
//! middleware gives responses produced outside handlers (unknown route, wrong method, body too
//! large, timeout, panic) the same JSON shape.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use callbridge_adapter::{AdapterError, Fault};
use callbridge_store::StoreError;
use serde_json::json;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed (bad JSON, a field that does not parse).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Credentials are missing or wrong.
    #[error("unauthorized")]
    Unauthorized,
    /// No such resource.
    #[error("not found")]
    NotFound,
    /// The request conflicts with stored state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The body is larger than `server.max_body_bytes`.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body's content type is not the one the route takes.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// A dependency (the database) is down; the client may retry.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the middleware needs to render and log an [`ApiError`] response.
#[derive(Clone, Debug)]
struct ErrorReport {
    /// Sent to the client.
    message: String,
    /// Logged, never sent.
    detail: String,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message the client sees: its own input described, or a generic sentence.
    fn public_message(&self) -> String {
        match self {
            Self::BadRequest(reason) | Self::Conflict(reason) => reason.clone(),
            Self::Unauthorized => "missing or invalid credentials".to_owned(),
            Self::NotFound => "no such resource".to_owned(),
            Self::PayloadTooLarge => "request body too large".to_owned(),
            Self::UnsupportedMediaType => "unsupported content type".to_owned(),
            Self::Unavailable(_) => "temporarily unavailable, retry later".to_owned(),
            Self::Internal(_) => "internal error".to_owned(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(reason) => Self::Conflict(reason.to_owned()),
            error if error.is_retryable() => Self::Unavailable(error.to_string()),
            error => Self::Internal(error.to_string()),
        }
    }
}

impl From<AdapterError> for ApiError {
    fn from(error: AdapterError) -> Self {
        match error.fault() {
            // The platform's request failed verification: say so without saying why in detail.
            Fault::Sender => match error {
                AdapterError::Unauthenticated(_) => Self::Unauthorized,
                error => Self::BadRequest(error.to_string()),
            },
            Fault::Unavailable => Self::Unavailable(error.to_string()),
            Fault::Platform | Fault::Misbehaved | Fault::Operator | Fault::Bug => {
                Self::Internal(error.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is written by `render_errors`, which also knows the request id.
        let mut response = self.status().into_response();
        response.extensions_mut().insert(ErrorReport {
            message: self.public_message(),
            detail: self.to_string(),
        });
        response
    }
}

/// The stable error shape (see `schemas/api/error.schema.json`).
fn error_body(status: StatusCode, message: &str, request_id: Option<&str>) -> Response {
    let code = status
        .canonical_reason()
        .unwrap_or("error")
        .to_lowercase()
        .replace(' ', "_");
    let mut body = json!({ "error": { "code": code, "message": message } });
    if let Some(id) = request_id {
        body["error"]["request_id"] = json!(id);
    }
    (status, axum::Json(body)).into_response()
}

/// The message for error responses produced outside handlers.
fn default_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "no such resource",
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this resource",
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large",
        StatusCode::REQUEST_TIMEOUT => "request took too long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported content type",
        status if status.is_server_error() => "internal error",
        _ => "request refused",
    }
}

/// Middleware: logs each error once with its internal detail and gives every error response the
/// JSON shape with the request id.
pub(crate) async fn render_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    // The join page answers people, not API clients: its error pages and plain-text WHIP
    // refusals are its own, and stay as they are.
    let human_facing = request.uri().path().starts_with(crate::join::PATH_PREFIX);
    let response = next.run(request).await;
    if human_facing {
        return response;
    }
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let report = response.extensions().get::<ErrorReport>().cloned();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if report.is_none() && is_json {
        // A handler answered with its own JSON error body (a platform-shaped reply): keep it.
        return response;
    }
    let detail = report
        .as_ref()
        .map_or("produced outside a handler", |r| r.detail.as_str());
    if status.is_server_error() {
        tracing::error!(%status, error = %detail, "request failed");
    } else {
        tracing::debug!(%status, error = %detail, "request refused");
    }
    metrics::counter!("http_errors_total", "status" => status.as_u16().to_string()).increment(1);
    let message = report
        .as_ref()
        .map_or(default_message(status), |r| r.message.as_str());
    let mut rebuilt = error_body(status, message, request_id.as_deref());
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = response.headers().get(&name) {
            rebuilt.headers_mut().insert(name, value.clone());
        }
    }
    rebuilt
}

/// Turns a panic inside a handler into a plain 500; [`render_errors`] gives it the JSON shape.
pub(crate) fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}
