//! What the Slack sandbox sends the app under test: signed slash commands, interactivity
//! payloads and Events API deliveries with Slack's retry schedule, against a small recording
//! app on a loopback socket. Retry timing is driven by the sandbox clock, not by sleeping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use callbridge_sandbox::slack::{
    RunningSlackSandbox, SlackSandbox, SlackSandboxConfig, SlackSeed, verify_v0,
};
use serde_json::{Value, json};

const SECRET: &str = "demo-signing-secret";
const BOT: &str = "xoxb-demo-bot";
const BOB: &str = "U0DEMOBOB1";
const CAROL: &str = "U0DEMOCAR2";
/// The app's answer window in these tests: shorter than Slack's 3 s to keep them quick.
const APP_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a "slow" app takes: beyond [`APP_TIMEOUT`].
const SLOW_MS: u64 = 1500;

/// How the recording app answers one path.
#[derive(Clone, Default)]
struct Behaviour {
    status: Option<u16>,
    delay_ms: u64,
    body: Option<(String, String)>,
    no_retry: bool,
}

#[derive(Clone, Debug)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

#[derive(Clone, Default)]
struct TestApp {
    records: Arc<Mutex<Vec<Recorded>>>,
    behaviour: Arc<Mutex<HashMap<String, Behaviour>>>,
}

impl TestApp {
    fn set(&self, path: &str, behaviour: Behaviour) {
        self.behaviour
            .lock()
            .unwrap()
            .insert(path.to_owned(), behaviour);
    }

    fn records(&self, path: &str) -> Vec<Recorded> {
        let all = self.records.lock().unwrap();
        all.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Event callbacks received, in order.
    fn events(&self) -> Vec<Recorded> {
        self.records("/slack/events")
            .into_iter()
            .filter(|r| r.json()["type"] == "event_callback")
            .collect()
    }
}

async fn record(State(app): State<TestApp>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    app.records.lock().unwrap().push(Recorded {
        path: path.clone(),
        headers,
        body: body.clone(),
    });
    let behaviour = app
        .behaviour
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or_default();
    if behaviour.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(behaviour.delay_ms)).await;
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if parsed["type"] == "url_verification" {
        return axum::Json(json!({"challenge": parsed["challenge"]})).into_response();
    }
    let status = StatusCode::from_u16(behaviour.status.unwrap_or(200)).unwrap();
    let mut response = match behaviour.body {
        Some((content_type, body)) => {
            (status, [("content-type", content_type)], body).into_response()
        }
        None => status.into_response(),
    };
    if behaviour.no_retry {
        response
            .headers_mut()
            .insert("x-slack-no-retry", "1".parse().unwrap());
    }
    response
}

async fn start_app() -> (TestApp, url::Url) {
    let app = TestApp::default();
    let router = Router::new().fallback(record).with_state(app.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (app, url::Url::parse(&format!("http://{addr}/")).unwrap())
}

async fn start() -> (TestApp, RunningSlackSandbox) {
    let (app, base) = start_app().await;
    let config = SlackSandboxConfig::new(SlackSeed::demo())
        .with_app_base_url(base)
        .with_app_timeout(APP_TIMEOUT);
    let slack = SlackSandbox::start(config).await.unwrap();
    (app, slack)
}

/// Waits up to 10 s (generous for loaded CI machines) for `check` to hold.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn assert_signed(request: &Recorded, now: i64) {
    let ts = request.header("x-slack-request-timestamp").unwrap();
    let signature = request.header("x-slack-signature").unwrap();
    verify_v0(SECRET, &ts, &request.body, &signature, now).unwrap();
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
async fn slash_command_is_signed_with_every_documented_field() {
    let (app, slack) = start().await;
    app.set(
        "/slack/commands",
        Behaviour {
            body: Some((
                "application/json".into(),
                json!({"response_type": "in_channel", "text": "Calling Alice…"}).to_string(),
            )),
            ..Behaviour::default()
        },
    );
    let outcome = slack
        .type_slash_command(BOB, "/call alice@contoso.com @carol")
        .await
        .unwrap();
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.status, Some(200));
    let request = &app.records("/slack/commands")[0];
    assert_eq!(
        request.header("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    assert_signed(request, slack.clock().unix());
    let form = request.form();
    for (key, value) in [
        ("token", "sandboxVerificationTok"),
        ("team_id", "T0DEMOTEAM"),
        ("team_domain", "demo"),
        ("channel_name", "directmessage"),
        ("user_id", BOB),
        ("user_name", "bob"),
        ("command", "/call"),
        (
            "text",
            "<mailto:alice@contoso.com|alice@contoso.com> <@U0DEMOCAR2|carol>",
        ),
        ("api_app_id", "A0CALLBRDG"),
        ("is_enterprise_install", "false"),
    ] {
        assert_eq!(form.get(key).map(String::as_str), Some(value), "{key}");
    }
    assert!(form["channel_id"].starts_with('D'));
    assert_eq!(form["trigger_id"].split('.').count(), 3);
    assert_eq!(form["response_url"], outcome.response_url);
    // in_channel shows the command and the answer to everyone in the conversation.
    let shown = slack.messages(Some(&outcome.channel));
    assert_eq!(shown[0].text, "/call alice@contoso.com @carol");
    assert_eq!(shown[0].user, BOB);
    assert_eq!(shown[1].text, "Calling Alice…");
    assert_eq!(shown[1].ephemeral_to, None);
    slack.shutdown().await;
}

#[tokio::test]
async fn response_url_works_five_times_within_thirty_minutes() {
    let (_app, slack) = start().await;
    slack.clock().freeze();
    let http = reqwest::Client::new();
    let outcome = slack.type_slash_command(BOB, "/call @carol").await.unwrap();
    for i in 0..5 {
        let response = http
            .post(&outcome.response_url)
            .json(&json!({"text": format!("update {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
    }
    let response = http
        .post(&outcome.response_url)
        .json(&json!({"text": "sixth"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), "expired_url");
    // Ephemeral is the default.
    let shown = slack.messages(Some(&outcome.channel));
    assert!(shown.iter().all(|m| m.ephemeral_to.as_deref() == Some(BOB)));
    // A fresh one expires after 30 minutes.
    let outcome = slack.type_slash_command(BOB, "/call @carol").await.unwrap();
    let bad = http
        .post(&outcome.response_url)
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    slack.clock().advance(Duration::from_secs(30 * 60 + 1));
    let late = http
        .post(&outcome.response_url)
        .json(&json!({"text": "late"}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 404);
    slack.shutdown().await;
}

#[tokio::test]
async fn response_url_can_post_a_call_card_in_channel() {
    let (_app, slack) = start().await;
    let outcome = slack.type_slash_command(BOB, "/call @carol").await.unwrap();
    let call = api(
        &slack,
        "calls.add",
        &json!({"external_unique_id": "u1", "join_url": "https://gw/join/1", "created_by": BOB}),
    )
    .await;
    let call_id = call["call"]["id"].as_str().unwrap().to_owned();
    let response = reqwest::Client::new()
        .post(&outcome.response_url)
        .json(&json!({"response_type": "in_channel", "blocks": [{"type": "call", "call_id": call_id}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cards = slack.call_cards();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].channel, outcome.channel);
    assert_eq!(cards[0].call.channels, vec![outcome.channel.clone()]);
    slack.shutdown().await;
}

#[tokio::test]
async fn a_slow_or_unreachable_app_is_reported_as_the_client_shows_it() {
    let (app, slack) = start().await;
    app.set(
        "/slack/commands",
        Behaviour {
            delay_ms: SLOW_MS,
            ..Behaviour::default()
        },
    );
    let outcome = slack.type_slash_command(BOB, "/call @carol").await.unwrap();
    assert_eq!(outcome.error.as_deref(), Some("operation_timeout"));
    let shown = slack.messages(Some(&outcome.channel));
    assert_eq!(shown[0].user, "USLACKBOT");
    assert_eq!(
        shown[0].text,
        "/call failed with the error \"operation_timeout\""
    );
    let deliveries = slack.deliveries();
    let last = deliveries.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.outcome.as_str()),
        ("slash_command", "http_timeout")
    );
    // No retries for commands.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.records("/slack/commands").len(), 1);
    // Nothing listening.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}/cmd", closed.local_addr().unwrap());
    drop(closed);
    let response = reqwest::Client::new()
        .post(slack.base_url().join("_sandbox/slack/app").unwrap())
        .json(&json!({"command_url": dead}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let outcome = slack.type_slash_command(BOB, "/call @carol").await.unwrap();
    assert_eq!(outcome.error.as_deref(), Some("dispatch_failed"));
    slack.shutdown().await;
}

#[tokio::test]
async fn clicking_a_button_sends_a_signed_block_actions_payload() {
    let (app, slack) = start().await;
    let dm = slack.dm_with_app(CAROL).unwrap();
    let posted = api(
        &slack,
        "chat.postMessage",
        &json!({"channel": dm, "text": "Missed call", "blocks": [
            {"type": "actions", "block_id": "missed", "elements": [
                {"type": "button", "action_id": "call_back", "value": "opaque-42",
                 "text": {"type": "plain_text", "text": "Call back"}}]}]}),
    )
    .await;
    let ts = posted["ts"].as_str().unwrap().to_owned();
    let outcome = slack
        .click_button(CAROL, &dm, &ts, "call_back")
        .await
        .unwrap();
    assert_eq!(outcome.error, None);
    let request = &app.records("/slack/interactivity")[0];
    assert_signed(request, slack.clock().unix());
    let payload: Value = serde_json::from_str(&request.form()["payload"]).unwrap();
    assert_eq!(payload["type"], "block_actions");
    assert_eq!(payload["user"]["id"], CAROL);
    assert_eq!(payload["team"]["id"], "T0DEMOTEAM");
    assert_eq!(payload["container"]["message_ts"], ts.as_str());
    assert_eq!(payload["container"]["channel_id"], dm.as_str());
    assert_eq!(payload["actions"][0]["action_id"], "call_back");
    assert_eq!(payload["actions"][0]["block_id"], "missed");
    assert_eq!(payload["actions"][0]["value"], "opaque-42");
    assert_eq!(payload["response_url"], outcome.response_url.as_str());
    // The action's response_url can replace the message it came from.
    let response = reqwest::Client::new()
        .post(&outcome.response_url)
        .json(&json!({"replace_original": true, "text": "Calling back…"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let shown = slack.messages(Some(&dm));
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].text, "Calling back…");
    assert!(
        slack
            .click_button(CAROL, &dm, &ts, "no_such_button")
            .await
            .is_err()
    );
    slack.shutdown().await;
}

#[tokio::test]
async fn events_url_is_challenged_then_gets_signed_envelopes() {
    let (app, slack) = start().await;
    eventually("url_verification", || {
        slack
            .deliveries()
            .iter()
            .any(|d| d.kind == "url_verification" && d.outcome == "ok")
    })
    .await;
    let challenge = &app.records("/slack/events")[0];
    assert_eq!(challenge.json()["type"], "url_verification");
    assert!(challenge.json()["challenge"].is_string());
    assert_signed(challenge, slack.clock().unix());
    slack
        .set_status_by_hand(BOB, "In a meeting", ":calendar:", 0)
        .unwrap();
    eventually("two events", || app.events().len() >= 2).await;
    let events = app.events();
    let types: Vec<Value> = events
        .iter()
        .map(|e| e.json()["event"]["type"].clone())
        .collect();
    assert!(types.contains(&json!("user_change")) && types.contains(&json!("user_status_changed")));
    let envelope = events[0].json();
    assert_signed(&events[0], slack.clock().unix());
    assert_eq!(envelope["token"], "sandboxVerificationTok");
    assert_eq!(envelope["team_id"], "T0DEMOTEAM");
    assert_eq!(envelope["api_app_id"], "A0CALLBRDG");
    assert!(envelope["event_id"].as_str().unwrap().starts_with("Ev"));
    assert!(envelope["event_time"].as_i64().unwrap() > 0);
    assert_eq!(envelope["authorizations"].as_array().unwrap().len(), 1);
    assert_eq!(envelope["authorizations"][0]["user_id"], "U0DEMOBOT0");
    assert_eq!(envelope["authorizations"][0]["is_bot"], true);
    assert_eq!(envelope["event"]["user"]["id"], BOB);
    assert_eq!(
        envelope["event"]["user"]["profile"]["status_text"],
        "In a meeting"
    );
    assert!(events[0].header("x-slack-retry-num").is_none());
    // DND and huddles.
    slack.set_dnd(BOB, Some(30)).unwrap();
    let huddle = slack.start_huddle(CAROL).unwrap();
    eventually("dnd and huddle events", || app.events().len() >= 4).await;
    let events = app.events();
    let dnd = events
        .iter()
        .map(Recorded::json)
        .find(|e| e["event"]["type"] == "dnd_updated_user")
        .unwrap();
    assert_eq!(dnd["event"]["user"], BOB);
    assert_eq!(dnd["event"]["dnd_status"]["snooze_enabled"], true);
    // Delivered on behalf of the user who granted dnd:read.
    assert_eq!(dnd["authorizations"][0]["user_id"], BOB);
    assert_eq!(dnd["authorizations"][0]["is_bot"], false);
    let hud = events
        .iter()
        .map(Recorded::json)
        .find(|e| e["event"]["type"] == "user_huddle_changed")
        .unwrap();
    assert_eq!(
        hud["event"]["user"]["profile"]["huddle_state"],
        "in_a_huddle"
    );
    assert_eq!(
        hud["event"]["user"]["profile"]["huddle_state_call_id"],
        huddle.as_str()
    );
    slack.shutdown().await;
}

#[tokio::test]
async fn failed_events_are_retried_at_once_then_after_1_and_5_minutes() {
    let (app, slack) = start().await;
    eventually("url_verification", || {
        slack
            .deliveries()
            .iter()
            .any(|d| d.kind == "url_verification" && d.outcome == "ok")
    })
    .await;
    slack.clock().freeze();
    app.set(
        "/slack/events",
        Behaviour {
            status: Some(500),
            ..Behaviour::default()
        },
    );
    slack.set_online(BOB, true).unwrap();
    slack.start_huddle(BOB).unwrap();
    // Each wait is on the sandbox's own delivery record, written once it has seen the answer
    // and scheduled the next retry: advancing the clock before that would move the schedule.
    let recorded = |n: usize| {
        let slack = &slack;
        move || {
            slack
                .deliveries()
                .iter()
                .filter(|d| d.kind == "event_callback")
                .count()
                >= n
        }
    };
    eventually("first retry", recorded(2)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(app.events().len(), 2, "the second retry waits a minute");
    slack.clock().advance(Duration::from_secs(59));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(app.events().len(), 2);
    slack.clock().advance(Duration::from_secs(1));
    eventually("second retry", recorded(3)).await;
    slack.clock().advance(Duration::from_secs(299));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(app.events().len(), 3, "the third retry waits five minutes");
    slack.clock().advance(Duration::from_secs(1));
    eventually("third retry", recorded(4)).await;
    slack.clock().advance(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let events = app.events();
    assert_eq!(events.len(), 4, "three retries at most");
    let ids: Vec<Value> = events
        .iter()
        .map(|e| e.json()["event_id"].clone())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "event_id is stable: {ids:?}"
    );
    let nums: Vec<Option<String>> = events
        .iter()
        .map(|e| e.header("x-slack-retry-num"))
        .collect();
    assert_eq!(
        nums,
        [None, Some("1".into()), Some("2".into()), Some("3".into())]
    );
    assert!(
        events[1..]
            .iter()
            .all(|e| e.header("x-slack-retry-reason").as_deref() == Some("http_error"))
    );
    let times: Vec<i64> = slack
        .deliveries()
        .iter()
        .filter(|d| d.kind == "event_callback")
        .map(|d| d.at)
        .collect();
    assert_eq!(times[1] - times[0], 0);
    assert_eq!(times[2] - times[1], 60);
    assert_eq!(times[3] - times[2], 300);
    slack.shutdown().await;
}

#[tokio::test]
async fn slow_answers_are_retried_as_http_timeout_and_no_retry_is_honoured() {
    let (app, slack) = start().await;
    eventually("url_verification", || {
        slack
            .deliveries()
            .iter()
            .any(|d| d.kind == "url_verification" && d.outcome == "ok")
    })
    .await;
    slack.clock().freeze();
    app.set(
        "/slack/events",
        Behaviour {
            delay_ms: SLOW_MS,
            ..Behaviour::default()
        },
    );
    slack.start_huddle(BOB).unwrap();
    eventually("first retry", || app.events().len() >= 2).await;
    let events = app.events();
    assert_eq!(
        events[1].header("x-slack-retry-reason").as_deref(),
        Some("http_timeout")
    );
    app.set(
        "/slack/events",
        Behaviour {
            status: Some(503),
            no_retry: true,
            ..Behaviour::default()
        },
    );
    // Let the first event's remaining retries (a minute and more away) lapse out of view.
    let before = app.events().len();
    slack.start_huddle(CAROL).unwrap();
    eventually("the no-retry event", || app.events().len() > before).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let carol_events: Vec<Recorded> = app
        .events()
        .into_iter()
        .filter(|e| e.json()["event"]["user"]["id"] == CAROL)
        .collect();
    assert_eq!(carol_events.len(), 1, "x-slack-no-retry: 1 stops retries");
    slack.shutdown().await;
}

#[tokio::test]
async fn uninstall_revokes_tokens_and_fires_both_events() {
    let (app, slack) = start().await;
    eventually("url_verification", || {
        slack
            .deliveries()
            .iter()
            .any(|d| d.kind == "url_verification" && d.outcome == "ok")
    })
    .await;
    slack.uninstall().unwrap();
    eventually("two events", || app.events().len() >= 2).await;
    let events: Vec<Value> = app.events().iter().map(Recorded::json).collect();
    let revoked = events
        .iter()
        .find(|e| e["event"]["type"] == "tokens_revoked")
        .unwrap();
    assert_eq!(
        revoked["event"]["tokens"],
        json!({"oauth": [BOB, CAROL, "U0DEMODAN3"], "bot": ["U0DEMOBOT0"]})
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"]["type"] == "app_uninstalled")
    );
    let test = api(&slack, "auth.test", &json!({})).await;
    assert_eq!(test["error"], "token_revoked");
    slack.shutdown().await;
}

#[tokio::test]
async fn control_api_acts_and_reads_over_http() {
    let (app, slack) = start().await;
    let http = reqwest::Client::new();
    let url = |path: &str| slack.base_url().join(path).unwrap();
    let outcome: Value = http
        .post(url("_sandbox/slack/act/slash_command"))
        .json(&json!({"user": BOB, "text": "/call @carol"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(outcome["response_url"].is_string());
    assert_eq!(app.records("/slack/commands").len(), 1);
    let response = http
        .post(url("_sandbox/slack/act/status"))
        .json(&json!({"user": CAROL, "status_text": "Focus", "status_emoji": ":headphones:"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    http.post(url("_sandbox/slack/act/dnd"))
        .json(&json!({"user": CAROL, "num_minutes": 15}))
        .send()
        .await
        .unwrap();
    let users: Value = http
        .get(url("_sandbox/slack/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let carol = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == CAROL)
        .unwrap();
    assert_eq!(carol["status_text"], "Focus");
    assert_eq!(carol["dnd_snoozing"], true);
    let refused = http
        .post(url("_sandbox/slack/act/status"))
        .json(&json!({"user": "U0NOBODY00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    // Clock control is shared with the other sandboxes.
    let clock: Value = http
        .post(url("_sandbox/clock"))
        .json(&json!({"freeze": true, "advance_secs": 16 * 60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["frozen"], true);
    let users: Value = http
        .get(url("_sandbox/slack/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let carol = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == CAROL)
        .unwrap();
    assert_eq!(
        carol["dnd_snoozing"], false,
        "the snooze ended with the clock"
    );
    let messages: Value = http
        .get(url("_sandbox/slack/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(messages.is_array());
    slack.shutdown().await;
}

#[tokio::test]
async fn signing_knobs_skew_and_corrupt_signatures() {
    let (app, slack) = start().await;
    let http = reqwest::Client::new();
    let knobs = slack.base_url().join("_sandbox/slack/signing").unwrap();
    http.post(knobs.clone())
        .json(&json!({"skew_secs": -400}))
        .send()
        .await
        .unwrap();
    slack.type_slash_command(BOB, "/call @carol").await.unwrap();
    http.post(knobs)
        .json(&json!({"corrupt": true}))
        .send()
        .await
        .unwrap();
    slack.type_slash_command(BOB, "/call @carol").await.unwrap();
    let requests = app.records("/slack/commands");
    let now = slack.clock().unix();
    let check = |r: &Recorded| {
        verify_v0(
            SECRET,
            &r.header("x-slack-request-timestamp").unwrap(),
            &r.body,
            &r.header("x-slack-signature").unwrap(),
            now,
        )
    };
    assert_eq!(
        check(&requests[0]),
        Err(callbridge_sandbox::slack::SignatureError::Stale)
    );
    assert_eq!(
        check(&requests[1]),
        Err(callbridge_sandbox::slack::SignatureError::Mismatch)
    );
    slack.shutdown().await;
}

#[tokio::test]
async fn declining_a_dm_call_fires_call_rejected() {
    let (app, slack) = start().await;
    let dm = slack.dm_with_app(CAROL).unwrap();
    let call = api(
        &slack,
        "calls.add",
        &json!({"external_unique_id": "x-9", "join_url": "https://gw/j", "created_by": BOB}),
    )
    .await;
    let id = call["call"]["id"].as_str().unwrap().to_owned();
    api(
        &slack,
        "chat.postMessage",
        &json!({"channel": dm, "blocks": [{"type": "call", "call_id": id}]}),
    )
    .await;
    slack.reject_call(CAROL, &id).unwrap();
    eventually("call_rejected", || {
        app.events()
            .iter()
            .any(|e| e.json()["event"]["type"] == "call_rejected")
    })
    .await;
    let event = app
        .events()
        .iter()
        .map(Recorded::json)
        .find(|e| e["event"]["type"] == "call_rejected")
        .unwrap();
    assert_eq!(
        event["event"],
        json!({"type": "call_rejected", "call_id": id, "user_id": CAROL, "channel_id": dm, "external_unique_id": "x-9"})
    );
    slack.shutdown().await;
}

#[tokio::test]
async fn grid_seed_from_toml_carries_enterprise_fields_in_commands() {
    let seed = SlackSeed::from_toml_str(include_str!("../fixtures/slack-grid.toml")).unwrap();
    let (app, base) = start_app().await;
    let config = SlackSandboxConfig::new(seed)
        .with_app_base_url(base)
        .with_app_timeout(APP_TIMEOUT);
    let slack = SlackSandbox::start(config).await.unwrap();
    assert_eq!(
        slack.user_view("W0GRIDERIN").unwrap().status_text,
        "Commuting"
    );
    assert_eq!(slack.user_view("U0GRIDFRED").unwrap().presence, "away");
    let fred = slack.user_view("U0GRIDFRED").unwrap();
    assert!(fred.dnd_snoozing);
    let left = fred.snooze_endtime.unwrap() - slack.clock().unix();
    assert!((45 * 60 - 5..=45 * 60).contains(&left), "{left}");
    let outcome = slack
        .type_slash_command_in("W0GRIDERIN", "C0GRIDCALL", "/call @fred")
        .await
        .unwrap();
    assert_eq!(outcome.error, None);
    let request = &app.records("/slack/commands")[0];
    let ts = request.header("x-slack-request-timestamp").unwrap();
    let signature = request.header("x-slack-signature").unwrap();
    verify_v0(
        "grid-signing-secret",
        &ts,
        &request.body,
        &signature,
        slack.clock().unix(),
    )
    .unwrap();
    let form = request.form();
    assert_eq!(form["enterprise_id"], "E0GRIDORG1");
    assert_eq!(form["enterprise_name"], "Globular Construct Inc");
    assert_eq!(form["channel_name"], "calls");
    assert_eq!(form["user_id"], "W0GRIDERIN");
    assert_eq!(form["text"], "<@U0GRIDFRED|fred>");
    let test = reqwest::Client::new()
        .post(slack.api_url().join("auth.test").unwrap())
        .bearer_auth("xoxb-grid-bot")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(test["enterprise_id"], "E0GRIDORG1");
    slack.shutdown().await;
}

#[tokio::test]
async fn revoking_a_user_token_and_expiring_a_status_fire_events() {
    let (app, slack) = start().await;
    eventually("url_verification", || {
        slack
            .deliveries()
            .iter()
            .any(|d| d.kind == "url_verification" && d.outcome == "ok")
    })
    .await;
    slack.clock().freeze();
    let expiry = slack.clock().unix() + 120;
    slack
        .set_status_by_hand(CAROL, "Out for lunch", ":sandwich:", expiry)
        .unwrap();
    eventually("status events", || app.events().len() >= 2).await;
    slack.clock().advance(Duration::from_secs(120));
    eventually("expiry events", || app.events().len() >= 4).await;
    let cleared = app.events()[2].json();
    assert_eq!(cleared["event"]["user"]["id"], CAROL);
    assert_eq!(cleared["event"]["user"]["profile"]["status_text"], "");
    assert_eq!(slack.user_view(CAROL).unwrap().status_expiration, 0);
    let revoked: Value = reqwest::Client::new()
        .post(slack.api_url().join("auth.revoke").unwrap())
        .form(&[("token", "xoxp-demo-carol")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["revoked"], true);
    eventually("tokens_revoked", || {
        app.events()
            .iter()
            .any(|e| e.json()["event"]["type"] == "tokens_revoked")
    })
    .await;
    let event = app
        .events()
        .iter()
        .map(Recorded::json)
        .find(|e| e["event"]["type"] == "tokens_revoked")
        .unwrap();
    assert_eq!(
        event["event"]["tokens"],
        json!({"oauth": [CAROL], "bot": []})
    );
    // Carol's DND no longer reaches the app: her token is gone.
    let before = app.events().len();
    slack.set_dnd(CAROL, Some(10)).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(app.events().len(), before);
    slack.shutdown().await;
}

#[tokio::test]
async fn ssl_check_is_an_unsigned_form_to_the_command_url() {
    let (app, slack) = start().await;
    let status = slack.send_ssl_check().await.unwrap();
    assert_eq!(status, Some(200));
    let request = &app.records("/slack/commands")[0];
    assert_eq!(request.form()["ssl_check"], "1");
    assert_eq!(request.form()["token"], "sandboxVerificationTok");
    assert!(request.header("x-slack-signature").is_none());
    slack.shutdown().await;
}

#[tokio::test]
async fn trigger_ids_work_once_within_three_seconds() {
    let (_app, slack) = start().await;
    slack.clock().freeze();
    let view =
        json!({"type": "modal", "title": {"type": "plain_text", "text": "Call"}, "blocks": []});
    let first = slack.type_slash_command(BOB, "/call @carol").await.unwrap();
    let opened = api(
        &slack,
        "views.open",
        &json!({"trigger_id": first.trigger_id, "view": view}),
    )
    .await;
    assert_eq!(opened["ok"], true, "{opened}");
    assert!(opened["view"]["id"].as_str().unwrap().starts_with('V'));
    assert_eq!(opened["view"]["title"]["text"], "Call");
    assert_eq!(slack.opened_views().len(), 1);
    let again = api(
        &slack,
        "views.open",
        &json!({"trigger_id": first.trigger_id, "view": view}),
    )
    .await;
    assert_eq!(again["error"], "exchanged_trigger_id");
    let second = slack.type_slash_command(BOB, "/call @carol").await.unwrap();
    slack.clock().advance(Duration::from_secs(4));
    let late = api(
        &slack,
        "views.open",
        &json!({"trigger_id": second.trigger_id, "view": view}),
    )
    .await;
    assert_eq!(late["error"], "expired_trigger_id");
    let made_up = api(
        &slack,
        "views.open",
        &json!({"trigger_id": "1.2.3", "view": view}),
    )
    .await;
    assert_eq!(made_up["error"], "invalid_trigger_id");
    slack.shutdown().await;
}
