//! The browser scenario: Bob types `/call alice@contoso.test` in Slack; a real headless Chromium
//! (Debian's `chromium` through `chromium-driver`, its fake microphone playing 440 Hz) opens
//! the call card's `join_url` and selects Join; the join page shows the call connected; Alice's
//! virtual Teams phone hears the tone and the page plays the phone's 1000 Hz back; Hang up
//! ends the Teams leg and leaves one CDR.
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver`: the test fails without them.

#[path = "calls_chromium/join_page.rs"]
mod join_page;
#[path = "calls_chromium/webdriver.rs"]
mod webdriver;

use std::time::Duration;

use callbridge_model::TerminationCause;
use callbridge_sandbox::microsoft::{Answer, PhoneBehaviour};
use callbridge_store::CallStore;
use callbridge_testkit::{CallWorld, Patience, demo_slack, eventually};
use join_page::{page_hears, page_state};
use webdriver::Browser;

const ALICE: &str = "alice@contoso.test";
/// What Bob's microphone plays.
const BOB_TONE_HZ: f64 = 440.0;
/// What Alice's phone plays.
const ALICE_TONE_HZ: f64 = 1000.0;

fn patience(secs: u64) -> Patience {
    Patience {
        within: Duration::from_secs(secs),
        every: Duration::from_millis(100),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_joins_from_the_call_card_and_the_teams_phone_hears_it() {
    let world = CallWorld::start().await;
    world
        .microsoft
        .state()
        .set_phone_behaviour(
            ALICE,
            PhoneBehaviour {
                answer: Answer::AfterSecs { secs: 0.3 },
                tone_hz: Some(ALICE_TONE_HZ),
                ..PhoneBehaviour::default()
            },
        )
        .expect("Alice's phone");
    let browser = Browser::start(BOB_TONE_HZ)
        .await
        .expect("headless Chromium starts under chromedriver");

    world
        .slack
        .state()
        .type_slash_command(demo_slack::BOB, &format!("/call {ALICE}"))
        .await
        .expect("the slash command is delivered");
    let cards = eventually(
        "a call card",
        patience(30),
        || async { world.slack.state().call_cards() },
        |cards| !cards.is_empty(),
    )
    .await;
    let join_url = cards[0].call.join_url.clone();
    let ringing = eventually(
        "Alice's phone to ring",
        patience(30),
        || async { world.microsoft.state().calls() },
        |calls| !calls.is_empty(),
    )
    .await;
    let sip_call = ringing[0].call_id.clone();

    browser.open(&join_url).await.expect("the join page loads");
    browser.click("#join").await.expect("Bob selects Join");
    eventually(
        "the page to show the call connected",
        patience(30),
        || page_state(&browser),
        |(state, _)| state == "connected",
    )
    .await;

    let phone_media = eventually(
        "Alice's phone to answer with media",
        patience(30),
        || async {
            world
                .microsoft
                .state()
                .call(&sip_call)
                .and_then(|c| c.media)
        },
        Option::is_some,
    )
    .await
    .expect("media");
    eventually(
        "Alice to hear Bob's 440 Hz",
        patience(15),
        || async { phone_media.report().dominant_frequency() },
        |heard| heard.is_some_and(|hz| (hz - BOB_TONE_HZ).abs() < 15.0),
    )
    .await;
    let heard = eventually(
        "Bob's page to hear Alice's 1000 Hz",
        patience(15),
        || page_hears(&browser),
        |heard| matches!(heard, Ok(Some(hz)) if (hz - ALICE_TONE_HZ).abs() < 15.0),
    )
    .await;
    assert!(heard.is_ok(), "{heard:?}");

    browser.click("#hangup").await.expect("Bob hangs up");
    eventually(
        "the page to show the call ended",
        patience(30),
        || page_state(&browser),
        |(state, _)| state == "ended",
    )
    .await;
    eventually(
        "Alice's leg to end",
        patience(30),
        || async { world.microsoft.state().call(&sip_call).map(|c| c.state) },
        |state| state.as_deref() == Some("ended"),
    )
    .await;
    let cdrs = eventually(
        "one CDR",
        patience(30),
        || async { world.store.store.recent_cdrs(10).await.expect("CDRs") },
        |cdrs| !cdrs.is_empty(),
    )
    .await;
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(cdrs[0].cause, TerminationCause::Normal);
    assert!(cdrs[0].answered_at.is_some(), "the call was answered");
    drop(browser);
    world.stop().await;
}
