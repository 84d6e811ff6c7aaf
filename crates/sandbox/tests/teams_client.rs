//! The sandbox's Teams web client at `/client`, driven over a real socket the way a browser
//! would (plain forms, 303 back, the live view and its event stream): the user picker, status
//! buttons, the bot chat through a recording bot app on loopback, and a phone that rings until
//! the person answers or declines, fed by a scripted SBC over SIP/TCP.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use base64::Engine;
use callbridge_sandbox::microsoft::{
    MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed, RunningMicrosoftSandbox,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENT: &str = "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e";
const SECRET: &str = "sandbox-secret-change-me";

include!("support/sbc.rs");

struct Client {
    sandbox: RunningMicrosoftSandbox,
    http: reqwest::Client,
}

impl Client {
    async fn start() -> Self {
        let sandbox = MicrosoftSandbox::start(MicrosoftConfig::new(MicrosoftSeed::demo()))
            .await
            .unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { sandbox, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Posts a form; returns the status, the Location and the body.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let response = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, location, response.text().await.unwrap())
    }

    /// Polls the live view until it contains `needle`.
    async fn view_shows(&self, user: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, html) = self.get(&format!("/client/{user}/view")).await;
            assert_eq!(status, 200);
            if html.contains(needle) {
                return html;
            }
            assert!(
                Instant::now() < deadline,
                "the view never showed {needle:?}: {html}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Polls `check` until it gives a value or `within` has passed.
async fn eventually<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_picker_lists_the_seeded_users_and_unknown_users_get_404() {
    let client = Client::start().await;
    let response = client
        .http
        .get(client.url("/client/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let csp = response
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = response.text().await.unwrap();
    for (name, link) in [
        ("Alice Adams", "/client/alice%40contoso.test"),
        ("Bob Brown", "/client/bob%40contoso.test"),
        ("Carol Clark", "/client/carol%40contoso.test"),
    ] {
        assert!(html.contains(name) && html.contains(link), "{name}: {html}");
    }
    assert!(html.contains("Contoso"));
    assert!(!html.contains("<script>"), "no inline script");

    let (status, html) = client.get("/client/alice%40contoso.test").await;
    assert_eq!(status, 200);
    assert!(html.contains("Alice Adams") && html.contains("aria-live=\"polite\""));
    assert!(html.contains("<script src=\"/client/assets/client.js\" defer></script>"));
    let (status, js) = client.get("/client/assets/client.js").await;
    assert!(status == 200 && js.contains("EventSource"));

    let (status, html) = client.get("/client/mallory%40contoso.test").await;
    assert_eq!(status, 404);
    assert!(html.contains("No such Teams user"));
    let (status, _, _) = client
        .post(
            "/client/mallory%40contoso.test/presence",
            &[("state", "busy")],
        )
        .await;
    assert_eq!(status, 404);
    client.sandbox.shutdown().await;
}

#[tokio::test]
async fn status_buttons_change_what_teams_shows() {
    let client = Client::start().await;
    let alice = "alice%40contoso.test";
    for (button, availability, activity) in [
        ("busy", "Busy", "Busy"),
        ("dnd", "DoNotDisturb", "DoNotDisturb"),
        ("away", "Away", "Away"),
        ("available", "Available", "Available"),
    ] {
        let (status, location, _) = client
            .post(&format!("/client/{alice}/presence"), &[("state", button)])
            .await;
        assert_eq!(
            (status, location.as_str()),
            (303, "/client/alice%40contoso.test")
        );
        let shown = client.sandbox.presence_of("alice@contoso.test").unwrap();
        assert_eq!(
            (shown.availability.as_str(), shown.activity.as_str()),
            (availability, activity),
            "{button}"
        );
    }
    // Joining a meeting is the client's own state: it shows once no status is picked.
    client
        .post(&format!("/client/{alice}/presence"), &[("state", "reset")])
        .await;
    client
        .post(
            &format!("/client/{alice}/presence"),
            &[("state", "meeting")],
        )
        .await;
    let shown = client.sandbox.presence_of("alice@contoso.test").unwrap();
    assert_eq!(
        (shown.availability.as_str(), shown.activity.as_str()),
        ("Busy", "InAMeeting")
    );
    client
        .view_shows(alice, "<strong>Busy</strong> · in a meeting")
        .await;
    client
        .post(
            &format!("/client/{alice}/presence"),
            &[("state", "leave-meeting")],
        )
        .await;
    let shown = client.sandbox.presence_of("alice@contoso.test").unwrap();
    assert_eq!(shown.availability, "Available");

    let (status, _, html) = client
        .post(
            &format!("/client/{alice}/presence"),
            &[("state", "<b>Napping</b>")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("&lt;b&gt;Napping&lt;/b&gt;") && !html.contains("<b>Napping"));
    client.sandbox.shutdown().await;
}

/// What the recording bot app saw, and where to reach the sandbox.
#[derive(Clone)]
struct BotApp {
    received: Arc<Mutex<Vec<Value>>>,
    sandbox_url: String,
}

/// The bot: records every activity; `break` gets a 500; any other message gets a reply (a
/// text and a card) posted back through the Bot Connector with a real connector token.
async fn bot(
    State(app): State<BotApp>,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, String) {
    let activity: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    app.received.lock().unwrap().push(activity.clone());
    if activity["text"] == "break" {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "bot exploded".to_owned(),
        );
    }
    if activity["type"] == "message" {
        tokio::spawn(reply(app, activity));
    } else if activity["type"] == "invoke" {
        // Action.Execute: the answer carries the card that replaces the pressed one.
        let card = json!({"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive",
            "value": {"type": "AdaptiveCard", "version": "1.5",
                "body": [{"type": "TextBlock", "text": "Handled by the bot"}]}});
        return (axum::http::StatusCode::OK, card.to_string());
    }
    (axum::http::StatusCode::OK, "{}".to_owned())
}

async fn reply(app: BotApp, activity: Value) {
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!(
            "{}/botframework.com/oauth2/v2.0/token",
            app.sandbox_url
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", "https://api.botframework.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!(
        "{}v3/conversations/{}/activities",
        activity["serviceUrl"].as_str().unwrap(),
        activity["conversation"]["id"].as_str().unwrap()
    );
    let said = activity["text"]
        .as_str()
        .map_or_else(|| format!("submitted {}", activity["value"]), str::to_owned);
    let card = json!({"type": "AdaptiveCard", "version": "1.5", "body": [
        {"type": "TextBlock", "text": format!("You said: {said}")},
        {"type": "TextBlock", "text": "<img src=x onerror=alert(1)>"}
    ], "actions": [
        {"type": "Action.OpenUrl", "title": "Open the docs", "url": "https://docs.example.test/"},
        {"type": "Action.Submit", "title": "Call back", "data": {"action": "call_back"}}
    ]});
    let response = http
        .post(url)
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&json!({"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
}

async fn start_bot(client: &Client) -> Arc<Mutex<Vec<Value>>> {
    let received = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/api/messages", post(bot))
        .with_state(BotApp {
            received: received.clone(),
            sandbox_url: client.sandbox.base_url(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/messages", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    client.sandbox.set_messaging_endpoint(CLIENT, &url);
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_chat_sends_signed_messages_and_shows_replies_and_failures() {
    let client = Client::start().await;
    let received = start_bot(&client).await;
    let carol = "carol%40contoso.test";

    let (status, location, _) = client
        .post(
            &format!("/client/{carol}/message"),
            &[("text", "hello bot")],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/client/carol%40contoso.test")
    );
    let first = received.lock().unwrap()[0].clone();
    assert_eq!(first["type"], "message");
    assert_eq!(first["text"], "hello bot");
    assert_eq!(first["from"]["name"], "Carol Clark");

    let html = client.view_shows(carol, "You said: hello bot").await;
    assert!(html.contains("<p class=\"text\">hello bot</p>"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;") && !html.contains("<img"));
    assert!(html.contains(
        "href=\"https://docs.example.test/\" target=\"_blank\" rel=\"noopener noreferrer\""
    ));
    // The card's Action.Submit button posts its data back through the client.
    let data = "{\"action\":\"call_back\"}";
    assert!(
        html.contains("value=\"{&quot;action&quot;:&quot;call_back&quot;}\""),
        "{html}"
    );
    let (status, _, _) = client
        .post(
            &format!("/client/{carol}/card"),
            &[("kind", "submit"), ("data", data)],
        )
        .await;
    assert_eq!(status, 303);
    let submitted = eventually(Duration::from_secs(5), || {
        received
            .lock()
            .unwrap()
            .iter()
            .find(|a| a["value"]["action"] == "call_back")
            .cloned()
    })
    .await;
    assert!(submitted.is_some(), "the Action.Submit reached the bot");
    let (status, _, _) = client
        .post(
            &format!("/client/{carol}/card"),
            &[("kind", "submit"), ("data", "{oops")],
        )
        .await;
    assert_eq!(status, 400);

    // An Action.Execute answer replaces the pressed card, as Teams does.
    let first_card = client.sandbox.bot_messages("carol@contoso.test").unwrap()[0]
        .activity_id
        .clone();
    let (status, _, _) = client
        .post(
            &format!("/client/{carol}/card"),
            &[
                ("kind", "execute"),
                ("verb", "acknowledge"),
                ("activity", &first_card),
                ("data", "{}"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let html = client.view_shows(carol, "Handled by the bot").await;
    assert!(!html.contains("You said: hello bot"), "{html}");
    assert!(
        received
            .lock()
            .unwrap()
            .iter()
            .any(|a| a["type"] == "invoke" && a["value"]["action"]["verb"] == "acknowledge")
    );

    // The bot fails: the message is shown as not delivered, with the bot's status.
    client
        .post(&format!("/client/{carol}/message"), &[("text", "break")])
        .await;
    client
        .view_shows(
            carol,
            "the bot answered with an error (HTTP 500): bot exploded",
        )
        .await;

    // Nobody listens at the messaging endpoint: a clear message too.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}/api/messages", closed.local_addr().unwrap());
    drop(closed);
    client.sandbox.set_messaging_endpoint(CLIENT, &dead);
    client
        .post(&format!("/client/{carol}/message"), &[("text", "anyone?")])
        .await;
    client.view_shows(carol, "the bot did not answer").await;

    let (status, _, _) = client
        .post(&format!("/client/{carol}/message"), &[("text", "   ")])
        .await;
    assert_eq!(status, 400);
    client.sandbox.shutdown().await;
}

/// The call ids in the view's Answer/Decline/Hang up forms.
fn call_ids(html: &str) -> Vec<String> {
    html.split("/calls/")
        .skip(1)
        .filter_map(|rest| rest.split('/').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_rings_until_the_person_answers_or_declines() {
    let client = Client::start().await;
    let bob = "bob%40contoso.test";
    // Opening Bob's page hands his phone to the person.
    let (status, _) = client.get(&format!("/client/{bob}")).await;
    assert_eq!(status, 200);
    // No SBC yet: dialling out is a clear error page.
    let (status, _, html) = client
        .post(
            &format!("/client/{bob}/dial"),
            &[("number", "+15550001000")],
        )
        .await;
    assert_eq!(status, 409);
    assert!(html.contains("could not be placed"), "{html}");
    let mut sbc = Sbc::connect(&client.sandbox).await;

    // The caller's display name is remote text: it must render as text.
    let invite = request(
        "INVITE",
        BOB_RURI,
        "client-call-1",
        1,
        BOB_URI,
        Some(&srtp_offer(40_020)),
    )
    .replace("\"Slack Sam\"", "\"<script>alert(1)</script>\"");
    sbc.send(&invite).await;
    sbc.expect("SIP/2.0 180").await;
    let html = client
        .view_shows(
            bob,
            "Incoming call from <strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>",
        )
        .await;
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("data-announce=\"Incoming call from &lt;script&gt;"));
    assert!(html.contains("+15550001000"));
    let ids = call_ids(&html);
    assert!(ids.contains(&"client-call-1".to_owned()), "{ids:?}");
    // The person takes their time: no scripted answer after 1 s.
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), sbc.expect("SIP/2.0 200"))
            .await
            .is_err()
    );

    let (status, location, _) = client
        .post(&format!("/client/{bob}/calls/client-call-1/answer"), &[])
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/client/bob%40contoso.test")
    );
    let ok = sbc.expect("SIP/2.0 200").await;
    assert!(ok.body.contains("a=crypto:"), "{}", ok.body);
    sbc.send(&request(
        "ACK",
        "sip:sip.pstnhub.microsoft.com",
        "client-call-1",
        1,
        &format!("{BOB_URI};tag={}", ok.to_tag()),
        None,
    ))
    .await;
    let answered = eventually(Duration::from_secs(3), || {
        client
            .sandbox
            .call("client-call-1")
            .filter(|c| c.state == "answered")
    })
    .await;
    assert!(answered.is_some());
    let html = client.view_shows(bob, "In a call with").await;
    assert!(html.contains("data-duration=") && html.contains("/hangup"));

    // A second Answer (a double click, a second tab) is a clear 409, and no second 200 OK.
    let (status, _, html) = client
        .post(&format!("/client/{bob}/calls/client-call-1/answer"), &[])
        .await;
    assert_eq!(status, 409);
    assert!(html.contains("The call is answered now"), "{html}");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sbc.expect("SIP/2.0 200"))
            .await
            .is_err()
    );

    // Hang up: BYE toward the SBC.
    let (status, _, _) = client
        .post(&format!("/client/{bob}/calls/client-call-1/hangup"), &[])
        .await;
    assert_eq!(status, 303);
    assert_eq!(sbc.expect("BYE").await.header("Call-ID"), "client-call-1");
    assert_eq!(client.sandbox.call("client-call-1").unwrap().state, "ended");

    // Decline: 603 to the SBC, state `declined`.
    sbc.send(&request(
        "INVITE",
        BOB_RURI,
        "client-call-2",
        1,
        BOB_URI,
        Some(&srtp_offer(40_022)),
    ))
    .await;
    sbc.expect("SIP/2.0 180").await;
    client
        .view_shows(bob, "Incoming call from <strong>Slack Sam</strong>")
        .await;
    let (status, _, _) = client
        .post(&format!("/client/{bob}/calls/client-call-2/decline"), &[])
        .await;
    assert_eq!(status, 303);
    sbc.expect("SIP/2.0 603").await;
    assert_eq!(
        client.sandbox.call("client-call-2").unwrap().state,
        "declined"
    );
    let (status, _, _) = client
        .post(&format!("/client/{bob}/calls/client-call-2/answer"), &[])
        .await;
    assert_eq!(status, 409);

    // Someone else's call, or no call at all: 404.
    let (status, _, _) = client
        .post(
            "/client/alice%40contoso.test/calls/client-call-2/answer",
            &[],
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = client
        .post(&format!("/client/{bob}/calls/client-call-2/shout"), &[])
        .await;
    assert_eq!(status, 404);

    // What the phone plays is the person's choice; a bad choice or number is a 400 page.
    let (status, _, _) = client
        .post(&format!("/client/{bob}/phone"), &[("plays", "prompt")])
        .await;
    assert_eq!(status, 303);
    client.view_shows(bob, "value=\"prompt\" checked").await;
    let (status, _, _) = client
        .post(&format!("/client/{bob}/phone"), &[("plays", "jazz")])
        .await;
    assert_eq!(status, 400);
    let (status, _, html) = client
        .post(
            &format!("/client/{bob}/dial"),
            &[("number", "not a number")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("international form"));

    // With the SBC up, the dial box calls out through it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _, _) = client
            .post(
                &format!("/client/{bob}/dial"),
                &[("number", "+1 555 000 1000")],
            )
            .await;
        if status == 303 {
            break;
        }
        assert!(Instant::now() < deadline, "dial kept failing: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let invite = sbc.expect("INVITE").await;
    assert!(
        invite.start.starts_with("INVITE sip:+15550001000@"),
        "{}",
        invite.start
    );
    client
        .view_shows(bob, "Calling <strong>+15550001000</strong>")
        .await;
    client.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_speaks_up_after_a_change() {
    let client = Client::start().await;
    let alice = "alice%40contoso.test";
    let (_, view) = client.get(&format!("/client/{alice}/view")).await;
    let fingerprint = view
        .split("data-fingerprint=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let mut events = client
        .http
        .get(client.url(&format!("/client/{alice}/events?since={fingerprint}")))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status().as_u16(), 200);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // Nothing changed since the page was rendered: no event yet.
    assert!(
        tokio::time::timeout(Duration::from_millis(600), events.chunk())
            .await
            .is_err(),
        "an event without a change"
    );
    client
        .post(&format!("/client/{alice}/presence"), &[("state", "dnd")])
        .await;
    let chunk = tokio::time::timeout(Duration::from_secs(3), events.chunk())
        .await
        .expect("an event within a few polls of the change")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&chunk);
    assert!(text.contains("event: change"), "{text}");
    drop(events);
    client.sandbox.shutdown().await;
}
