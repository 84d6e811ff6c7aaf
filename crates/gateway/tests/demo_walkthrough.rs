//! The README's demo walkthrough, followed by a person in headless Chromium (Debian's
//! `chromium` through `chromium-driver`): `callbridge demo` as `Demo::start` builds it; Bob in
//! the Slack client (his fake microphone plays 440 Hz) types `/call alice@contoso.test`;
//! Alice's phone rings in the Teams client and she answers; Bob joins from the call card; her
//! phone hears his tone and echoes it back to his page; Bob hangs up and both clients show the
//! call over; Alice picks Do not disturb and Bob sees her Slack status follow within 5 s; Bob
//! calls again and is told, and Alice gets a missed-call card. Every step is photographed
//! (`CALLBRIDGE_DEMO_SCREENSHOTS` names the folder; the test's temporary folder otherwise), and
//! no page may show an error.

#[path = "calls_chromium/join_page.rs"]
mod join_page;
#[path = "calls_chromium/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

use callbridge::demo::{Demo, prepare};
use callbridge_testkit::{Patience, eventually};
use join_page::{page_hears, page_state};
use webdriver::Browser;

/// What Bob's microphone plays.
const BOB_TONE_HZ: f64 = 440.0;
/// Alice's Slack account: she uses both platforms.
const ALICE_ON_SLACK: &str = "U0DEMOALI4";

fn patience(secs: u64) -> Patience {
    Patience {
        within: Duration::from_secs(secs),
        every: Duration::from_millis(100),
    }
}

/// The text of the first element `css` selects, or `None` while there is none.
async fn text_of(browser: &Browser, css: &str) -> Option<String> {
    let script = format!(
        "const e = document.querySelector({}); return e ? e.textContent : null;",
        serde_json::Value::from(css)
    );
    browser
        .script(&script)
        .await
        .ok()?
        .as_str()
        .map(str::to_owned)
}

/// Every error the page shows now: alerts with text, and error pages by their title.
async fn errors_shown(browser: &Browser) -> Vec<String> {
    const ERRORS: &str = "const shown = [...document.querySelectorAll('[role=alert]')] \
         .filter(e => !e.hidden && e.textContent.trim()) \
         .map(e => e.textContent.trim()); \
         if (/error|not found|bad request|no such/i.test(document.title)) shown.push(document.title); \
         return shown;";
    match browser.script(ERRORS).await {
        Ok(value) => value
            .as_array()
            .map(|shown| {
                shown
                    .iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        Err(error) => vec![format!("the page cannot be read: {error:#}")],
    }
}

/// Screenshots, one file per step, named after it.
struct Album {
    dir: PathBuf,
}

impl Album {
    fn new() -> Self {
        let dir = std::env::var_os("CALLBRIDGE_DEMO_SCREENSHOTS").map_or_else(
            || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("demo-walkthrough"),
            PathBuf::from,
        );
        std::fs::create_dir_all(&dir).expect("a folder for the screenshots");
        Self { dir }
    }

    /// Photographs `browser` as `name`, after checking that the page shows no error.
    async fn take(&self, browser: &Browser, name: &str) {
        let errors = errors_shown(browser).await;
        assert!(errors.is_empty(), "{name}: the page shows {errors:?}");
        let path = self.dir.join(format!("{name}.png"));
        browser.screenshot(&path).await.expect("a screenshot");
    }
}

/// The `href` of the start page's link `id`.
async fn link(browser: &Browser, id: &str) -> String {
    browser
        .script(&format!("return document.getElementById('{id}').href;"))
        .await
        .expect("the start page")
        .as_str()
        .unwrap_or_else(|| panic!("the start page links #{id}"))
        .to_owned()
}

/// Bob types `text` in his Slack message box and sends it.
async fn bob_types(bob: &Browser, text: &str) {
    bob.type_text("#text", text).await.expect("Bob types");
    bob.click("form[action$='/say'] button[type=submit]")
        .await
        .expect("Bob sends");
}

/// Waits until the text of `css` in `browser` contains `wanted`.
async fn shows(browser: &Browser, what: &str, css: &str, wanted: &str, within: u64) {
    eventually(
        what,
        patience(within),
        || text_of(browser, css),
        |text| text.as_deref().is_some_and(|t| t.contains(wanted)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_follows_the_walkthrough_and_hears_the_bridge() {
    let data = tempfile::tempdir().expect("a data folder");
    let demo = Demo::start(prepare(data.path(), 0).expect("the demo configuration"))
        .await
        .expect("the demo starts");
    let start_url = demo.start_url();
    let microsoft = demo.microsoft().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(demo.run(async {
        let _ = stopped.await;
    }));
    let album = Album::new();
    let bob = Browser::start(BOB_TONE_HZ).await.expect("Bob's Chromium");
    let alice = Browser::start(1000.0).await.expect("Alice's Chromium");

    bob.open(&start_url).await.expect("the start page");
    album.take(&bob, "start-page").await;
    let (slack_url, teams_url) = (
        link(&bob, "open-slack").await,
        link(&bob, "open-teams").await,
    );
    bob.open(&slack_url).await.expect("Bob's Slack");
    alice.open(&teams_url).await.expect("Alice's Teams");

    // 1. Slack calls Teams.
    bob_types(&bob, "/call alice@contoso.test").await;
    shows(
        &alice,
        "Alice's phone to ring",
        "#view",
        "Incoming call from",
        15,
    )
    .await;
    album.take(&alice, "teams-ringing").await;
    album.take(&bob, "slack-call-card").await;
    alice.click("button.answer").await.expect("Alice answers");
    let join_url = eventually(
        "Bob's call card to offer Join",
        patience(15),
        || text_of_attr(&bob, "a[href*='/join/']", "href"),
        Option::is_some,
    )
    .await
    .expect("a join link");
    let slack_tab = bob.tab().await.expect("Bob's Slack tab");
    bob.open_tab(&join_url).await.expect("the join page");
    let joined = std::time::Instant::now();
    bob.click("#join").await.expect("Bob joins");
    eventually(
        "the join page to connect",
        patience(30),
        || page_state(&bob),
        |(state, _)| state == "connected",
    )
    .await;
    let phone = eventually(
        "Alice's phone to carry the call's audio",
        patience(15),
        || async { microsoft.calls().into_iter().rev().find_map(|c| c.media) },
        Option::is_some,
    )
    .await
    .expect("media");
    eventually(
        "Alice's phone to hear Bob's tone",
        patience(15),
        || async { phone.report().dominant_frequency() },
        |hz| hz.is_some_and(|hz| (hz - BOB_TONE_HZ).abs() < 15.0),
    )
    .await;
    let echo = eventually(
        "Bob to hear his tone come back from Alice's phone",
        patience(15),
        || page_hears(&bob),
        |heard| matches!(heard, Ok(Some(hz)) if (hz - BOB_TONE_HZ).abs() < 15.0),
    )
    .await;
    assert!(echo.is_ok(), "{echo:?}");
    // For the closing figures: from Join to Bob hearing his own voice back (the phone's echo
    // delay included), as the test's polling sees it.
    eprintln!("join -> echo heard: {} ms", joined.elapsed().as_millis());
    album.take(&bob, "join-page-connected").await;
    shows(
        &alice,
        "Alice's call to show live",
        "#view",
        "In a call with",
        5,
    )
    .await;
    album.take(&alice, "teams-in-call").await;

    bob.click("#hangup").await.expect("Bob hangs up");
    eventually(
        "the join page to show the call over",
        patience(15),
        || page_state(&bob),
        |(state, _)| state == "ended",
    )
    .await;
    shows(
        &alice,
        "Alice's phone to hang up",
        "#view",
        "No calls right now",
        15,
    )
    .await;
    bob.switch_to(&slack_tab).await.expect("back to Slack");
    shows(&bob, "Bob's call card to end", "#view", "ended", 15).await;
    album.take(&bob, "slack-call-ended").await;
    album.take(&alice, "teams-call-ended").await;

    // 2. Presence: Alice picks Do not disturb in Teams; her Slack status follows.
    alice
        .click("button[name=state][value=dnd]")
        .await
        .expect("Alice picks Do not disturb");
    let alice_in_slack = format!("li[data-user='{ALICE_ON_SLACK}']");
    shows(
        &bob,
        "Alice's Slack status to follow",
        &alice_in_slack,
        "Do not disturb",
        5,
    )
    .await;
    album.take(&bob, "slack-presence").await;

    // Bob calls again: he is told, and Alice finds a missed call.
    bob_types(&bob, "/call alice@contoso.test").await;
    shows(&bob, "Bob to be told", "#view", "is in Do Not Disturb", 15).await;
    shows(
        &alice,
        "Alice's missed-call card",
        "#view",
        "Missed call from",
        15,
    )
    .await;
    album.take(&bob, "slack-told-dnd").await;
    album.take(&alice, "teams-missed-call").await;
    assert!(
        microsoft.calls().iter().all(|c| c.state != "ringing"),
        "nothing rings while Alice is in Do not disturb"
    );

    // 3. Teams calls Slack (Do not disturb stops nobody calling out): callbridge rings
    // Alice's phone first, then Bob's Slack.
    alice
        .type_text("#chat-text", "call bob@example.com")
        .await
        .expect("Alice types to the bot");
    alice
        .click("form[action$='/message'] button[type=submit]")
        .await
        .expect("Alice sends");
    shows(
        &alice,
        "Alice's phone to ring back",
        "#view",
        "Incoming call from",
        15,
    )
    .await;
    alice.click("button.answer").await.expect("Alice answers");
    shows(
        &bob,
        "Bob's Slack to ring",
        "#view",
        "Alice Adams is calling",
        15,
    )
    .await;
    album.take(&bob, "slack-ringing-from-teams").await;
    let join_url = eventually(
        "the ringing card to offer Join",
        patience(15),
        || last_join_link(&bob),
        |link| link.as_deref().is_some_and(|l| l != join_url),
    )
    .await
    .expect("a join link");
    let join_tab = bob.open_tab(&join_url).await.expect("the join page");
    bob.click("#join").await.expect("Bob joins");
    eventually(
        "the join page to connect",
        patience(30),
        || page_state(&bob),
        |(state, _)| state == "connected",
    )
    .await;
    let echo = eventually(
        "Bob to hear his tone come back from Alice's phone",
        patience(15),
        || page_hears(&bob),
        |heard| matches!(heard, Ok(Some(hz)) if (hz - BOB_TONE_HZ).abs() < 15.0),
    )
    .await;
    assert!(echo.is_ok(), "{echo:?}");
    bob.switch_to(&slack_tab).await.expect("back to Slack");
    let alice_status = format!("{alice_in_slack} .status-text");
    shows(
        &bob,
        "Alice's Slack status to show the call",
        &alice_status,
        "In a call",
        15,
    )
    .await;
    bob.switch_to(&join_tab).await.expect("back to the call");
    alice
        .click("form[action$='/hangup'] button")
        .await
        .expect("Alice hangs up");
    eventually(
        "the join page to show the call over",
        patience(15),
        || page_state(&bob),
        |(state, _)| state == "ended",
    )
    .await;
    bob.switch_to(&slack_tab).await.expect("back to Slack");
    // Her Slack status showed the call, and shows Do not disturb again after it.
    shows(
        &bob,
        "Alice's Slack status back after the call",
        &alice_status,
        "Do not disturb",
        20,
    )
    .await;
    album.take(&bob, "slack-after-teams-call").await;

    // And the other way: Alice resets her Teams status, then in Slack says she is in a meeting.
    alice
        .click("button[name=state][value=reset]")
        .await
        .expect("Alice resets her Teams status");
    bob.open(&format!(
        "{}{ALICE_ON_SLACK}",
        slack_url.trim_end_matches(|c| c != '/')
    ))
    .await
    .expect("Slack as Alice");
    bob.type_text("#status-emoji", ":calendar:")
        .await
        .expect("an emoji");
    bob.type_text("#status-text-input", "In a meeting")
        .await
        .expect("a status");
    bob.click("form[action$='/status'] button[type=submit]:not([name])")
        .await
        .expect("Alice sets her Slack status");
    // An app may set only a few pairs (Graph's setPresence): a meeting shows as Busy, with
    // her status line as the Teams status message.
    let teams_presence = eventually(
        "Alice's Teams presence to follow Slack",
        patience(10),
        || text_of(&alice, ".presence"),
        |shown| {
            shown
                .as_deref()
                .is_some_and(|s| s.contains("Busy") && s.contains("In a meeting"))
        },
    )
    .await;
    assert!(teams_presence.is_some());
    album.take(&alice, "teams-presence").await;

    drop((bob, alice));
    let _ = stop.send(());
    served
        .await
        .expect("the demo task")
        .expect("the demo stops cleanly");
}

/// The attribute `name` of the first element `css` selects, or `None` while there is none.
async fn text_of_attr(browser: &Browser, css: &str, name: &str) -> Option<String> {
    let script = format!(
        "const e = document.querySelector({}); return e ? e.getAttribute({}) : null;",
        serde_json::Value::from(css),
        serde_json::Value::from(name)
    );
    browser
        .script(&script)
        .await
        .ok()?
        .as_str()
        .map(str::to_owned)
}

/// The `href` of the last Join link `browser` shows: the newest call card's.
async fn last_join_link(browser: &Browser) -> Option<String> {
    browser
        .script(
            "const links = document.querySelectorAll(\"a[href*='/join/']\"); \
             return links.length ? links[links.length - 1].getAttribute('href') : null;",
        )
        .await
        .ok()?
        .as_str()
        .map(str::to_owned)
}
