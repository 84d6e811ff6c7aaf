//! The platforms' inbound path through the real router and a real SQLite store: an adapter's
//! rejection becomes one error response, a platform's retry is acted on once, and an event
//! acked just before a crash is acted on at the next start. The adapter here is a small
//! signed-JSON platform: the test is about the gateway's plumbing, not about any platform.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use callbridge::http::{EdgeLimits, app};
use callbridge::platforms::{EventHandler, Platforms, dispatch};
use callbridge::state::AppState;
use callbridge_adapter::{
    AdapterError, AdapterHealth, BoxFuture, CommandOutcome, Inbound, InboundReply, InboundRequest,
    PlatformAdapter,
};
use callbridge_model::{EventId, Platform, PlatformCommand, PlatformEvent, TenantId};
use callbridge_testkit::{Patience, TestStore, eventually};
use tower::ServiceExt;

/// Accepts `POST /events` with `x-signature: good` and a body naming a workspace; every
/// delivery of the same body carries the same event id, as platforms' retries do.
struct SignedJsonPlatform;

impl PlatformAdapter for SignedJsonPlatform {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    fn handle_inbound(
        &self,
        request: InboundRequest,
    ) -> BoxFuture<'_, Result<Inbound, AdapterError>> {
        Box::pin(async move {
            if request.headers.get("x-signature").map(|v| v.as_bytes()) != Some(b"good") {
                return Err(AdapterError::Unauthenticated("bad signature"));
            }
            let workspace = std::str::from_utf8(&request.body)
                .map_err(|_| AdapterError::Malformed("body is not UTF-8".into()))?
                .to_owned();
            let event = PlatformEvent::InstallationRevoked {
                event_id: format!("Ev{workspace}")
                    .parse::<EventId>()
                    .map_err(|e| AdapterError::Malformed(e.to_string()))?,
                platform: Platform::Slack,
                external_id: workspace,
            };
            Ok(Inbound {
                reply: InboundReply::ok(),
                events: vec![event],
            })
        })
    }

    fn execute(
        &self,
        _command: PlatformCommand,
    ) -> BoxFuture<'_, Result<CommandOutcome, AdapterError>> {
        Box::pin(async { Ok(CommandOutcome::default()) })
    }

    fn health(&self) -> AdapterHealth {
        AdapterHealth::healthy(None)
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<PlatformEvent>>);

impl Recorder {
    fn seen(&self) -> Vec<PlatformEvent> {
        self.0.lock().unwrap().clone()
    }
}

impl EventHandler for Recorder {
    fn handle(&self, _platform: Platform, event: PlatformEvent) -> BoxFuture<'_, ()> {
        self.0.lock().unwrap().push(event);
        Box::pin(async {})
    }
}

fn platforms() -> Platforms {
    Platforms::default().with("slack", Arc::new(SignedJsonPlatform))
}

async fn post(state: &AppState, signature: &str, body: &str) -> StatusCode {
    let limits = EdgeLimits {
        request_timeout: Duration::from_secs(5),
        max_body_bytes: 4096,
    };
    let request = Request::post("/slack/events")
        .header("x-signature", signature)
        .body(Body::from(body.to_owned()))
        .unwrap();
    app(state.clone(), limits)
        .oneshot(request)
        .await
        .unwrap()
        .status()
}

async fn eventually_seen(recorder: &Recorder, count: usize) {
    eventually(
        "the handler sees the events",
        Patience::default(),
        || async { recorder.seen() },
        |seen| seen.len() >= count,
    )
    .await;
}

#[tokio::test]
async fn a_retried_event_is_acted_on_once_and_a_forged_one_never() {
    let test_store = TestStore::new().await;
    let store = test_store.store.clone();
    let recorder = Arc::new(Recorder::default());
    let sink = dispatch::start(store.clone(), recorder.clone())
        .await
        .unwrap();
    let state = AppState::with_platforms(
        store,
        None,
        TenantId::generate(),
        platforms(),
        Some(sink),
        None,
        None,
    );

    assert_eq!(post(&state, "good", "T0AAA").await, StatusCode::OK);
    assert_eq!(
        post(&state, "good", "T0AAA").await,
        StatusCode::OK,
        "a retry is acked too"
    );
    assert_eq!(
        post(&state, "forged", "T0BBB").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post(&state, "good", "T0CCC").await, StatusCode::OK);
    eventually_seen(&recorder, 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let workspaces: Vec<String> = recorder
        .seen()
        .into_iter()
        .map(|event| match event {
            PlatformEvent::InstallationRevoked { external_id, .. } => external_id,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(workspaces, ["T0AAA", "T0CCC"]);
}

#[tokio::test]
async fn an_event_acked_before_a_crash_is_acted_on_at_the_next_start_and_only_then() {
    let test_store = TestStore::new().await;
    let store = test_store.store.clone();
    // First run: the edge acks and claims the event, then dies before any work is done.
    let crashed = AppState::with_platforms(
        store.clone(),
        None,
        TenantId::generate(),
        platforms(),
        None,
        None,
        None,
    );
    assert_eq!(post(&crashed, "good", "T0AAA").await, StatusCode::OK);
    assert_eq!(post(&crashed, "good", "T0AAA").await, StatusCode::OK);

    // Second run: the pending event is delivered once.
    let recorder = Arc::new(Recorder::default());
    dispatch::start(store.clone(), recorder.clone())
        .await
        .unwrap();
    eventually_seen(&recorder, 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(recorder.seen().len(), 1);

    // Third run: the work was done and recorded; nothing comes back.
    let after = Arc::new(Recorder::default());
    dispatch::start(store, after.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        after.seen().is_empty(),
        "done work ran again: {:?}",
        after.seen()
    );
}
