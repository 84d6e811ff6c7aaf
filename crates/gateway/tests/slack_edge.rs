//! The Slack edge end to end: the Slack sandbox sends signed slash commands to a real gateway
//! (configuration from TOML, the Slack adapter mounted, the event loop running) and shows what
//! the person typing sees.

use callbridge::platforms::NO_ENGINE_REPLY;
use callbridge_testkit::{Patience, SlackWorld, demo_slack, eventually};

#[tokio::test]
async fn call_help_is_answered_in_the_ack() {
    let world = SlackWorld::start().await;
    let outcome = world
        .slack
        .type_slash_command(demo_slack::BOB, "/call help")
        .await
        .unwrap();
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    assert!(outcome.error.is_none(), "{outcome:?}");
    assert!(
        outcome.response_body.contains("/call"),
        "{}",
        outcome.response_body
    );
    world.stop().await;
}

#[tokio::test]
async fn a_call_request_is_acked_at_once_and_answered_through_its_response_url() {
    let world = SlackWorld::start().await;
    let outcome = world
        .slack
        .type_slash_command(demo_slack::BOB, "/call alice@contoso.com")
        .await
        .unwrap();
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    assert!(outcome.error.is_none(), "{outcome:?}");
    let messages = eventually(
        "the follow-up reaches Bob",
        Patience::default(),
        || async { world.slack.messages(None) },
        |messages| {
            messages
                .iter()
                .any(|m| format!("{m:?}").contains(NO_ENGINE_REPLY))
        },
    )
    .await;
    assert_eq!(
        messages
            .iter()
            .filter(|m| format!("{m:?}").contains(NO_ENGINE_REPLY))
            .count(),
        1,
        "answered once"
    );
    world.stop().await;
}

#[tokio::test]
async fn a_forged_command_gets_401_and_runs_nothing() {
    let world = SlackWorld::start().await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/slack/commands", world.gateway_addr);
    let body = "command=%2Fcall&text=alice%40contoso.com&team_id=T0DEMOTEAM&user_id=U0DEMOBOB1\
                &response_url=http%3A%2F%2F127.0.0.1%3A1%2Fhooks&trigger_id=1.2.3";
    let now = chrono::Utc::now().timestamp();
    let response = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", now.to_string())
        .header("x-slack-signature", format!("v0={}", "0".repeat(64)))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let stale = now - 301;
    let signed =
        callbridge_sandbox::slack::sign_v0(demo_slack::SIGNING_SECRET, stale, body.as_bytes());
    let response = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", stale.to_string())
        .header("x-slack-signature", signed)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a replayed request 301 s old");
    assert!(world.slack.messages(None).is_empty());
    world.stop().await;
}
