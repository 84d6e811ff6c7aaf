//! The conformance suite run on a tiny fake platform and its adapter, so the suite itself is
//! tested: a faithful adapter passes every property, and adapters with one flaw each are caught.
//!
//! The fake platform signs its deliveries like Slack (HMAC-SHA256 over `v0:{timestamp}:{body}`,
//! five-minute window) and serves two methods: `presence.set` (idempotent: it overwrites) and
//! `chat.post` (not: it appends). It mounts the sandboxes' own scenario control routes and fault
//! middleware, so the suite's fault injection is tested against the real thing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::hmac;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use callbridge_adapter::client::{ApiCall, ApiClient, ClientConfig};
use callbridge_adapter::conformance::{self, CommandCase, ConformanceTarget, Delivery, Forgery};
use callbridge_adapter::{
    AdapterError, AdapterHealth, BoxFuture, CommandOutcome, Inbound, InboundReply, InboundRequest,
    PlatformAdapter,
};
use callbridge_model::{
    Availability, EventId, Platform, PlatformCommand, PlatformEvent, Presence, PresenceOrigin,
    PresenceSource, UserRef,
};
use callbridge_sandbox::control::{Faults, SandboxClock, apply_faults, control_router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const SECRET: &[u8] = b"fake-signing-secret";
const TEAM: &str = "T0FAKETEAM";
const TOKEN: &str = "xoxb-fake";

// ---------------------------------------------------------------------------------------------
// The fake platform.

#[derive(Clone, Default)]
struct Platformstate {
    presence: Arc<Mutex<BTreeMap<String, String>>>,
    messages: Arc<Mutex<Vec<Value>>>,
}

async fn start_platform() -> SocketAddr {
    let state = Platformstate::default();
    let faults = Faults::new();
    let app = Router::new()
        .route("/api/presence.set", post(set_presence))
        .route("/api/chat.post", post(post_message))
        .route("/_sandbox/fake/state", get(read_state))
        .with_state(state)
        .merge(control_router(SandboxClock::new(), faults.clone()))
        .layer(axum::middleware::from_fn_with_state(faults, apply_faults));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn authorised(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer xoxb-fake")
}

async fn set_presence(
    State(state): State<Platformstate>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    if !authorised(&headers) {
        return Json(json!({"ok": false, "error": "invalid_auth"}));
    }
    let (Some(user), Some(availability)) = (body["user"].as_str(), body["availability"].as_str())
    else {
        return Json(json!({"ok": false, "error": "invalid_arguments"}));
    };
    state
        .presence
        .lock()
        .unwrap()
        .insert(user.to_owned(), availability.to_owned());
    Json(json!({"ok": true}))
}

async fn post_message(
    State(state): State<Platformstate>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    if !authorised(&headers) {
        return Json(json!({"ok": false, "error": "invalid_auth"}));
    }
    let mut messages = state.messages.lock().unwrap();
    messages.push(body);
    Json(json!({"ok": true, "ts": format!("1700000000.{:06}", messages.len())}))
}

async fn read_state(State(state): State<Platformstate>) -> Json<Value> {
    Json(json!({
        "presence": *state.presence.lock().unwrap(),
        "messages": *state.messages.lock().unwrap(),
    }))
}

// ---------------------------------------------------------------------------------------------
// The fake adapter, with switchable flaws for testing that the suite catches them.

#[derive(Clone, Copy, Default)]
struct Flaws {
    /// Accepts signatures of any age.
    ignores_timestamp: bool,
    /// Declares its non-idempotent method idempotent, so the client resends it after a 5xx.
    resends_everything: bool,
    /// Turns every event type into a revocation.
    translates_unknown_types: bool,
    /// Gives up at the first 429 or 5xx.
    never_retries: bool,
}

struct FakeAdapter {
    key: hmac::Key,
    client: ApiClient,
    base_url: String,
    flaws: Flaws,
}

impl FakeAdapter {
    fn new(base_url: String, flaws: Flaws) -> Self {
        let config = ClientConfig {
            base_backoff: Duration::from_millis(20),
            max_retries: if flaws.never_retries { 0 } else { 3 },
            ..ClientConfig::default()
        };
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, SECRET),
            client: ApiClient::new(Platform::Slack, config).with_budget("presence.set", 600),
            base_url,
            flaws,
        }
    }

    fn verify(&self, request: &InboundRequest) -> Result<(), AdapterError> {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        let timestamp =
            header("x-fake-timestamp").ok_or(AdapterError::Unauthenticated("no timestamp"))?;
        let signature =
            header("x-fake-signature").ok_or(AdapterError::Unauthenticated("no signature"))?;
        let signed_at: i64 = timestamp
            .parse()
            .map_err(|_| AdapterError::Unauthenticated("bad timestamp"))?;
        if !self.flaws.ignores_timestamp
            && (request.received_at.timestamp() - signed_at).abs() > 300
        {
            return Err(AdapterError::Unauthenticated(
                "timestamp outside the window",
            ));
        }
        let mac = signature
            .strip_prefix("v0=")
            .and_then(|hex| hex::decode(hex).ok())
            .ok_or(AdapterError::Unauthenticated("bad signature format"))?;
        let mut base = format!("v0:{timestamp}:").into_bytes();
        base.extend_from_slice(&request.body);
        hmac::verify(&self.key, &base, &mac)
            .map_err(|_| AdapterError::Unauthenticated("bad signature"))
    }

    fn translate(&self, body: &[u8]) -> Result<Vec<PlatformEvent>, AdapterError> {
        let event: Value = serde_json::from_slice(body)
            .map_err(|error| AdapterError::Malformed(format!("body is not JSON: {error}")))?;
        if event["type"] != "app_uninstalled" && !self.flaws.translates_unknown_types {
            return Ok(Vec::new());
        }
        let event_id = event["event_id"]
            .as_str()
            .and_then(|id| id.parse::<EventId>().ok())
            .ok_or_else(|| AdapterError::Malformed("event_id missing or invalid".into()))?;
        let team = event["team"]
            .as_str()
            .ok_or_else(|| AdapterError::Malformed("team missing".into()))?;
        Ok(vec![PlatformEvent::InstallationRevoked {
            event_id,
            platform: Platform::Slack,
            external_id: team.to_owned(),
        }])
    }

    async fn call(
        &self,
        method: &'static str,
        idempotent: bool,
        body: Value,
    ) -> Result<Value, AdapterError> {
        let url = format!("{}/api/{method}", self.base_url);
        let call = ApiCall {
            method,
            budget_key: TEAM,
            idempotent,
        };
        let response = self
            .client
            .send(call, |http| http.post(&url).bearer_auth(TOKEN).json(&body))
            .await?;
        let answer: Value =
            response
                .json()
                .await
                .map_err(|error| AdapterError::PlatformMisbehaved {
                    method: method.into(),
                    detail: format!("answer is not JSON: {}", error.without_url()),
                })?;
        if answer["ok"] == true {
            Ok(answer)
        } else {
            Err(AdapterError::PlatformRejected {
                method: method.into(),
                error: answer["error"].as_str().unwrap_or("unknown").to_owned(),
            })
        }
    }
}

impl PlatformAdapter for FakeAdapter {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    fn handle_inbound(
        &self,
        request: InboundRequest,
    ) -> BoxFuture<'_, Result<Inbound, AdapterError>> {
        Box::pin(async move {
            self.verify(&request)?;
            let events = self.translate(&request.body)?;
            Ok(Inbound {
                reply: InboundReply::ok(),
                events,
            })
        })
    }

    fn execute(
        &self,
        command: PlatformCommand,
    ) -> BoxFuture<'_, Result<CommandOutcome, AdapterError>> {
        Box::pin(async move {
            match command {
                PlatformCommand::SetPresence {
                    user: UserRef::Slack { user, .. },
                    presence,
                } => {
                    let availability = serde_json::to_value(presence.availability)
                        .map_err(|error| AdapterError::Bug(error.to_string()))?;
                    self.call(
                        "presence.set",
                        true,
                        json!({"user": user.as_str(), "availability": availability}),
                    )
                    .await?;
                    Ok(CommandOutcome::default())
                }
                PlatformCommand::Reply { to_event, text } => {
                    let answer = self
                        .call(
                            "chat.post",
                            self.flaws.resends_everything,
                            json!({"to_event": to_event.as_str(), "text": text}),
                        )
                        .await?;
                    Ok(answer["ts"]
                        .as_str()
                        .map(CommandOutcome::with_ref)
                        .unwrap_or_default())
                }
                _ => Err(AdapterError::Misconfigured(
                    "the fake platform has no such method".into(),
                )),
            }
        })
    }

    fn health(&self) -> AdapterHealth {
        AdapterHealth::healthy(None)
    }
}

// ---------------------------------------------------------------------------------------------
// The conformance target.

struct FakeTarget {
    base_url: String,
    adapter: Arc<FakeAdapter>,
}

impl FakeTarget {
    async fn start() -> Self {
        Self::with_flaws(Flaws::default()).await
    }

    async fn with_flaws(flaws: Flaws) -> Self {
        let base_url = format!("http://{}", start_platform().await);
        let adapter = Arc::new(FakeAdapter::new(base_url.clone(), flaws));
        Self { base_url, adapter }
    }

    fn request(
        body: &str,
        signed_at: DateTime<Utc>,
        signed_body: &str,
        received_at: DateTime<Utc>,
    ) -> InboundRequest {
        let timestamp = signed_at.timestamp().to_string();
        let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
        let tag = hmac::sign(&key, format!("v0:{timestamp}:{signed_body}").as_bytes());
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("x-fake-timestamp", timestamp.parse().unwrap());
        headers.insert(
            "x-fake-signature",
            format!("v0={}", hex::encode(tag.as_ref())).parse().unwrap(),
        );
        InboundRequest {
            method: http::Method::POST,
            path: "/events".into(),
            query: None,
            headers,
            body: Bytes::from(body.to_owned()),
            received_at,
        }
    }

    fn event_body(event_id: &str) -> String {
        json!({"type": "app_uninstalled", "event_id": event_id, "team": TEAM}).to_string()
    }

    async fn state(base_url: &str) -> Result<Value, String> {
        let response = reqwest::get(format!("{base_url}/_sandbox/fake/state"))
            .await
            .map_err(|error| error.to_string())?;
        response.json().await.map_err(|error| error.to_string())
    }
}

impl ConformanceTarget for FakeTarget {
    fn adapter(&self) -> Arc<dyn PlatformAdapter> {
        self.adapter.clone()
    }

    fn sandbox_url(&self) -> String {
        self.base_url.clone()
    }

    fn signed_event<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let now = Utc::now();
            let body = Self::event_body(event_id);
            Delivery {
                request: Self::request(&body, now, &body, now),
                events: vec![PlatformEvent::InstallationRevoked {
                    event_id: event_id.parse().unwrap(),
                    platform: Platform::Slack,
                    external_id: TEAM.into(),
                }],
            }
        })
    }

    fn forged_event<'a>(
        &'a self,
        event_id: &'a str,
        forgery: Forgery,
    ) -> BoxFuture<'a, InboundRequest> {
        Box::pin(async move {
            let now = Utc::now();
            let body = Self::event_body(event_id);
            let window = chrono::Duration::seconds(301);
            match forgery {
                Forgery::Unsigned => {
                    let mut request = Self::request(&body, now, &body, now);
                    request.headers.remove("x-fake-signature");
                    request
                }
                Forgery::SignedOverAnotherBody => {
                    Self::request(&body, now, &Self::event_body("Ev0OTHER"), now)
                }
                Forgery::Stale => Self::request(&body, now - window, &body, now),
                Forgery::FromTheFuture => Self::request(&body, now + window, &body, now),
                _ => panic!("the fake target does not know {forgery:?}"),
            }
        })
    }

    fn unknown_event(&self) -> BoxFuture<'_, InboundRequest> {
        Box::pin(async move {
            let now = Utc::now();
            let body = json!({"type": "reaction_added", "event_id": "Ev0UNKNOWN", "team": TEAM})
                .to_string();
            Self::request(&body, now, &body, now)
        })
    }

    fn command_cases(&self) -> BoxFuture<'_, Vec<CommandCase>> {
        Box::pin(async move {
            let presence_url = self.base_url.clone();
            let message_url = self.base_url.clone();
            let set_presence = PlatformCommand::SetPresence {
                user: UserRef::Slack {
                    team: TEAM.parse().unwrap(),
                    user: "U0ALICE01".parse().unwrap(),
                },
                presence: Presence {
                    availability: Availability::Busy,
                    activity: None,
                    status_text: None,
                    status_emoji: None,
                    expires_at: None,
                    source: PresenceSource {
                        platform: Platform::Teams,
                        origin: PresenceOrigin::Callbridge,
                        fingerprint: None,
                    },
                },
            };
            let reply = PlatformCommand::Reply {
                to_event: "Ev0REQUEST".parse().unwrap(),
                text: "Carol is already in a call".into(),
            };
            vec![
                CommandCase::new(
                    "set presence",
                    set_presence,
                    true,
                    "/api/presence.set",
                    move |_| async move {
                        let state = Self::state(&presence_url).await?;
                        match state["presence"]["U0ALICE01"].as_str() {
                            Some("Busy") => Ok(()),
                            other => Err(format!("presence of U0ALICE01 is {other:?}")),
                        }
                    },
                ),
                CommandCase::new(
                    "reply",
                    reply,
                    false,
                    "/api/chat.post",
                    move |outcome| async move {
                        let state = Self::state(&message_url).await?;
                        let messages = state["messages"].as_array().cloned().unwrap_or_default();
                        if messages.len() != 1 {
                            return Err(format!(
                                "{} messages posted, expected one",
                                messages.len()
                            ));
                        }
                        if messages[0]["text"] != "Carol is already in a call"
                            || messages[0]["to_event"] != "Ev0REQUEST"
                        {
                            return Err(format!("unexpected message {}", messages[0]));
                        }
                        match outcome.platform_ref.as_deref() {
                            Some("1700000000.000001") => Ok(()),
                            other => {
                                Err(format!("outcome names {other:?}, not the posted message"))
                            }
                        }
                    },
                ),
            ]
        })
    }
}

// The whole suite, on the faithful adapter.
callbridge_adapter::conformance_suite!(FakeTarget::start());

// ---------------------------------------------------------------------------------------------
// The suite catches flawed adapters.

#[tokio::test]
#[should_panic(expected = "Stale delivery was accepted")]
async fn suite_catches_an_adapter_that_ignores_the_timestamp() {
    let target = FakeTarget::with_flaws(Flaws {
        ignores_timestamp: true,
        ..Flaws::default()
    })
    .await;
    conformance::forged_request_is_rejected(&target, Forgery::Stale).await;
}

#[tokio::test]
#[should_panic(expected = "exactly one request may reach /api/chat.post")]
async fn suite_catches_an_adapter_that_resends_a_non_idempotent_call() {
    let target = FakeTarget::with_flaws(Flaws {
        resends_everything: true,
        ..Flaws::default()
    })
    .await;
    conformance::server_error_is_not_retried_when_not_idempotent(&target).await;
}

#[tokio::test]
#[should_panic(expected = "an unknown event type must yield no events")]
async fn suite_catches_an_adapter_that_translates_unknown_types() {
    let target = FakeTarget::with_flaws(Flaws {
        translates_unknown_types: true,
        ..Flaws::default()
    })
    .await;
    conformance::unknown_event_type_is_acked_and_ignored(&target).await;
}

#[tokio::test]
#[should_panic(expected = "set presence: failed after a 503")]
async fn suite_catches_an_adapter_that_does_not_retry_idempotent_calls() {
    let target = FakeTarget::with_flaws(Flaws {
        never_retries: true,
        ..Flaws::default()
    })
    .await;
    conformance::server_error_is_retried_when_idempotent(&target).await;
}

#[tokio::test]
#[should_panic(expected = "failed after a 429")]
async fn suite_catches_an_adapter_that_does_not_wait_out_a_rate_limit() {
    let target = FakeTarget::with_flaws(Flaws {
        never_retries: true,
        ..Flaws::default()
    })
    .await;
    conformance::rate_limit_is_honoured(&target).await;
}
