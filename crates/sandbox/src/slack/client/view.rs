//! The live part of a person's page (`GET /client/{user}/view`): their status, presence and
//! DND as Slack now shows them, and every conversation with the messages they see. The page
//! embeds it, the script swaps it in on change, and the event stream fingerprints it.

use std::fmt::Write as _;

use super::blocks::message_body;
use super::html::{escape, ts_time, utc};
use super::snapshot::Snapshot;

/// The fragment's HTML. It holds no relative times, so it only changes when the world does.
pub(crate) fn render(snap: &Snapshot) -> String {
    let shown: usize = snap.conversations.iter().map(|c| c.messages.len()).sum();
    let mut out = format!("<div class=\"view\" data-messages=\"{shown}\">");
    out.push_str(&me_now(snap));
    out.push_str(&teammates(snap));
    for conversation in &snap.conversations {
        let _ = write!(
            out,
            "<section class=\"conversation\" aria-labelledby=\"h-{id}\">\
             <h2 id=\"h-{id}\">{label}</h2>",
            id = escape(&conversation.id),
            label = escape(&conversation.label),
        );
        if conversation.messages.is_empty() {
            out.push_str("<p class=\"empty\">No messages yet.</p>");
        } else {
            out.push_str("<ol class=\"messages\">");
            for message in &conversation.messages {
                let author = snap
                    .names
                    .get(&message.user)
                    .map_or(message.user.as_str(), String::as_str);
                let _ = write!(
                    out,
                    "<li class=\"message{eph}\"><p class=\"meta\"><span class=\"author\">{author}</span> {time}{app}{only}{edited}</p>{body}</li>",
                    eph = if message.ephemeral_to.is_some() {
                        " ephemeral"
                    } else {
                        ""
                    },
                    author = escape(author),
                    time = ts_time(&message.ts),
                    app = if message.bot_id.is_some() {
                        " <span class=\"tag\">APP</span>"
                    } else {
                        ""
                    },
                    only = if message.ephemeral_to.is_some() {
                        " <span class=\"tag\">Only visible to you</span>"
                    } else {
                        ""
                    },
                    edited = if message.edited {
                        " <span class=\"tag\">edited</span>"
                    } else {
                        ""
                    },
                    body = message_body(snap, message),
                );
            }
            out.push_str("</ol>");
        }
        out.push_str("</section>");
    }
    if !snap.app_dm_open {
        let _ = write!(
            out,
            "<p class=\"empty\">Your direct message with {} opens when you first use {}.</p>",
            escape(&snap.app_name),
            escape(&snap.slash_command),
        );
    }
    out.push_str("</div>");
    out
}

/// The member list: each teammate's status, presence and DND, as Slack shows them beside a
/// name. Each item carries the user id (`data-user`) so it can be found.
fn teammates(snap: &Snapshot) -> String {
    let mut out = String::from(
        "<section class=\"people\" aria-labelledby=\"h-people\"><h2 id=\"h-people\">People</h2><ul>",
    );
    for view in &snap.teammates {
        let name = snap
            .names
            .get(&view.id)
            .map_or(view.name.as_str(), String::as_str);
        let status = if view.status_text.is_empty() && view.status_emoji.is_empty() {
            String::new()
        } else {
            format!(
                " <span class=\"emoji\">{}</span> <span class=\"status-text\">{}</span>",
                escape(&view.status_emoji),
                escape(&view.status_text)
            )
        };
        let _ = write!(
            out,
            "<li data-user=\"{id}\"><span class=\"author\">{name}</span> <span class=\"tag\">{presence}</span>{dnd}{status}</li>",
            id = escape(&view.id),
            name = escape(name),
            presence = escape(&view.presence),
            dnd = if view.dnd_snoozing {
                " <span class=\"tag dnd\">Do not disturb</span>"
            } else {
                ""
            },
        );
    }
    out.push_str("</ul></section>");
    out
}

/// Status, presence and DND, as Slack shows them to everyone. Status text is plain text in
/// Slack, not mrkdwn, so it is shown exactly as set.
fn me_now(snap: &Snapshot) -> String {
    let view = &snap.view;
    let status = if view.status_text.is_empty() && view.status_emoji.is_empty() {
        "No status".to_owned()
    } else {
        let mut text = format!(
            "<span class=\"emoji\">{}</span> <span id=\"status-text\">{}</span>",
            escape(&view.status_emoji),
            escape(&view.status_text)
        );
        if view.status_expiration > 0 {
            let _ = write!(text, " (until {})", escape(&utc(view.status_expiration)));
        }
        text
    };
    let presence = if view.manual_away {
        format!("{} (set away)", escape(&view.presence))
    } else {
        escape(&view.presence)
    };
    let dnd = match (view.dnd_snoozing, view.snooze_endtime) {
        (true, Some(end)) => format!("Snoozing until {}", escape(&utc(end))),
        (true, None) => "Snoozing".to_owned(),
        _ => "Off".to_owned(),
    };
    let huddle = view
        .huddle_call_id
        .as_ref()
        .map(|id| format!("<dt>Huddle</dt><dd>In huddle {}</dd>", escape(id)))
        .unwrap_or_default();
    format!(
        "<section class=\"me-now\" aria-labelledby=\"h-me-now\"><h2 id=\"h-me-now\">You, as others see you</h2>\
         <dl><dt>Status</dt><dd id=\"status\">{status}</dd>\
         <dt>Presence</dt><dd id=\"presence\">{presence}</dd>\
         <dt>Do not disturb</dt><dd id=\"dnd\">{dnd}</dd>{huddle}</dl></section>"
    )
}
