//! A faithful local Slack: Web API, OAuth v2, signed slash commands, interactivity and the Events
//! API, plus the Slack half of the scenario control API.
//!
//! It speaks the wire formats of the Slack reference (paths, field names, `{ok:false,error}`
//! codes, statuses, v0 signatures, token formats, rate tiers, retry schedule), so an adapter
//! that passes against it works against slack.com by changing the base URL and credentials.
//! Every time it reads comes from the shared [`SandboxClock`]. The route list, and what is
//! deliberately not emulated, is in the crate's `README.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), callbridge_sandbox::slack::SandboxError> {
//! use callbridge_sandbox::slack::{SlackSandbox, SlackSandboxConfig, SlackSeed};
//! let slack = SlackSandbox::start(SlackSandboxConfig::new(SlackSeed::demo())).await?;
//! let outcome = slack.type_slash_command("U0DEMOBOB1", "/call alice@contoso.com").await;
//! slack.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
mod by_hand;
mod click;
mod client;
mod config;
mod control;
mod error;
mod events;
mod hooks;
mod ids;
mod interact;
mod model;
mod oauth;
mod outbound;
mod ratelimit;
mod read;
mod scopes;
mod seed;
mod signing;
mod slash;
mod state;
mod tokens;

use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Deref;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{any, get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

pub use config::{APP_ANSWER_TIMEOUT, SlackSandboxConfig};
pub use error::SandboxError;
pub use events::{Delivery, RETRY_DELAYS_SECS};
pub use hooks::{RESPONSE_URL_LIFETIME_SECS, RESPONSE_URL_MAX_USES};
pub use interact::ActOutcome;
pub use model::{ShownMessage, SlackCall, UserView};
pub use outbound::SigningKnobs;
pub use read::CallCard;
pub use seed::{
    SeedApp, SeedChannel, SeedEnterprise, SeedInstall, SeedUser, SeedUserToken, SeedWorkspace,
    SlackSeed,
};
pub use signing::{REPLAY_WINDOW_SECS, SignatureError, sign_v0, verify_v0};
pub use state::SlackState;

use crate::control::{SandboxClock, apply_faults, control_router};

/// The Slack sandbox: build its router for in-process tests, or start it on a socket.
#[derive(Debug)]
pub struct SlackSandbox;

impl SlackSandbox {
    /// Every route: `/api/{method}`, `/oauth/v2/authorize`, `response_url` hooks, and the
    /// control API (`/_sandbox/clock`, `/_sandbox/faults`, `/_sandbox/slack/…`), with fault
    /// injection on the platform routes.
    pub fn router(state: SlackState) -> Router {
        let clock = state.clock().clone();
        let faults = state.faults().clone();
        Router::new()
            .route("/api/{method}", any(api::web_api))
            .route(
                "/oauth/v2/authorize",
                get(oauth::authorize).post(oauth::decide),
            )
            .route("/hooks/{kind}/{team}/{n}/{key}", post(hooks::response_url))
            .merge(control::routes())
            .merge(client::routes())
            .with_state(state)
            .merge(control_router(clock, faults.clone()))
            .layer(from_fn_with_state(faults, apply_faults))
    }

    /// Binds (127.0.0.1:0 unless `config.bind` says otherwise), serves, and starts the event
    /// pump, which challenges the events URL as soon as one is known.
    pub async fn start(config: SlackSandboxConfig) -> Result<RunningSlackSandbox, SandboxError> {
        let addr = config
            .bind
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let state = SlackState::new(&config)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let base_url = Url::parse(&format!("http://{local}/"))
            .map_err(|e| SandboxError::Misconfigured(e.to_string()))?;
        state.world().base_url = base_url.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Self::router(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .map_err(SandboxError::Serve)
        });
        // The pump also sends the events URL its `url_verification` challenge (§9.1).
        let pump = tokio::spawn(state.clone().pump());
        Ok(RunningSlackSandbox {
            state,
            base_url,
            stop: Some(stop),
            server: Some(server),
            pump,
        })
    }
}

/// A started Slack sandbox. Derefs to its [`SlackState`], whose methods act as users and read
/// what Slack shows. Dropping it stops serving.
#[derive(Debug)]
pub struct RunningSlackSandbox {
    state: SlackState,
    base_url: Url,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), SandboxError>>>,
    pump: JoinHandle<()>,
}

impl RunningSlackSandbox {
    /// Where it listens, e.g. `http://127.0.0.1:41234/`; the Web API is at `api/`.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The Web API base URL, `…/api/`, to use instead of `https://slack.com/api/`.
    pub fn api_url(&self) -> Url {
        self.base_url
            .join("api/")
            .unwrap_or_else(|_| self.base_url.clone())
    }

    /// The sandbox clock.
    pub fn clock(&self) -> &SandboxClock {
        self.state.clock()
    }

    /// The shared state, for [`SlackSandbox::router`] or direct reads.
    pub fn state(&self) -> &SlackState {
        &self.state
    }

    /// Stops serving and waits for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.pump.abort();
    }
}

impl Deref for RunningSlackSandbox {
    type Target = SlackState;

    fn deref(&self) -> &SlackState {
        &self.state
    }
}

impl Drop for RunningSlackSandbox {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Runs a Slack sandbox on `addr` until Ctrl-C, for `callbridge sandbox slack`.
pub async fn serve_standalone(addr: SocketAddr, seed: SlackSeed) -> Result<(), SandboxError> {
    let running = SlackSandbox::start(SlackSandboxConfig::new(seed).with_bind(addr)).await?;
    tracing::info!(url = %running.base_url(), "Slack sandbox listening");
    let result = tokio::signal::ctrl_c().await.map_err(SandboxError::Serve);
    running.shutdown().await;
    result
}
