//! What the gateway does with platform events: a revoked installation is recorded at once,
//! and call and presence events go to the calls service. Where calling is not set up (Slack,
//! Teams and the trunk are all needed), a caller is told so plainly rather than left waiting.

use callbridge_adapter::BoxFuture;
use callbridge_model::{Platform, PlatformCommand, PlatformEvent};
use callbridge_store::{InstallationStore, SqlStore};
use chrono::Utc;

use super::{EventHandler, Platforms};
use crate::calls::CallService;
use crate::mirror::MirrorService;

/// Reply to a call request when calling is not set up on this gateway.
pub const NO_ENGINE_REPLY: &str =
    "Calling is not enabled on this callbridge gateway yet. Ask your administrator.";

/// The gateway's own handling of platform events.
pub struct GatewayHandler {
    store: SqlStore,
    platforms: Platforms,
    calls: Option<CallService>,
    mirror: Option<MirrorService>,
}

impl GatewayHandler {
    /// A handler over the store, the mounted adapters and, when set up, calls and presence
    /// mirroring.
    pub const fn new(
        store: SqlStore,
        platforms: Platforms,
        calls: Option<CallService>,
        mirror: Option<MirrorService>,
    ) -> Self {
        Self {
            store,
            platforms,
            calls,
            mirror,
        }
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
            if let PlatformEvent::InstallationRevoked { external_id, .. } = &event {
                self.revoke(platform, external_id).await;
            }
            if let (Some(mirror), PlatformEvent::PresenceChanged { user, presence, .. }) =
                (&self.mirror, &event)
            {
                mirror.changed(user.clone(), presence.clone());
            }
            match &self.calls {
                Some(calls) => calls.on_event(platform, event).await,
                None if matches!(event, PlatformEvent::CallRequested { .. }) => {
                    self.decline_call(platform, &event).await;
                }
                None => {}
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
