//! The `/_sandbox/teams/…` scenario control API over HTTP: act as Teams users, read what Teams
//! shows, inject faults.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use callbridge_sandbox::microsoft::{MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed};
use serde_json::{Value, json};

const CLIENT: &str = "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e";

#[tokio::test]
async fn act_as_teams_users_and_read_what_teams_shows() {
    let sandbox = MicrosoftSandbox::start(MicrosoftConfig::new(MicrosoftSeed::demo()))
        .await
        .unwrap();
    let base = sandbox.base_url();
    let http = reqwest::Client::new();
    let status = |r: &reqwest::Response| r.status().as_u16();

    let r = http
        .post(format!(
            "{base}/_sandbox/teams/users/alice@contoso.test/client-presence"
        ))
        .json(&json!({"availability": "DoNotDisturb", "activity": "Presenting"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 204);
    let shown: Value = http
        .get(format!(
            "{base}/_sandbox/teams/users/alice@contoso.test/presence"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (shown["availability"].as_str(), shown["activity"].as_str()),
        (Some("DoNotDisturb"), Some("Presenting"))
    );

    let r = http
        .post(format!(
            "{base}/_sandbox/teams/users/alice@contoso.test/preferred-presence"
        ))
        .json(&json!({"availability": "Away", "activity": "Away"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 204);
    assert_eq!(
        sandbox
            .presence_of("alice@contoso.test")
            .unwrap()
            .availability,
        "Away"
    );
    let r = http
        .delete(format!(
            "{base}/_sandbox/teams/users/alice@contoso.test/preferred-presence"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 204);
    assert_eq!(
        sandbox
            .presence_of("alice@contoso.test")
            .unwrap()
            .availability,
        "DoNotDisturb"
    );

    // Message the bot through the control API.
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let bot = Router::new().route(
        "/api/messages",
        post(move |axum::Json(activity): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(activity);
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bot_url = format!("http://{}/api/messages", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, bot).await.unwrap() });
    let r = http
        .put(format!(
            "{base}/_sandbox/teams/apps/{CLIENT}/messaging-endpoint"
        ))
        .json(&json!({"url": bot_url}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 204);
    let reply: Value = http
        .post(format!(
            "{base}/_sandbox/teams/users/bob@contoso.test/bot-messages"
        ))
        .json(&json!({"text": "call @alice"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["status"], 200);
    assert_eq!(received.lock().unwrap()[0]["text"], "call @alice");
    let messages: Value = http
        .get(format!(
            "{base}/_sandbox/teams/users/bob@contoso.test/bot-messages"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(messages, json!([]));

    // Phones, dialling and proxy faults.
    let r = http
        .put(format!(
            "{base}/_sandbox/teams/users/bob@contoso.test/phone"
        ))
        .json(&json!({"answer": {"kind": "busy"}, "ringing_devices": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 204);
    let r = http
        .post(format!(
            "{base}/_sandbox/teams/users/alice@contoso.test/dial"
        ))
        .json(&json!({"number": "+15550001000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 404, "no SBC has sent OPTIONS yet");
    let r = http
        .post(format!("{base}/_sandbox/teams/sip/sip2/unavailable"))
        .json(&json!({"retry_after_secs": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 204);
    let r = http
        .delete(format!("{base}/_sandbox/teams/sip/sip9/unavailable"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 404);
    let calls: Value = http
        .get(format!("{base}/_sandbox/teams/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls, json!([]));
    let ca = http
        .get(format!("{base}/_sandbox/teams/ca.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(ca, sandbox.ca_certificate_pem());
    let r = http
        .get(format!(
            "{base}/_sandbox/teams/users/nobody@contoso.test/presence"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 404);
    sandbox.shutdown().await;
}
