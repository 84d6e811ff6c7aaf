//! The Slack adapter hosted the way the gateway hosts it (mounted at `/slack`, every request
//! through `accept` and an inbox), next to an in-process Slack sandbox that points at it.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use callbridge_adapter::{
    AdapterError, Fault, InboundRequest, MemoryInbox, MemoryVault, PlatformAdapter, Secret,
    TokenSet, TokenVault, accept,
};
use callbridge_model::PlatformEvent;
use callbridge_sandbox::slack::{RunningSlackSandbox, SlackSandbox, SlackSandboxConfig, SlackSeed};
use callbridge_slack::{SlackAdapter, SlackConfig, SlackOptions, SlackSettings, bot_key, user_key};
use url::Url;

pub const TEAM: &str = "T0DEMOTEAM";
pub const BOB: &str = "U0DEMOBOB1";
pub const CAROL: &str = "U0DEMOCAR2";
pub const DAN: &str = "U0DEMODAN3";
pub const SECRET: &str = "demo-signing-secret";

/// What the hosting app saw.
#[derive(Default)]
pub struct Seen {
    pub events: Mutex<Vec<PlatformEvent>>,
    pub rejections: Mutex<Vec<(StatusCode, String)>>,
}

#[derive(Clone)]
struct Host {
    adapter: Arc<SlackAdapter>,
    inbox: Arc<MemoryInbox>,
    seen: Arc<Seen>,
    clock: callbridge_sandbox::control::SandboxClock,
}

pub struct Harness {
    pub slack: RunningSlackSandbox,
    pub adapter: Arc<SlackAdapter>,
    pub vault: Arc<MemoryVault>,
    pub inbox: Arc<MemoryInbox>,
    pub seen: Arc<Seen>,
    pub app_url: Url,
}

pub fn status_of(error: &AdapterError) -> StatusCode {
    match (error.fault(), error) {
        (_, AdapterError::Unauthenticated(_)) => StatusCode::UNAUTHORIZED,
        (Fault::Sender, _) => StatusCode::BAD_REQUEST,
        (Fault::Unavailable, _) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn host(
    State(host): State<Host>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path()
        .strip_prefix("/slack")
        .unwrap_or(uri.path())
        .to_owned();
    let request = InboundRequest {
        method,
        path,
        query: uri.query().map(str::to_owned),
        headers,
        body,
        received_at: host.clock.now_utc(),
    };
    match accept(&*host.adapter, &*host.inbox, request).await {
        Ok(inbound) => {
            host.seen.events.lock().unwrap().extend(inbound.events);
            let mut response = (inbound.reply.status, inbound.reply.body).into_response();
            response.headers_mut().extend(inbound.reply.headers);
            response
        }
        Err(error) => {
            let status = status_of(&error);
            host.seen
                .rejections
                .lock()
                .unwrap()
                .push((status, error.to_string()));
            (status, error.to_string()).into_response()
        }
    }
}

pub fn settings(slack: &RunningSlackSandbox, app_url: &Url, seed: &SlackSeed) -> SlackSettings {
    SlackSettings {
        api_base_url: Some(slack.api_url().to_string()),
        authorize_url: Some(
            slack
                .base_url()
                .join("oauth/v2/authorize")
                .unwrap()
                .to_string(),
        ),
        client_id: seed.app.client_id.clone(),
        client_secret: seed.app.client_secret.clone(),
        signing_secret: seed.app.signing_secret.clone(),
        previous_signing_secret: None,
        redirect_uri: Some(seed.app.redirect_uri.clone()),
        public_url: app_url.to_string(),
        bot_scopes: None,
        user_scopes: None,
        app_id: seed.app.app_id.clone(),
    }
}

/// Stores the seed's installed tokens in the vault, as an earlier install would have.
pub async fn store_seed_tokens(vault: &MemoryVault, seed: &SlackSeed) {
    for workspace in &seed.workspaces {
        let Some(install) = &workspace.install else {
            continue;
        };
        let set = |token: &str, scopes: &[String]| TokenSet {
            access_token: Secret::new(token),
            refresh_token: None,
            expires_at: None,
            scopes: scopes.to_vec(),
        };
        vault
            .store(
                &bot_key(&workspace.id),
                &set(&install.bot_token, &install.bot_scopes),
            )
            .await
            .unwrap();
        for user in &install.user_tokens {
            vault
                .store(
                    &user_key(&workspace.id, &user.user),
                    &set(&user.token, &user.scopes),
                )
                .await
                .unwrap();
        }
    }
}

impl Harness {
    /// The demo seed, its tokens in the vault.
    pub async fn demo() -> Self {
        Self::start(SlackSeed::demo(), true).await
    }

    pub async fn start(mut seed: SlackSeed, seed_tokens: bool) -> Self {
        Self::start_with(|_| {}, &mut seed, seed_tokens).await
    }

    pub async fn start_with(
        edit: impl FnOnce(&mut SlackSeed),
        seed: &mut SlackSeed,
        seed_tokens: bool,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app_url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        seed.app.redirect_uri = app_url.join("slack/oauth/callback").unwrap().to_string();
        edit(seed);
        let slack = SlackSandbox::start(
            SlackSandboxConfig::new(seed.clone()).with_app_base_url(app_url.clone()),
        )
        .await
        .unwrap();
        let vault = Arc::new(MemoryVault::default());
        if seed_tokens {
            store_seed_tokens(&vault, seed).await;
        }
        let clock = slack.clock().clone();
        let adapter_clock = clock.clone();
        let config = SlackConfig::parse(settings(&slack, &app_url, seed)).unwrap();
        let adapter = Arc::new(
            SlackAdapter::new(
                config,
                vault.clone(),
                SlackOptions {
                    clock: Some(Arc::new(move || adapter_clock.now_utc())),
                    ..SlackOptions::default()
                },
            )
            .unwrap(),
        );
        let inbox = Arc::new(MemoryInbox::default());
        let seen = Arc::new(Seen::default());
        let app = Router::new().fallback(host).with_state(Host {
            adapter: adapter.clone(),
            inbox: inbox.clone(),
            seen: seen.clone(),
            clock,
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            slack,
            adapter,
            vault,
            inbox,
            seen,
            app_url,
        }
    }

    pub fn events(&self) -> Vec<PlatformEvent> {
        self.seen.events.lock().unwrap().clone()
    }

    pub fn take_events(&self) -> Vec<PlatformEvent> {
        std::mem::take(&mut *self.seen.events.lock().unwrap())
    }

    pub fn rejections(&self) -> Vec<(StatusCode, String)> {
        self.seen.rejections.lock().unwrap().clone()
    }

    pub fn platform(&self) -> &dyn PlatformAdapter {
        &*self.adapter
    }

    /// A request as the gateway would hand it over, received now on the sandbox clock.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> InboundRequest {
        InboundRequest {
            method,
            path: path.to_owned(),
            query: None,
            headers,
            body: body.into(),
            received_at: self.slack.clock().now_utc(),
        }
    }

    /// Headers of a body signed by Slack at `ts` (unix seconds).
    pub fn signed_headers(&self, content_type: &str, ts: i64, body: &[u8]) -> HeaderMap {
        signed_headers(SECRET, content_type, ts, body)
    }
}

pub fn signed_headers(secret: &str, content_type: &str, ts: i64, body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", content_type.parse().unwrap());
    headers.insert("x-slack-request-timestamp", ts.to_string().parse().unwrap());
    headers.insert(
        "x-slack-signature",
        callbridge_sandbox::slack::sign_v0(secret, ts, body)
            .parse()
            .unwrap(),
    );
    headers
}

/// Waits (on real time, briefly) until `check` holds: for deliveries the sandbox's pump sends
/// on its own task. Fails the test after 5 s.
pub async fn until(mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}

impl Harness {
    /// Reads a sandbox control route, as a test or the demo would.
    pub async fn control(&self, path: &str) -> serde_json::Value {
        let url = self.slack.base_url().join(path).unwrap();
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }

    /// One user as Slack shows them (`GET /_sandbox/slack/users`).
    pub async fn user_view(&self, id: &str) -> serde_json::Value {
        let users = self.control("_sandbox/slack/users").await;
        let list = users
            .as_array()
            .cloned()
            .or_else(|| users.get("users").and_then(|u| u.as_array()).cloned())
            .unwrap();
        list.into_iter().find(|u| u["id"] == id).unwrap()
    }

    /// Every call card (`GET /_sandbox/slack/calls`).
    pub async fn call_cards(&self) -> Vec<serde_json::Value> {
        let cards = self.control("_sandbox/slack/calls").await;
        cards
            .as_array()
            .cloned()
            .or_else(|| cards.get("cards").and_then(|c| c.as_array()).cloned())
            .unwrap_or_default()
    }

    /// Messages in a conversation (`GET /_sandbox/slack/messages?channel=`).
    pub async fn messages(&self, channel: &str) -> Vec<serde_json::Value> {
        let messages = self
            .control(&format!("_sandbox/slack/messages?channel={channel}"))
            .await;
        messages
            .as_array()
            .cloned()
            .or_else(|| messages.get("messages").and_then(|c| c.as_array()).cloned())
            .unwrap_or_default()
    }
}

impl Harness {
    /// Sets the sandbox's signing knobs (`POST /_sandbox/slack/signing`, §14 item 3).
    pub async fn signing_knobs(&self, skew_secs: i64, corrupt: bool) {
        let url = self
            .slack
            .base_url()
            .join("_sandbox/slack/signing")
            .unwrap();
        let status = reqwest::Client::new()
            .post(url)
            .json(&serde_json::json!({"skew_secs": skew_secs, "corrupt": corrupt}))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    }
}
