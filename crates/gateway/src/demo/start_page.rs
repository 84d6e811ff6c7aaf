//! The demo's start page (`/demo/`): the one URL a newcomer opens, linking to the Slack and
//! Teams stand-in clients with the three things to try, and to what an operator sees.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;

/// The policy the page is written for: its own style sheet, nothing else.
const CSP: &str = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";
const CSS: &str = include_str!("assets/demo.css");

/// Where the demo's parts answer.
#[derive(Clone, Debug)]
pub(super) struct Places {
    /// The gateway, `http://127.0.0.1:8080` (no trailing slash).
    pub(super) gateway: String,
    /// The Slack stand-in's client, as one person: `…/client/` then a user id.
    pub(super) slack_client: String,
    /// The Teams stand-in's client.
    pub(super) teams_client: String,
    /// The generated configuration file (it holds the admin token).
    pub(super) config_file: String,
}

impl Places {
    /// The start page's URL.
    pub(super) fn start_url(&self) -> String {
        format!("{}/demo/", self.gateway)
    }

    /// The lines printed when the demo is ready.
    pub(super) fn walkthrough(&self) -> String {
        format!(
            "callbridge demo is running.\n\n  Open {start}\n\n\
             There: open Slack as Bob and Teams as Alice, side by side.\n\
             1. As Bob, type `/call alice@contoso.test`; answer on Alice's phone; press Join on\n   \
             Bob's call card and allow the microphone: you hear yourself through the bridge.\n\
             2. Set Alice to Do not disturb in Teams: her Slack status follows.\n\
             3. As Alice, send the bot `call bob@example.com`; answer her phone; Bob's Slack rings.\n\n\
             Operator: {gateway}/ (status), {gateway}/metrics, {gateway}/api/v1/calls\n\
             (bearer token: [admin] token in {config}).\nStop with Ctrl-C.",
            start = self.start_url(),
            gateway = self.gateway,
            config = self.config_file,
        )
    }
}

/// `/demo/` and its style sheet.
pub(super) fn routes(places: &Places) -> Router {
    let page = render(places);
    Router::new()
        .route(
            "/demo/",
            get(move || {
                let page = page.clone();
                async move { with_csp(Html(page)) }
            }),
        )
        .route(
            "/demo/demo.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS) }),
        )
        .route(
            "/demo",
            get(|| async { axum::response::Redirect::permanent("/demo/") }),
        )
}

fn with_csp(response: impl IntoResponse) -> impl IntoResponse {
    let mut response = response.into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// The page. Every interpolated value is a URL the demo built itself from loopback addresses
/// and seeded ids; they are escaped all the same.
fn render(places: &Places) -> String {
    let e = |text: &str| escape(text);
    format!(
        include_str!("assets/start.html"),
        slack_bob = e(&format!("{}U0DEMOBOB1", places.slack_client)),
        slack_alice = e(&format!("{}U0DEMOALI4", places.slack_client)),
        slack_people = e(&places.slack_client),
        teams_alice = e(&format!("{}alice@contoso.test", places.teams_client)),
        teams_people = e(&places.teams_client),
        gateway = e(&places.gateway),
        config_file = e(&places.config_file),
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
