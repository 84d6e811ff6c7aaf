//! The Web API front door, `/api/{method}` (slack-api.md §1, §13, §14 items 1–2): body and
//! content-type parsing, token extraction, token checks, scopes, rate tiers, then the method.

mod args;
mod auth;
mod calls;
mod chat;
mod conversations;
mod presence;
mod users;
mod views;

use axum::body::{Body, to_bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

pub(crate) use args::{ApiError, ApiResult, Args};

use super::scopes::{self, Tier, Tokens};
use super::state::{SlackState, World};
use super::tokens::{TokenKind, TokenRecord};

/// Bodies above this are refused before parsing.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The caller of a method, once its token has been checked.
pub(crate) struct Caller {
    pub(crate) token: String,
    pub(crate) record: TokenRecord,
    pub(crate) now: i64,
}

impl Caller {
    pub(crate) fn is_bot(&self) -> bool {
        self.record.kind == TokenKind::Bot
    }
}

/// `GET|POST /api/{method}`.
pub(crate) async fn web_api(
    State(state): State<SlackState>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        // Slack documents no code for oversized bodies; the form could not be read.
        return error_response(&ApiError::new("invalid_form_data").status(413), None);
    };
    let (args, body_token, warning) = match parse_args(query.as_deref(), &headers, &body) {
        Ok(parsed) => parsed,
        Err(e) => return error_response(&e, None),
    };
    let bearer = bearer_token(&headers);
    if method == "oauth.v2.access" {
        let mut world = state.world();
        let now = state.now();
        let result = auth::oauth_v2_access(&mut world, &headers, &args, now);
        return respond(result, None, warning);
    }
    let Some(spec) = scopes::lookup(&method) else {
        return error_response(&ApiError::new("unknown_method").status(404), None);
    };
    let Some(token) = bearer.or(body_token) else {
        return error_response(&ApiError::new("not_authed"), None);
    };
    let now = state.now();
    let mut world = state.world();
    let record = match check_token(&world, &token, now) {
        Ok(record) => record,
        Err(e) => return error_response(&e, None),
    };
    let scopes_header = Some((record.scope_list(), spec.scope.unwrap_or_default()));
    if spec.tokens == Tokens::UserOnly && record.kind != TokenKind::User {
        return error_response(&ApiError::new("not_allowed_token_type"), scopes_header);
    }
    if let Some(needed) = spec.scope
        && !record.has_scope(needed)
    {
        let error = ApiError::new("missing_scope")
            .with("needed", json!(needed))
            .with("provided", json!(record.scope_list()));
        return error_response(&error, scopes_header);
    }
    let mut budget_key = format!("{}:{}:{}", record.team_id, world.app.app_id, spec.name);
    if let Tier::PerChannel(_) = spec.tier {
        budget_key.push(':');
        budget_key.push_str(&args.str("channel").unwrap_or_default());
    }
    if let Err(retry_after) = world
        .limiter
        .check(&budget_key, spec.tier.per_minute(), now)
    {
        return error_response(&ApiError::ratelimited(retry_after), scopes_header);
    }
    let caller = Caller { token, record, now };
    let result = dispatch(&mut world, spec.name, &caller, &args);
    respond(result, scopes_header, warning)
}

fn dispatch(world: &mut World, method: &str, caller: &Caller, args: &Args) -> ApiResult {
    match method {
        "auth.test" => auth::auth_test(world, caller),
        "auth.revoke" => auth::auth_revoke(world, caller, args),
        "apps.uninstall" => auth::apps_uninstall(world, caller, args),
        "users.info" => users::info(world, caller, args),
        "users.list" => users::list(world, caller, args),
        "users.lookupByEmail" => users::lookup_by_email(world, caller, args),
        "users.profile.get" => users::profile_get(world, caller, args),
        "users.profile.set" => users::profile_set(world, caller, args),
        "users.getPresence" => presence::get_presence(world, caller, args),
        "users.setPresence" => presence::set_presence(world, caller, args),
        "dnd.info" => presence::dnd_info(world, caller, args),
        "dnd.setSnooze" => presence::dnd_set_snooze(world, caller, args),
        "dnd.endSnooze" => presence::dnd_end_snooze(world, caller),
        "chat.postMessage" => chat::post_message(world, caller, args),
        "chat.postEphemeral" => chat::post_ephemeral(world, caller, args),
        "chat.update" => chat::update(world, caller, args),
        "conversations.open" => chat::conversations_open(world, caller, args),
        "conversations.list" => conversations::list(world, caller, args),
        "calls.add" => calls::add(world, caller, args),
        "calls.info" => calls::info(world, args),
        "calls.update" => calls::update(world, args),
        "calls.end" => calls::end(world, caller, args),
        "calls.participants.add" => calls::participants(world, args, true),
        "calls.participants.remove" => calls::participants(world, args, false),
        "views.open" => views::open(world, caller, args),
        _ => Err(ApiError::new("unknown_method").status(404)),
    }
}

/// Looks a token up: unknown → `invalid_auth`, revoked → `token_revoked`, past its 12 hours →
/// `token_expired` (§1, §5.2).
pub(crate) fn check_token(world: &World, token: &str, now: i64) -> Result<TokenRecord, ApiError> {
    let record = world
        .tokens
        .access
        .get(token)
        .ok_or_else(|| ApiError::new("invalid_auth"))?;
    if record.revoked {
        return Err(ApiError::new("token_revoked"));
    }
    if record.expires_at.is_some_and(|end| now >= end) {
        return Err(ApiError::new("token_expired"));
    }
    Ok(record.clone())
}

/// `Authorization: Bearer <token>`.
fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_owned())
}

type Parsed = (Args, Option<String>, Option<&'static str>);

/// Merges query and body arguments. Returns the form body's `token` separately: Slack takes it
/// from a POST form, never from the query string (apps created after 2021-02-24) nor from a
/// JSON body (§1).
fn parse_args(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Parsed, ApiError> {
    let mut args = Args::default();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key != "token" {
            args.insert(key.into_owned(), Value::String(value.into_owned()));
        }
    }
    if body.is_empty() {
        return Ok((args, None, None));
    }
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::new("missing_post_type"));
    };
    let content_type = content_type
        .to_str()
        .map_err(|_| ApiError::new("invalid_post_type"))?
        .to_ascii_lowercase();
    let mut parts = content_type.split(';').map(str::trim);
    let mime = parts.next().unwrap_or_default();
    let charset = parts.find_map(|p| p.strip_prefix("charset=").map(|c| c.trim_matches('"')));
    let latin1 = match charset {
        None | Some("utf-8" | "utf8") => false,
        Some("iso-8859-1") => true,
        Some(_) => return Err(ApiError::new("invalid_charset")),
    };
    let mut warning = None;
    let mut body_token = None;
    match mime {
        "application/x-www-form-urlencoded" => {
            if !latin1 && std::str::from_utf8(body).is_err() {
                return Err(ApiError::new("invalid_form_data"));
            }
            for (key, value) in url::form_urlencoded::parse(body) {
                if key == "token" {
                    body_token = Some(value.into_owned()).filter(|t| !t.is_empty());
                } else {
                    args.insert(key.into_owned(), Value::String(value.into_owned()));
                }
            }
        }
        "application/json" => {
            if charset.is_none() {
                warning = Some("missing_charset");
            }
            let value: Value =
                serde_json::from_slice(body).map_err(|_| ApiError::new("invalid_json"))?;
            let Value::Object(map) = value else {
                return Err(ApiError::new("json_not_object"));
            };
            for (key, value) in map {
                // A JSON body's `token` is not accepted: tokens go in the header.
                if key != "token" {
                    args.insert(key, value);
                }
            }
        }
        // multipart/form-data and text/plain are valid for Slack but carry nothing the emulated
        // methods need; refusing them keeps the sandbox honest about what it parsed.
        _ => return Err(ApiError::new("invalid_post_type")),
    }
    Ok((args, body_token, warning))
}

type ScopesHeader = Option<(String, &'static str)>;

fn respond(result: ApiResult, scopes: ScopesHeader, warning: Option<&'static str>) -> Response {
    match result {
        Ok(fields) => {
            let mut body = Map::new();
            body.insert("ok".to_owned(), json!(true));
            body.extend(fields);
            if let Some(warning) = warning {
                body.insert("warning".to_owned(), json!(warning));
                let metadata = body.entry("response_metadata").or_insert_with(|| json!({}));
                metadata["warnings"] = json!([warning]);
            }
            json_response(StatusCode::OK, &Value::Object(body), scopes, None)
        }
        Err(e) => error_response(&e, scopes),
    }
}

pub(crate) fn error_response(error: &ApiError, scopes: ScopesHeader) -> Response {
    let mut body = Map::new();
    body.insert("ok".to_owned(), json!(false));
    body.insert("error".to_owned(), json!(error.error));
    body.extend(error.extra.clone());
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::OK);
    json_response(status, &Value::Object(body), scopes, error.retry_after)
}

fn json_response(
    status: StatusCode,
    body: &Value,
    scopes: ScopesHeader,
    retry_after: Option<u64>,
) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some((provided, accepted)) = scopes {
        if let Ok(value) = HeaderValue::from_str(&provided) {
            headers.insert("x-oauth-scopes", value);
        }
        headers.insert(
            "x-accepted-oauth-scopes",
            HeaderValue::from_static(accepted),
        );
    }
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
