//! The Bot Connector (reference `teams-graph.md` §5): signed activities to the bot, its OpenID
//! metadata and JWKS, replies and proactive messages with a connector token, and rate limits.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use callbridge_sandbox::microsoft::{
    MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed, RunningMicrosoftSandbox,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

const CLIENT: &str = "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e";
const SECRET: &str = "sandbox-secret-change-me";
const ALICE: &str = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";

type Received = Arc<Mutex<Vec<(String, Value)>>>;

async fn bot(
    State(received): State<Received>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let activity: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let is_invoke = activity["type"] == "invoke";
    received.lock().unwrap().push((auth, activity));
    if is_invoke {
        axum::Json(
            json!({"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive",
            "value": {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Answered"}]}}),
        )
    } else {
        axum::Json(json!({}))
    }
}

async fn start() -> (RunningMicrosoftSandbox, Received) {
    let sandbox = MicrosoftSandbox::start(MicrosoftConfig::new(MicrosoftSeed::demo()))
        .await
        .unwrap();
    let received = Received::default();
    let app = Router::new()
        .route("/api/messages", post(bot))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/messages", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    sandbox.set_messaging_endpoint(CLIENT, &url);
    (sandbox, received)
}

async fn connector_token(sandbox: &RunningMicrosoftSandbox, scope: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!(
            "{}/botframework.com/oauth2/v2.0/token",
            sandbox.base_url()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn activities_are_signed_with_the_documented_claims() {
    let (sandbox, received) = start().await;
    let reply = sandbox
        .message_bot("alice@contoso.test", "call @bob")
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let (auth, activity) = received.lock().unwrap()[0].clone();
    assert_eq!(activity["type"], "message");
    assert_eq!(activity["text"], "call @bob");
    assert_eq!(activity["channelId"], "msteams");
    assert_eq!(activity["from"]["aadObjectId"], ALICE);
    assert_eq!(activity["recipient"]["id"], format!("28:{CLIENT}"));
    assert!(
        activity["conversation"]["id"]
            .as_str()
            .unwrap()
            .starts_with("a:")
    );

    let http = reqwest::Client::new();
    let metadata: Value = http
        .get(format!(
            "{}/v1/.well-known/openidconfiguration",
            sandbox.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], "https://api.botframework.com");
    let jwks: Value = http
        .get(metadata["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["endorsements"], json!(["msteams"]));
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[CLIENT]);
    validation.set_issuer(&["https://api.botframework.com"]);
    let token = auth.strip_prefix("Bearer ").unwrap();
    let claims = jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["serviceurl"], activity["serviceUrl"]);
    // A forged serviceurl claim breaks the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    forged["serviceurl"] = json!("https://evil.example/");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    assert!(jsonwebtoken::decode::<Value>(&forged, &decoding, &validation).is_err());

    // Adaptive Card Action.Execute arrives as an invoke; the bot's card comes back.
    let answer = sandbox
        .press_card_action("alice@contoso.test", "answer", json!({"call": "c1"}))
        .await
        .unwrap();
    let card: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(card["statusCode"], 200);
    let (_, invoke) = received.lock().unwrap()[1].clone();
    assert_eq!(invoke["name"], "adaptiveCard/action");
    assert_eq!(invoke["value"]["action"]["verb"], "answer");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn replies_need_a_connector_token_and_respect_rate_limits() {
    let (sandbox, received) = start().await;
    sandbox.clock().freeze();
    sandbox
        .message_bot("alice@contoso.test", "hello")
        .await
        .unwrap();
    let (_, activity) = received.lock().unwrap()[0].clone();
    let service_url = activity["serviceUrl"].as_str().unwrap().to_owned();
    let conversation = activity["conversation"]["id"].as_str().unwrap().to_owned();
    let url = format!("{service_url}v3/conversations/{conversation}/activities");
    let http = reqwest::Client::new();

    let graph = connector_token(&sandbox, "https://graph.microsoft.com/.default").await;
    let refused = http
        .post(&url)
        .bearer_auth(&graph)
        .json(&json!({"type": "message", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert!(refused.headers().contains_key("x-correlating-operationid"));

    let token = connector_token(&sandbox, "https://api.botframework.com/.default").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let response = http
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"type": "message", "text": format!("m{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Eight in one second in one conversation is over Teams' 7/s limit.
    let throttled = http
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"type": "message", "text": "m8"}))
        .send()
        .await
        .unwrap();
    assert_eq!(throttled.status().as_u16(), 429);
    sandbox.clock().advance(std::time::Duration::from_secs(3));
    let update = http
        .put(format!("{url}/{}", ids[0]))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "text": "edited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(update.status().as_u16(), 200);
    let messages = sandbox.bot_messages("alice@contoso.test").unwrap();
    assert_eq!(messages.len(), 7);
    assert_eq!(messages[0].activity["text"], "edited");
    // A proactive message: create the personal conversation with Bob, then post into it.
    let created = http
        .post(format!("{service_url}v3/conversations"))
        .bearer_auth(&token)
        .json(
            &json!({"bot": {"id": format!("28:{CLIENT}")}, "isGroup": false,
            "members": [{"id": "29:4a3b2c1d-6e5f-4a70-9b8c-1d0e2f3a4b5c"}],
            "tenantId": "8a4e9b62-3c1d-4f5e-9a7b-2c6d8e0f1a3b"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let bob_conversation = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = http
        .post(format!(
            "{service_url}v3/conversations/{bob_conversation}/activities"
        ))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "text": "Alice is calling you"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 201);
    let to_bob = sandbox.bot_messages("bob@contoso.test").unwrap();
    assert_eq!(to_bob[0].activity["text"], "Alice is calling you");
    let missing = http
        .post(format!("{service_url}v3/conversations/a:nope/activities"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let body: Value = missing.json().await.unwrap();
    assert!(body["error"]["code"].is_string());
    sandbox.shutdown().await;
}

/// TG §5.1: activity ids identify one activity (bots drop redeliveries by them). Teams' look
/// like millisecond times; under a frozen sandbox clock two activities must still get two ids.
#[tokio::test]
async fn activity_ids_stay_unique_under_a_frozen_clock() {
    let (sandbox, received) = start().await;
    sandbox.clock().freeze();
    for text in ["help", "help", "call bob@contoso.test"] {
        sandbox.message_bot(ALICE, text).await.unwrap();
    }
    sandbox
        .press_card_action(ALICE, "decline", json!({}))
        .await
        .unwrap();
    let ids: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, activity)| activity["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 4);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{ids:?}");
    assert!(ids.iter().all(|id| id.bytes().all(|b| b.is_ascii_digit())));
    sandbox.shutdown().await;
}

/// TG §5.1 and the emulator checklist of §9: installing the app in the personal scope sends a
/// signed `conversationUpdate` whose `membersAdded` is the bot (removal: `membersRemoved`),
/// with the same envelope as messages, so the bot can keep the conversation for proactive
/// messages.
#[tokio::test]
async fn installing_and_removing_the_app_send_conversation_updates() {
    let (sandbox, received) = start().await;
    let http = reqwest::Client::new();
    let installed = http
        .post(format!(
            "{}/_sandbox/teams/users/alice@contoso.test/bot-installation",
            sandbox.base_url()
        ))
        .json(&json!({"installed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(installed.status().as_u16(), 200);
    sandbox.set_bot_installed(ALICE, false).await.unwrap();
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let (auth, added) = &received[0];
    assert!(auth.starts_with("Bearer "));
    assert_eq!(added["type"], "conversationUpdate");
    assert_eq!(
        added["membersAdded"],
        json!([{"id": format!("28:{CLIENT}")}])
    );
    assert_eq!(added["from"]["aadObjectId"], ALICE);
    assert!(
        added["conversation"]["id"]
            .as_str()
            .unwrap()
            .starts_with("a:")
    );
    assert_eq!(
        added["channelData"]["tenant"]["id"],
        added["conversation"]["tenantId"]
    );
    let removed = &received[1].1;
    assert_eq!(removed["type"], "conversationUpdate");
    assert_eq!(
        removed["membersRemoved"],
        json!([{"id": format!("28:{CLIENT}")}])
    );
    assert_eq!(removed["conversation"]["id"], added["conversation"]["id"]);
    sandbox.shutdown().await;
}

/// TG §5.4: a legacy `Action.Submit` arrives as a `message` activity without text whose
/// `value` holds the button's data.
#[tokio::test]
async fn action_submit_arrives_as_a_message_with_the_data_as_value() {
    let (sandbox, received) = start().await;
    let data = json!({"verb": "callBack", "target": {"kind": "email", "value": "bob@example.com"}});
    let http = reqwest::Client::new();
    let answer = http
        .post(format!(
            "{}/_sandbox/teams/users/alice@contoso.test/card-submits",
            sandbox.base_url()
        ))
        .json(&json!({"data": data}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let received = received.lock().unwrap().clone();
    let activity = &received[0].1;
    assert_eq!(activity["type"], "message");
    assert_eq!(activity["value"], data);
    assert!(activity.get("text").is_none());
    sandbox.shutdown().await;
}
