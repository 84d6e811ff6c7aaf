//! Block Kit as the client draws it: section, context and header text (mrkdwn shown as plain
//! text), buttons (links for URL buttons, forms for action buttons that go through the real
//! signed interactivity path) and call blocks as cards with the call's current state.

use std::fmt::Write as _;

use serde_json::Value;

use super::super::model::{ShownMessage, SlackCall};
use super::html::{escape, mrkdwn_text, safe_href, utc};
use super::snapshot::Snapshot;

/// What a message shows: its blocks when it has any Slack can draw, else its text.
pub(crate) fn message_body(snap: &Snapshot, message: &ShownMessage) -> String {
    let drawn = message
        .blocks
        .as_ref()
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .map(|block| render_block(snap, message, block))
                .collect::<String>()
        })
        .unwrap_or_default();
    if drawn.is_empty() {
        format!(
            "<p class=\"text\">{}</p>",
            escape(&mrkdwn_text(&message.text))
        )
    } else {
        drawn
    }
}

fn text_of(value: &Value) -> String {
    value["text"]
        .as_str()
        .map(|t| escape(&mrkdwn_text(t)))
        .unwrap_or_default()
}

fn render_block(snap: &Snapshot, message: &ShownMessage, block: &Value) -> String {
    match block["type"].as_str().unwrap_or_default() {
        "header" => format!(
            "<p class=\"header\"><strong>{}</strong></p>",
            text_of(&block["text"])
        ),
        "section" => {
            let mut out = String::new();
            if block["text"].is_object() {
                let _ = write!(out, "<p class=\"section\">{}</p>", text_of(&block["text"]));
            }
            if let Some(fields) = block["fields"].as_array() {
                out.push_str("<ul class=\"fields\">");
                for field in fields {
                    let _ = write!(out, "<li>{}</li>", text_of(field));
                }
                out.push_str("</ul>");
            }
            if block["accessory"].is_object() {
                out.push_str(&element(&snap.me.id, message, &block["accessory"]));
            }
            out
        }
        "context" => {
            let parts: Vec<String> = block["elements"]
                .as_array()
                .map(|elements| {
                    elements
                        .iter()
                        .map(|e| match e["type"].as_str() {
                            Some("image") => escape(e["alt_text"].as_str().unwrap_or_default()),
                            _ => text_of(e),
                        })
                        .filter(|t| !t.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            format!("<p class=\"context\">{}</p>", parts.join(" · "))
        }
        "actions" => {
            let buttons: String = block["elements"]
                .as_array()
                .map(|elements| {
                    elements
                        .iter()
                        .map(|e| element(&snap.me.id, message, e))
                        .collect()
                })
                .unwrap_or_default();
            format!("<div class=\"actions\">{buttons}</div>")
        }
        "divider" => "<hr>".to_owned(),
        "image" => format!(
            "<p class=\"image\">[image: {}]</p>",
            escape(block["alt_text"].as_str().unwrap_or_default())
        ),
        "call" => block["call_id"]
            .as_str()
            .map(|id| call_card(snap, id))
            .unwrap_or_default(),
        // Rich text and other blocks: the message's `text` is the fallback Slack documents.
        _ => String::new(),
    }
}

/// A button: a URL button is a link opened in a new tab; any other button is a form posting
/// the click to the client, which sends the app the signed `block_actions` payload.
fn element(user: &str, message: &ShownMessage, element: &Value) -> String {
    if element["type"] != "button" {
        let kind = element["type"].as_str().unwrap_or("element");
        return format!(
            "<span class=\"unsupported\">[{} not supported in this client]</span>",
            escape(kind)
        );
    }
    let label = escape(element["text"]["text"].as_str().unwrap_or("Button"));
    let style = match element["style"].as_str() {
        Some("primary") => " primary",
        Some("danger") => " danger",
        _ => "",
    };
    if let Some(url) = element["url"].as_str() {
        return match safe_href(url) {
            Some(href) => format!(
                "<a class=\"button{style}\" href=\"{href}\" target=\"_blank\" rel=\"noopener\">{label}</a>"
            ),
            None => format!(
                "<span class=\"button{style}\">{label} ({})</span>",
                escape(url)
            ),
        };
    }
    let action_id = element["action_id"].as_str().unwrap_or_default();
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/client/{user}/click\">\
         <input type=\"hidden\" name=\"channel\" value=\"{channel}\">\
         <input type=\"hidden\" name=\"ts\" value=\"{ts}\">\
         <input type=\"hidden\" name=\"action_id\" value=\"{action}\">\
         <button type=\"submit\" class=\"button{style}\">{label}</button></form>",
        channel = escape(&message.channel),
        ts = escape(&message.ts),
        action = escape(action_id),
        user = escape(user),
    )
}

/// The call's state as a person sees it: until someone on the Slack side has joined (only
/// the far end, if anyone, is in it) it is ringing.
fn call_state(call: &SlackCall) -> &'static str {
    if call.has_ended() {
        "ended"
    } else if !call.users.iter().any(|u| u["slack_id"].is_string()) {
        "ringing"
    } else {
        "active"
    }
}

fn participant(snap: &Snapshot, user: &Value) -> String {
    let name = user["slack_id"]
        .as_str()
        .map(|id| snap.names.get(id).map_or(id, String::as_str))
        .or_else(|| user["display_name"].as_str())
        .or_else(|| user["external_id"].as_str())
        .unwrap_or("someone");
    escape(name)
}

/// A call block: title, state, participants and the Join link while it is not over.
fn call_card(snap: &Snapshot, call_id: &str) -> String {
    let Some(call) = snap.calls.get(call_id) else {
        return format!(
            "<div class=\"call\"><p>Call {} (no longer known)</p></div>",
            escape(call_id)
        );
    };
    let state = call_state(call);
    let title = escape(call.title.as_deref().unwrap_or("Call"));
    let people: Vec<String> = call.users.iter().map(|u| participant(snap, u)).collect();
    let mut out = format!(
        "<div class=\"call {state}\"><p class=\"call-title\"><strong>{title}</strong> \
         <span class=\"call-state\">{state}</span></p>"
    );
    if let Some(display) = &call.external_display_id {
        let _ = write!(out, "<p class=\"context\">Meeting {}</p>", escape(display));
    }
    let _ = write!(
        out,
        "<p class=\"context\">Started {}",
        escape(&utc(call.date_start))
    );
    if let Some(end) = call.date_end {
        let _ = write!(out, ", ended {}", escape(&utc(end)));
    }
    out.push_str("</p>");
    let _ = write!(
        out,
        "<p class=\"participants\">Participants: {}</p>",
        if people.is_empty() {
            "none yet".to_owned()
        } else {
            people.join(", ")
        }
    );
    if !call.has_ended() {
        match safe_href(&call.join_url) {
            Some(href) => {
                let _ = write!(
                    out,
                    "<p><a class=\"button primary\" href=\"{href}\" target=\"_blank\" rel=\"noopener\">Join</a></p>"
                );
            }
            None => {
                let _ = write!(out, "<p>Join at {}</p>", escape(&call.join_url));
            }
        }
    }
    out.push_str("</div>");
    out
}
