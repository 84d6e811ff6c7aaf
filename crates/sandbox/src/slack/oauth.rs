//! The OAuth v2 consent page: `GET /oauth/v2/authorize` and its approve/deny form
//! (slack-api.md §5.1).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use url::Url;

use super::ids;
use super::state::SlackState;
use super::tokens::CodeRecord;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn error_page(status: StatusCode, code: &str) -> Response {
    let body = format!(
        "<!doctype html><title>Slack sandbox</title><h1>Something went wrong</h1>\
         <p>Error: <code id=\"error\">{}</code></p>",
        escape(code)
    );
    (status, Html(body)).into_response()
}

/// Checks the request against the registered app: client id, then redirect URI, which must
/// match the registered one exactly.
fn check_request(state: &SlackState, q: &HashMap<String, String>) -> Result<String, Box<Response>> {
    let world = state.world();
    if q.get("client_id") != Some(&world.app.client_id) {
        return Err(Box::new(error_page(
            StatusCode::BAD_REQUEST,
            "invalid_client_id",
        )));
    }
    let redirect = q
        .get("redirect_uri")
        .cloned()
        .unwrap_or_else(|| world.app.redirect_uri.clone());
    if redirect != world.app.redirect_uri {
        return Err(Box::new(error_page(
            StatusCode::BAD_REQUEST,
            "bad_redirect_uri",
        )));
    }
    let no_scopes = q.get("scope").is_none_or(String::is_empty)
        && q.get("user_scope").is_none_or(String::is_empty);
    if no_scopes {
        return Err(Box::new(error_page(StatusCode::BAD_REQUEST, "no_scopes")));
    }
    Ok(redirect)
}

/// `GET /oauth/v2/authorize?client_id&scope&user_scope&redirect_uri&state[&team]`.
pub(crate) async fn authorize(
    State(state): State<SlackState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(page) = check_request(&state, &q) {
        return *page;
    }
    let world = state.world();
    let team = q
        .get("team")
        .and_then(|t| world.workspace(t))
        .or_else(|| world.workspaces.first());
    let Some(team) = team else {
        return error_page(StatusCode::BAD_REQUEST, "invalid_team");
    };
    let hidden: String = ["client_id", "scope", "user_scope", "redirect_uri", "state"]
        .iter()
        .map(|k| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                escape(q.get(*k).map_or("", String::as_str))
            )
        })
        .collect();
    let options: String = world
        .users
        .values()
        .filter(|u| u.team_id == team.id && !u.is_bot)
        .map(|u| {
            format!(
                "<option value=\"{}\">{} ({})</option>",
                escape(&u.id),
                escape(&u.real_name),
                escape(&u.email)
            )
        })
        .collect();
    let list = |scopes: Option<&String>| -> String {
        scopes
            .map(|s| {
                s.split(',')
                    .filter(|x| !x.is_empty())
                    .map(|x| format!("<li><code>{}</code></li>", escape(x)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Slack sandbox — install {app}</title></head>\
         <body><h1>{app} is requesting permission to access the {team} Slack workspace</h1>\
         <form method=\"post\" action=\"/oauth/v2/authorize\">{hidden}\
         <input type=\"hidden\" name=\"team\" value=\"{team_id}\">\
         <label>Installing as <select name=\"user\">{options}</select></label>\
         <h2>The app's bot will be able to</h2><ul>{bot}</ul>\
         <h2>On your behalf, it will be able to</h2><ul>{user}</ul>\
         <button name=\"decision\" value=\"allow\">Allow</button> \
         <button name=\"decision\" value=\"deny\">Cancel</button></form></body></html>",
        app = escape(&world.app.name),
        team = escape(&team.name),
        team_id = escape(&team.id),
        bot = list(q.get("scope")),
        user = list(q.get("user_scope")),
    );
    Html(body).into_response()
}

/// `POST /oauth/v2/authorize`: the person's decision. Redirects to the registered URI with
/// `code` and `state`, or with `error=access_denied` and `state` (§5.1).
pub(crate) async fn decide(
    State(state): State<SlackState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let redirect = match check_request(&state, &form) {
        Ok(redirect) => redirect,
        Err(page) => return *page,
    };
    let Ok(mut target) = Url::parse(&redirect) else {
        return error_page(StatusCode::BAD_REQUEST, "bad_redirect_uri");
    };
    let now = state.now();
    let mut world = state.world();
    let team_id = form
        .get("team")
        .filter(|t| world.workspace(t).is_some())
        .cloned()
        .or_else(|| world.workspaces.first().map(|w| w.id.clone()))
        .unwrap_or_default();
    let installer = form
        .get("user")
        .filter(|u| {
            world
                .users
                .get(*u)
                .is_some_and(|u| u.team_id == team_id && !u.is_bot)
        })
        .cloned();
    let state_param = form.get("state").cloned().unwrap_or_default();
    if form.get("decision").map(String::as_str) != Some("allow") {
        // UNCONFIRMED (§5.1) that the value is always access_denied.
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", &state_param);
        return redirect_to(&target);
    }
    let Some(installer) = installer else {
        return error_page(StatusCode::BAD_REQUEST, "user_not_found");
    };
    let split = |key: &str| -> Vec<String> {
        form.get(key)
            .map(|s| {
                s.split(',')
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let code = format!(
        "{}.{}.{}",
        ids::digits(12),
        ids::digits(13),
        ids::secret(32)
    );
    world.tokens.codes.insert(
        code.clone(),
        CodeRecord {
            team_id,
            installer,
            bot_scopes: split("scope"),
            user_scopes: split("user_scope"),
            redirect_uri: redirect,
            issued_at: now,
            used: false,
        },
    );
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state_param);
    redirect_to(&target)
}

fn redirect_to(target: &Url) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, target.as_str().to_owned())],
    )
        .into_response()
}
