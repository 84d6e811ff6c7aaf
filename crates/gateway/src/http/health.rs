//! Liveness, readiness and the status page.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// Longest a readiness probe waits for the database.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is alive and serving.
pub(crate) async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })).into_response()
}

/// `GET /readyz`: whether this node should receive traffic: not while draining, not while the
/// database is unreachable.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let mut reasons = Vec::new();
    if state.is_draining() {
        reasons.push("draining");
    }
    match tokio::time::timeout(STORE_PROBE_TIMEOUT, state.store().ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: store unreachable");
            reasons.push("store_unreachable");
        }
        Err(_) => reasons.push("store_unreachable"),
    }
    let ready = reasons.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({ "ready": ready, "reasons": reasons })),
    )
        .into_response()
}

/// `GET /`: a small page telling an operator what this node serves.
pub(crate) async fn index() -> Html<&'static str> {
    Html(include_str!("index.html"))
}
