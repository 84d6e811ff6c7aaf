//! The Teams edge end to end: the Microsoft sandbox's Bot Connector sends signed activities
//! from virtual Teams users to a real gateway (configuration from TOML, the Teams adapter
//! mounted at `/teams`, the event loop running) and shows what the user sees in the bot chat.

use callbridge::platforms::NO_ENGINE_REPLY;
use callbridge_sandbox::microsoft::BotMessage;
use callbridge_testkit::{Patience, TeamsWorld, demo_teams, eventually};
use serde_json::json;

fn says(message: &BotMessage, text: &str) -> bool {
    !message.deleted && message.activity.to_string().contains(text)
}

#[tokio::test]
async fn a_call_request_is_acked_and_answered_in_the_bot_chat() {
    let world = TeamsWorld::start().await;
    let reply = world
        .microsoft
        .message_bot(demo_teams::ALICE, "call bob@example.com")
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    let shown = eventually(
        "the answer reaches Alice",
        Patience::default(),
        || async { world.microsoft.bot_messages(demo_teams::ALICE).unwrap() },
        |shown| shown.iter().any(|m| says(m, NO_ENGINE_REPLY)),
    )
    .await;
    assert_eq!(
        shown.iter().filter(|m| says(m, NO_ENGINE_REPLY)).count(),
        1,
        "answered once: {shown:?}"
    );
    assert!(
        world
            .microsoft
            .bot_messages(demo_teams::BOB)
            .unwrap()
            .is_empty(),
        "only the requester is answered"
    );
    world.stop().await;
}

#[tokio::test]
async fn help_is_answered_in_the_bot_chat() {
    let world = TeamsWorld::start().await;
    let reply = world
        .microsoft
        .message_bot(demo_teams::ALICE, "help")
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    let shown = eventually(
        "the help card reaches Alice",
        Patience::default(),
        || async { world.microsoft.bot_messages(demo_teams::ALICE).unwrap() },
        |shown| !shown.is_empty(),
    )
    .await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(says(&shown[0], "call name@company.com"), "{shown:?}");
    assert!(!says(&shown[0], NO_ENGINE_REPLY), "{shown:?}");
    world.stop().await;
}

#[tokio::test]
async fn an_activity_without_a_valid_token_gets_401_and_no_answer() {
    let world = TeamsWorld::start().await;
    // A genuine exchange first, so Alice's conversation exists and a forged call request
    // would have somewhere to be answered.
    world
        .microsoft
        .message_bot(demo_teams::ALICE, "help")
        .await
        .unwrap();
    let before = eventually(
        "the help card reaches Alice",
        Patience::default(),
        || async { world.microsoft.bot_messages(demo_teams::ALICE).unwrap() },
        |shown| !shown.is_empty(),
    )
    .await;
    let conversation = before[0].conversation_id.clone();
    let activity = json!({
        "type": "message",
        "id": "1700000000001",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "channelId": "msteams",
        "serviceUrl": format!("{}/amer/", world.microsoft.base_url()),
        "from": {"id": "29:forged", "aadObjectId": demo_teams::ALICE},
        "recipient": {"id": format!("28:{}", demo_teams::CLIENT_ID)},
        "conversation": {
            "id": conversation,
            "conversationType": "personal",
            "tenantId": demo_teams::TENANT,
        },
        "channelData": {"tenant": {"id": demo_teams::TENANT}},
        "text": "call bob@example.com",
    });
    let url = format!("http://{}/teams/messages", world.gateway_addr);
    let client = reqwest::Client::new();
    // A token of the right shape, signed by no key Entra or the Bot Framework publishes.
    let forged = format!(
        "Bearer {}.{}.{}",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZvcmdlZCIsInR5cCI6IkpXVCJ9",
        "eyJpc3MiOiJodHRwczovL2FwaS5ib3RmcmFtZXdvcmsuY29tIiwiYXVkIjoiNmM1ZDRlM2YtOGE3Yi00YzkwLTlkMGUtM2YyYTRiNWM2ZDdlIiwiZXhwIjo0MTAyNDQ0ODAwfQ",
        "c2lnbmF0dXJl"
    );
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .header("authorization", forged)
        .body(activity.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a forged token");
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(activity.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "no token at all");
    // A genuine call request afterwards is answered exactly once: the forged ones ran nothing.
    world
        .microsoft
        .message_bot(demo_teams::ALICE, "call bob@example.com")
        .await
        .unwrap();
    let shown = eventually(
        "the genuine request is answered",
        Patience::default(),
        || async { world.microsoft.bot_messages(demo_teams::ALICE).unwrap() },
        |shown| shown.iter().any(|m| says(m, NO_ENGINE_REPLY)),
    )
    .await;
    assert_eq!(
        shown.iter().filter(|m| says(m, NO_ENGINE_REPLY)).count(),
        1,
        "{shown:?}"
    );
    assert_eq!(shown.len(), before.len() + 1, "{shown:?}");
    world.stop().await;
}
