//! Inbound events after the ack: one queue, one loop that hands each event to the
//! [`EventHandler`] and then marks it done in the inbox. Events claimed but never marked done
//! (the process died between the ack and the work) are delivered again at start, so a
//! platform's event is acted on once even across a crash.

use std::sync::Arc;
use std::time::Duration;

use callbridge_adapter::BoxFuture;
use callbridge_model::{Platform, PlatformEvent};
use callbridge_store::{EventInbox, SqlStore, StoreError};
use chrono::Utc;
use tokio::sync::mpsc;

/// How many accepted events may wait for the handler before the edge pushes back.
const QUEUE_DEPTH: usize = 4096;

/// What the gateway does with an accepted event (the call engine's driver, in time).
pub trait EventHandler: Send + Sync + 'static {
    /// Acts on one event. Returning is the point after which the inbox forgets it.
    fn handle(&self, platform: Platform, event: PlatformEvent) -> BoxFuture<'_, ()>;
}

/// Where the edge puts accepted events.
#[derive(Clone, Debug)]
pub struct EventSink {
    queue: mpsc::Sender<(Platform, PlatformEvent)>,
}

impl EventSink {
    /// Queues an event; waits when the queue is full rather than dropping it (it is claimed
    /// in the inbox and would otherwise wait for the next start).
    pub async fn push(&self, platform: Platform, event: PlatformEvent) {
        if self.queue.send((platform, event)).await.is_err() {
            tracing::error!("event loop stopped; the event stays pending in the inbox");
        }
    }
}

/// Starts the loop that feeds `handler`, after queueing every event left pending by a previous
/// run. Returns the sink the edge pushes to.
pub async fn start(
    store: SqlStore,
    handler: Arc<dyn EventHandler>,
) -> Result<EventSink, StoreError> {
    let (queue, mut events) = mpsc::channel(QUEUE_DEPTH);
    let sink = EventSink { queue };
    // Read what the previous run left before the edge can claim anything new.
    let pending = store.pending_events(Utc::now(), Duration::ZERO).await?;
    tokio::spawn(async move {
        while let Some((platform, event)) = events.recv().await {
            let id = event.event_id().cloned();
            handler.handle(platform, event).await;
            if let Some(id) = id
                && let Err(error) = store
                    .complete_event(platform, id.as_str(), Utc::now())
                    .await
            {
                tracing::warn!(%error, "could not mark an event done; it may run again at start");
            }
        }
    });
    let redelivered = redeliver(&sink, pending).await;
    if redelivered > 0 {
        tracing::info!(
            redelivered,
            "events left pending by the previous run queued again"
        );
    }
    Ok(sink)
}

async fn redeliver(sink: &EventSink, pending: Vec<callbridge_store::PendingEvent>) -> usize {
    let mut count = 0;
    for stored in pending {
        match serde_json::from_str::<PlatformEvent>(&stored.payload) {
            Ok(event) => {
                sink.push(stored.platform, event).await;
                count += 1;
            }
            Err(error) => {
                metrics::counter!("callbridge_inbox_unreadable_total").increment(1);
                tracing::error!(%error, platform = stored.platform.as_str(), "pending event unreadable; left in the inbox");
            }
        }
    }
    count
}
