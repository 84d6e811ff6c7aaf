//! The Slack sandbox's Web API and OAuth, driven in-process with `oneshot` (no sockets): each
//! documented error code is produced by the input that should produce it.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine;
use callbridge_sandbox::slack::{
    SlackSandbox, SlackSandboxConfig, SlackSeed, SlackState, sign_v0, verify_v0,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const BOT: &str = "xoxb-demo-bot";
const BOB_TOKEN: &str = "xoxp-demo-bob";
const BOB: &str = "U0DEMOBOB1";
const CAROL: &str = "U0DEMOCAR2";
const DAN: &str = "U0DEMODAN3";

fn sandbox() -> (Router, SlackState) {
    sandbox_with(SlackSeed::demo())
}

fn sandbox_with(seed: SlackSeed) -> (Router, SlackState) {
    let state = SlackState::new(&SlackSandboxConfig::new(seed)).unwrap();
    state.clock().freeze();
    (SlackSandbox::router(state.clone()), state)
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// A form POST with a Bearer token, as the SDKs send it.
async fn form(app: &Router, method: &str, token: Option<&str>, fields: &[(&str, &str)]) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = Request::post(format!("/api/{method}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    send(app, request.body(Body::from(body)).unwrap()).await
}

/// A JSON POST with a Bearer token and the charset Slack asks for.
async fn json_call(app: &Router, method: &str, token: &str, body: &Value) -> Reply {
    let request = Request::post(format!("/api/{method}"))
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, request).await
}

fn assert_error(reply: &Reply, code: &str) {
    assert_eq!(reply.body["ok"], false, "{}", reply.body);
    assert_eq!(reply.body["error"], code, "{}", reply.body);
}

#[test]
fn the_documented_signing_example_verifies() {
    // docs.slack.dev/authentication/verifying-requests-from-slack, the worked example.
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    assert_eq!(sign_v0(secret, 1_531_420_618, body.as_bytes()), expected);
    assert!(
        verify_v0(
            secret,
            "1531420618",
            body.as_bytes(),
            expected,
            1_531_420_618
        )
        .is_ok()
    );
    assert!(
        verify_v0(
            secret,
            "1531420618",
            body.as_bytes(),
            expected,
            1_531_420_919
        )
        .is_err()
    );
}

#[tokio::test]
async fn auth_test_reports_the_token_owner_with_scope_headers() {
    let (app, _) = sandbox();
    let reply = form(&app, "auth.test", Some(BOT), &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
    assert_eq!(reply.body["ok"], true);
    assert_eq!(reply.body["team_id"], "T0DEMOTEAM");
    assert_eq!(reply.body["user_id"], "U0DEMOBOT0");
    assert_eq!(reply.body["bot_id"], "B0DEMOBOT0");
    assert_eq!(reply.body["url"], "https://demo.slack.com/");
    assert!(
        reply.headers["x-oauth-scopes"]
            .to_str()
            .unwrap()
            .contains("calls:write")
    );
}

#[tokio::test]
async fn token_errors_are_the_documented_ones() {
    let (app, state) = sandbox();
    assert_error(&form(&app, "auth.test", None, &[]).await, "not_authed");
    assert_error(
        &form(&app, "auth.test", Some("xoxb-nope"), &[]).await,
        "invalid_auth",
    );
    // The legacy POST form `token` field still works…
    let reply = form(&app, "auth.test", None, &[("token", BOT)]).await;
    assert_eq!(reply.body["ok"], true);
    // …but a token in the query string does not (apps created after 2021-02-24).
    let request = Request::get(format!("/api/auth.test?token={BOT}"))
        .body(Body::empty())
        .unwrap();
    assert_error(&send(&app, request).await, "not_authed");
    // Nor does a token inside a JSON body.
    let request = Request::post("/api/auth.test")
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(json!({"token": BOT}).to_string()))
        .unwrap();
    assert_error(&send(&app, request).await, "not_authed");
    // Revoked.
    let reply = form(&app, "auth.revoke", Some(BOB_TOKEN), &[("test", "1")]).await;
    assert_eq!(reply.body["revoked"], false);
    assert_eq!(
        form(&app, "auth.test", Some(BOB_TOKEN), &[]).await.body["ok"],
        true
    );
    let reply = form(&app, "auth.revoke", Some(BOB_TOKEN), &[]).await;
    assert_eq!(reply.body["revoked"], true);
    assert_error(
        &form(&app, "auth.test", Some(BOB_TOKEN), &[]).await,
        "token_revoked",
    );
    drop(state);
}

#[tokio::test]
async fn scopes_and_token_types_are_enforced() {
    let (app, _) = sandbox();
    // users.profile.set takes user tokens only.
    let reply = form(
        &app,
        "users.profile.set",
        Some(BOT),
        &[("profile", r#"{"status_text":"x"}"#)],
    )
    .await;
    assert_error(&reply, "not_allowed_token_type");
    assert_error(
        &form(
            &app,
            "users.setPresence",
            Some(BOT),
            &[("presence", "away")],
        )
        .await,
        "not_allowed_token_type",
    );
    assert_error(
        &form(&app, "dnd.setSnooze", Some(BOT), &[("num_minutes", "5")]).await,
        "not_allowed_token_type",
    );
    // A user token without calls:write.
    let reply = form(
        &app,
        "calls.add",
        Some(BOB_TOKEN),
        &[("external_unique_id", "x"), ("join_url", "https://j")],
    )
    .await;
    assert_error(&reply, "missing_scope");
    assert_eq!(reply.body["needed"], "calls:write");
    assert!(
        reply.body["provided"]
            .as_str()
            .unwrap()
            .contains("users.profile:write")
    );
    assert_eq!(reply.headers["x-accepted-oauth-scopes"], "calls:write");
}

#[tokio::test]
async fn bad_input_gets_slack_errors_never_a_panic() {
    let (app, _) = sandbox();
    let post = |ct: Option<&str>, body: Vec<u8>| {
        let mut request =
            Request::post("/api/auth.test").header(header::AUTHORIZATION, format!("Bearer {BOT}"));
        if let Some(ct) = ct {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        request.body(Body::from(body)).unwrap()
    };
    let cases: Vec<(Option<&str>, Vec<u8>, &str)> = vec![
        (None, b"a=1".to_vec(), "missing_post_type"),
        (
            Some("application/xml"),
            b"<a/>".to_vec(),
            "invalid_post_type",
        ),
        (
            Some("application/json; charset=koi8-r"),
            b"{}".to_vec(),
            "invalid_charset",
        ),
        (
            Some("application/json; charset=utf-8"),
            b"{not json".to_vec(),
            "invalid_json",
        ),
        (
            Some("application/json; charset=utf-8"),
            b"[1,2]".to_vec(),
            "json_not_object",
        ),
        (
            Some("application/x-www-form-urlencoded"),
            vec![b'a', b'=', 0xff, 0xfe],
            "invalid_form_data",
        ),
    ];
    for (ct, body, code) in cases {
        let reply = send(&app, post(ct, body)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_error(&reply, code);
    }
    let huge = vec![b'a'; 2 * 1024 * 1024];
    let reply = send(&app, post(Some("application/x-www-form-urlencoded"), huge)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&reply, "invalid_form_data");
    let reply = form(&app, "no.suchMethod", Some(BOT), &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_error(&reply, "unknown_method");
    // A malformed structured argument is an argument error, not a crash.
    let reply = form(
        &app,
        "calls.add",
        Some(BOT),
        &[
            ("external_unique_id", "x"),
            ("join_url", "https://j"),
            ("created_by", BOB),
            ("users", "[{"),
        ],
    )
    .await;
    assert_error(&reply, "invalid_array_arg");
}

#[tokio::test]
async fn json_without_charset_gets_the_missing_charset_warning() {
    let (app, _) = sandbox();
    let request = Request::post("/api/auth.test")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {BOT}"))
        .body(Body::from("{}"))
        .unwrap();
    let reply = send(&app, request).await;
    assert_eq!(reply.body["ok"], true);
    assert_eq!(reply.body["warning"], "missing_charset");
    assert_eq!(
        reply.body["response_metadata"]["warnings"],
        json!(["missing_charset"])
    );
}

#[tokio::test]
async fn tier_budgets_answer_429_with_retry_after_and_reset_with_the_clock() {
    let (app, state) = sandbox();
    // users.list is Tier 2: 20 per minute.
    for _ in 0..20 {
        assert_eq!(
            form(&app, "users.list", Some(BOT), &[]).await.body["ok"],
            true
        );
    }
    let reply = form(&app, "users.list", Some(BOT), &[]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(&reply, "ratelimited");
    assert_eq!(reply.headers[header::RETRY_AFTER], "60");
    // Other methods are not affected.
    assert_eq!(
        form(&app, "users.info", Some(BOT), &[("user", BOB)])
            .await
            .body["ok"],
        true
    );
    state.clock().advance(Duration::from_secs(60));
    assert_eq!(
        form(&app, "users.list", Some(BOT), &[]).await.body["ok"],
        true
    );
}

#[tokio::test]
async fn users_methods_follow_the_reference() {
    let (app, _) = sandbox();
    let reply = form(&app, "users.info", Some(BOT), &[("user", BOB)]).await;
    assert_eq!(reply.body["user"]["id"], BOB);
    assert_eq!(reply.body["user"]["profile"]["email"], "bob@example.com");
    assert_error(
        &form(&app, "users.info", Some(BOT), &[("user", "U0NOBODY00")]).await,
        "user_not_found",
    );
    let reply = form(&app, "users.info", Some(BOT), &[]).await;
    assert_error(&reply, "invalid_arguments");
    assert!(
        reply.body["response_metadata"]["messages"][0]
            .as_str()
            .unwrap()
            .starts_with("[ERROR]")
    );
    let reply = form(&app, "users.profile.get", Some(BOB_TOKEN), &[]).await;
    assert_eq!(reply.body["profile"]["real_name"], "Bob Builder");
    assert_eq!(reply.body["profile"]["status_text"], "");
    assert_error(
        &form(
            &app,
            "users.profile.get",
            Some(BOB_TOKEN),
            &[("user", "U0NOBODY00")],
        )
        .await,
        "user_not_found",
    );
    // lookupByEmail: plural error, case-insensitive match.
    let reply = form(
        &app,
        "users.lookupByEmail",
        Some(BOT),
        &[("email", "Carol@Example.com")],
    )
    .await;
    assert_eq!(reply.body["user"]["id"], CAROL);
    assert_error(
        &form(
            &app,
            "users.lookupByEmail",
            Some(BOT),
            &[("email", "alice@contoso.com")],
        )
        .await,
        "users_not_found",
    );
    // users.list paginates with cursors until next_cursor is empty.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let reply = form(
            &app,
            "users.list",
            Some(BOT),
            &[("limit", "2"), ("cursor", &cursor)],
        )
        .await;
        for member in reply.body["members"].as_array().unwrap() {
            seen.push(member["id"].as_str().unwrap().to_owned());
        }
        cursor = reply.body["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 4, "three people and the bot: {seen:?}");
    assert_error(
        &form(&app, "users.list", Some(BOT), &[("cursor", "garbage!")]).await,
        "invalid_cursor",
    );
}

#[tokio::test]
async fn profile_set_validates_status_and_limits_writes() {
    let (app, state) = sandbox();
    let set = |profile: Value| {
        let app = app.clone();
        async move {
            json_call(
                &app,
                "users.profile.set",
                BOB_TOKEN,
                &json!({ "profile": profile }),
            )
            .await
        }
    };
    let long = "x".repeat(101);
    assert_error(&set(json!({"status_text": long})).await, "too_long");
    assert_error(
        &form(
            &app,
            "users.profile.set",
            Some(BOB_TOKEN),
            &[("profile", "{oops")],
        )
        .await,
        "invalid_profile",
    );
    let expiry = state.clock().unix() + 600;
    let reply = set(json!({
        "status_text": "In a Teams call",
        "status_emoji": ":telephone_receiver:",
        "status_expiration": expiry,
    }))
    .await;
    assert_eq!(reply.body["profile"]["status_text"], "In a Teams call");
    assert_eq!(reply.body["profile"]["status_expiration"], expiry);
    // Clearing only one of text and emoji is refused.
    assert_error(
        &set(json!({"status_text": ""})).await,
        "must_clear_both_status_text_and_status_emoji",
    );
    // Text alone gets the default emoji.
    let reply = set(json!({"status_text": "Lunch", "status_emoji": ""})).await;
    assert_eq!(reply.body["profile"]["status_emoji"], ":speech_balloon:");
    assert_eq!(reply.body["profile"]["status_text"], "Lunch");
    // Other people's profiles need an admin.
    let reply = form(
        &app,
        "users.profile.set",
        Some("xoxp-demo-carol"),
        &[("user", BOB), ("name", "display_name"), ("value", "x")],
    )
    .await;
    assert_error(&reply, "not_admin");
    // 10 writes per minute per user: 3 done above, 7 more pass, the 11th is 429.
    for _ in 0..7 {
        assert_eq!(
            set(json!({"status_text": "a", "status_emoji": ":a:"}))
                .await
                .body["ok"],
            true
        );
    }
    let reply = set(json!({"status_text": "b", "status_emoji": ":b:"})).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(&reply, "ratelimited");
    assert!(reply.headers.contains_key(header::RETRY_AFTER));
    // The status expires with the clock.
    state.clock().advance(Duration::from_secs(61));
    set(json!({"status_text": "Soon gone", "status_emoji": ":hourglass:", "status_expiration": state.clock().unix() + 30})).await;
    let view = state.user_view(BOB).unwrap();
    assert_eq!(view.status_text, "Soon gone");
    state.clock().advance(Duration::from_secs(31));
    state_sweep(&app).await;
    assert_eq!(state.user_view(BOB).unwrap().status_text, "");
}

/// Any read runs the expiry sweep through the control API.
async fn state_sweep(app: &Router) {
    let request = Request::get("/_sandbox/slack/users")
        .body(Body::empty())
        .unwrap();
    let reply = send(app, request).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn presence_is_auto_or_away_only_and_short_for_others() {
    let (app, _) = sandbox();
    assert_error(
        &form(
            &app,
            "users.setPresence",
            Some(BOB_TOKEN),
            &[("presence", "active")],
        )
        .await,
        "invalid_presence",
    );
    assert_eq!(
        form(
            &app,
            "users.setPresence",
            Some(BOB_TOKEN),
            &[("presence", "away")]
        )
        .await
        .body["ok"],
        true
    );
    let me = form(&app, "users.getPresence", Some(BOB_TOKEN), &[]).await;
    assert_eq!(me.body["presence"], "away");
    assert_eq!(me.body["manual_away"], true);
    assert_eq!(me.body["online"], true);
    let other = form(&app, "users.getPresence", Some(BOT), &[("user", BOB)]).await;
    assert_eq!(other.body, json!({"ok": true, "presence": "away"}));
    form(
        &app,
        "users.setPresence",
        Some(BOB_TOKEN),
        &[("presence", "auto")],
    )
    .await;
    let other = form(&app, "users.getPresence", Some(BOT), &[("user", BOB)]).await;
    assert_eq!(other.body["presence"], "active");
}

#[tokio::test]
async fn dnd_snooze_starts_reports_and_ends_with_the_clock() {
    let (app, state) = sandbox();
    assert_error(
        &form(&app, "dnd.setSnooze", Some(BOB_TOKEN), &[]).await,
        "missing_duration",
    );
    assert_error(
        &form(&app, "dnd.endSnooze", Some(BOB_TOKEN), &[]).await,
        "snooze_end_failed",
    );
    let reply = form(
        &app,
        "dnd.setSnooze",
        Some(BOB_TOKEN),
        &[("num_minutes", "10")],
    )
    .await;
    assert_eq!(reply.body["snooze_enabled"], true, "{}", reply.body);
    assert_eq!(reply.body["snooze_remaining"], 600);
    let info = form(&app, "dnd.info", Some("xoxp-demo-carol"), &[("user", BOB)]).await;
    assert_eq!(info.body["dnd_enabled"], true);
    assert!(
        info.body.get("snooze_endtime").is_none(),
        "others see no snooze details"
    );
    state.clock().advance(Duration::from_secs(601));
    let info = form(&app, "dnd.info", Some(BOB_TOKEN), &[]).await;
    assert_eq!(info.body["dnd_enabled"], false);
    assert_eq!(info.body["snooze_enabled"], false);
}

#[tokio::test]
async fn chat_keeps_blocks_as_sent_and_checks_channels() {
    let (app, state) = sandbox();
    let open = form(&app, "conversations.open", Some(BOT), &[("users", CAROL)]).await;
    let dm = open.body["channel"]["id"].as_str().unwrap().to_owned();
    assert!(dm.starts_with('D'));
    let again = form(&app, "conversations.open", Some(BOT), &[("users", CAROL)]).await;
    assert_eq!(again.body["channel"]["id"], dm.as_str());
    assert_eq!(again.body["already_open"], true);
    assert_error(
        &form(&app, "conversations.open", Some(BOT), &[]).await,
        "users_list_not_supplied",
    );
    assert_error(
        &form(
            &app,
            "conversations.open",
            Some(BOT),
            &[("users", "U0NOBODY00")],
        )
        .await,
        "user_not_found",
    );
    let blocks = json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": "Missed call"},
         "accessory": {"type": "button", "action_id": "call_back", "value": "opaque-42",
                       "text": {"type": "plain_text", "text": "Call back"}}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "callbridge"}], "x-unknown": 1}
    ]);
    let reply = json_call(
        &app,
        "chat.postMessage",
        BOT,
        &json!({"channel": dm, "blocks": blocks, "text": "Missed call"}),
    )
    .await;
    assert_eq!(reply.body["message"]["blocks"], blocks);
    let ts = reply.body["ts"].as_str().unwrap().to_owned();
    assert_eq!(state.messages(Some(&dm))[0].blocks.as_ref(), Some(&blocks));
    assert_error(
        &form(&app, "chat.postMessage", Some(BOT), &[("channel", &dm)]).await,
        "no_text",
    );
    // A user id as channel means the DM between the caller and that user.
    let reply = form(
        &app,
        "chat.postMessage",
        Some(BOT),
        &[("channel", CAROL), ("text", "hi")],
    )
    .await;
    assert_eq!(reply.body["channel"], dm.as_str());
    assert_error(
        &form(
            &app,
            "chat.postMessage",
            Some(BOT),
            &[("channel", "C0NOWHERE0"), ("text", "x")],
        )
        .await,
        "channel_not_found",
    );
    assert_error(
        &form(
            &app,
            "chat.postMessage",
            Some(BOT),
            &[("channel", &dm), ("blocks", "{bad")],
        )
        .await,
        "invalid_blocks_format",
    );
    // chat.update changes text and keeps the message's place.
    let reply = form(
        &app,
        "chat.update",
        Some(BOT),
        &[("channel", &dm), ("ts", &ts), ("text", "Seen")],
    )
    .await;
    assert_eq!(reply.body["text"], "Seen");
    assert!(state.messages(Some(&dm))[0].edited);
    assert_error(
        &form(
            &app,
            "chat.update",
            Some(BOT),
            &[("channel", &dm), ("ts", "1.000000"), ("text", "x")],
        )
        .await,
        "message_not_found",
    );
    let long = "y".repeat(4001);
    assert_error(
        &form(
            &app,
            "chat.update",
            Some(BOT),
            &[("channel", &dm), ("ts", &ts), ("text", &long)],
        )
        .await,
        "msg_too_long",
    );
    // Ephemeral: only to channel members.
    let reply = form(
        &app,
        "chat.postEphemeral",
        Some(BOT),
        &[("channel", &dm), ("user", CAROL), ("text", "psst")],
    )
    .await;
    assert!(reply.body["message_ts"].is_string());
    assert_error(
        &form(
            &app,
            "chat.postEphemeral",
            Some(BOT),
            &[("channel", &dm), ("user", DAN), ("text", "psst")],
        )
        .await,
        "user_not_in_channel",
    );
}

#[tokio::test]
async fn calls_follow_their_state_machine() {
    let (app, state) = sandbox();
    let add = |fields: Vec<(&'static str, String)>| {
        let app = app.clone();
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            form(&app, "calls.add", Some(BOT), &pairs).await
        }
    };
    // A bot token must say who created the call.
    let reply = add(vec![
        ("external_unique_id", "e1".into()),
        ("join_url", "https://j/1".into()),
    ])
    .await;
    assert_error(&reply, "invalid_created_by");
    assert_error(
        &add(vec![("join_url", "https://j/1".into())]).await,
        "invalid_arguments",
    );
    let users =
        json!([{"slack_id": BOB}, {"external_id": "aad-1", "display_name": "Alice (Teams)"}]);
    let reply = add(vec![
        ("external_unique_id", "e1".into()),
        ("join_url", "https://j/1".into()),
        ("created_by", BOB.into()),
        ("title", "Bob ↔ Alice".into()),
        ("users", users.to_string()),
    ])
    .await;
    let id = reply.body["call"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with('R'));
    assert_eq!(reply.body["call"]["users"], users);
    // Posting the call block records the channel.
    let blocks = json!([{"type": "call", "call_id": id}]);
    let dm = state.dm_with_app(BOB).unwrap();
    json_call(
        &app,
        "chat.postMessage",
        BOT,
        &json!({"channel": dm, "blocks": blocks}),
    )
    .await;
    let info = form(&app, "calls.info", Some(BOT), &[("id", &id)]).await;
    assert_eq!(info.body["call"]["channels"], json!([dm]));
    assert_eq!(state.call_cards()[0].state, "active");
    // Participants: adding someone present or removing someone absent is bad_users.
    let carol = json!([{"slack_id": CAROL}]).to_string();
    let bob = json!([{"slack_id": BOB}]).to_string();
    assert_error(
        &form(
            &app,
            "calls.participants.add",
            Some(BOT),
            &[("id", &id), ("users", &bob)],
        )
        .await,
        "bad_users",
    );
    assert_error(
        &form(
            &app,
            "calls.participants.remove",
            Some(BOT),
            &[("id", &id), ("users", &carol)],
        )
        .await,
        "bad_users",
    );
    let reply = form(
        &app,
        "calls.participants.add",
        Some(BOT),
        &[("id", &id), ("users", &carol)],
    )
    .await;
    assert_eq!(reply.body["call"]["users"].as_array().unwrap().len(), 3);
    let nobody = json!([{"slack_id": "U0NOBODY00"}]).to_string();
    assert_error(
        &form(
            &app,
            "calls.participants.add",
            Some(BOT),
            &[("id", &id), ("users", &nobody)],
        )
        .await,
        "user_not_found",
    );
    assert_error(
        &form(&app, "calls.participants.add", Some(BOT), &[("id", &id)]).await,
        "missing_argument",
    );
    let reply = form(
        &app,
        "calls.update",
        Some(BOT),
        &[("id", &id), ("title", "Renamed")],
    )
    .await;
    assert_eq!(reply.body["call"]["title"], "Renamed");
    let reply = form(
        &app,
        "calls.end",
        Some(BOT),
        &[("id", &id), ("duration", "90")],
    )
    .await;
    let start = reply.body["call"]["date_start"].as_i64().unwrap();
    assert_eq!(reply.body["call"]["date_end"].as_i64().unwrap(), start + 90);
    assert_eq!(state.call_cards()[0].state, "ended");
    // After the end, changes are refused.
    assert_error(
        &form(&app, "calls.end", Some(BOT), &[("id", &id)]).await,
        "inactive_call",
    );
    assert_error(
        &form(
            &app,
            "calls.update",
            Some(BOT),
            &[("id", &id), ("title", "x")],
        )
        .await,
        "inactive_call",
    );
    assert_error(
        &form(
            &app,
            "calls.participants.remove",
            Some(BOT),
            &[("id", &id), ("users", &carol)],
        )
        .await,
        "inactive_call",
    );
    assert_error(
        &form(&app, "calls.info", Some(BOT), &[("id", "R0NOSUCH00")]).await,
        "invalid_call_id",
    );
}

// === OAuth v2 ===

fn rotating_seed() -> SlackSeed {
    let mut seed = SlackSeed::demo();
    seed.app.token_rotation = true;
    seed
}

async fn approve(app: &Router, decision: &str, redirect: &str) -> url::Url {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", "1000000001.2000000002"),
            ("scope", "commands,calls:write,chat:write"),
            ("user_scope", "users.profile:write,dnd:write"),
            ("redirect_uri", redirect),
            ("state", "csrf-xyz"),
            ("team", "T0DEMOTEAM"),
            ("user", CAROL),
            ("decision", decision),
        ])
        .finish();
    let request = Request::post("/oauth/v2/authorize")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    url::Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap()
}

fn query(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn exchange(app: &Router, fields: &[(&str, &str)]) -> Reply {
    let basic = base64::engine::general_purpose::STANDARD
        .encode("1000000001.2000000002:demo-client-secret");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let request = Request::post("/api/oauth.v2.access")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::from(body))
        .unwrap();
    send(app, request).await
}

const REDIRECT: &str = "http://127.0.0.1:8080/slack/oauth/callback";

#[tokio::test]
async fn consent_page_echoes_state_and_checks_the_redirect_uri() {
    let (app, _) = sandbox();
    let page = Request::get(format!(
        "/oauth/v2/authorize?client_id=1000000001.2000000002&scope=commands&user_scope=dnd:write&redirect_uri={}&state=s1",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    ))
    .body(Body::empty())
    .unwrap();
    let response = app.clone().oneshot(page).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains("value=\"s1\"") && html.contains("dnd:write"));
    let wrong = Request::get("/oauth/v2/authorize?client_id=1000000001.2000000002&scope=commands&redirect_uri=https%3A%2F%2Fevil.example%2Fcb")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(wrong).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let denied = approve(&app, "deny", REDIRECT).await;
    assert_eq!(query(&denied, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&denied, "state").as_deref(), Some("csrf-xyz"));
    let allowed = approve(&app, "allow", REDIRECT).await;
    assert!(allowed.as_str().starts_with(REDIRECT));
    assert_eq!(query(&allowed, "state").as_deref(), Some("csrf-xyz"));
    assert!(query(&allowed, "code").is_some());
}

#[tokio::test]
async fn code_exchange_returns_the_documented_shape_once() {
    let (app, _) = sandbox();
    let code = query(&approve(&app, "allow", REDIRECT).await, "code").unwrap();
    let reply = exchange(
        &app,
        &[("code", &code), ("redirect_uri", "http://other/cb")],
    )
    .await;
    assert_error(&reply, "bad_redirect_uri");
    let reply = exchange(&app, &[("code", &code), ("redirect_uri", REDIRECT)]).await;
    let body = &reply.body;
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["token_type"], "bot");
    assert!(body["access_token"].as_str().unwrap().starts_with("xoxb-"));
    assert_eq!(body["scope"], "commands,calls:write,chat:write");
    assert_eq!(body["bot_user_id"], "U0DEMOBOT0");
    assert_eq!(body["team"]["id"], "T0DEMOTEAM");
    assert_eq!(body["authed_user"]["id"], CAROL);
    assert_eq!(body["authed_user"]["token_type"], "user");
    assert!(
        body["authed_user"]["access_token"]
            .as_str()
            .unwrap()
            .starts_with("xoxp-")
    );
    assert!(
        body.get("refresh_token").is_none(),
        "no rotation, no refresh token"
    );
    assert_error(&exchange(&app, &[("code", &code)]).await, "invalid_code");
    // Wrong client credentials.
    let request = Request::post("/api/oauth.v2.access")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "client_id=1000000001.2000000002&client_secret=nope&code=x",
        ))
        .unwrap();
    assert_error(&send(&app, request).await, "bad_client_secret");
    let request = Request::post("/api/oauth.v2.access")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("client_id=999&client_secret=x&code=x"))
        .unwrap();
    assert_error(&send(&app, request).await, "invalid_client_id");
    assert_error(
        &exchange(&app, &[("grant_type", "password")]).await,
        "invalid_grant_type",
    );
}

#[tokio::test]
async fn rotation_expires_tokens_after_12_hours_and_refresh_tokens_work_once() {
    let (app, state) = sandbox_with(rotating_seed());
    let code = query(&approve(&app, "allow", REDIRECT).await, "code").unwrap();
    let reply = exchange(&app, &[("code", &code)]).await;
    let body = reply.body;
    assert_eq!(body["expires_in"], 43200);
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(access.starts_with("xoxe.xoxb-1-"), "{access}");
    assert!(refresh.starts_with("xoxe-1-"), "{refresh}");
    assert!(
        body["authed_user"]["access_token"]
            .as_str()
            .unwrap()
            .starts_with("xoxe.xoxp-1-")
    );
    assert_eq!(body["authed_user"]["expires_in"], 43200);
    assert_eq!(
        form(&app, "auth.test", Some(&access), &[]).await.body["ok"],
        true
    );
    state.clock().advance(Duration::from_secs(43_199));
    assert_eq!(
        form(&app, "auth.test", Some(&access), &[]).await.body["ok"],
        true
    );
    state.clock().advance(Duration::from_secs(1));
    assert_error(
        &form(&app, "auth.test", Some(&access), &[]).await,
        "token_expired",
    );
    let reply = exchange(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(reply.body["token_type"], "bot");
    assert_eq!(reply.body["expires_in"], 43200);
    let new_access = reply.body["access_token"].as_str().unwrap().to_owned();
    let new_refresh = reply.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, refresh);
    assert_eq!(
        form(&app, "auth.test", Some(&new_access), &[]).await.body["ok"],
        true
    );
    // The used refresh token is spent.
    assert_error(
        &exchange(
            &app,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await,
        "invalid_refresh_token",
    );
    assert_error(
        &exchange(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "xoxe-1-made-up"),
            ],
        )
        .await,
        "invalid_refresh_token",
    );
    let reply = exchange(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &new_refresh),
        ],
    )
    .await;
    assert_eq!(reply.body["ok"], true);
}

#[tokio::test]
async fn oauth_codes_expire() {
    let (app, state) = sandbox();
    let code = query(&approve(&app, "allow", REDIRECT).await, "code").unwrap();
    state.clock().advance(Duration::from_secs(601));
    assert_error(&exchange(&app, &[("code", &code)]).await, "invalid_code");
}

#[tokio::test]
async fn apps_uninstall_revokes_every_token() {
    let (app, state) = sandbox();
    assert_error(
        &form(
            &app,
            "apps.uninstall",
            Some(BOT),
            &[
                ("client_id", "1000000001.2000000002"),
                ("client_secret", "x"),
            ],
        )
        .await,
        "bad_client_secret",
    );
    // apps.uninstall is Tier 1: one call per minute, the refused one included.
    state.clock().advance(Duration::from_secs(60));
    let reply = form(
        &app,
        "apps.uninstall",
        Some(BOT),
        &[
            ("client_id", "1000000001.2000000002"),
            ("client_secret", "demo-client-secret"),
        ],
    )
    .await;
    assert_eq!(reply.body["ok"], true);
    assert_error(
        &form(&app, "auth.test", Some(BOT), &[]).await,
        "token_revoked",
    );
    assert_error(
        &form(&app, "auth.test", Some(BOB_TOKEN), &[]).await,
        "token_revoked",
    );
}

#[tokio::test]
async fn fault_injection_applies_to_the_web_api_not_to_control_routes() {
    let (app, _) = sandbox();
    let rule = json!({"path_prefix": "/api/", "kind": "rate_limit", "retry_after_secs": 9, "remaining": 1});
    let request = Request::post("/_sandbox/faults")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(rule.to_string()))
        .unwrap();
    assert_eq!(send(&app, request).await.status, StatusCode::CREATED);
    let reply = form(&app, "auth.test", Some(BOT), &[]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.headers[header::RETRY_AFTER], "9");
    assert_eq!(
        form(&app, "auth.test", Some(BOT), &[]).await.body["ok"],
        true
    );
}

/// Method, token, arguments, expected error.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, String)>, &'a str);

#[tokio::test]
async fn odd_arguments_are_refused_with_argument_errors() {
    let (app, _) = sandbox();
    let dm = form(&app, "conversations.open", Some(BOT), &[("users", BOB)])
        .await
        .body["channel"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases: Vec<Case<'_>> = vec![
        (
            "users.list",
            BOT,
            vec![("limit", "-5".into())],
            "invalid_arguments",
        ),
        (
            "users.list",
            BOT,
            vec![("limit", "many".into())],
            "invalid_arguments",
        ),
        (
            "dnd.setSnooze",
            BOB_TOKEN,
            vec![("num_minutes", "soon".into())],
            "invalid_arguments",
        ),
        (
            "dnd.setSnooze",
            BOB_TOKEN,
            vec![("num_minutes", "100000".into())],
            "too_long",
        ),
        (
            "chat.postMessage",
            BOT,
            vec![("channel", dm.clone()), ("blocks", "[1]".into())],
            "invalid_blocks",
        ),
        (
            "chat.postMessage",
            BOT,
            vec![("channel", dm.clone()), ("blocks", "{}".into())],
            "invalid_blocks_format",
        ),
        (
            "chat.postMessage",
            BOT,
            vec![
                ("channel", dm.clone()),
                (
                    "blocks",
                    r#"[{"type":"call","call_id":"R0NOSUCH00"}]"#.into(),
                ),
            ],
            "invalid_blocks",
        ),
        (
            "calls.add",
            BOT,
            vec![
                ("external_unique_id", "e".into()),
                ("join_url", "https://j".into()),
                ("created_by", BOB.into()),
                ("date_start", "yesterday".into()),
            ],
            "invalid_start_time",
        ),
        (
            "calls.add",
            BOT,
            vec![
                ("external_unique_id", "e".into()),
                ("join_url", "https://j".into()),
                ("created_by", "U0NOBODY00".into()),
            ],
            "invalid_created_by",
        ),
        (
            "calls.add",
            BOT,
            vec![
                ("external_unique_id", "e".into()),
                ("join_url", "https://j".into()),
                ("created_by", BOB.into()),
                ("users", r#"{"slack_id":"U1"}"#.into()),
            ],
            "invalid_array_arg",
        ),
        (
            "users.profile.set",
            BOB_TOKEN,
            vec![("profile", r#"{"status_expiration":"tomorrow"}"#.into())],
            "invalid_profile",
        ),
        (
            "users.profile.set",
            BOB_TOKEN,
            vec![("profile", r#"{"status_emoji":"smile"}"#.into())],
            "invalid_emoji_not_allowed",
        ),
        (
            "users.profile.set",
            BOB_TOKEN,
            vec![("profile", "[]".into())],
            "invalid_profile",
        ),
        ("users.profile.set", BOB_TOKEN, vec![], "invalid_profile"),
        ("users.setPresence", BOB_TOKEN, vec![], "invalid_arguments"),
        (
            "conversations.open",
            BOT,
            vec![("users", "U1,U2,U3,U4,U5,U6,U7,U8,U9".into())],
            "too_many_users",
        ),
    ];
    for (method, token, fields, code) in cases {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = form(&app, method, Some(token), &pairs).await;
        assert_eq!(reply.status, StatusCode::OK, "{method} {fields:?}");
        assert_eq!(
            reply.body["error"], code,
            "{method} {fields:?}: {}",
            reply.body
        );
    }
    let many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("f{i}"), json!("x"))).collect();
    let reply = json_call(
        &app,
        "users.profile.set",
        BOB_TOKEN,
        &json!({"profile": many}),
    )
    .await;
    assert_error(&reply, "invalid_profile");
}

#[tokio::test]
async fn random_garbage_never_breaks_the_front_door() {
    use rand::{Rng, SeedableRng};
    let (app, _) = sandbox();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let methods = [
        "auth.test",
        "users.info",
        "users.list",
        "users.profile.set",
        "chat.postMessage",
        "chat.update",
        "calls.add",
        "calls.participants.add",
        "conversations.open",
        "dnd.setSnooze",
        "oauth.v2.access",
    ];
    let content_types = [
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-8",
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
    ];
    let fragments: [&[u8]; 10] = [
        b"channel=",
        b"&users=%5B%7B",
        b"{\"blocks\":",
        b"[null,",
        b"profile=%7B%22status_text%22%3A",
        b"\xff\xfe",
        b"id=R",
        b"&limit=-1",
        b"\"}",
        b"%",
    ];
    for _ in 0..300 {
        let method = methods[rng.random_range(0..methods.len())];
        let content_type = content_types[rng.random_range(0..content_types.len())];
        let mut body = Vec::new();
        for _ in 0..rng.random_range(0..6) {
            body.extend_from_slice(fragments[rng.random_range(0..fragments.len())]);
        }
        let token = if rng.random_bool(0.5) { BOT } else { BOB_TOKEN };
        let request = Request::post(format!("/api/{method}"))
            .header(header::CONTENT_TYPE, content_type)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.clone()))
            .unwrap();
        let reply = send(&app, request).await;
        assert!(
            [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS].contains(&reply.status),
            "{method} {content_type} {body:?} → {}",
            reply.status
        );
        assert!(
            reply.body["ok"].is_boolean(),
            "{method} {body:?}: {}",
            reply.body
        );
        if reply.body["ok"] == false {
            assert!(reply.body["error"].is_string());
        }
    }
    // The response_url endpoint and the consent form take garbage too.
    for body in [&b"{"[..], b"[]", b"\xff", b""] {
        let request = Request::post("/hooks/commands/T0DEMOTEAM/1/unknown")
            .body(Body::from(body.to_vec()))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let request = Request::post("/oauth/v2/authorize")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.to_vec()))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert!(response.status().is_client_error());
    }
}
