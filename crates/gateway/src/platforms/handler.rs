//! What the gateway does with platform events it can act on by itself: a revoked installation
//! is recorded at once. Call and presence events belong to the call engine; until one is
//! attached, a caller is told plainly that calling is not enabled here rather than left
//! waiting, and presence changes are counted and dropped.

use callbridge_adapter::BoxFuture;
use callbridge_model::{Platform, PlatformCommand, PlatformEvent};
use callbridge_store::{InstallationStore, SqlStore};
use chrono::Utc;

use super::{EventHandler, Platforms};

/// Reply to a call request when no call engine is attached.
pub const NO_ENGINE_REPLY: &str =
    "Calling is not enabled on this callbridge gateway yet. Ask your administrator.";

/// The gateway's own handling of platform events.
pub struct GatewayHandler {
    store: SqlStore,
    platforms: Platforms,
}

impl GatewayHandler {
    /// A handler over the store and the mounted adapters.
    pub const fn new(store: SqlStore, platforms: Platforms) -> Self {
        Self { store, platforms }
    }

    async fn revoke(&self, platform: Platform, external_id: &str) {
        match self
            .store
            .revoke_installation(platform, external_id, Utc::now())
            .await
        {
            Ok(known) => {
                tracing::info!(platform = platform.as_str(), known, "installation revoked")
            }
            Err(error) => tracing::error!(%error, "could not record a revoked installation"),
        }
    }

    async fn decline_call(&self, platform: Platform, event: &PlatformEvent) {
        let (Some(adapter), Some(id)) = (self.platforms.for_platform(platform), event.event_id())
        else {
            return;
        };
        let reply = PlatformCommand::Reply {
            to_event: id.clone(),
            text: NO_ENGINE_REPLY.to_owned(),
        };
        if let Err(error) = adapter.execute(reply).await {
            tracing::warn!(%error, "could not answer a call request");
        }
    }
}

impl EventHandler for GatewayHandler {
    fn handle(&self, platform: Platform, event: PlatformEvent) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            metrics::counter!(
                "callbridge_platform_events_total",
                "platform" => platform.as_str(),
                "kind" => kind(&event),
            )
            .increment(1);
            match &event {
                PlatformEvent::InstallationRevoked { external_id, .. } => {
                    self.revoke(platform, external_id).await;
                }
                PlatformEvent::CallRequested { .. } => self.decline_call(platform, &event).await,
                _ => {}
            }
        })
    }
}

/// A label for metrics.
fn kind(event: &PlatformEvent) -> &'static str {
    match event {
        PlatformEvent::CallRequested { .. } => "call_requested",
        PlatformEvent::IncomingCall { .. } => "incoming_call",
        PlatformEvent::LegRinging { .. } => "leg_ringing",
        PlatformEvent::LegAnswered { .. } => "leg_answered",
        PlatformEvent::JoinRequested { .. } => "join_requested",
        PlatformEvent::LegHoldChanged { .. } => "leg_hold_changed",
        PlatformEvent::LegReoffered { .. } => "leg_reoffered",
        PlatformEvent::LegEnded { .. } => "leg_ended",
        PlatformEvent::PresenceChanged { .. } => "presence_changed",
        PlatformEvent::InstallationRevoked { .. } => "installation_revoked",
        _ => "other",
    }
}
