//! The demo under the mistakes a newcomer makes: an unknown person, a `/call` with nobody to
//! call, Answer pressed twice, the join link opened twice, and the join tab closed mid-call.
//! Each gets a clear message and loses nothing. Closing the tab hangs up as the page goes
//! (one CDR, `normal`, well within the media timeout, which the demo's configuration file
//! shortens here as an operator would); a browser that vanishes without a word is what the
//! media timeout catches (`calls_scenarios_mid_call`).

#[path = "calls_chromium/join_page.rs"]
mod join_page;
#[path = "calls_chromium/webdriver.rs"]
mod webdriver;

use std::io::Write as _;
use std::time::Duration;

use callbridge::demo::{CONFIG_FILE, Demo, prepare};
use callbridge_testkit::{Patience, eventually};
use join_page::page_state;
use webdriver::Browser;

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

/// Bob types `text` in his Slack message box and sends it, then waits for `reply` to show.
async fn bob_is_told(bob: &Browser, text: &str, reply: &str) {
    bob.type_text("#text", text).await.expect("Bob types");
    bob.click("form[action$='/say'] button[type=submit]")
        .await
        .expect("Bob sends");
    eventually(
        reply,
        patience(15),
        || text_of(bob, "#view"),
        |view| view.as_deref().is_some_and(|v| v.contains(reply)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_get_clear_messages_and_a_closed_tab_ends_the_call() {
    let data = tempfile::tempdir().expect("a data folder");
    prepare(data.path(), 0).expect("the demo configuration is generated");
    std::fs::OpenOptions::new()
        .append(true)
        .open(data.path().join(CONFIG_FILE))
        .and_then(|mut file| file.write_all(b"\n[calls]\nmedia_timeout = \"8s\"\n"))
        .expect("the operator shortens the media timeout");
    let prepared = prepare(data.path(), 0).expect("the edited configuration");
    let admin_token = prepared
        .config
        .admin_token
        .as_ref()
        .expect("the demo has an admin token")
        .expose()
        .to_owned();
    let demo = Demo::start(prepared).await.expect("the demo starts");
    let gateway = demo.start_url().replace("/demo/", "");
    let microsoft = demo.microsoft().clone();
    let slack_client = format!("{}U0DEMOBOB1", demo.slack_client_url());
    let teams_client = format!("{}alice@contoso.test", demo.teams_client_url());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(demo.run(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    // Alice's Teams client is open: her phone waits for her.
    http.get(&teams_client).send().await.expect("Alice's Teams");
    let bob = Browser::start(440.0).await.expect("Bob's Chromium");
    bob.open(&slack_client).await.expect("Bob's Slack");

    bob_is_told(
        &bob,
        "/call nobody@contoso.test",
        "I could not find that person on the other platform.",
    )
    .await;
    bob_is_told(&bob, "/call", "Call someone on Microsoft Teams from Slack").await;

    bob_is_told(&bob, "/call alice@contoso.test", "Calling Alice Adams").await;
    let ringing = eventually(
        "Alice's phone to ring",
        patience(15),
        || async { microsoft.calls() },
        |calls| calls.iter().any(|c| c.state == "ringing"),
    )
    .await;
    let call_id = ringing[0].call_id.clone();
    let answer = format!(
        "{teams_client}/calls/{}/answer",
        url::form_urlencoded::byte_serialize(call_id.as_bytes()).collect::<String>()
    );
    let first = http.post(&answer).send().await.expect("Answer");
    assert_eq!(first.status(), 303, "the first Answer answers");
    let second = http.post(&answer).send().await.expect("Answer again");
    assert_eq!(second.status(), 409, "a second Answer is refused");
    let page = second.text().await.expect("the refusal page");
    assert!(page.contains("answered"), "it says why: {page}");

    let join_url = eventually(
        "Bob's card to offer Join",
        patience(15),
        || async {
            bob.script(
                "const a = document.querySelector(\"a[href*='/join/']\"); \
                 return a ? a.getAttribute('href') : null;",
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
        },
        Option::is_some,
    )
    .await
    .expect("a join link");
    let slack_tab = bob.tab().await.expect("Bob's Slack tab");
    bob.open_tab(&join_url).await.expect("the join page");
    bob.click("#join").await.expect("Bob joins");
    eventually(
        "the join page to connect",
        patience(30),
        || page_state(&bob),
        |(state, _)| state == "connected",
    )
    .await;
    let join_tab = bob.tab().await.expect("the join tab");

    // The link again, in another tab: a clear page, and the call goes on.
    bob.open_tab(&join_url).await.expect("the join link again");
    let again = text_of(&bob, "main").await.unwrap_or_default();
    assert!(
        again.contains("already") || again.contains("used"),
        "a used join link says so: {again}"
    );
    bob.close_tab().await.expect("Bob closes it");
    bob.switch_to(&join_tab).await.expect("the join tab");
    assert_eq!(page_state(&bob).await.0, "connected", "the call goes on");

    // Bob closes the join tab mid-call, without pressing Hang up.
    bob.close_tab().await.expect("Bob closes the join tab");
    bob.switch_to(&slack_tab).await.expect("Bob's Slack");
    let cdrs = eventually(
        "the call to end when its tab closes",
        patience(10),
        || async {
            http.get(format!("{gateway}/api/v1/cdrs?limit=10"))
                .bearer_auth(&admin_token)
                .send()
                .await
                .ok()?
                .json::<serde_json::Value>()
                .await
                .ok()
        },
        |cdrs| {
            cdrs.as_ref()
                .and_then(|c| c.as_array())
                .is_some_and(|c| c.iter().any(|cdr| cdr["cause"] == "normal"))
        },
    )
    .await
    .expect("the CDRs");
    let cdrs = cdrs.as_array().expect("a list");
    assert_eq!(cdrs.len(), 1, "one CDR, for the one call: {cdrs:?}");
    eventually(
        "Alice's phone to hang up",
        patience(10),
        || async { microsoft.call(&call_id).map(|c| c.state) },
        |state| state.as_deref() == Some("ended"),
    )
    .await;

    drop(bob);
    let _ = stop.send(());
    served
        .await
        .expect("the demo task")
        .expect("the demo stops cleanly");
}
