//! Steps the call scenario tests share: a Slack user typing `/call`, waiting for the Teams
//! phone to ring or change state, for a message a person sees, and for the one CDR a call
//! leaves.

use std::time::Duration;

use callbridge_model::Cdr;
use callbridge_sandbox::microsoft::{Answer, CallRecord, PhoneBehaviour};
use callbridge_sandbox::slack::ShownMessage;
use callbridge_store::CallStore;

use crate::call_world::CallWorld;
use crate::eventually::{Patience, eventually};

/// Polls every 20 ms for at most `secs` seconds.
pub fn patience(secs: u64) -> Patience {
    Patience {
        within: Duration::from_secs(secs),
        every: Duration::from_millis(20),
    }
}

/// A phone that reacts with `answer` and plays a 1000 Hz tone once answered.
pub fn phone(answer: Answer) -> PhoneBehaviour {
    PhoneBehaviour {
        answer,
        tone_hz: Some(1000.0),
        ..PhoneBehaviour::default()
    }
}

/// Slack user `user` types `/call {target}` in their DM with the app.
///
/// # Panics
/// When the sandbox cannot deliver the command.
pub async fn slash_call(world: &CallWorld, user: &str, target: &str) {
    world
        .slack
        .state()
        .type_slash_command(user, &format!("/call {target}"))
        .await
        .expect("the slash command is delivered");
}

/// The join URL of the first call card Slack shows, once there is one.
///
/// # Panics
/// When no card appears within 10 s or its URL does not parse.
pub async fn card_join_url(world: &CallWorld) -> url::Url {
    let cards = eventually(
        "a call card",
        patience(10),
        || async { world.slack.state().call_cards() },
        |cards| !cards.is_empty(),
    )
    .await;
    url::Url::parse(&cards[0].call.join_url).expect("the card's join URL")
}

/// The first call the Teams side saw, once there is one within `within`.
///
/// # Panics
/// When no call reaches the Teams side in time.
pub async fn first_phone_call(world: &CallWorld, within: Duration) -> CallRecord {
    let calls = eventually(
        "a call to reach a Teams phone",
        Patience {
            within,
            every: Duration::from_millis(20),
        },
        || async { world.microsoft.state().calls() },
        |calls| !calls.is_empty(),
    )
    .await;
    calls[0].clone()
}

/// Waits until the Teams side's call `call_id` is in `state` (`ringing`, `answered`, `ended`,
/// `cancelled`, …).
///
/// # Panics
/// When it is not within `within`.
pub async fn phone_reaches(world: &CallWorld, call_id: &str, state: &str, within: Duration) {
    eventually(
        &format!("the Teams call to be {state}"),
        Patience {
            within,
            every: Duration::from_millis(20),
        },
        || async { world.microsoft.state().call(call_id).map(|call| call.state) },
        |seen| seen.as_deref() == Some(state),
    )
    .await;
}

/// The first Slack message (in any conversation, ephemeral ones included) whose text contains
/// `text`, once there is one.
///
/// # Panics
/// When none appears within 10 s.
pub async fn slack_message(world: &CallWorld, text: &str) -> ShownMessage {
    let found = eventually(
        &format!("a Slack message saying {text:?}"),
        patience(10),
        || async {
            world
                .slack
                .state()
                .messages(None)
                .into_iter()
                .find(|message| message.text.contains(text))
        },
        Option::is_some,
    )
    .await;
    found.expect("the message")
}

/// Waits for the first CDR, lets a moment pass for a duplicate to show, and returns the only
/// one.
///
/// # Panics
/// When no CDR is written within `within`, or more than one is.
pub async fn the_one_cdr(world: &CallWorld, within: Duration) -> Cdr {
    let read = || async { world.store.store.recent_cdrs(10).await.expect("CDRs") };
    eventually(
        "a CDR",
        Patience {
            within,
            every: Duration::from_millis(20),
        },
        read,
        |cdrs| !cdrs.is_empty(),
    )
    .await;
    // A second CDR for the same call would follow its first within a driver's turn.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cdrs = read().await;
    assert_eq!(cdrs.len(), 1, "exactly one CDR: {cdrs:?}");
    cdrs[0].clone()
}

/// Slack user `user` (demo workspace) has authorised callbridge with their own token `token`
/// (the demo seed's `xoxp-demo-{name}`), so the gateway may read what only they can see,
/// such as their own DND snooze.
///
/// # Panics
/// When the vault cannot store the token.
pub async fn grant_slack_user_token(world: &CallWorld, user: &str, token: &str) {
    use callbridge_adapter::{Secret, TokenSet, TokenVault};
    callbridge::platforms::StoreVault::new(world.store.store.clone())
        .store(
            &callbridge_slack::user_key(crate::world::demo_slack::TEAM, user),
            &TokenSet {
                access_token: Secret::new(token),
                refresh_token: None,
                expires_at: None,
                scopes: Vec::new(),
            },
        )
        .await
        .expect("the user token is stored");
}

/// Waits until `observe` (a dominant frequency) is within 15 Hz of `hz`.
///
/// # Panics
/// When it is not within `within`.
pub async fn hears_tone(what: &str, within: Duration, observe: impl Fn() -> Option<f64>, hz: f64) {
    eventually(
        what,
        Patience {
            within,
            every: Duration::from_millis(20),
        },
        || async { observe() },
        |heard| heard.is_some_and(|heard| (heard - hz).abs() < 15.0),
    )
    .await;
}

/// A connected Slack → Teams call: `caller` (a Slack user) calls `callee` (a Teams address)
/// whose phone answers at once playing 1000 Hz, and joins from the card as a browser playing
/// 440 Hz; returns once the browser hears the phone. Returns the browser and the SIP Call-ID.
///
/// # Panics
/// When any step does not happen in time.
pub async fn connected_call(
    world: &CallWorld,
    caller: &str,
    callee: &str,
) -> (crate::BrowserStandIn, String) {
    world
        .microsoft
        .state()
        .set_phone_behaviour(callee, phone(Answer::AfterSecs { secs: 0.2 }))
        .expect("the callee's phone");
    slash_call(world, caller, callee).await;
    let join_url = card_join_url(world).await;
    let browser = crate::BrowserStandIn::join(&join_url, 440.0)
        .await
        .expect("the caller joins from the card");
    let sip_call = first_phone_call(world, Duration::from_secs(10))
        .await
        .call_id;
    hears_tone(
        "the caller to hear the callee's 1000 Hz",
        Duration::from_secs(15),
        || browser.dominant_frequency(),
        1000.0,
    )
    .await;
    (browser, sip_call)
}
