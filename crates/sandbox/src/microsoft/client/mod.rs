//! The Teams web client of the sandbox: a person picks a seeded Teams user at `/client/` and
//! then *is* that user at `/client/{user}` — their presence with the status buttons Teams has,
//! their phone (ringing calls to answer or decline, the live call to hang up, a dial box), and
//! their chat with the bot (Adaptive Cards included, messages sent the real signed way).
//!
//! Opening `/client/{user}` hands that user's phone to the person: it switches to
//! [`Answer::Manual`] with an echo, so calls ring until Answer or Decline (or the proxy's ring
//! timeout) and the caller hears themselves back; the page lets the person pick a spoken prompt
//! before the echo. Scripted behaviours set with `set_phone_behaviour` afterwards win again.
//!
//! The page works without script (plain forms, POST then 303 back); with script it follows
//! `/client/{user}/events` (Server-Sent Events on every change) and swaps in
//! `/client/{user}/view`. No sign-in: this is a sandbox.

mod book;
mod card;
mod events;
mod render;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::Value;

use self::book::ClientBook;
use self::render::View;
use super::graph::PresenceState;
use super::phone::behaviour::{Answer, Echo};
use super::seed::{TenantSeed, UserSeed};
use super::state::MicrosoftState;

/// How long a status picked by hand lasts (Teams' default "reset status after": 1 day).
const PICKED_STATUS: Duration = Duration::from_secs(24 * 3600);
/// The longest message the compose box sends (Teams' limit is about 28 KB; this is plenty).
const MAX_MESSAGE: usize = 4000;

const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The client's routes, under `/client`.
pub(crate) fn routes() -> Router<MicrosoftState> {
    Router::new()
        .route("/client", get(|| async { Redirect::permanent("/client/") }))
        .route("/client/", get(picker))
        .route("/client/assets/client.js", get(script))
        .route("/client/assets/client.css", get(stylesheet))
        .route("/client/{user}", get(user_page))
        .route("/client/{user}/view", get(view))
        .route("/client/{user}/events", get(events))
        .route("/client/{user}/presence", post(presence))
        .route("/client/{user}/message", post(message))
        .route("/client/{user}/card", post(card_action))
        .route("/client/{user}/phone", post(phone_settings))
        .route("/client/{user}/dial", post(dial))
        .route("/client/{user}/calls/{call}/{action}", post(call_action))
        .layer(Extension(Arc::new(ClientBook::default())))
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut response: Response) -> Response {
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
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn script() -> Response {
    asset(
        include_str!("assets/client.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn stylesheet() -> Response {
    asset(include_str!("assets/client.css"), "text/css; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// An HTML error page with `status`.
fn failure(status: StatusCode, title: &str, detail: &str, back: &str) -> Response {
    (status, Html(render::error_page(title, detail, back))).into_response()
}

/// The user named in the path (object id, UPN or mail), or a 404 page.
fn find_user(state: &MicrosoftState, key: &str) -> Result<(TenantSeed, UserSeed), Box<Response>> {
    state
        .inner
        .directory
        .user(key)
        .map(|(t, u)| (t.clone(), u.clone()))
        .ok_or_else(|| {
            Box::new(failure(
                StatusCode::NOT_FOUND,
                "No such Teams user",
                &format!("There is no user {key:?} in this sandbox."),
                "/client/",
            ))
        })
}

fn home(user: &UserSeed) -> String {
    format!("/client/{}", render::segment(&user.upn))
}

fn back_home(user: &UserSeed) -> Response {
    Redirect::to(&home(user)).into_response()
}

fn bad_request(user: &UserSeed, detail: &str) -> Response {
    failure(
        StatusCode::BAD_REQUEST,
        "That did not work",
        detail,
        &home(user),
    )
}

/// The fields of a urlencoded form body (the last value of a repeated name wins).
fn form(body: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn view_of<'a>(
    state: &MicrosoftState,
    book: &ClientBook,
    tenant: &'a TenantSeed,
    user: &'a UserSeed,
) -> View<'a> {
    let fingerprint = events::fingerprint(state, book, &user.id);
    View {
        user,
        bot_name: tenant
            .apps
            .first()
            .map_or("the bot", |a| a.display_name.as_str()),
        presence: state.presence_of(&user.id).ok(),
        calls: state
            .calls()
            .into_iter()
            .filter(|c| c.user_id == user.id)
            .collect(),
        messages: state.bot_messages(&user.id).unwrap_or_default(),
        client: book.get(&user.id),
        plays_prompt: state
            .phone_behaviour(&user.id)
            .echo
            .is_some_and(|e| e.prompt_first),
        now: state.clock().now_utc(),
        fingerprint,
    }
}

async fn picker(State(state): State<MicrosoftState>) -> Response {
    let directory = &state.inner.directory;
    let users: Vec<(&TenantSeed, &UserSeed)> = directory
        .all_users()
        .filter_map(|u| directory.user(&u.id))
        .collect();
    Html(render::picker(&users)).into_response()
}

async fn user_page(
    State(state): State<MicrosoftState>,
    Extension(book): Extension<Arc<ClientBook>>,
    Path(key): Path<String>,
) -> Response {
    let (tenant, user) = match find_user(&state, &key) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    // The person now holds this phone: it rings until they answer, and echoes.
    let mut behaviour = state.phone_behaviour(&user.id);
    if behaviour.answer != Answer::Manual || behaviour.echo.is_none() {
        behaviour.answer = Answer::Manual;
        behaviour.echo.get_or_insert_with(Echo::default);
        if let Err(error) = state.set_phone_behaviour(&user.id, behaviour) {
            tracing::warn!(%error, "could not hand the phone to the client");
        }
    }
    let view = view_of(&state, &book, &tenant, &user);
    Html(render::user_page(&user, &tenant, &view)).into_response()
}

async fn view(
    State(state): State<MicrosoftState>,
    Extension(book): Extension<Arc<ClientBook>>,
    Path(key): Path<String>,
) -> Response {
    match find_user(&state, &key) {
        Ok((tenant, user)) => Html(view_of(&state, &book, &tenant, &user).render()).into_response(),
        Err(response) => *response,
    }
}

async fn events(
    State(state): State<MicrosoftState>,
    Extension(book): Extension<Arc<ClientBook>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let user = match find_user(&state, &key) {
        Ok((_, user)) => user,
        Err(response) => return *response,
    };
    let since = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "since")
        .and_then(|(_, value)| value.parse().ok());
    events::stream(state, book, user.id, since).into_response()
}

async fn presence(
    State(state): State<MicrosoftState>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let user = match find_user(&state, &key) {
        Ok((_, user)) => user,
        Err(response) => return *response,
    };
    let fields = form(&body);
    let choice = fields.get("state").map_or("", String::as_str);
    // The status picker sets the user-preferred presence; a meeting is the client's own state.
    let picked = |availability: &str, activity: &str| {
        state.set_preferred_presence(
            &user.id,
            PresenceState::new(availability, activity),
            PICKED_STATUS,
        )
    };
    let result = match choice {
        "available" => picked("Available", "Available"),
        "busy" => picked("Busy", "Busy"),
        "dnd" => picked("DoNotDisturb", "DoNotDisturb"),
        "brb" => picked("BeRightBack", "BeRightBack"),
        "away" => picked("Away", "Away"),
        "reset" => state.clear_preferred_presence(&user.id),
        "meeting" => {
            state.set_presence_in_client(&user.id, Some(PresenceState::new("Busy", "InAMeeting")))
        }
        "leave-meeting" => state
            .set_presence_in_client(&user.id, Some(PresenceState::new("Available", "Available"))),
        other => {
            return bad_request(
                &user,
                &format!("{other:?} is not a status this client offers."),
            );
        }
    };
    match result {
        Ok(()) => back_home(&user),
        Err(error) => bad_request(&user, &error.to_string()),
    }
}

async fn message(
    State(state): State<MicrosoftState>,
    Extension(book): Extension<Arc<ClientBook>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let user = match find_user(&state, &key) {
        Ok((_, user)) => user,
        Err(response) => return *response,
    };
    let fields = form(&body);
    let text = fields.get("text").map_or("", |t| t.trim());
    if text.is_empty() {
        return bad_request(&user, "Type a message before sending.");
    }
    if text.chars().count() > MAX_MESSAGE {
        return bad_request(
            &user,
            &format!("A message can be at most {MAX_MESSAGE} characters."),
        );
    }
    let after = state.bot_messages(&user.id).map_or(0, |m| m.len());
    let outcome = bot_outcome(state.message_bot(&user.id, text).await);
    let text = text.to_owned();
    book.change(&user.id, |client| {
        client.sent.push(book::Sent {
            text,
            after,
            outcome,
        });
    });
    back_home(&user)
}

/// What became of an activity sent to the bot, in words (`None`: the bot took it).
fn bot_outcome(reply: Result<crate::microsoft::BotReply, super::SandboxError>) -> Option<String> {
    match reply {
        Ok(reply) if (200..300).contains(&reply.status) => None,
        Ok(reply) => {
            let body: String = reply.body.chars().take(200).collect();
            Some(format!(
                "Not delivered: the bot answered with an error (HTTP {}){}",
                reply.status,
                if body.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", body.trim())
                }
            ))
        }
        Err(error) => Some(format!("Not delivered: the bot did not answer ({error}).")),
    }
}

async fn card_action(
    State(state): State<MicrosoftState>,
    Extension(book): Extension<Arc<ClientBook>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let user = match find_user(&state, &key) {
        Ok((_, user)) => user,
        Err(response) => return *response,
    };
    let fields = form(&body);
    let data: Value = match serde_json::from_str(fields.get("data").map_or("null", String::as_str))
    {
        Ok(data) => data,
        Err(error) => return bad_request(&user, &format!("The card's data is not JSON: {error}.")),
    };
    let activity = fields.get("activity").cloned().unwrap_or_default();
    let reply = match fields.get("kind").map(String::as_str) {
        Some("submit") => state.submit_card(&user.id, data).await,
        Some("execute") => {
            let verb = fields.get("verb").map_or("", String::as_str);
            if verb.is_empty() {
                return bad_request(&user, "This card button has no verb.");
            }
            state.press_card_action(&user.id, verb, data).await
        }
        _ => return bad_request(&user, "Unknown kind of card action."),
    };
    // An `Action.Execute` answer may carry the card that replaces the pressed one.
    let replacement = reply.as_ref().ok().and_then(|r| {
        let answer: Value = serde_json::from_str(&r.body).ok()?;
        (answer["type"] == "application/vnd.microsoft.card.adaptive")
            .then(|| answer["value"].clone())
    });
    let notice = bot_outcome(reply);
    book.change(&user.id, |client| {
        client.notice = notice;
        if let Some(card) = replacement
            && !activity.is_empty()
        {
            client.replaced.insert(activity, card);
        }
    });
    back_home(&user)
}

async fn phone_settings(
    State(state): State<MicrosoftState>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let user = match find_user(&state, &key) {
        Ok((_, user)) => user,
        Err(response) => return *response,
    };
    let prompt_first = match form(&body).get("plays").map(String::as_str) {
        Some("echo") => false,
        Some("prompt") => true,
        _ => return bad_request(&user, "Choose what the phone plays: echo or prompt."),
    };
    let mut behaviour = state.phone_behaviour(&user.id);
    let delay_ms = behaviour
        .echo
        .map_or(Echo::default().delay_ms, |e| e.delay_ms);
    behaviour.echo = Some(Echo {
        delay_ms,
        prompt_first,
    });
    match state.set_phone_behaviour(&user.id, behaviour) {
        Ok(()) => back_home(&user),
        Err(error) => bad_request(&user, &error.to_string()),
    }
}

/// Whether `number` is E.164: `+` and 8 to 15 digits.
fn is_e164(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

async fn dial(
    State(state): State<MicrosoftState>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let user = match find_user(&state, &key) {
        Ok((_, user)) => user,
        Err(response) => return *response,
    };
    let fields = form(&body);
    let number: String = fields
        .get("number")
        .map_or("", String::as_str)
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    if !is_e164(&number) {
        return bad_request(
            &user,
            "Enter the number in international form, like +15550001000.",
        );
    }
    match state.dial(&user.id, &number).await {
        Ok(_) => back_home(&user),
        Err(error) => failure(
            StatusCode::CONFLICT,
            "The call could not be placed",
            &error.to_string(),
            &home(&user),
        ),
    }
}

async fn call_action(
    State(state): State<MicrosoftState>,
    Path((key, call_id, action)): Path<(String, String, String)>,
) -> Response {
    let user = match find_user(&state, &key) {
        Ok((_, user)) => user,
        Err(response) => return *response,
    };
    let Some(call) = state.call(&call_id).filter(|c| c.user_id == user.id) else {
        return failure(
            StatusCode::NOT_FOUND,
            "No such call",
            &format!("{} has no call {call_id:?}.", user.display_name),
            &home(&user),
        );
    };
    let result = match action.as_str() {
        "answer" => state.answer_call(&call_id),
        "decline" => state.decline_call(&call_id),
        "hangup" if matches!(call.state.as_str(), "answered" | "held") => {
            state.hang_up(&call_id).await
        }
        "hangup" => Err(super::SandboxError::ApiMisuse(format!(
            "the call is not live (it is {})",
            call.state
        ))),
        _ => {
            return failure(
                StatusCode::NOT_FOUND,
                "No such action",
                &format!("{action:?} is not something you can do to a call."),
                &home(&user),
            );
        }
    };
    match result {
        Ok(()) => back_home(&user),
        Err(error) => {
            let state_now = state.call(&call_id).map_or(call.state, |c| c.state);
            failure(
                StatusCode::CONFLICT,
                "That call has moved on",
                &format!("The call is {state_now} now, so this did nothing ({error})."),
                &home(&user),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_must_be_e164() {
        assert!(is_e164("+15550001000"));
        assert!(!is_e164("15550001000"));
        assert!(!is_e164("+1555"));
        assert!(!is_e164("+1555000100a"));
        assert!(!is_e164("+1234567890123456"));
    }
}
