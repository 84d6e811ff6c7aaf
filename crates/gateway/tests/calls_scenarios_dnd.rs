//! A callee in Do Not Disturb is not rung: the call is recorded, ends `Busy` at once, the
//! caller is told, and the callee gets a missed-call notice.

use std::time::Duration;

use callbridge_model::{Direction, TerminationCause};
use callbridge_sandbox::microsoft::{Answer, PresenceState};
use callbridge_testkit::{
    CallWorld, demo_slack, demo_teams, eventually, grant_slack_user_token, patience, phone,
    slack_message, slash_call, the_one_cdr,
};

const ALICE: &str = "alice@contoso.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_callee_in_do_not_disturb_gets_a_missed_call_instead_of_a_ring() {
    let world = CallWorld::start().await;
    // A snooze shows only to the person's own token: Bob has authorised callbridge.
    grant_slack_user_token(&world, demo_slack::BOB, "xoxp-demo-bob").await;
    world
        .slack
        .state()
        .set_dnd(demo_slack::BOB, Some(60))
        .expect("Bob snoozes notifications");
    world
        .microsoft
        .state()
        .message_bot(demo_teams::ALICE, "call bob@example.com")
        .await
        .expect("Alice messages the bot");

    slack_message(&world, "Missed call from Alice Adams").await;
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.direction, Direction::TeamsToSlack);
    assert_eq!(cdr.cause, TerminationCause::Busy);
    assert!(
        world.slack.state().call_cards().is_empty(),
        "nothing rang on Slack"
    );
    assert!(
        world.microsoft.state().calls().is_empty(),
        "callbridge did not call Alice back"
    );
    eventually(
        "Alice to be told Bob is in Do Not Disturb",
        patience(5),
        || async {
            world
                .microsoft
                .state()
                .bot_messages(demo_teams::ALICE)
                .expect("Alice's chat")
        },
        |messages| {
            messages
                .iter()
                .any(|m| m.activity.to_string().contains("Do Not Disturb"))
        },
    )
    .await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_callee_in_do_not_disturb_is_not_rung() {
    let world = CallWorld::start().await;
    world
        .microsoft
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::AfterSecs { secs: 0.2 }))
        .expect("Alice's phone");
    world
        .microsoft
        .state()
        .set_presence_in_client(
            ALICE,
            Some(PresenceState::new("DoNotDisturb", "DoNotDisturb")),
        )
        .expect("Alice sets Do Not Disturb");
    // Whatever reads the callee's presence has had its chance.
    tokio::time::sleep(Duration::from_secs(2)).await;

    slash_call(&world, demo_slack::BOB, ALICE).await;
    let told = slack_message(&world, "Alice Adams is in Do Not Disturb").await;
    assert_eq!(told.ephemeral_to.as_deref(), Some(demo_slack::BOB));
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::Busy);
    assert!(
        world.microsoft.state().calls().is_empty(),
        "Alice's phone did not ring"
    );
    world.stop().await;
}
