//! The join page's HTTP routes: the page, its assets, WHIP signalling and the browser session.
//!
//! Every answer is for a browser: HTML pages for people, short plain text for the page's
//! script, never JSON errors or internal detail. Tokens and SDP are never logged.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use callbridge_model::{MediaOffer, MediaTransport, Sdp};
use chrono::Utc;
use futures::StreamExt as _;
use futures::stream::{self, Stream};
use tokio::sync::watch;

use super::JoinPage;
use super::backend::{JoinRefusal, JoinState, JoinView};
use super::page::{self, Dead};
use super::token::{JoinClaim, TokenError};

/// How long a busy node asks the browser to wait before offering again.
const BUSY_RETRY_AFTER_SECS: &str = "5";

/// `GET /join/{token}`: the call page, or a page saying why the link leads nowhere.
pub(super) async fn show(State(join): State<Arc<JoinPage>>, Path(token): Path<String>) -> Response {
    let claim = match join.tokens.verify(&token, Utc::now()) {
        Ok(claim) => claim,
        Err(error) => return page::dead_link_page(dead(error)),
    };
    if join.used.is_spent(&claim.nonce) {
        return page::dead_link_page(Dead::Used);
    }
    match join.backend.view(claim.call, claim.leg).await {
        Some(view) if view.state != JoinState::Ended => page::call_page(&view),
        _ => page::dead_link_page(Dead::CallOver),
    }
}

/// `GET /join/assets/{file}`: the page's script and style sheet.
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    page::asset(&file).unwrap_or_else(|| page::plain(StatusCode::NOT_FOUND, "No such file"))
}

/// `POST /join/{token}/whip`: the browser's SDP offer in, the media core's answer out.
///
/// Spends the token: a second offer with the same link is refused. A refusal that a retry may
/// fix (an offer the media core cannot answer, no capacity) gives the token back.
pub(super) async fn whip(
    State(join): State<Arc<JoinPage>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = Utc::now();
    let claim = match join.tokens.verify(&token, now) {
        Ok(claim) => claim,
        Err(error) => return refused_token(error),
    };
    if !is_sdp(&headers) {
        return page::plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The offer must be sent as application/sdp",
        );
    }
    let Some(sdp) = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| Sdp::parse(text).ok())
    else {
        return page::plain(
            StatusCode::BAD_REQUEST,
            "The offer is not a valid SDP offer",
        );
    };
    if let Err(error) = join.used.spend(claim.nonce, claim.expires_at, now) {
        return refused_token(error);
    }
    let session = match join.sessions.open(claim.call, claim.leg, now) {
        Ok(session) => session,
        Err(error) => {
            join.used.refund(&claim.nonce);
            tracing::error!(%error, "cannot open a join session");
            return page::plain(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong");
        }
    };
    let offer = MediaOffer {
        transport: MediaTransport::WebRtc,
        sdp,
    };
    match join.backend.join(claim.call, claim.leg, offer).await {
        Ok(answer) => {
            tracing::info!(call = %claim.call, leg = %claim.leg, "browser joined");
            answered(&session, answer.sdp.as_str())
        }
        Err(refusal) => {
            join.sessions.close(&session);
            refused_join(&join, &claim, refusal)
        }
    }
}

/// `DELETE /join/session/{session}`: the browser hung up.
pub(super) async fn leave(
    State(join): State<Arc<JoinPage>>,
    Path(session): Path<String>,
) -> Response {
    let Some(session) = join.sessions.close(&session) else {
        return page::plain(StatusCode::NOT_FOUND, "No such session");
    };
    tracing::info!(call = %session.call, leg = %session.leg, "browser hung up");
    join.backend.leave(session.call, session.leg).await;
    let mut response = StatusCode::NO_CONTENT.into_response();
    page::protect(&mut response);
    response
}

/// `GET /join/session/{session}/events`: the call's view as server-sent events, one per change,
/// ending after the call ends.
pub(super) async fn events(State(join): State<Arc<JoinPage>>, Path(id): Path<String>) -> Response {
    let Some(session) = join.sessions.get(&id) else {
        return page::plain(StatusCode::NOT_FOUND, "No such session");
    };
    let views = match join.backend.watch(session.call) {
        Some(changes) => watch_views(changes).left_stream(),
        // Unknown to the call side: the call is over.
        None => stream::iter([JoinView {
            title: String::new(),
            state: JoinState::Ended,
        }])
        .right_stream(),
    };
    let events = views.map(move |view| {
        if view.state == JoinState::Ended {
            // Nothing is left to hang up: the session ends with the call.
            join.sessions.close(&id);
        }
        Event::default().json_data(&view)
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Reverse proxies must pass each event on as it comes.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    page::protect(&mut response);
    response
}

/// The current view, then each change, ending with the first `Ended` view; a call side that
/// drops the channel without saying so ends the call too.
fn watch_views(changes: watch::Receiver<JoinView>) -> impl Stream<Item = JoinView> + Send {
    stream::unfold(Some((changes, true)), |state| async move {
        let (mut changes, first) = state?;
        if !first && changes.changed().await.is_err() {
            let mut last = changes.borrow().clone();
            last.state = JoinState::Ended;
            return Some((last, None));
        }
        let view = changes.borrow_and_update().clone();
        let next = (view.state != JoinState::Ended).then_some((changes, false));
        Some((view, next))
    })
}

/// 201 with the answer and the session's address.
fn answered(session: &str, answer: &str) -> Response {
    let location = format!("/join/session/{session}");
    let mut response = (StatusCode::CREATED, answer.to_owned()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    page::protect(&mut response);
    response
}

/// The page's word for a token that is not (or no longer) good.
fn dead(error: TokenError) -> Dead {
    match error {
        TokenError::Malformed | TokenError::BadSignature => Dead::Invalid,
        TokenError::Expired => Dead::Expired,
        TokenError::AlreadyUsed => Dead::Used,
    }
}

/// A refused token, in plain text for the page's script.
fn refused_token(error: TokenError) -> Response {
    tracing::debug!(%error, "join offer refused");
    match dead(error) {
        Dead::Invalid => page::plain(StatusCode::NOT_FOUND, "This link is not valid"),
        Dead::Expired => page::plain(StatusCode::GONE, "This link has expired"),
        Dead::Used | Dead::CallOver => page::plain(StatusCode::GONE, "This link was already used"),
    }
}

/// A refused join, in plain text; gives the token back where a retry may succeed.
fn refused_join(join: &JoinPage, claim: &JoinClaim, refusal: JoinRefusal) -> Response {
    tracing::info!(call = %claim.call, leg = %claim.leg, %refusal, "browser join refused");
    match refusal {
        JoinRefusal::BadOffer => {
            join.used.refund(&claim.nonce);
            page::plain(
                StatusCode::BAD_REQUEST,
                "This browser's audio offer cannot be used for this call",
            )
        }
        JoinRefusal::Busy => {
            join.used.refund(&claim.nonce);
            let mut response = page::plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is busy; try again in a moment",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(BUSY_RETRY_AFTER_SECS),
            );
            response
        }
        JoinRefusal::NotYourLeg => page::plain(
            StatusCode::CONFLICT,
            "Someone has already joined this call with this link",
        ),
        JoinRefusal::CallOver => page::plain(StatusCode::GONE, "This call has ended"),
    }
}

/// Whether the body is declared as SDP (parameters such as a charset allowed).
fn is_sdp(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("application/sdp"))
}
