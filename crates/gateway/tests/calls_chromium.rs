//! The browser scenario: Bob types `/call alice@contoso.test` in Slack; a real headless Chromium
//! (Debian's `chromium` through `chromium-driver`, its fake microphone playing 440 Hz) opens
//! the call card's `join_url` and selects Join; the join page shows the call connected; Alice's
//! virtual Teams phone hears the tone and the page plays the phone's 1000 Hz back; Hang up
//! ends the Teams leg and leaves one CDR.
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver`: the test fails without them.

#[path = "calls_chromium/webdriver.rs"]
mod webdriver;

use std::time::Duration;

use callbridge_model::TerminationCause;
use callbridge_sandbox::microsoft::{Answer, PhoneBehaviour};
use callbridge_store::CallStore;
use callbridge_testkit::{CallWorld, Patience, demo_slack, eventually};
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

/// The page's state and any error it shows, as the page's script sees them.
const PAGE_STATE: &str = "return [document.body.dataset.state, \
     document.getElementById('error').textContent];";
/// The dominant frequency of the call audio the page plays (its `#remote` element), measured by
/// an analyser attached on the first call; `null` until there is a stream and sound.
// Chrome only feeds remote WebRTC audio to Web Audio while an element plays it, as #remote does.
const PAGE_HEARS: &str = "const remote = document.getElementById('remote'); \
     if (!remote.srcObject) return null; \
     if (!window.testEar) { \
       const ctx = new AudioContext(); const analyser = ctx.createAnalyser(); \
       analyser.fftSize = 16384; \
       ctx.createMediaStreamSource(remote.srcObject).connect(analyser); \
       window.testEar = { ctx, analyser }; \
     } \
     const { ctx, analyser } = window.testEar; ctx.resume(); \
     const bins = new Float32Array(analyser.frequencyBinCount); \
     analyser.getFloatFrequencyData(bins); \
     let peak = 1; \
     for (let i = 2; i < bins.length - 1; i++) if (bins[i] > bins[peak]) peak = i; \
     const [l, c, r] = [bins[peak - 1], bins[peak], bins[peak + 1]]; \
     if (!isFinite(c) || c < -90) return null; \
     const shift = 0.5 * (l - r) / (l - 2 * c + r); \
     return (peak + (isFinite(shift) ? shift : 0)) * ctx.sampleRate / analyser.fftSize;";

/// The page's state and the error it shows; a state of `unreadable: …` when WebDriver fails.
async fn page_state(browser: &Browser) -> (String, String) {
    match browser.script(PAGE_STATE).await {
        Ok(value) => {
            let text = |i: usize| value[i].as_str().unwrap_or_default().to_owned();
            (text(0), text(1))
        }
        Err(error) => (format!("unreadable: {error:#}"), String::new()),
    }
}

/// The frequency the page hears, or why it cannot tell.
async fn page_hears(browser: &Browser) -> Result<Option<f64>, String> {
    let value = browser
        .script(PAGE_HEARS)
        .await
        .map_err(|error| format!("{error:#}"))?;
    Ok(value.as_f64())
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
