//! The two full pages: the picker of people (`GET /client/`) and a person's client
//! (`GET /client/{user}`), whose forms work with or without the script.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};

use super::super::state::SlackState;
use super::html::{escape, page, unknown_user};
use super::snapshot::Snapshot;
use super::{MAX_NOTICE_CHARS, MAX_TEXT_CHARS, view};

/// `GET /client/`: every person of every workspace, each a link to their client.
pub(crate) async fn picker(State(state): State<SlackState>) -> Response {
    let mut rows = String::new();
    for person in state.client_people() {
        let _ = write!(
            rows,
            "<tr><td><a href=\"/client/{id}\">{real}</a></td><td>@{name}</td><td>{email}</td><td>{ws}</td></tr>",
            id = escape(&person.id),
            real = escape(&person.real_name),
            name = escape(&person.name),
            email = escape(&person.email),
            ws = escape(&person.workspace),
        );
    }
    let body = format!(
        "<main><h1>Be a Slack user</h1>\
         <p>Pick a person of the sandboxed Slack. You will see what they see, can type the app's \
         slash command, click its buttons and change your status by hand.</p>\
         <table><caption>People</caption><thead><tr><th scope=\"col\">Name</th>\
         <th scope=\"col\">Handle</th><th scope=\"col\">Email</th><th scope=\"col\">Workspace</th>\
         </tr></thead><tbody>{rows}</tbody></table></main>"
    );
    Html(page("Pick a person", &body)).into_response()
}

/// `GET /client/{user}`: the person's client. `?notice=` carries the outcome of the last form
/// sent without the script.
pub(crate) async fn client(
    State(state): State<SlackState>,
    Path(user): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(snap) = state.client_snapshot(&user) else {
        return unknown_user(&user);
    };
    let notice: String = query
        .get("notice")
        .map(|n| n.chars().take(MAX_NOTICE_CHARS).collect())
        .unwrap_or_default();
    let body = format!(
        "<header><p><a href=\"/client/\">Switch person</a></p>\
         <h1>{real} <small>@{name} · {email} · {ws}</small></h1></header>\
         <main id=\"client\" data-view=\"/client/{id}/view\" data-events=\"/client/{id}/events\">\
         <p id=\"notice\" role=\"status\">{notice}</p>\
         <p id=\"live\" class=\"visually-hidden\" aria-live=\"polite\"></p>\
         {compose}<div id=\"view\">{view}</div>{controls}</main>",
        real = escape(&snap.me.real_name),
        name = escape(&snap.me.name),
        email = escape(&snap.me.email),
        ws = escape(&snap.me.workspace),
        id = escape(&snap.me.id),
        notice = escape(&notice),
        compose = compose(&snap),
        view = view::render(&snap),
        controls = controls(&snap),
    );
    Html(page(&snap.me.real_name, &body)).into_response()
}

/// The message box: a conversation to write in and the text, slash commands included.
fn compose(snap: &Snapshot) -> String {
    let mut options = String::new();
    if !snap.app_dm_open {
        let _ = write!(
            options,
            "<option value=\"{}\">Direct message with {}</option>",
            super::act::APP_DM,
            escape(&snap.app_name)
        );
    }
    // The DM with the app first: it is where the slash command is usually typed.
    let mut conversations: Vec<_> = snap.conversations.iter().collect();
    conversations.sort_by_key(|c| !c.label.ends_with(&snap.app_name));
    for conversation in conversations {
        let _ = write!(
            options,
            "<option value=\"{}\">{}</option>",
            escape(&conversation.id),
            escape(&conversation.label)
        );
    }
    format!(
        "<section class=\"compose\" aria-labelledby=\"h-compose\"><h2 id=\"h-compose\">Write</h2>\
         <form method=\"post\" action=\"/client/{id}/say\" data-reset>\
         <p><label for=\"channel\">Conversation</label> <select id=\"channel\" name=\"channel\">{options}</select></p>\
         <p><label for=\"text\">Message or slash command</label> \
         <input id=\"text\" name=\"text\" type=\"text\" maxlength=\"{max}\" autocomplete=\"off\" \
         placeholder=\"{cmd} alice@contoso.com\" aria-describedby=\"text-hint\"> \
         <button type=\"submit\">Send</button></p>\
         <p id=\"text-hint\" class=\"hint\">Text starting with / is sent to the app as the slash \
         command {cmd}; anything else is posted as a message from you.</p></form></section>",
        id = escape(&snap.me.id),
        cmd = escape(&snap.slash_command),
        max = MAX_TEXT_CHARS,
    )
}

/// Forms to change status, DND and presence by hand, as in the Slack client.
fn controls(snap: &Snapshot) -> String {
    let id = escape(&snap.me.id);
    format!(
        "<section class=\"controls\" aria-labelledby=\"h-controls\"><h2 id=\"h-controls\">Change by hand</h2>\
         <form method=\"post\" action=\"/client/{id}/status\"><fieldset><legend>Status</legend>\
         <p><label for=\"status-emoji\">Emoji</label> <input id=\"status-emoji\" name=\"emoji\" type=\"text\" maxlength=\"100\" placeholder=\":palm_tree:\"></p>\
         <p><label for=\"status-text-input\">Text</label> <input id=\"status-text-input\" name=\"text\" type=\"text\" maxlength=\"100\" placeholder=\"On holiday\"></p>\
         <p><label for=\"status-expires\">Clear after (minutes, empty for never)</label> <input id=\"status-expires\" name=\"expires_in\" type=\"number\" min=\"0\" max=\"525600\"></p>\
         <p><button type=\"submit\">Set status</button> <button type=\"submit\" name=\"clear\" value=\"1\">Clear status</button></p>\
         </fieldset></form>\
         <form method=\"post\" action=\"/client/{id}/dnd\"><fieldset><legend>Do not disturb</legend>\
         <p><label for=\"dnd-minutes\">Snooze for (minutes)</label> <input id=\"dnd-minutes\" name=\"minutes\" type=\"number\" min=\"1\" max=\"{max_dnd}\" value=\"30\"></p>\
         <p><button type=\"submit\">Snooze notifications</button> <button type=\"submit\" name=\"end\" value=\"1\">End snooze</button></p>\
         </fieldset></form>\
         <form method=\"post\" action=\"/client/{id}/presence\"><fieldset><legend>Presence</legend>\
         <p><button type=\"submit\" name=\"online\" value=\"true\">Open Slack (active)</button> \
         <button type=\"submit\" name=\"online\" value=\"false\">Close Slack (away)</button></p>\
         </fieldset></form></section>",
        max_dnd = super::act::MAX_SNOOZE_MINUTES,
    )
}
