//! Requests from the platforms (`/slack/…`, `/teams/…`): handed raw to the adapter mounted
//! there, run through the durable inbox, answered with the adapter's ack, and their events
//! queued for the work that follows.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use callbridge_adapter::{InboundReply, InboundRequest, accept};
use chrono::Utc;

use super::error::ApiError;
use crate::state::AppState;

/// One catch-all route per mounted adapter.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for (name, _) in state.platforms().iter() {
        let prefix = format!("/{name}");
        router = router.route(
            &format!("{prefix}/{{*rest}}"),
            any(move |state, method, uri, headers, body| {
                inbound(state, name, method, uri, headers, body)
            }),
        );
    }
    router
}

async fn inbound(
    State(state): State<AppState>,
    mount: &'static str,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let adapter = state.platforms().adapter(mount).ok_or(ApiError::NotFound)?;
    let path = uri
        .path()
        .strip_prefix(&format!("/{mount}"))
        .unwrap_or_default()
        .to_owned();
    let request = InboundRequest {
        method,
        path,
        query: uri.query().map(str::to_owned),
        headers,
        body,
        received_at: Utc::now(),
    };
    let inbound = accept(adapter.as_ref(), state.inbox(), request).await?;
    let platform = adapter.platform();
    if let Some(sink) = state.events() {
        for event in inbound.events {
            sink.push(platform, event).await;
        }
    }
    Ok(reply(inbound.reply))
}

fn reply(reply: InboundReply) -> Response {
    let mut response = (reply.status, Body::from(reply.body)).into_response();
    response.headers_mut().extend(reply.headers);
    response
}
