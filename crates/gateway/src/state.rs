//! What every request handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use callbridge_model::TenantId;
use callbridge_store::{SecretString, SqlStore};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::calls::CallService;
use crate::mirror::MirrorService;
use crate::platforms::{EventSink, Platforms, StoreInbox};

/// Shared gateway state. Cloning is cheap (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: SqlStore,
    metrics: PrometheusHandle,
    draining: AtomicBool,
    admin_token: Option<SecretString>,
    tenant: TenantId,
    platforms: Platforms,
    inbox: StoreInbox,
    events: Option<EventSink>,
    calls: Option<CallService>,
    mirror: Option<MirrorService>,
}

impl AppState {
    /// State over an open store.
    pub fn new(store: SqlStore, admin_token: Option<SecretString>, tenant: TenantId) -> Self {
        Self::with_platforms(
            store,
            admin_token,
            tenant,
            Platforms::default(),
            None,
            None,
            None,
        )
    }

    /// State with platform adapters mounted and the queue their events go to.
    pub fn with_platforms(
        store: SqlStore,
        admin_token: Option<SecretString>,
        tenant: TenantId,
        platforms: Platforms,
        events: Option<EventSink>,
        calls: Option<CallService>,
        mirror: Option<MirrorService>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                inbox: StoreInbox::new(store.clone()),
                store,
                metrics: crate::http::metrics::recorder(),
                draining: AtomicBool::new(false),
                admin_token,
                tenant,
                platforms,
                events,
                calls,
                mirror,
            }),
        }
    }

    /// The mounted platform adapters.
    pub fn platforms(&self) -> &Platforms {
        &self.inner.platforms
    }

    /// The durable inbox inbound events pass through.
    pub fn inbox(&self) -> &StoreInbox {
        &self.inner.inbox
    }

    /// Where accepted events are queued, if anything consumes them.
    pub fn events(&self) -> Option<&EventSink> {
        self.inner.events.as_ref()
    }

    /// Calls between Slack and Teams, when enabled.
    pub fn calls(&self) -> Option<&CallService> {
        self.inner.calls.as_ref()
    }

    /// Presence mirroring, when enabled.
    pub fn mirror(&self) -> Option<&MirrorService> {
        self.inner.mirror.as_ref()
    }

    /// The store.
    pub fn store(&self) -> &SqlStore {
        &self.inner.store
    }

    /// The Prometheus handle.
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }

    /// Whether the node is draining (readiness false, no new calls).
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Starts draining; readiness turns false from now on.
    pub fn start_draining(&self) {
        if !self.inner.draining.swap(true, Ordering::AcqRel) {
            metrics::gauge!("callbridge_draining").set(1.0);
        }
    }

    /// The admin API token, if the admin API is enabled.
    pub(crate) fn admin_token(&self) -> Option<&SecretString> {
        self.inner.admin_token.as_ref()
    }

    /// The organisation this deployment serves.
    pub(crate) fn tenant(&self) -> TenantId {
        self.inner.tenant
    }
}
