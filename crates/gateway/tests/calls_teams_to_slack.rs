//! Teams → Slack end to end: a Teams user asks the bot to `call bob@example.com` (callbridge
//! rings the Slack user with a call card and calls the Teams user's phone), or dials the number
//! the trunk assigns to a linked Slack user; the Slack user joins from the card; a tone crosses
//! each way; a hang-up on either side ends both legs with one CDR.

use std::time::Duration;

use callbridge_model::{Direction, TerminationCause};
use callbridge_sandbox::microsoft::Answer;
use callbridge_testkit::{
    BrowserStandIn, CallWorld, SLACK_NUMBERS_FROM, card_join_url, demo_slack, demo_teams,
    eventually, first_phone_call, hears_tone, patience, phone, phone_reaches, the_one_cdr,
};

const ALICE: &str = "alice@contoso.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_user_calls_slack_user_from_the_bot() {
    let world = CallWorld::start().await;
    world
        .microsoft
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::AfterSecs { secs: 0.2 }))
        .expect("Alice's phone");
    world
        .microsoft
        .message_bot(demo_teams::ALICE, "call bob@example.com")
        .await
        .expect("Alice messages the bot");
    let join_url = card_join_url(&world).await;
    let sip_call = first_phone_call(&world, Duration::from_secs(10))
        .await
        .call_id;
    let browser = BrowserStandIn::join(&join_url, 440.0)
        .await
        .expect("Bob joins from the card");
    hears_tone(
        "Bob to hear Alice's 1000 Hz",
        Duration::from_secs(15),
        || browser.dominant_frequency(),
        1000.0,
    )
    .await;
    let media = world
        .microsoft
        .state()
        .call(&sip_call)
        .and_then(|call| call.media)
        .expect("Alice's media");
    hears_tone(
        "Alice to hear Bob's 440 Hz",
        Duration::from_secs(15),
        || media.report().dominant_frequency(),
        440.0,
    )
    .await;
    world
        .microsoft
        .state()
        .hang_up(&sip_call)
        .await
        .expect("Alice hangs up");
    let cdr = the_one_cdr(&world, Duration::from_secs(10)).await;
    assert_eq!(cdr.direction, Direction::TeamsToSlack);
    assert_eq!(cdr.cause, TerminationCause::Normal);
    eventually(
        "Bob's card to end",
        patience(5),
        || async { world.slack.state().call_cards() },
        |cards| cards.iter().all(|card| card.state == "ended"),
    )
    .await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_user_dials_a_linked_slack_users_number() {
    // Bob on Slack is linked to Bob Brown on Teams, so the first number of the Slack range
    // is his; Carol is linked to Alice, so callbridge knows Alice's number from the start.
    let world = CallWorld::start_linked(
        "",
        &[
            (demo_slack::BOB, demo_teams::BOB),
            ("U0DEMOCAR2", demo_teams::ALICE),
        ],
    )
    .await;
    world
        .microsoft
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::AfterSecs { secs: 1.0 }))
        .expect("Alice's phone");
    let dialled = world.dial(ALICE, SLACK_NUMBERS_FROM).await;
    let join_url = card_join_url(&world).await;
    let browser = BrowserStandIn::join(&join_url, 440.0)
        .await
        .expect("Bob answers from the card");
    hears_tone(
        "Bob to hear Alice's 1000 Hz",
        Duration::from_secs(15),
        || browser.dominant_frequency(),
        1000.0,
    )
    .await;
    browser.hang_up().await.expect("Bob hangs up");
    phone_reaches(&world, &dialled, "ended", Duration::from_secs(5)).await;
    let cdr = the_one_cdr(&world, Duration::from_secs(10)).await;
    assert_eq!(cdr.direction, Direction::TeamsToSlack);
    assert_eq!(cdr.cause, TerminationCause::Normal);
    world.stop().await;
}
