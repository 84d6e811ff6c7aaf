//! The join page's HTML, its error pages, its static assets, and the headers they all carry.
//!
//! Server-rendered, every interpolated text escaped, no inline script or style: the page works
//! under [`CSP`], which every response here carries.

use std::fmt::Write as _;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::backend::JoinView;

/// The policy the page is written for: first-party script, style, fetches and media only.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; media-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'none'";

/// The page's script.
const JS: &str = include_str!("assets/join.js");
/// The page's style sheet.
const CSS: &str = include_str!("assets/join.css");

/// A fingerprint of an asset, put in its URL so that it can be cached for good.
const fn fingerprint(bytes: &[u8]) -> u64 {
    // FNV-1a: not a security measure, only a cache key that changes with the content.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const JS_VERSION: u64 = fingerprint(JS.as_bytes());
const CSS_VERSION: u64 = fingerprint(CSS.as_bytes());

/// The page for a live call.
pub(crate) fn call_page(view: &JoinView) -> Response {
    let title = escape(&view.title);
    let state = view.state;
    let body = format!(
        r#"<main class="card">
<h1 id="title">{title}</h1>
<p id="state" class="state" role="status" aria-live="polite">{label}</p>
<p id="mic-help" class="help">When you select Join, your browser asks to use your microphone. Allow it so the other person can hear you.</p>
<div class="controls">
<button id="join" type="button" class="primary" aria-describedby="mic-help">Join</button>
<button id="mute" type="button" aria-pressed="false" disabled>Mute</button>
<button id="hangup" type="button" class="danger" disabled>Hang up</button>
</div>
<p id="error" class="error" role="alert" hidden></p>
<audio id="remote" autoplay></audio>
</main>"#,
        label = escape(state.label()),
    );
    document(StatusCode::OK, &view.title, state.as_str(), &body, true)
}

/// Why a link shows an error page instead of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dead {
    /// Not a link of this gateway, or tampered with.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Spent on a join already.
    Used,
    /// Genuine and current, but the call is over.
    CallOver,
}

/// The clear page for a link that does not lead to a call.
pub(crate) fn dead_link_page(dead: Dead) -> Response {
    let (status, heading, advice) = match dead {
        Dead::Invalid => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "Check that you opened the whole link from the call card.",
        ),
        Dead::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "Join links work for a short time only. Ask the other person to call again.",
        ),
        Dead::Used => (
            StatusCode::GONE,
            "This link was already used",
            "Each join link works once. If you left the call, ask the other person to call again.",
        ),
        Dead::CallOver => (
            StatusCode::GONE,
            "This call has ended",
            "The call is over. Ask the other person to call again.",
        ),
    };
    let body = format!(
        r#"<main class="card">
<h1>{heading}</h1>
<p class="help">{advice}</p>
</main>"#
    );
    document(status, heading, "ended", &body, false)
}

/// A whole HTML document around `body`, with the page's headers.
fn document(status: StatusCode, title: &str, state: &str, body: &str, script: bool) -> Response {
    let mut html = String::with_capacity(body.len() + 768);
    html.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    html.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n");
    // Writing to a String cannot fail.
    let _ = writeln!(html, "<title>{} · callbridge</title>", escape(title));
    let _ = writeln!(
        html,
        "<link rel=\"stylesheet\" href=\"/join/assets/join.css?v={CSS_VERSION:016x}\">"
    );
    if script {
        let _ = writeln!(
            html,
            "<script src=\"/join/assets/join.js?v={JS_VERSION:016x}\" defer></script>"
        );
    }
    let _ = write!(
        html,
        "</head>\n<body data-state=\"{}\">\n{body}\n</body>\n</html>\n",
        escape(state)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The token is in the URL: nothing may keep the page or leak its address.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    protect(&mut response);
    response
}

/// A static asset, cacheable for good (its URL changes with its content).
pub(crate) fn asset(name: &str) -> Option<Response> {
    let (body, content_type) = match name {
        "join.js" => (JS, "text/javascript; charset=utf-8"),
        "join.css" => (CSS, "text/css; charset=utf-8"),
        _ => return None,
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response();
    protect(&mut response);
    Some(response)
}

/// A short plain-text answer for the page's script (WHIP and session routes).
pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response();
    protect(&mut response);
    response
}

/// The headers every join response carries.
pub(crate) fn protect(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("Zoë Ō'Brien"), "Zoë Ō&#39;Brien");
    }

    #[test]
    fn fingerprints_follow_content() {
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
        assert_eq!(fingerprint(JS.as_bytes()), JS_VERSION);
    }

    #[test]
    fn unknown_assets_are_not_served() {
        assert!(asset("join.js").is_some());
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("join.html").is_none());
    }
}
