//! Running the gateway: open the store, serve HTTP, and shut down gracefully.
//!
//! Shutdown: the first SIGTERM or SIGINT turns readiness false and stops accepting connections;
//! in-flight requests finish; the process exits when they have, or when `shutdown_grace` runs
//! out. A second signal exits at once.

use std::future::Future;
use std::time::Duration;

use callbridge_store::SqlStore;
use tokio::net::TcpListener;

use crate::GatewayError;
use crate::config::Config;
use crate::http::{EdgeLimits, app};
use crate::state::AppState;

/// Opens and migrates the configured store.
pub async fn open_store(config: &Config) -> Result<SqlStore, GatewayError> {
    let store = SqlStore::connect(config.store_url.expose(), config.keyring.clone()).await?;
    store.migrate().await?;
    Ok(store)
}

/// A bound, ready-to-run gateway.
pub struct Gateway {
    listener: TcpListener,
    state: AppState,
    limits: EdgeLimits,
    grace: Duration,
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
        }
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
        } = self;
        let router = app(state.clone(), limits);
        let draining_state = state.clone();
        let (drain_started_tx, drain_started_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            draining_state.start_draining();
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
