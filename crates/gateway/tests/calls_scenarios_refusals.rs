//! Calls that never connect because of the Teams callee: their phone declines, is busy, is
//! in Do Not Disturb on the phone, or rings out; or they are already on a call through
//! callbridge. Each leaves exactly one CDR with the right cause (or none, when the request
//! never became a call) and tells the Slack caller why.

use std::time::Duration;

use callbridge_model::TerminationCause;
use callbridge_sandbox::microsoft::Answer;
use callbridge_testkit::{
    BrowserStandIn, CallWorld, card_join_url, demo_slack, demo_teams, first_phone_call, phone,
    phone_reaches, slack_message, slash_call, the_one_cdr,
};

const ALICE: &str = "alice@contoso.test";
const CAROL: &str = "U0DEMOCAR2";

/// Sets Alice's phone, then Bob types `/call alice@…`.
async fn bob_calls_alice(world: &CallWorld, answer: Answer) {
    world
        .microsoft
        .state()
        .set_phone_behaviour(ALICE, phone(answer))
        .expect("Alice's phone");
    slash_call(world, demo_slack::BOB, ALICE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_call_tells_the_caller() {
    let world = CallWorld::start().await;
    bob_calls_alice(&world, Answer::Decline { secs: 0.5 }).await;
    let rung = first_phone_call(&world, Duration::from_secs(3)).await;
    phone_reaches(&world, &rung.call_id, "declined", Duration::from_secs(5)).await;
    slack_message(&world, "Alice Adams declined the call.").await;
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::Declined);
    assert!(cdr.answered_at.is_none());
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_nobody_joined_ends_with_the_call() {
    let world = CallWorld::start().await;
    bob_calls_alice(&world, Answer::Decline { secs: 0.5 }).await;
    the_one_cdr(&world, Duration::from_secs(5)).await;
    callbridge_testkit::eventually(
        "Bob's card to end",
        callbridge_testkit::patience(5),
        || async { world.slack.state().call_cards() },
        |cards| !cards.is_empty() && cards.iter().all(|card| card.state == "ended"),
    )
    .await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_phone_ends_the_call_busy() {
    let world = CallWorld::start().await;
    bob_calls_alice(&world, Answer::Busy).await;
    let rung = first_phone_call(&world, Duration::from_secs(3)).await;
    phone_reaches(&world, &rung.call_id, "busy", Duration::from_secs(5)).await;
    slack_message(&world, "Alice Adams is busy.").await;
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::Busy);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_in_do_not_disturb_refuses_without_ringing() {
    // Teams answers 480 for a user in DND; callbridge did not know (nothing told it the
    // callee's presence), so it placed the call and hears "no answer".
    let world = CallWorld::start().await;
    bob_calls_alice(&world, Answer::DoNotDisturb).await;
    let rung = first_phone_call(&world, Duration::from_secs(3)).await;
    phone_reaches(&world, &rung.call_id, "dnd", Duration::from_secs(5)).await;
    slack_message(&world, "Alice Adams did not answer.").await;
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::NoAnswer);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_call_rings_out_at_the_ring_timeout() {
    let world = CallWorld::start_with("[calls]\nring_timeout = \"5s\"\n").await;
    // Alice has the callbridge app in Teams, so the bot can write to her.
    world
        .microsoft
        .state()
        .set_bot_installed(demo_teams::ALICE, true)
        .await
        .expect("Alice installs the app");
    let asked = tokio::time::Instant::now();
    bob_calls_alice(&world, Answer::NoAnswer).await;
    // The callee rings within 3 s of the command.
    let rung = first_phone_call(&world, Duration::from_secs(3)).await;
    phone_reaches(&world, &rung.call_id, "ringing", Duration::from_secs(3)).await;
    let reply = slack_message(&world, "Calling Alice Adams…").await;
    assert_eq!(reply.ephemeral_to.as_deref(), Some(demo_slack::BOB));
    // callbridge's own ring timeout (5 s) comes long before the proxy's (30 s).
    phone_reaches(&world, &rung.call_id, "cancelled", Duration::from_secs(10)).await;
    let rang_for = asked.elapsed();
    assert!(
        rang_for >= Duration::from_secs(5) && rang_for < Duration::from_secs(10),
        "rang for {rang_for:?}"
    );
    slack_message(&world, "Alice Adams did not answer.").await;
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::NoAnswer);
    // Teams users get a missed-call notice from the bot.
    callbridge_testkit::eventually(
        "Alice's missed-call notice",
        callbridge_testkit::patience(5),
        || async {
            world
                .microsoft
                .state()
                .bot_messages(demo_teams::ALICE)
                .expect("Alice's chat")
        },
        |messages| !messages.is_empty(),
    )
    .await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callee_already_on_a_call_is_busy_for_the_next_caller() {
    let world = CallWorld::start().await;
    bob_calls_alice(&world, Answer::AfterSecs { secs: 0.2 }).await;
    let join_url = card_join_url(&world).await;
    let browser = BrowserStandIn::join(&join_url, 440.0)
        .await
        .expect("Bob joins from the card");
    callbridge_testkit::eventually(
        "Bob to hear Alice",
        callbridge_testkit::patience(15),
        || async { browser.heard_samples() },
        |samples| *samples > 8_000,
    )
    .await;

    slash_call(&world, CAROL, ALICE).await;
    let told = slack_message(&world, "Alice Adams is on another call.").await;
    assert_eq!(told.ephemeral_to.as_deref(), Some(CAROL));
    assert_eq!(world.microsoft.state().calls().len(), 1, "Alice rang once");

    browser.hang_up().await.expect("Bob hangs up");
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::Normal);
    world.stop().await;
}
