//! Connected calls ended by something other than a party hanging up: media stops flowing
//! (`MediaTimeout`), the call reaches its maximum duration (`MaxDuration`), or the Slack
//! installation is revoked (`Error`). Both legs end and exactly one CDR is written.

use std::time::Duration;

use callbridge_model::TerminationCause;
use callbridge_sandbox::microsoft::{Answer, CallRecord};
use callbridge_testkit::{
    BrowserStandIn, CallWorld, card_join_url, demo_slack, eventually, first_phone_call, patience,
    phone, phone_reaches, slash_call, the_one_cdr,
};

const ALICE: &str = "alice@contoso.test";

/// Bob calls Alice, whose phone answers at once; Bob joins; returns once Bob hears Alice.
async fn connected_call(world: &CallWorld) -> (BrowserStandIn, CallRecord) {
    world
        .microsoft
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::AfterSecs { secs: 0.2 }))
        .expect("Alice's phone");
    slash_call(world, demo_slack::BOB, ALICE).await;
    let join_url = card_join_url(world).await;
    let browser = BrowserStandIn::join(&join_url, 440.0)
        .await
        .expect("Bob joins from the card");
    eventually(
        "Bob to hear Alice",
        patience(15),
        || async { browser.heard_samples() },
        |samples| *samples > 8_000,
    )
    .await;
    let sip = first_phone_call(world, Duration::from_secs(1)).await;
    (browser, sip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_that_stops_ends_the_call_with_media_timeout() {
    let world = CallWorld::start_with("[calls]\nmedia_timeout = \"3s\"\n").await;
    let (browser, sip) = connected_call(&world).await;
    // Bob's browser vanishes without a word (a crashed tab, a dead network): no DELETE, no
    // more packets.
    drop(browser);
    let lost = tokio::time::Instant::now();
    phone_reaches(&world, &sip.call_id, "ended", Duration::from_secs(10)).await;
    assert!(
        lost.elapsed() >= Duration::from_secs(2),
        "ended before the timeout"
    );
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::MediaTimeout);
    assert!(cdr.answered_at.is_some());
    eventually(
        "the card to end",
        patience(5),
        || async { world.slack.state().call_cards() },
        |cards| cards.iter().all(|card| card.state == "ended"),
    )
    .await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_ends_at_its_maximum_duration() {
    let world = CallWorld::start_with("[calls]\nmax_duration = \"10s\"\n").await;
    let (_browser, sip) = connected_call(&world).await;
    phone_reaches(&world, &sip.call_id, "ended", Duration::from_secs(15)).await;
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::MaxDuration);
    let answered = cdr.answered_at.expect("the call was answered");
    let lasted = (cdr.ended_at - answered)
        .to_std()
        .expect("ended after the answer");
    assert!(
        lasted >= Duration::from_secs(10) && lasted < Duration::from_secs(13),
        "lasted {lasted:?}"
    );
    eventually(
        "the card to end",
        patience(5),
        || async { world.slack.state().call_cards() },
        |cards| cards.iter().all(|card| card.state == "ended"),
    )
    .await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_slack_installation_ends_its_calls() {
    let world = CallWorld::start().await;
    let (_browser, sip) = connected_call(&world).await;
    world
        .slack
        .state()
        .uninstall()
        .expect("an admin uninstalls");
    phone_reaches(&world, &sip.call_id, "ended", Duration::from_secs(10)).await;
    let cdr = the_one_cdr(&world, Duration::from_secs(5)).await;
    assert_eq!(cdr.cause, TerminationCause::Error);
    assert!(cdr.answered_at.is_some());
    world.stop().await;
}
