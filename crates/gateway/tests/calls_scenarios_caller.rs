//! What the caller does to a call that has not connected: hang up while the callee's phone
//! rings (it stops within 2 s), type `/call` twice, or ask for someone who is calling them
//! right now (glare). A request that never became a call is answered but not recorded.

use std::time::Duration;

use callbridge_model::TerminationCause;
use callbridge_sandbox::microsoft::Answer;
use callbridge_testkit::{
    BrowserStandIn, CallWorld, card_join_url, demo_slack, demo_teams, eventually, first_phone_call,
    patience, phone, phone_reaches, slack_message, slash_call, the_one_cdr,
};

const ALICE: &str = "alice@contoso.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_while_the_callee_rings_stops_the_ringing_within_two_seconds() {
    let world = CallWorld::start().await;
    world
        .microsoft
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::NoAnswer))
        .expect("Alice's phone");
    slash_call(&world, demo_slack::BOB, ALICE).await;
    let rung = first_phone_call(&world, Duration::from_secs(3)).await;
    phone_reaches(&world, &rung.call_id, "ringing", Duration::from_secs(3)).await;
    let join_url = card_join_url(&world).await;
    let browser = BrowserStandIn::join(&join_url, 440.0)
        .await
        .expect("Bob joins while Alice's phone rings");

    browser.hang_up().await.expect("Bob hangs up");
    phone_reaches(&world, &rung.call_id, "cancelled", Duration::from_secs(2)).await;
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::Cancelled);
    assert!(cdr.answered_at.is_none());
    eventually(
        "Bob's card to end",
        patience(5),
        || async { world.slack.state().call_cards() },
        |cards| !cards.is_empty() && cards.iter().all(|card| card.state == "ended"),
    )
    .await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_call_command_for_the_same_person_is_not_a_second_call() {
    let world = CallWorld::start().await;
    world
        .microsoft
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::Decline { secs: 3.0 }))
        .expect("Alice's phone");
    slash_call(&world, demo_slack::BOB, ALICE).await;
    first_phone_call(&world, Duration::from_secs(3)).await;
    slash_call(&world, demo_slack::BOB, ALICE).await;

    let told = slack_message(&world, "You are already calling Alice Adams.").await;
    assert_eq!(told.ephemeral_to.as_deref(), Some(demo_slack::BOB));
    // The first call goes on as if the second command never happened.
    let cdr = the_one_cdr(&world, Duration::from_secs(10)).await;
    assert_eq!(cdr.cause, TerminationCause::Declined);
    assert_eq!(world.microsoft.state().calls().len(), 1, "Alice rang once");
    assert_eq!(world.slack.state().call_cards().len(), 1, "one card");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calling_someone_who_is_calling_you_points_you_at_their_call() {
    let world = CallWorld::start().await;
    world
        .microsoft
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::AfterSecs { secs: 0.2 }))
        .expect("Alice's phone");
    // Alice calls Bob from the bot: Bob's card rings, callbridge calls Alice's phone.
    world
        .microsoft
        .state()
        .message_bot(demo_teams::ALICE, "call bob@example.com")
        .await
        .expect("Alice messages the bot");
    card_join_url(&world).await;
    let alices_leg = first_phone_call(&world, Duration::from_secs(5)).await;

    // Bob, instead of answering the card, calls Alice.
    slash_call(&world, demo_slack::BOB, ALICE).await;
    let told = slack_message(&world, "Alice Adams is calling you right now").await;
    assert_eq!(told.ephemeral_to.as_deref(), Some(demo_slack::BOB));
    assert_eq!(world.microsoft.state().calls().len(), 1, "no second call");
    assert_eq!(world.slack.state().call_cards().len(), 1, "no second card");

    // Alice gives up; the one call she placed is the one recorded.
    world
        .microsoft
        .state()
        .hang_up(&alices_leg.call_id)
        .await
        .expect("Alice hangs up");
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::Cancelled);
    slack_message(&world, "Missed call from Alice Adams").await;
    world.stop().await;
}
