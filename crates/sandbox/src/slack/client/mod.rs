//! A Slack web client for the demo, served by the Slack sandbox itself under `/client/`: a
//! newcomer picks a seeded person and then *is* that Slack user in their own browser.
//!
//! | route | what |
//! |---|---|
//! | `GET /client/` | the people of every workspace, each linking to their client |
//! | `GET /client/{user}` | the person's client: what they see, a message box, status forms |
//! | `GET /client/{user}/view` | the live part of that page, as an HTML fragment |
//! | `GET /client/{user}/events` | Server-Sent Events: `change` whenever the live part changes |
//! | `POST /client/{user}/say` | `text` in `channel`: a slash command (signed, to the app) or a message |
//! | `POST /client/{user}/click` | a button click: the signed `block_actions` payload to the app |
//! | `POST /client/{user}/status`, `…/dnd`, `…/presence` | changes by hand |
//!
//! Every act goes through the same sandbox paths the tests use, so what the app receives is
//! exactly what Slack would send. Pages are server-rendered and work without the script; the
//! script (a static asset, as the strict CSP allows no inline code) only submits forms in
//! place and swaps in the live part when the stream says it changed. No auth: it is a sandbox.

mod act;
mod blocks;
mod html;
mod live;
mod page;
mod snapshot;
mod view;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::state::SlackState;

/// Where the client's script and stylesheet are served.
const JS_PATH: &str = "/client/static/client.js";
const CSS_PATH: &str = "/client/static/client.css";
/// The longest message or command the box accepts (Slack's own limit is far higher; a demo
/// never needs more, and a bound keeps a stray paste from flooding the app).
const MAX_TEXT_CHARS: usize = 4000;
/// The longest outcome notice echoed back from `?notice=`.
const MAX_NOTICE_CHARS: usize = 500;

/// Only first-party resources, no framing, forms only to this origin.
const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The client's routes, to merge into the Slack sandbox's router.
pub(crate) fn routes() -> Router<SlackState> {
    Router::new()
        .route("/client", get(|| async { Redirect::permanent("/client/") }))
        .route("/client/", get(page::picker))
        .route("/client/static/client.js", get(script))
        .route("/client/static/client.css", get(stylesheet))
        .route("/client/{user}", get(page::client))
        .route("/client/{user}/view", get(live::view))
        .route("/client/{user}/events", get(live::events))
        .route("/client/{user}/say", post(act::say))
        .route("/client/{user}/click", post(act::click))
        .route("/client/{user}/status", post(act::status))
        .route("/client/{user}/dnd", post(act::dnd))
        .route("/client/{user}/presence", post(act::presence))
        .layer(map_response(secure_headers))
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/client.js"),
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/client.css"),
    )
        .into_response()
}

/// The CSP and friends on every client response, errors included.
async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
