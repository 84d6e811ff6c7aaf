//! Live refresh: `GET /client/{user}/view` is the live part of the page, and
//! `GET /client/{user}/events` a Server-Sent Events stream that says `change` whenever that
//! part would render differently. The check is a fingerprint of the rendered fragment every
//! [`CHECK_EVERY`], which catches every change (the app's, the clock's, another tab's) with
//! no hook into the code that makes them.

use std::convert::Infallible;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream;
use tokio::time::{Instant, MissedTickBehavior, interval};

use super::super::state::SlackState;
use super::html::unknown_user;
use super::view;

/// How often a stream checks whether the person's view changed.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// A stream ends after this long and the browser reconnects (its `EventSource` does so on its
/// own), so an open tab never holds up the sandbox's graceful shutdown for longer.
const STREAM_LIFETIME: Duration = Duration::from_secs(20);
/// How soon the browser reconnects after a stream ends.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// The fragment for `user`, or `None` when there is no such person.
fn fragment(state: &SlackState, user: &str) -> Option<String> {
    state.client_snapshot(user).map(|snap| view::render(&snap))
}

fn fingerprint(html: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    html.hash(&mut hasher);
    hasher.finish()
}

/// `GET /client/{user}/view`: the live part of the page, as HTML.
pub(crate) async fn view(State(state): State<SlackState>, Path(user): Path<String>) -> Response {
    match fragment(&state, &user) {
        Some(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        None => unknown_user(&user),
    }
}

struct Watch {
    state: SlackState,
    user: String,
    last: u64,
    ticks: tokio::time::Interval,
    until: Instant,
    greeted: bool,
}

/// `GET /client/{user}/events`: `event: change` with the new fingerprint as data, each time
/// the view changes; keep-alive comments in between.
pub(crate) async fn events(State(state): State<SlackState>, Path(user): Path<String>) -> Response {
    // Fingerprint now, before answering: a change made once the client has the response
    // headers is then always reported.
    let Some(first) = fragment(&state, &user) else {
        return unknown_user(&user);
    };
    let mut ticks = interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let watch = Watch {
        state,
        user,
        last: fingerprint(&first),
        ticks,
        until: Instant::now() + STREAM_LIFETIME,
        greeted: false,
    };
    let changes = stream::unfold(watch, |mut watch| async move {
        if !watch.greeted {
            watch.greeted = true;
            let hello = Event::default().retry(RECONNECT_AFTER).comment("watching");
            return Some((Ok::<_, Infallible>(hello), watch));
        }
        loop {
            if Instant::now() >= watch.until {
                return None;
            }
            watch.ticks.tick().await;
            let now = fingerprint(&fragment(&watch.state, &watch.user)?);
            if now != watch.last {
                watch.last = now;
                let event = Event::default().event("change").data(format!("{now:016x}"));
                return Some((Ok(event), watch));
            }
        }
    });
    Sse::new(changes)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
        .into_response()
}
