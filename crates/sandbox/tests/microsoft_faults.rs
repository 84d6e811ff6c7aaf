//! Injected faults come back in the error shape of the Microsoft service the path belongs to.

use callbridge_sandbox::control::{FaultAction, FaultRule};
use callbridge_sandbox::microsoft::{MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed};
use serde_json::Value;

fn rule(prefix: &str, action: FaultAction) -> FaultRule {
    FaultRule {
        path_prefix: prefix.to_owned(),
        action,
        remaining: Some(1),
    }
}

#[tokio::test]
async fn faults_speak_graph_entra_and_bot_connector_shapes() {
    let sandbox = MicrosoftSandbox::start(MicrosoftConfig::new(MicrosoftSeed::demo()))
        .await
        .unwrap();
    let base = sandbox.base_url();
    let http = reqwest::Client::new();

    sandbox.faults().add(rule(
        "/v1.0/",
        FaultAction::RateLimit {
            retry_after_secs: 7,
        },
    ));
    let response = http
        .get(format!("{base}/v1.0/users/alice@contoso.test/presence"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert!(
        body["error"]["innerError"]["request-id"].is_string(),
        "{body}"
    );

    sandbox
        .faults()
        .add(rule("/v1.0/", FaultAction::Status { status: 503 }));
    let body: Value = http
        .get(format!("{base}/v1.0/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"]["code"], "serviceNotAvailable");

    sandbox
        .faults()
        .add(rule("/", FaultAction::Status { status: 503 }));
    let response = http
        .post(format!("{base}/common/oauth2/v2.0/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body["correlation_id"].is_string());

    sandbox.faults().add(rule(
        "/v3/",
        FaultAction::RateLimit {
            retry_after_secs: 2,
        },
    ));
    let response = http
        .post(format!("{base}/v3/conversations/x/activities"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");

    // Rules were single-use: the next request reaches the real route.
    let response = http.get(format!("{base}/v1.0/users")).send().await.unwrap();
    assert_ne!(response.status().as_u16(), 503);
    sandbox.shutdown().await;
}
