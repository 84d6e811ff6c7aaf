//! The shared `/_sandbox/clock` and `/_sandbox/faults` routes.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{FaultRule, Faults, SandboxClock};

#[derive(Clone)]
struct ControlState {
    clock: SandboxClock,
    faults: Faults,
}

/// The shared control routes, to be merged into a platform sandbox's router.
pub fn control_router(clock: SandboxClock, faults: Faults) -> Router {
    Router::new()
        .route("/_sandbox/clock", get(read_clock).post(set_clock))
        .route(
            "/_sandbox/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .with_state(ControlState { clock, faults })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    #[serde(default)]
    advance_secs: Option<u64>,
    #[serde(default)]
    freeze: Option<bool>,
}

async fn read_clock(State(state): State<ControlState>) -> Json<Value> {
    Json(clock_json(&state.clock))
}

async fn set_clock(
    State(state): State<ControlState>,
    Json(change): Json<ClockChange>,
) -> Json<Value> {
    match change.freeze {
        Some(true) => state.clock.freeze(),
        Some(false) => state.clock.resume(),
        None => {}
    }
    if let Some(secs) = change.advance_secs {
        state.clock.advance(Duration::from_secs(secs));
    }
    Json(clock_json(&state.clock))
}

fn clock_json(clock: &SandboxClock) -> Value {
    json!({ "unix": clock.unix(), "frozen": clock.is_frozen() })
}

async fn list_faults(State(state): State<ControlState>) -> Json<Vec<FaultRule>> {
    Json(state.faults.list())
}

async fn add_fault(State(state): State<ControlState>, Json(rule): Json<FaultRule>) -> StatusCode {
    state.faults.add(rule);
    StatusCode::CREATED
}

async fn clear_faults(State(state): State<ControlState>) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn advancing_a_frozen_clock_over_http() {
        let clock = SandboxClock::new();
        let app = control_router(clock.clone(), Faults::new());
        let before = clock.unix();
        let response = app
            .oneshot(
                Request::post("/_sandbox/clock")
                    .header("content-type", "application/json")
                    .body(Body::from(r#"{"freeze":true,"advance_secs":43200}"#))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                .unwrap();
        assert_eq!(body["frozen"], true);
        assert!(body["unix"].as_i64().unwrap() - before >= 43200);
    }
}
