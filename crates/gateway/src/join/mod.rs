//! The join page (`/join/…`): how the Slack user's browser becomes a leg of a call.
//!
//! A call card's `join_url` carries a signed, expiring, single-use [`JoinTokens`] token. The page
//! it opens shows who is being called and the call's state, asks for the microphone after a
//! click, and signals WHIP-style (one SDP offer, one answer, over HTTPS) into the media core's
//! WebRTC leg through a [`JoinBackend`]. Routes (see [`routes`]):
//!
//! - `GET /join/{token}`: the page, or a clear page for an invalid (404), expired, used or
//!   finished (410) link;
//! - `GET /join/assets/join.js`, `/join/assets/join.css`: the page's only script and style;
//! - `POST /join/{token}/whip`: the offer (`application/sdp`); 201 with the answer and the
//!   session's `Location`, spending the token;
//! - `DELETE /join/session/{session}`: hang up; `GET /join/session/{session}/events`: the
//!   call's state as server-sent events.
//!
//! Spent tokens and open sessions are remembered in process, per node: the node that owns a
//! call serves its join page.

mod backend;
mod page;
mod routes;
mod sessions;
mod token;
mod used;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

pub use backend::{JoinBackend, JoinRefusal, JoinState, JoinView};
pub use page::CSP;
pub use token::{JoinClaim, JoinTokens, TokenError};

/// Where every join route lives; a link is this prefix followed by the token.
pub const PATH_PREFIX: &str = "/join/";

/// Everything the join routes share: the token key, the call side, and the node's memory of
/// spent tokens and open browser sessions.
pub struct JoinPage {
    tokens: JoinTokens,
    backend: Arc<dyn JoinBackend>,
    used: used::UsedNonces,
    sessions: sessions::Sessions,
}

impl JoinPage {
    /// The join page checking tokens with `tokens` and joining calls through `backend`.
    pub fn new(tokens: JoinTokens, backend: Arc<dyn JoinBackend>) -> Self {
        Self {
            tokens,
            backend,
            used: used::UsedNonces::default(),
            sessions: sessions::Sessions::default(),
        }
    }
}

impl std::fmt::Debug for JoinPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinPage").finish_non_exhaustive()
    }
}

/// The join routes, carrying their own state, to merge into a router of any state.
pub fn routes<S>(page: JoinPage) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/join/assets/{file}", get(routes::asset))
        .route("/join/session/{session}", delete(routes::leave))
        .route("/join/session/{session}/events", get(routes::events))
        .route("/join/{token}", get(routes::show))
        .route("/join/{token}/whip", post(routes::whip))
        .with_state(Arc::new(page))
}
