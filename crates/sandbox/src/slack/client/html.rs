//! HTML helpers shared by the client's pages: escaping, Slack text made readable, times, the
//! page shell and the error pages.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::DateTime;

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Slack's mrkdwn as a person reads it, still unescaped for HTML: `<target|label>` shows the
/// label, `<target>` the target, and Slack's own `&amp;`/`&lt;`/`&gt;` the characters.
pub(crate) fn mrkdwn_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &after[..end];
        let shown = inner.split_once('|').map_or(inner, |(_, label)| label);
        out.push_str(shown.strip_prefix("mailto:").unwrap_or(shown));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A link target that is safe to put in `href`: only http(s) URLs, so a remote
/// `javascript:` URL can never become a clickable script.
pub(crate) fn safe_href(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| escape(parsed.as_str()))
}

/// Unix seconds as `2026-12-03 17:35:02 UTC`.
pub(crate) fn utc(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0).map_or_else(
        || unix.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// A message `ts` (`"<unix>.<n>"`) as a `<time>` element.
pub(crate) fn ts_time(ts: &str) -> String {
    let secs = ts
        .split('.')
        .next()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_default();
    let shown = DateTime::from_timestamp(secs, 0)
        .map_or_else(String::new, |t| t.format("%H:%M:%S").to_string());
    let machine = DateTime::from_timestamp(secs, 0)
        .map_or_else(String::new, |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    format!("<time datetime=\"{machine}\">{shown}</time>")
}

/// A whole page: title, the client's stylesheet and script, and `body`.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — Slack sandbox</title>\
         <link rel=\"stylesheet\" href=\"{css}\">\
         <script src=\"{js}\" defer></script></head><body>{body}</body></html>",
        title = escape(title),
        css = super::CSS_PATH,
        js = super::JS_PATH,
    )
}

/// A plain page explaining why a request was refused, with a way back to the picker.
pub(crate) fn error_page(status: StatusCode, reason: &str) -> Response {
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Not possible yet",
        s if s.is_client_error() => "Request refused",
        _ => "Something went wrong",
    };
    let body = format!(
        "<main><h1>{heading}</h1><p id=\"reason\">{}</p>\
         <p><a href=\"/client/\">Back to the list of people</a></p></main>",
        escape(reason)
    );
    (status, Html(page(heading, &body))).into_response()
}

/// The 404 page for a user id the sandbox does not know (or a bot, which has no client).
pub(crate) fn unknown_user(user: &str) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        &format!("There is no person with the id {user} in this Slack sandbox."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn mrkdwn_links_show_their_labels() {
        assert_eq!(
            mrkdwn_text("Call <mailto:a@b.c|a@b.c> or <https://x.y> &amp; <@U1|bob> <broken"),
            "Call a@b.c or https://x.y & bob <broken"
        );
    }

    #[test]
    fn only_web_links_are_clickable() {
        assert!(safe_href("javascript:alert(1)").is_none());
        assert!(safe_href("not a url").is_none());
        assert_eq!(
            safe_href("https://x.y/a?b=\"c\"").as_deref(),
            Some("https://x.y/a?b=%22c%22")
        );
    }
}
