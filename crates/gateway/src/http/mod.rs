//! The HTTP edge: one router built by [`app`], testable without a socket.
//!
//! Layers, outermost first: request id (set, then propagated to the response), tracing span per
//! request, error rendering (one JSON shape, logged once), metrics, panic catching, timeout and
//! body limit.

mod admin;
pub(crate) mod error;
mod health;
mod inbound;
mod json;
pub mod metrics;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::state::AppState;

/// Limits the edge enforces on every request.
#[derive(Clone, Copy, Debug)]
pub struct EdgeLimits {
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Largest body accepted.
    pub max_body_bytes: usize,
}

/// The gateway's router with every layer applied.
pub fn app(state: AppState, limits: EdgeLimits) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let join = state
        .calls()
        .map_or_else(Router::new, |calls| crate::join::routes(calls.join_page()));
    Router::new()
        .route("/", get(health::index))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .merge(admin::routes(state.clone()))
        .merge(inbound::routes(&state))
        .merge(join)
        .fallback(|| async { ApiError::NotFound })
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(axum::middleware::from_fn(error::render_errors))
                .layer(axum::middleware::from_fn(metrics::track))
                .layer(CatchPanicLayer::custom(error::panic_response))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    limits.request_timeout,
                ))
                .layer(DefaultBodyLimit::max(limits.max_body_bytes)),
        )
        .with_state(state)
}

/// One span per request: method, path (never the query, which may carry signatures) and id.
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // A join link's path is its credential: log only that it was one.
    let path = request.uri().path();
    let path = if path.starts_with("/join/") && !path.starts_with("/join/assets/") {
        "/join/…"
    } else {
        path
    };
    tracing::info_span!(
        "http",
        method = %request.method(),
        path = %path,
        request_id = %request_id,
    )
}
