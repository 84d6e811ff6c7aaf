//! The client's HTML: the page shell, the user picker, the live part of a user's Teams (status,
//! calls, bot chat) and error pages. Every interpolated string is escaped; the page loads only
//! its own script and stylesheet.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::book::{Sent, UserClient};
use super::card;
use crate::microsoft::phone::behaviour::{CallDirection, CallRecord};
use crate::microsoft::seed::{TenantSeed, UserSeed};
use crate::microsoft::{BotMessage, ShownPresence};

/// Escapes text for HTML element content.
pub(super) fn escape(text: &str) -> String {
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

/// Escapes text for a double-quoted attribute value (the same rules).
pub(super) fn attr(text: &str) -> String {
    escape(text)
}

/// Percent-encodes one URL path segment (a UPN, a Call-ID).
pub(super) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `InAMeeting` → `In a meeting`, `DoNotDisturb` → `Do not disturb`.
pub(super) fn words(token: &str) -> String {
    let mut out = String::new();
    for (i, c) in token.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A whole page around `body`.
pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><link rel=\"stylesheet\" href=\"/client/assets/client.css\">\
<script src=\"/client/assets/client.js\" defer></script></head><body>\
<header class=\"top\"><span class=\"brand\">Teams</span> <span class=\"sandbox\">sandbox</span> \
<a href=\"/client/\">Switch user</a></header>{body}</body></html>",
        escape(title)
    )
}

/// An error page: what went wrong and a way back.
pub(super) fn error_page(title: &str, detail: &str, back: &str) -> String {
    page(
        title,
        &format!(
            "<main class=\"error\"><h1>{}</h1><p>{}</p><p><a href=\"{}\">Back</a></p></main>",
            escape(title),
            escape(detail),
            attr(back)
        ),
    )
}

/// The user picker.
pub(super) fn picker(users: &[(&TenantSeed, &UserSeed)]) -> String {
    let mut body = String::from(
        "<main><h1>Sign in to Teams as…</h1><p>Pick a user of the sandbox tenant. Their phone \
rings here and waits for you to answer.</p><ul class=\"users\">",
    );
    for (tenant, user) in users {
        let _ = write!(
            body,
            "<li><a href=\"/client/{}\"><strong>{}</strong></a> <span class=\"upn\">{}</span> \
<span class=\"tenant\">{}</span></li>",
            segment(&user.upn),
            escape(&user.display_name),
            escape(&user.upn),
            escape(&tenant.display_name)
        );
    }
    body.push_str("</ul></main>");
    page("Teams (sandbox)", &body)
}

/// A user's full page: the live part inside `#view`, and the polite live region.
pub(super) fn user_page(user: &UserSeed, tenant: &TenantSeed, view: &View<'_>) -> String {
    let base = format!("/client/{}", segment(&user.upn));
    let body = format!(
        "<main><h1>{} <span class=\"upn\">{} · {}</span></h1>\
<div id=\"view\" data-view-url=\"{base}/view\" data-events-url=\"{base}/events?since={}\">{}</div>\
<p id=\"announce\" class=\"visually-hidden\" role=\"status\" aria-live=\"polite\">{}</p></main>",
        escape(&user.display_name),
        escape(&user.upn),
        escape(&tenant.display_name),
        view.fingerprint,
        view.render(),
        escape(&view.announcement())
    );
    page(&format!("{} | Teams (sandbox)", user.display_name), &body)
}

/// Everything the live part shows.
pub(super) struct View<'a> {
    pub(super) user: &'a UserSeed,
    pub(super) bot_name: &'a str,
    pub(super) presence: Option<ShownPresence>,
    pub(super) calls: Vec<CallRecord>,
    pub(super) messages: Vec<BotMessage>,
    pub(super) client: UserClient,
    pub(super) plays_prompt: bool,
    pub(super) now: DateTime<Utc>,
    pub(super) fingerprint: u64,
}

impl View<'_> {
    fn base(&self) -> String {
        format!("/client/{}", segment(&self.user.upn))
    }

    /// What the live region says: the ringing call, if any.
    pub(super) fn announcement(&self) -> String {
        self.calls
            .iter()
            .find(|c| c.state == "ringing" && c.direction == CallDirection::Inbound)
            .map(|c| format!("Incoming call from {}", who(c)))
            .unwrap_or_default()
    }

    /// The live part's HTML (what `/view` returns).
    pub(super) fn render(&self) -> String {
        format!(
            "<div class=\"live\" data-fingerprint=\"{}\" data-announce=\"{}\">{}{}{}</div>",
            self.fingerprint,
            attr(&self.announcement()),
            self.presence_html(),
            self.phone_html(),
            self.chat_html()
        )
    }

    fn presence_html(&self) -> String {
        let shown = self.presence.as_ref().map_or_else(
            || "<p class=\"presence\">Status unknown</p>".to_owned(),
            |p| {
                // Teams names the activity only when it says more than the availability.
                let activity = if p.activity == p.availability {
                    String::new()
                } else {
                    format!(" · {}", escape(&words(&p.activity).to_lowercase()))
                };
                format!(
                    "<p class=\"presence\"><span class=\"dot dot-{}\" aria-hidden=\"true\"></span> \
<strong>{}</strong>{activity}{}</p>",
                    attr(&p.availability.to_ascii_lowercase()),
                    escape(&words(&p.availability)),
                    p.status_message
                        .as_deref()
                        .map(|m| format!(" <span class=\"status-message\">“{}”</span>", escape(m)))
                        .unwrap_or_default()
                )
            },
        );
        let buttons: String = [
            ("available", "Available"),
            ("busy", "Busy"),
            ("dnd", "Do not disturb"),
            ("brb", "Be right back"),
            ("away", "Away"),
            ("reset", "Reset status"),
            ("meeting", "Join a meeting"),
            ("leave-meeting", "Leave the meeting"),
        ]
        .iter()
        .map(|(value, label)| {
            format!("<button type=\"submit\" name=\"state\" value=\"{value}\">{label}</button>")
        })
        .collect();
        format!(
            "<section class=\"panel\" aria-labelledby=\"presence-h\"><h2 id=\"presence-h\">Status</h2>{shown}\
<form method=\"post\" action=\"{}/presence\" class=\"buttons\">{buttons}</form>\
<p class=\"hint\">A status you pick stays until you reset it, as in Teams; a meeting shows \
only while no status is picked.</p></section>",
            self.base()
        )
    }

    fn phone_html(&self) -> String {
        let base = self.base();
        let mut live = String::new();
        for call in self.calls.iter().filter(|c| is_active(c)) {
            let path = format!("{base}/calls/{}", segment(&call.call_id));
            match (call.state.as_str(), call.direction) {
                ("ringing", CallDirection::Inbound) => {
                    let _ = write!(
                        live,
                        "<div class=\"call ringing\"><p>Incoming call from <strong>{}</strong>{}</p>\
<form method=\"post\" action=\"{path}/answer\"><button class=\"answer\" type=\"submit\">Answer</button></form>\
<form method=\"post\" action=\"{path}/decline\"><button class=\"decline\" type=\"submit\">Decline</button></form></div>",
                        escape(&who(call)),
                        number_suffix(call)
                    );
                }
                ("ringing", CallDirection::Outbound) => {
                    let _ = write!(
                        live,
                        "<div class=\"call\"><p>Calling <strong>{}</strong>…</p></div>",
                        escape(&who(call))
                    );
                }
                (state, _) => {
                    let secs = call
                        .answered_at
                        .map_or(0, |at| (self.now - at).num_seconds().max(0));
                    let _ = write!(
                        live,
                        "<div class=\"call live-call\"><p>{} <strong>{}</strong>{} · \
<span data-duration=\"{secs}\">{}</span></p>\
<form method=\"post\" action=\"{path}/hangup\"><button class=\"decline\" type=\"submit\">Hang up</button></form></div>",
                        if state == "held" {
                            "On hold with"
                        } else {
                            "In a call with"
                        },
                        escape(&who(call)),
                        number_suffix(call),
                        clock(secs)
                    );
                }
            }
        }
        if live.is_empty() {
            live.push_str("<p class=\"quiet\">No calls right now.</p>");
        }
        let (echo, prompt) = if self.plays_prompt {
            ("", " checked")
        } else {
            (" checked", "")
        };
        let recent: String = self
            .calls
            .iter()
            .rev()
            .filter(|c| !is_active(c))
            .take(5)
            .map(|c| {
                format!(
                    "<li>{} {}: {}</li>",
                    if c.direction == CallDirection::Inbound {
                        "From"
                    } else {
                        "To"
                    },
                    escape(&who(c)),
                    escape(&words(&c.state.replace('_', " ")))
                )
            })
            .collect();
        let recent = if recent.is_empty() {
            String::new()
        } else {
            format!("<h3>Recent calls</h3><ul class=\"recent\">{recent}</ul>")
        };
        format!(
            "<section class=\"panel\" aria-labelledby=\"phone-h\"><h2 id=\"phone-h\">Calls</h2>{live}\
<form method=\"post\" action=\"{base}/phone\" class=\"settings\"><fieldset><legend>When I answer, my phone plays</legend>\
<label><input type=\"radio\" name=\"plays\" value=\"echo\"{echo}> My own voice back (echo)</label>\
<label><input type=\"radio\" name=\"plays\" value=\"prompt\"{prompt}> A spoken prompt, then the echo</label>\
</fieldset><button type=\"submit\">Save</button></form>\
<form method=\"post\" action=\"{base}/dial\" class=\"dial\"><label for=\"dial-number\">Call a number</label> \
<input id=\"dial-number\" name=\"number\" type=\"tel\" required placeholder=\"+15550001000\" autocomplete=\"off\"> \
<button type=\"submit\">Call</button></form>{recent}</section>"
        )
    }

    fn chat_html(&self) -> String {
        let base = self.base();
        let card_url = format!("{base}/card");
        let mut items = String::new();
        let mut sent = self.client.sent.iter().peekable();
        let push_sent =
            |items: &mut String,
             up_to: usize,
             sent: &mut std::iter::Peekable<std::slice::Iter<'_, Sent>>| {
                while let Some(message) = sent.next_if(|s| s.after <= up_to) {
                    let outcome = message.outcome.as_deref().map_or_else(String::new, |o| {
                        format!("<p class=\"outcome\" role=\"alert\">{}</p>", escape(o))
                    });
                    let _ = write!(
                        items,
                        "<li class=\"from-me\"><p class=\"text\">{}</p>{outcome}</li>",
                        escape(&message.text)
                    );
                }
            };
        for (index, message) in self.messages.iter().enumerate() {
            push_sent(&mut items, index, &mut sent);
            if message.deleted {
                items.push_str(
                    "<li class=\"from-bot deleted\"><p>This message has been deleted.</p></li>",
                );
                continue;
            }
            let _ = write!(
                items,
                "<li class=\"from-bot\">{}</li>",
                card::message(
                    &card_url,
                    &message.activity_id,
                    &message.activity,
                    self.client.replaced.get(&message.activity_id),
                )
            );
        }
        push_sent(&mut items, usize::MAX, &mut sent);
        if items.is_empty() {
            items.push_str("<li class=\"quiet\">No messages yet.</li>");
        }
        let notice = self.client.notice.as_deref().map_or_else(String::new, |n| {
            format!("<p class=\"notice\" role=\"alert\">{}</p>", escape(n))
        });
        format!(
            "<section class=\"panel\" aria-labelledby=\"chat-h\"><h2 id=\"chat-h\">Chat with {}</h2>\
{notice}<ol class=\"chat\">{items}</ol>\
<form method=\"post\" action=\"{base}/message\" class=\"compose\"><label for=\"chat-text\">Message {}</label> \
<input id=\"chat-text\" name=\"text\" required maxlength=\"4000\" autocomplete=\"off\"> \
<button type=\"submit\">Send</button></form></section>",
            escape(self.bot_name),
            escape(self.bot_name)
        )
    }
}

fn is_active(call: &CallRecord) -> bool {
    matches!(call.state.as_str(), "ringing" | "answered" | "held")
}

/// Who the other party is: their display name if their side sent one, else their number.
fn who(call: &CallRecord) -> String {
    call.remote_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| call.remote_number.clone())
}

fn number_suffix(call: &CallRecord) -> String {
    if call
        .remote_name
        .as_deref()
        .is_some_and(|n| !n.trim().is_empty())
    {
        format!(
            " <span class=\"number\">{}</span>",
            escape(&call.remote_number)
        )
    } else {
        String::new()
    }
}

/// `m:ss` (or `h:mm:ss`).
fn clock(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_escape_encode_and_spell_out() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(segment("alice@contoso.test"), "alice%40contoso.test");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
        assert_eq!(words("InAMeeting"), "In a meeting");
        assert_eq!(words("DoNotDisturb"), "Do not disturb");
        assert_eq!(
            (clock(5), clock(65), clock(3725)),
            ("0:05".to_owned(), "1:05".to_owned(), "1:02:05".to_owned())
        );
    }
}
