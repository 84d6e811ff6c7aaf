//! Slack → Teams end to end: a Slack user types `/call alice@contoso.test`; Alice's Teams phone
//! rings through the Direct Routing proxies; the Slack user joins from the call card's link
//! with a WebRTC client; a tone crosses the bridge each way; hanging up on either side ends
//! both legs, ends the card, and leaves exactly one CDR.

use std::time::Duration;

use callbridge_model::{Direction, TerminationCause};
use callbridge_testkit::{
    CallWorld, connected_call, demo_slack, eventually, hears_tone, patience, phone_reaches,
    the_one_cdr,
};

const ALICE: &str = "alice@contoso.test";

async fn card_ends(world: &CallWorld) {
    eventually(
        "the card to end",
        patience(5),
        || async { world.slack.state().call_cards() },
        |cards| !cards.is_empty() && cards.iter().all(|card| card.state == "ended"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_user_calls_teams_user_and_they_hear_each_other() {
    let world = CallWorld::start().await;
    let (browser, sip_call) = connected_call(&world, demo_slack::BOB, ALICE).await;
    let phone_media = world
        .microsoft
        .state()
        .call(&sip_call)
        .and_then(|call| call.media)
        .expect("Alice's phone answered with media");
    hears_tone(
        "Alice to hear Bob's 440 Hz",
        Duration::from_secs(15),
        || phone_media.report().dominant_frequency(),
        440.0,
    )
    .await;

    browser.hang_up().await.expect("Bob hangs up");
    phone_reaches(&world, &sip_call, "ended", Duration::from_secs(5)).await;
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.direction, Direction::SlackToTeams);
    assert_eq!(cdr.cause, TerminationCause::Normal);
    assert!(cdr.answered_at.is_some());
    card_ends(&world).await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_user_hanging_up_ends_the_slack_leg_and_the_card() {
    let world = CallWorld::start().await;
    let (_browser, sip_call) = connected_call(&world, demo_slack::BOB, ALICE).await;
    world
        .microsoft
        .state()
        .hang_up(&sip_call)
        .await
        .expect("Alice hangs up");
    card_ends(&world).await;
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::Normal);
    world.stop().await;
}
