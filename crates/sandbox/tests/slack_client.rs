//! The Slack sandbox's web client under `/client/`, driven over HTTP as a browser would
//! (forms, the live fragment, the event stream), against a small recording app on a loopback
//! socket that checks Slack's v0 signature before answering.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use callbridge_sandbox::slack::{
    RunningSlackSandbox, SlackSandbox, SlackSandboxConfig, SlackSeed, verify_v0,
};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

const SECRET: &str = "demo-signing-secret";
const BOT: &str = "xoxb-demo-bot";
const BOB: &str = "U0DEMOBOB1";
const CAROL: &str = "U0DEMOCAR2";
const GENERAL: &str = "C0DEMOTEAM";
/// Short enough that the timeout test stays quick.
const APP_TIMEOUT: Duration = Duration::from_secs(1);

/// One request the app received, and whether its signature verified.
#[derive(Clone, Debug)]
struct Recorded {
    path: String,
    body: Bytes,
    signed: bool,
}

impl Recorded {
    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

#[derive(Clone, Default)]
struct TestApp {
    records: Arc<Mutex<Vec<Recorded>>>,
}

impl TestApp {
    fn records(&self, path: &str) -> Vec<Recorded> {
        let all = self.records.lock().unwrap();
        all.iter().filter(|r| r.path == path).cloned().collect()
    }
}

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Verifies the v0 signature (401 if it does not hold), then answers a command with an
/// ephemeral text, `slow` after the sandbox's patience and `fail` with a 500.
async fn app_handler(
    State(app): State<TestApp>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let signed = verify_v0(
        SECRET,
        &header("x-slack-request-timestamp"),
        &body,
        &header("x-slack-signature"),
        unix_now(),
    )
    .is_ok();
    let path = uri.path().to_owned();
    app.records.lock().unwrap().push(Recorded {
        path: path.clone(),
        body: body.clone(),
        signed,
    });
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if parsed["type"] == "url_verification" {
        return axum::Json(json!({"challenge": parsed["challenge"]})).into_response();
    }
    if !signed {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if path != "/slack/commands" {
        return StatusCode::OK.into_response();
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let text = form.get("text").cloned().unwrap_or_default();
    if text.contains("slow") {
        tokio::time::sleep(APP_TIMEOUT + Duration::from_millis(500)).await;
    }
    if text.contains("fail") {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    axum::Json(json!({"response_type": "ephemeral", "text": format!("Ringing {text} for you")}))
        .into_response()
}

async fn start() -> (TestApp, RunningSlackSandbox) {
    let app = TestApp::default();
    let router = Router::new().fallback(app_handler).with_state(app.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let config = SlackSandboxConfig::new(SlackSeed::demo())
        .with_app_base_url(url::Url::parse(&format!("http://{addr}/")).unwrap())
        .with_app_timeout(APP_TIMEOUT);
    (app, SlackSandbox::start(config).await.unwrap())
}

/// A browser without the script: redirects are not followed, so each 303 can be checked.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn url(slack: &RunningSlackSandbox, path: &str) -> reqwest::Url {
    slack.base_url().join(path).unwrap()
}

async fn get_text(slack: &RunningSlackSandbox, path: &str) -> (StatusCode, String) {
    let response = browser().get(url(slack, path)).send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

async fn post_form(
    slack: &RunningSlackSandbox,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    browser()
        .post(url(slack, path))
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// The same form as the page's script sends it: the outcome comes back as text.
async fn post_form_by_script(
    slack: &RunningSlackSandbox,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = browser()
        .post(url(slack, path))
        .header("x-requested-with", "fetch")
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

async fn api(slack: &RunningSlackSandbox, method: &str, body: &Value) -> Value {
    reqwest::Client::new()
        .post(slack.api_url().join(method).unwrap())
        .bearer_auth(BOT)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn picker_lists_every_person_and_no_bot() {
    let (_app, slack) = start().await;
    let response = browser().get(url(&slack, "client/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let page = response.text().await.unwrap();
    for (id, real, handle) in [
        (BOB, "Bob Builder", "@bob"),
        (CAROL, "Carol Danvers", "@carol"),
        ("U0DEMODAN3", "Dan Brown", "@dan"),
    ] {
        assert!(page.contains(&format!("href=\"/client/{id}\"")), "{id}");
        assert!(page.contains(real) && page.contains(handle), "{real}");
    }
    assert!(page.contains("carol@example.com") && page.contains("Demo Workspace"));
    assert!(!page.contains("U0DEMOBOT0"), "the app's bot is no person");
    assert!(!page.contains("<script>") && page.contains("/client/static/client.js"));
    let (status, script) = get_text(&slack, "client/static/client.js").await;
    assert_eq!(status, 200);
    assert!(script.contains("EventSource"));
    slack.shutdown().await;
}

#[tokio::test]
async fn a_slash_command_typed_in_the_client_reaches_the_app_signed_and_its_reply_shows() {
    let (app, slack) = start().await;
    let response = post_form(
        &slack,
        &format!("client/{BOB}/say"),
        &[("channel", "app"), ("text", "/call alice@contoso.com")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("/client/{BOB}?notice=")),
        "{location}"
    );
    let commands = app.records("/slack/commands");
    assert_eq!(commands.len(), 1);
    assert!(commands[0].signed, "the v0 signature verifies");
    let form = commands[0].form();
    assert_eq!(form["user_id"], BOB);
    assert_eq!(form["command"], "/call");
    assert_eq!(form["text"], "<mailto:alice@contoso.com|alice@contoso.com>");
    assert!(form["channel_id"].starts_with('D'));
    // The redirect's page shows the outcome; the app's ephemeral reply is in Bob's view only.
    let (_, page) = get_text(&slack, location.trim_start_matches('/')).await;
    assert!(page.contains("acknowledged"), "{page}");
    let (_, bob_view) = get_text(&slack, &format!("client/{BOB}/view")).await;
    assert!(
        bob_view.contains("Ringing alice@contoso.com for you"),
        "{bob_view}"
    );
    assert!(bob_view.contains("Only visible to you"));
    let (_, carol_view) = get_text(&slack, &format!("client/{CAROL}/view")).await;
    assert!(!carol_view.contains("Ringing"));
    // Sent by the page's script, the same act answers with the outcome as text.
    let (status, text) = post_form_by_script(
        &slack,
        &format!("client/{BOB}/say"),
        &[("channel", &form["channel_id"]), ("text", "/call @carol")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        text.contains("/call") && text.contains("HTTP 200"),
        "{text}"
    );
    assert_eq!(
        app.records("/slack/commands")[1].form()["text"],
        "<@U0DEMOCAR2|carol>"
    );
    slack.shutdown().await;
}

#[tokio::test]
async fn an_app_that_fails_or_is_too_slow_is_shown_as_a_clear_message() {
    let (_app, slack) = start().await;
    let say = format!("client/{BOB}/say");
    let (status, text) = post_form_by_script(&slack, &say, &[("text", "/call fail")]).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("dispatch_failed") && text.contains("HTTP 500"),
        "{text}"
    );
    let (_, text) = post_form_by_script(&slack, &say, &[("text", "/call slow")]).await;
    assert!(text.contains("operation_timeout"), "{text}");
    let (_, view) = get_text(&slack, &format!("client/{BOB}/view")).await;
    assert!(view.contains("Slackbot"));
    assert!(view.contains("/call failed with the error &quot;operation_timeout&quot;"));
    // A command the app does not own never leaves Slack.
    let (status, text) = post_form_by_script(&slack, &say, &[("text", "/giphy cats")]).await;
    assert_eq!(status, 400);
    assert!(text.contains("/giphy"), "{text}");
    slack.shutdown().await;
}

#[tokio::test]
async fn plain_text_is_posted_in_the_chosen_channel_for_everyone() {
    let (_app, slack) = start().await;
    let response = post_form(
        &slack,
        &format!("client/{BOB}/say"),
        &[("channel", GENERAL), ("text", "hello team")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let shown = slack.messages(Some(GENERAL));
    assert_eq!(shown.len(), 1);
    assert_eq!(
        (shown[0].user.as_str(), shown[0].text.as_str()),
        (BOB, "hello team")
    );
    let (_, carol_view) = get_text(&slack, &format!("client/{CAROL}/view")).await;
    assert!(carol_view.contains("hello team") && carol_view.contains("Bob Builder"));
    slack.shutdown().await;
}

#[tokio::test]
async fn status_dnd_and_presence_set_by_hand_show_in_slack_and_on_the_page() {
    let (_app, slack) = start().await;
    let before = slack.clock().unix();
    let response = post_form(
        &slack,
        &format!("client/{CAROL}/status"),
        &[
            ("emoji", "palm_tree"),
            ("text", "On holiday"),
            ("expires_in", "60"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let view = slack.user_view(CAROL).unwrap();
    assert_eq!(view.status_text, "On holiday");
    assert_eq!(view.status_emoji, ":palm_tree:");
    assert!((before + 3600..=before + 3610).contains(&view.status_expiration));
    let (_, page) = get_text(&slack, &format!("client/{CAROL}")).await;
    assert!(page.contains("On holiday") && page.contains(":palm_tree:"));
    // Bob's member list shows Carol's status: what a teammate sees.
    let (_, bobs) = get_text(&slack, &format!("client/{BOB}/view")).await;
    let carol_item = bobs
        .split("<li data-user=")
        .find(|item| item.starts_with(&format!("\"{CAROL}\"")))
        .unwrap_or_else(|| panic!("Carol in Bob's member list: {bobs}"));
    assert!(carol_item.contains("On holiday"), "{carol_item}");

    post_form(&slack, &format!("client/{CAROL}/dnd"), &[("minutes", "30")]).await;
    let view = slack.user_view(CAROL).unwrap();
    assert!(view.dnd_snoozing);
    let (_, page) = get_text(&slack, &format!("client/{CAROL}/view")).await;
    assert!(page.contains("Snoozing until"), "{page}");
    post_form(&slack, &format!("client/{CAROL}/dnd"), &[("end", "1")]).await;
    assert!(!slack.user_view(CAROL).unwrap().dnd_snoozing);
    let bad = post_form(&slack, &format!("client/{CAROL}/dnd"), &[("minutes", "-5")]).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    post_form(
        &slack,
        &format!("client/{CAROL}/presence"),
        &[("online", "false")],
    )
    .await;
    assert_eq!(slack.user_view(CAROL).unwrap().presence, "away");
    post_form(&slack, &format!("client/{CAROL}/status"), &[("clear", "1")]).await;
    assert_eq!(slack.user_view(CAROL).unwrap().status_text, "");
    slack.shutdown().await;
}

#[tokio::test]
async fn remote_text_is_escaped_and_bad_requests_are_refused_clearly() {
    let (_app, slack) = start().await;
    slack
        .set_status_by_hand(BOB, "<script>alert(1)</script>", ":x:", 0)
        .unwrap();
    let (_, page) = get_text(&slack, &format!("client/{BOB}")).await;
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"));

    let (status, page) = get_text(&slack, "client/U0NOBODY00").await;
    assert_eq!(status, 404);
    assert!(page.contains("no person with the id U0NOBODY00"));
    for path in [
        "client/U0NOBODY00/view",
        "client/U0NOBODY00/events",
        "client/U0DEMOBOT0",
    ] {
        assert_eq!(get_text(&slack, path).await.0, 404, "{path}");
    }

    let say = format!("client/{BOB}/say");
    let empty = post_form(&slack, &say, &[("text", "   ")]).await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert!(empty.text().await.unwrap().contains("The message is empty"));
    let huge = "x".repeat(4001);
    let oversized = post_form(&slack, &say, &[("text", &huge)]).await;
    assert_eq!(oversized.status(), StatusCode::BAD_REQUEST);
    assert!(oversized.text().await.unwrap().contains("4001 characters"));
    assert!(slack.messages(None).is_empty(), "nothing was posted");
    slack.shutdown().await;
}

#[tokio::test]
async fn a_ringing_dm_shows_its_call_card_and_its_buttons_reach_the_app() {
    let (app, slack) = start().await;
    let dm = slack.dm_with_app(CAROL).unwrap();
    let call = api(
        &slack,
        "calls.add",
        &json!({"external_unique_id": "x-1", "join_url": "https://gw.example/j/1",
                "created_by": BOB, "title": "Call from <Alice>"}),
    )
    .await;
    let call_id = call["call"]["id"].as_str().unwrap().to_owned();
    let posted = api(
        &slack,
        "chat.postMessage",
        &json!({"channel": dm, "text": "Alice is calling", "blocks": [
            {"type": "call", "call_id": call_id},
            {"type": "actions", "block_id": "callbridge_call", "elements": [
                {"type": "button", "action_id": "join", "url": "https://gw.example/j/1",
                 "text": {"type": "plain_text", "text": "Join"}},
                {"type": "button", "action_id": "decline", "value": "leg-7",
                 "text": {"type": "plain_text", "text": "Decline"}}]}]}),
    )
    .await;
    let ts = posted["ts"].as_str().unwrap().to_owned();
    let (_, view) = get_text(&slack, &format!("client/{CAROL}/view")).await;
    assert!(view.contains("Call from &lt;Alice&gt;"), "{view}");
    assert!(view.contains("ringing"));
    assert!(
        view.contains(
            "href=\"https://gw.example/j/1\" target=\"_blank\" rel=\"noopener\">Join</a>"
        )
    );
    assert!(view.contains(&format!("action=\"/client/{CAROL}/click\"")));
    assert!(view.contains("value=\"decline\""));

    let response = post_form(
        &slack,
        &format!("client/{CAROL}/click"),
        &[("channel", &dm), ("ts", &ts), ("action_id", "decline")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let clicks = app.records("/slack/interactivity");
    assert_eq!(clicks.len(), 1);
    assert!(clicks[0].signed);
    let payload: Value = serde_json::from_str(&clicks[0].form()["payload"]).unwrap();
    assert_eq!(payload["type"], "block_actions");
    assert_eq!(payload["user"]["id"], CAROL);
    assert_eq!(payload["actions"][0]["action_id"], "decline");
    assert_eq!(payload["actions"][0]["value"], "leg-7");

    // Once Carol is in the call it is active; once ended, there is nothing left to join.
    api(
        &slack,
        "calls.participants.add",
        &json!({"id": call_id, "users": [{"slack_id": CAROL}]}),
    )
    .await;
    let (_, view) = get_text(&slack, &format!("client/{CAROL}/view")).await;
    assert!(
        view.contains("call active") && view.contains("Participants: Carol Danvers"),
        "{view}"
    );
    api(&slack, "calls.end", &json!({"id": call_id})).await;
    let (_, view) = get_text(&slack, &format!("client/{CAROL}/view")).await;
    assert!(view.contains("call ended"), "{view}");
    assert!(!view.contains("class=\"button primary\" href=\"https://gw.example/j/1\" target=\"_blank\" rel=\"noopener\">Join</a></p>"));
    slack.shutdown().await;
}

#[tokio::test]
async fn the_event_stream_says_change_after_a_change() {
    let (_app, slack) = start().await;
    let mut stream = browser()
        .get(url(&slack, &format!("client/{BOB}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    slack.set_dnd(BOB, Some(15)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains("event: change") {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no change event within 10 s; got {seen:?}");
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) => panic!("the stream ended; got {seen:?}"),
            Ok(Err(e)) => panic!("the stream failed: {e}"),
            Err(_) => panic!("no change event within 10 s; got {seen:?}"),
        }
    }
    drop(stream);
    slack.shutdown().await;
}
