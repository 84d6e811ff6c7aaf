//! Corrections found by driving the sandbox as Slack's official SDKs do: `conversations.list`
//! is served with cursor paging (slack-api.md §8.2), and `chat.postMessage` takes a channel by
//! name (`#general` or `general`) as Slack does (§12 lists `channel`; Slack resolves names).

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use callbridge_sandbox::slack::{
    SeedChannel, SlackSandbox, SlackSandboxConfig, SlackSeed, SlackState,
};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const BOT: &str = "xoxb-demo-bot";

/// The demo, with 5 more public channels and the bot allowed to read channel lists.
fn sandbox() -> (Router, SlackState) {
    let mut seed = SlackSeed::demo();
    let workspace = &mut seed.workspaces[0];
    // Seeded channels replace the default #general, so it is seeded too, with the bot in it.
    workspace.channels.push(SeedChannel {
        id: "C0DEMOGENL".to_owned(),
        name: "general".to_owned(),
        members: vec!["U0DEMOBOB1".to_owned(), "U0DEMOBOT0".to_owned()],
    });
    for n in 1..=5 {
        workspace.channels.push(SeedChannel {
            id: format!("C0EXTRA00{n}"),
            name: format!("extra-{n}"),
            members: vec!["U0DEMOBOB1".to_owned()],
        });
    }
    if let Some(install) = workspace.install.as_mut() {
        install.bot_scopes.push("channels:read".to_owned());
    }
    let state = SlackState::new(&SlackSandboxConfig::new(seed)).unwrap();
    state.clock().freeze();
    (SlackSandbox::router(state.clone()), state)
}

async fn call(app: &Router, method: &str, token: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let request = Request::post(format!("/api/{method}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// §8.2: pass `cursor` = the previous `next_cursor`; an empty one means the end; `limit` pages.
#[tokio::test]
async fn conversations_list_pages_with_cursors_until_an_empty_next_cursor() {
    let (app, _) = sandbox();
    let mut cursor = String::new();
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body) = call(
            &app,
            "conversations.list",
            BOT,
            &[("limit", "2"), ("cursor", &cursor)],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["ok"], true, "{body}");
        let channels = body["channels"].as_array().unwrap();
        assert!(channels.len() <= 2);
        names.extend(
            channels
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        cursor = body["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "extra-1", "extra-2", "extra-3", "extra-4", "extra-5", "general"
        ]
    );
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn conversations_list_refuses_bad_cursors_types_and_missing_scopes() {
    let (app, _) = sandbox();
    let (_, body) = call(
        &app,
        "conversations.list",
        BOT,
        &[("cursor", "bm90LWEtY3Vyc29y")],
    )
    .await;
    assert_eq!(body["error"], "invalid_cursor");
    let (_, body) = call(
        &app,
        "conversations.list",
        BOT,
        &[("types", "public_channel,nonsense")],
    )
    .await;
    assert_eq!(body["error"], "invalid_types");
    // DMs need im:read, which the demo bot was not granted.
    let (_, body) = call(&app, "conversations.list", BOT, &[("types", "im")]).await;
    assert_eq!(body["error"], "missing_scope");
    assert_eq!(body["needed"], "im:read");
    // The demo's own bot, without channels:read, is refused the default listing.
    let (plain, _) = {
        let state = SlackState::new(&SlackSandboxConfig::new(SlackSeed::demo())).unwrap();
        (SlackSandbox::router(state.clone()), state)
    };
    let (_, body) = call(&plain, "conversations.list", BOT, &[]).await;
    assert_eq!(body["error"], "missing_scope");
    assert_eq!(body["needed"], "channels:read");
}

/// §12: `channel` names the conversation; Slack takes `#general` and `general` as well as ids,
/// and answers with the channel's id.
#[tokio::test]
async fn chat_post_message_accepts_a_channel_by_name() {
    let (app, state) = sandbox();
    let mut ids = Vec::new();
    for channel in ["#general", "general"] {
        let (_, body) = call(
            &app,
            "chat.postMessage",
            BOT,
            &[("channel", channel), ("text", "hello")],
        )
        .await;
        assert_eq!(body["ok"], true, "{channel}: {body}");
        let id = body["channel"].as_str().unwrap().to_owned();
        assert_eq!(id, "C0DEMOGENL");
        ids.push(id);
    }
    assert_eq!(state.messages(Some(&ids[0])).len(), 2);
    let (_, body) = call(
        &app,
        "chat.postMessage",
        BOT,
        &[("channel", "#no-such-channel"), ("text", "x")],
    )
    .await;
    assert_eq!(body["error"], "channel_not_found");
}
