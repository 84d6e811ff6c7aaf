//! Injected faults answered in the error shape of the service the path belongs to: AADSTS JSON
//! for Entra, Graph's `error`/`innerError` JSON for Graph, the Bot Connector's ErrorResponse for
//! `/v3/`. An adapter's error handling is then tested against what Microsoft really sends.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::graph::GraphError;
use crate::control::{FaultRenderer, SandboxClock};

/// The renderer for every route of the Microsoft sandbox.
pub(crate) fn renderer(clock: SandboxClock) -> FaultRenderer {
    Arc::new(move |path: &str, status: StatusCode| {
        if path.contains("/oauth2/") {
            entra(status, &clock)
        } else if path.starts_with("/v3/") {
            connector(status)
        } else {
            graph(status, &clock)
        }
    })
}

fn entra(status: StatusCode, clock: &SandboxClock) -> Response {
    let timestamp = clock.now_utc().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = json!({
        "error": "temporarily_unavailable",
        "error_description": format!("The service is temporarily unavailable.\r\nTimestamp: {timestamp}"),
        "error_codes": [],
        "timestamp": timestamp,
        "trace_id": uuid::Uuid::new_v4(),
        "correlation_id": uuid::Uuid::new_v4(),
    });
    (status, Json(body)).into_response()
}

fn connector(status: StatusCode) -> Response {
    let code = if status == StatusCode::TOO_MANY_REQUESTS {
        "TooManyRequests"
    } else {
        "ServiceError"
    };
    let body =
        json!({"error": {"code": code, "message": "The service is temporarily unavailable."}});
    (status, Json(body)).into_response()
}

fn graph(status: StatusCode, clock: &SandboxClock) -> Response {
    let error = match status {
        StatusCode::TOO_MANY_REQUESTS => GraphError::throttled(1.0),
        StatusCode::SERVICE_UNAVAILABLE => GraphError::new(
            status,
            "serviceNotAvailable",
            "The service is temporarily unavailable.",
        ),
        StatusCode::GATEWAY_TIMEOUT => {
            GraphError::new(status, "timeout", "The operation timed out.")
        }
        _ => GraphError::new(
            status,
            "generalException",
            "An unspecified error has occurred.",
        ),
    };
    error.into_response_at(clock.now_utc())
}
