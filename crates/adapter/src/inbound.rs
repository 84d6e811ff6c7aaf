//! Inbound requests: what the gateway hands an adapter, what it answers, and the one pipeline
//! ([`accept`]) that runs every inbound request through its adapter and the durable inbox, so
//! a platform's retries never double a side effect.

use bytes::Bytes;
use callbridge_model::{EventId, Platform, PlatformEvent};
use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, StatusCode};

use crate::adapter::{BoxFuture, PlatformAdapter};
use crate::error::AdapterError;

/// An HTTP request addressed to one adapter, with its raw body (signatures are computed over
/// the exact bytes received).
#[derive(Clone, Debug)]
pub struct InboundRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path below the adapter's mount point, starting with `/` (`/commands`, `/events`).
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
    /// When the gateway received the request: the reference for signature time windows.
    pub received_at: DateTime<Utc>,
}

/// The immediate HTTP answer to an inbound request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundReply {
    /// The status.
    pub status: StatusCode,
    /// The headers (content type at least, when there is a body).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl InboundReply {
    /// An empty `200 OK`: the plain ack.
    pub fn ok() -> Self {
        Self::empty(StatusCode::OK)
    }

    /// An empty answer with a status (`202 Accepted` for Graph notifications).
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// A body with its content type.
    pub fn with_body(
        status: StatusCode,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        Self {
            status,
            headers,
            body: body.into(),
        }
    }

    /// A JSON body.
    pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self::with_body(status, "application/json; charset=utf-8", body)
    }
}

/// What an adapter made of an inbound request: the answer, and the events to act on after it.
#[derive(Clone, Debug)]
pub struct Inbound {
    /// Sent back to the platform at once.
    pub reply: InboundReply,
    /// The translated events; empty for handshakes, pings and ignored event types.
    pub events: Vec<PlatformEvent>,
}

impl Inbound {
    /// A reply with no events.
    pub const fn reply_only(reply: InboundReply) -> Self {
        Self {
            reply,
            events: Vec::new(),
        }
    }
}

/// The durable inbox, as adapters and the [`accept`] pipeline see it. The gateway implements
/// it over the store; [`MemoryInbox`] serves tests.
pub trait Inbox: Send + Sync {
    /// Offers an event; `true` only for its first delivery.
    fn claim(
        &self,
        platform: Platform,
        event_id: &EventId,
        payload: &str,
    ) -> BoxFuture<'_, Result<bool, AdapterError>>;
}

/// Runs one inbound request through its adapter, then drops every event the inbox has seen
/// before. Rejections are counted by platform and reason.
pub async fn accept(
    adapter: &dyn PlatformAdapter,
    inbox: &dyn Inbox,
    request: InboundRequest,
) -> Result<Inbound, AdapterError> {
    let platform = adapter.platform();
    let mut inbound = match adapter.handle_inbound(request).await {
        Ok(inbound) => inbound,
        Err(error) => {
            metrics_rejected(platform, &error);
            return Err(error);
        }
    };
    let mut fresh = Vec::with_capacity(inbound.events.len());
    for event in inbound.events {
        if let Some(id) = event.event_id() {
            let payload = serde_json::to_string(&event)
                .map_err(|error| AdapterError::Bug(format!("event not serialisable: {error}")))?;
            if !inbox.claim(platform, id, &payload).await? {
                metrics::counter!("callbridge_inbound_duplicates_total", "platform" => platform.as_str())
                    .increment(1);
                tracing::debug!(platform = platform.as_str(), "duplicate event dropped");
                continue;
            }
        }
        fresh.push(event);
    }
    inbound.events = fresh;
    Ok(inbound)
}

fn metrics_rejected(platform: Platform, error: &AdapterError) {
    metrics::counter!(
        "callbridge_inbound_rejected_total",
        "platform" => platform.as_str(),
        "reason" => error.label(),
    )
    .increment(1);
    tracing::info!(platform = platform.as_str(), reason = error.label(), %error, "inbound request rejected");
}

/// An inbox in memory, for tests and the conformance suite.
#[derive(Debug, Default)]
pub struct MemoryInbox {
    seen: std::sync::Mutex<std::collections::HashSet<(Platform, EventId)>>,
}

impl Inbox for MemoryInbox {
    fn claim(
        &self,
        platform: Platform,
        event_id: &EventId,
        _payload: &str,
    ) -> BoxFuture<'_, Result<bool, AdapterError>> {
        let fresh = self
            .seen
            .lock()
            .map(|mut seen| seen.insert((platform, event_id.clone())))
            .map_err(|_| AdapterError::Bug("inbox lock poisoned".to_owned()));
        Box::pin(async move { fresh })
    }
}
