//! Running the gateway: open the store, serve HTTP, and shut down gracefully.
//!
//! Shutdown: the first SIGTERM or SIGINT turns readiness false and stops accepting connections;
//! in-flight requests finish; the process exits when they have, or when `shutdown_grace` runs
//! out. A second signal exits at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use callbridge_engine::call::CallConfig;
use callbridge_store::{SecretStore, SqlStore};
use tokio::net::TcpListener;

use crate::GatewayError;
use crate::calls::{CallDeps, CallService};
use crate::config::Config;
use crate::config::{ConfigError, SipSettings};
use crate::http::{EdgeLimits, app};
use crate::join::JoinTokens;
use crate::media::{MediaService, MediaSettings};
use crate::mirror::MirrorService;
use crate::platforms::{GatewayHandler, Platforms, StoreVault, dispatch};
use crate::state::AppState;
use callbridge_engine::presence::MirrorConfig;
use callbridge_model::{Platform, PlatformEvent};
use callbridge_sip::{ProxyTarget, SipTransport, Trunk, TrunkConfig};
use callbridge_slack::{SlackAdapter, SlackOptions};
use callbridge_teams::TeamsAdapter;
use tokio::sync::mpsc;

/// Opens and migrates the configured store.
pub async fn open_store(config: &Config) -> Result<SqlStore, GatewayError> {
    let store = SqlStore::connect(config.store_url.expose(), config.keyring.clone()).await?;
    store.migrate().await?;
    Ok(store)
}

/// The adapters the configuration enables, ready to mount.
pub struct Mounted {
    /// The adapters, by mount name.
    pub platforms: Platforms,
    /// Events adapters produce outside any request (trunk signalling, presence re-reads).
    pub pushed: Vec<(Platform, mpsc::Receiver<PlatformEvent>)>,
    /// The Direct Routing trunk, when one is configured (drained with the gateway).
    pub trunk: Option<Trunk>,
    /// Calls between Slack and Teams, when both and the trunk are configured.
    pub calls: Option<CallService>,
    /// Presence mirroring, when both Slack and Teams are configured.
    pub mirror: Option<MirrorService>,
}

/// Builds the adapters the configuration enables, with their tokens sealed in `store`, and
/// starts the Direct Routing trunk when `[sip]` is set.
pub async fn platforms(config: &Config, store: &SqlStore) -> Result<Mounted, GatewayError> {
    let vault = Arc::new(StoreVault::new(store.clone()));
    let mut mounted = Mounted {
        platforms: Platforms::default(),
        pushed: Vec::new(),
        trunk: None,
        calls: None,
        mirror: None,
    };
    if let Some(slack) = &config.slack {
        let adapter = SlackAdapter::new(slack.clone(), vault.clone(), SlackOptions::default())?;
        mounted.platforms = mounted.platforms.with_slack(Arc::new(adapter));
    }
    if let Some(teams) = &config.teams {
        let adapter = TeamsAdapter::new(teams.clone(), vault).await?;
        if let Some(sip) = &config.sip {
            let (trunk, events, addrs) = Trunk::start(trunk_config(sip).await?).await?;
            tracing::info!(tls = ?addrs.tls, "Direct Routing trunk started");
            adapter.attach_trunk(trunk.clone(), events);
            mounted.trunk = Some(trunk);
        }
        if let Some(events) = adapter.events() {
            mounted.pushed.push((Platform::Teams, events));
        }
        // Subscriptions, their renewal and the periodic re-read run for the gateway's life.
        tokio::spawn(adapter.presence().clone().run());
        mounted.platforms = mounted.platforms.with_teams(Arc::new(adapter));
    }
    if mounted.platforms.slack().is_some() && mounted.platforms.teams().is_some() {
        let mirror = MirrorService::start(
            store.clone(),
            mounted.platforms.clone(),
            MirrorConfig::default(),
        )
        .await?;
        mounted.mirror = Some(mirror);
    }
    if mounted.trunk.is_some() && mounted.platforms.slack().is_some() {
        let calls = calls(config, store, &mounted.platforms, mounted.mirror.clone()).await?;
        mounted.calls = Some(calls);
    }
    Ok(mounted)
}

/// The name of the stored key that signs join links (kept, so links survive a restart).
const JOIN_KEY: &str = "join-link-key";

/// Starts the media core and the call engine over the mounted adapters.
async fn calls(
    config: &Config,
    store: &SqlStore,
    platforms: &Platforms,
    mirror: Option<MirrorService>,
) -> Result<CallService, GatewayError> {
    let settings = &config.calls;
    let media_settings = MediaSettings {
        public_ip: settings.media_public_ip,
        bind_ip: settings.media_bind_ip,
        ports: settings.media_ports.clone(),
        workers: settings.media_workers,
        media_timeout: Some(settings.media_timeout),
        ..MediaSettings::default()
    };
    let (media, media_notices) = MediaService::start(media_settings)
        .map_err(|e| GatewayError::Startup(format!("media core: {e}")))?;
    let key = join_key(store).await?;
    let engine = CallConfig {
        ring_timeout: settings.ring_timeout,
        join_timeout: settings.ring_timeout,
        max_duration: settings.max_duration,
        ..CallConfig::default()
    };
    Ok(CallService::start(CallDeps {
        store: store.clone(),
        platforms: platforms.clone(),
        slack: platforms.slack().cloned(),
        media,
        media_notices,
        tokens: JoinTokens::new(&key),
        public_url: config.public_url.clone(),
        tenant: config.tenant,
        config: engine,
        mirror,
    })
    .await?)
}

/// The join-link signing key, created on first use and sealed in the store.
async fn join_key(store: &SqlStore) -> Result<[u8; 32], GatewayError> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    if let Some(stored) = store.secret(JOIN_KEY).await?
        && let Ok(key) = <[u8; 32]>::try_from(stored.as_slice())
    {
        return Ok(key);
    }
    let mut key = [0; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| GatewayError::Startup("no system randomness".to_owned()))?;
    store.put_secret(JOIN_KEY, &key, chrono::Utc::now()).await?;
    Ok(key)
}

/// The trunk's configuration, with the proxies' names resolved now.
async fn trunk_config(sip: &SipSettings) -> Result<TrunkConfig, GatewayError> {
    let mut proxies = Vec::with_capacity(sip.proxies.len());
    for (fqdn, port) in &sip.proxies {
        let fixed = sip.resolve.get(fqdn).copied();
        let resolved = match fixed {
            Some(addr) => Some(addr),
            None => tokio::net::lookup_host((fqdn.as_str(), *port))
                .await
                .ok()
                .and_then(|mut addrs| addrs.next()),
        };
        let addr = resolved.ok_or_else(|| {
            GatewayError::Config(ConfigError::Invalid {
                key: "sip.proxies".to_owned(),
                reason: format!("{fqdn} does not resolve"),
            })
        })?;
        proxies.push(ProxyTarget {
            fqdn: fqdn.clone(),
            addr,
            transport: SipTransport::Tls,
        });
    }
    let mut config = TrunkConfig::new(
        sip.sbc_fqdn.clone(),
        proxies,
        sip.cert_file.clone(),
        sip.key_file.clone(),
        sip.ca_file.clone(),
    );
    config.tls_listen = sip.tls_listen;
    Ok(config)
}

/// A bound, ready-to-run gateway.
pub struct Gateway {
    listener: TcpListener,
    state: AppState,
    limits: EdgeLimits,
    grace: Duration,
    trunk: Option<Trunk>,
    /// Routes served beside the gateway's own (the demo's start page).
    extra: Router,
}

impl Gateway {
    /// Binds the listener and builds the state.
    pub async fn bind(config: &Config, store: SqlStore) -> Result<Self, GatewayError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| GatewayError::Bind {
                    addr: config.listen,
                    source,
                })?;
        Ok(Self::with_listener(listener, config, store))
    }

    /// Uses an already bound listener (tests, the demo's port fallback).
    pub fn with_listener(listener: TcpListener, config: &Config, store: SqlStore) -> Self {
        Self {
            listener,
            state: AppState::new(store, config.admin_token.clone(), config.tenant),
            limits: EdgeLimits {
                request_timeout: config.request_timeout,
                max_body_bytes: config.max_body_bytes,
            },
            grace: config.shutdown_grace,
            trunk: None,
            extra: Router::new(),
        }
    }

    /// Serves `routes` beside the gateway's own; they must not overlap them.
    #[must_use]
    pub fn with_routes(self, routes: Router) -> Self {
        Self {
            extra: self.extra.merge(routes),
            ..self
        }
    }

    /// Mounts platform adapters under `/{name}/…` and starts the loop that acts on their
    /// events, after queueing the events a previous run left pending.
    pub async fn mount(self, mounted: Mounted) -> Result<Self, GatewayError> {
        let Mounted {
            platforms,
            pushed,
            trunk,
            calls,
            mirror,
        } = mounted;
        let store = self.state.store().clone();
        let handler = Arc::new(GatewayHandler::new(
            store.clone(),
            platforms.clone(),
            calls.clone(),
            mirror.clone(),
        ));
        let events = dispatch::start(store.clone(), handler).await?;
        for (platform, mut receiver) in pushed {
            let sink = events.clone();
            tokio::spawn(async move {
                while let Some(event) = receiver.recv().await {
                    sink.push(platform, event).await;
                }
            });
        }
        let state = AppState::with_platforms(
            store,
            self.state.admin_token().cloned(),
            self.state.tenant(),
            platforms,
            Some(events),
            calls,
            mirror,
        );
        Ok(Self {
            state,
            trunk,
            ..self
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, GatewayError> {
        self.listener
            .local_addr()
            .map_err(|e| GatewayError::Io("reading the bound address", e))
    }

    /// The shared state (for tests to observe draining).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains: readiness false, no new connections,
    /// in-flight requests finish within the grace period.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let Self {
            listener,
            state,
            limits,
            grace,
            trunk,
            extra,
        } = self;
        let router = extra.merge(app(state.clone(), limits));
        let draining_state = state.clone();
        let draining_trunk = trunk.clone();
        let (drain_started_tx, drain_started_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            draining_state.start_draining();
            // New calls are refused from now on; calls in progress end cleanly a little
            // before the grace period runs out, so their hang-ups still go out.
            if let Some(calls) = draining_state.calls() {
                let margin = grace.saturating_sub(Duration::from_secs(2)).max(grace / 2);
                let deadline = chrono::Utc::now()
                    + chrono::TimeDelta::from_std(margin).unwrap_or(chrono::TimeDelta::zero());
                calls.drain(deadline).await;
            }
            // New INVITEs get 503 + Retry-After from now on; calls in progress continue.
            if let Some(trunk) = &draining_trunk {
                trunk.drain();
            }
            tracing::info!("draining: readiness is false, finishing in-flight requests");
            let _ = drain_started_tx.send(());
        };
        let server = axum::serve(listener, router).with_graceful_shutdown(signal);
        let server = std::pin::pin!(server.into_future());
        let deadline = async move {
            if drain_started_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = server => result.map_err(|e| GatewayError::Io("serving HTTP", e))?,
            () = deadline => tracing::warn!(grace = ?grace, "drain deadline passed with requests in flight"),
        }
        // Calls outlive HTTP requests: they end by the drain deadline; wait for their
        // hang-ups and records before the trunk and the store close.
        if let Some(calls) = state.calls()
            && tokio::time::timeout(grace, calls.until_idle())
                .await
                .is_err()
        {
            tracing::warn!("calls were still ending when the gateway stopped");
        }
        if let Some(trunk) = &trunk {
            trunk.shutdown();
        }
        state.store().close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Resolves on the first SIGTERM or SIGINT; a second one exits the process at once.
pub async fn termination_signals() {
    wait_for_signal().await;
    tokio::spawn(async {
        wait_for_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
