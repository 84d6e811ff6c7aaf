//! One call through the whole gateway, as its two people live it: the Slack user types
//! `/call <teams address>`; the card appears; they join from its link with a browser stand-in
//! (offering the run's codecs) that plays 440 Hz; the Teams phone answers after a delay with
//! 1000 Hz; both hear each other until the run says hang up; the browser hangs up and the
//! Teams leg ends. Each step has a deadline; a missed one ends the call as failed with the
//! step's name.

use std::future::Future;
use std::time::{Duration, Instant};

use callbridge_media::codec::Codec;
use callbridge_sandbox::slack::SlackState;
use callbridge_testkit::BrowserStandIn;
use tokio::sync::oneshot;

use super::book::{Book, PhoneCall};
use super::seeds::Pair;

/// What the phone plays and the browser must hear, and the other way round.
pub(crate) const PHONE_HZ: f64 = 1000.0;
const BROWSER_HZ: f64 = 440.0;
/// How far a heard tone may be from the one played.
const TONE_TOLERANCE_HZ: f64 = 20.0;
/// How often a call's task looks at the book or the stand-in.
const LOOK: Duration = Duration::from_millis(1);

/// What one call measured and how it went.
#[derive(Debug, Default)]
pub(crate) struct CallResult {
    /// Command sent → the INVITE's record at the Teams proxy.
    pub(crate) command_to_invite: Option<Duration>,
    /// Phone answered (audio starting) → first bridged audio packet decoded by the browser.
    pub(crate) answer_to_audio: Option<Duration>,
    /// The browser's ICE and DTLS completed only after the phone answered, so the figure above
    /// includes them (the gateway opens the browser leg's media once the callee answers).
    pub(crate) joined_after_answer: bool,
    /// The browser's ICE and DTLS completed and the phone answered.
    pub(crate) connected: bool,
    /// The browser heard the phone's tone and the phone heard the browser's.
    pub(crate) heard_both_ways: bool,
    /// The codec the browser leg settled on.
    pub(crate) browser_codec: Option<Codec>,
    /// The step that failed, and why.
    pub(crate) failure: Option<String>,
}

/// Runs one call; `bridged` is told once audio crosses (or the call failed before), and the
/// call lasts until `release` resolves.
pub(crate) async fn run(
    pair: Pair,
    codecs: Vec<Codec>,
    slack: SlackState,
    book: Book,
    bridged: oneshot::Sender<()>,
    release: impl Future<Output = ()>,
) -> CallResult {
    let mut result = CallResult::default();
    let mut bridged = Some(bridged);
    let outcome = steps(
        &pair,
        &codecs,
        &slack,
        &book,
        &mut result,
        &mut bridged,
        release,
    )
    .await;
    if let Err(failure) = outcome {
        result.failure = Some(failure);
    }
    // A call that failed before its audio crossed has settled too: the run stops waiting.
    if let Some(bridged) = bridged {
        let _ = bridged.send(());
    }
    result
}

async fn steps(
    pair: &Pair,
    codecs: &[Codec],
    slack: &SlackState,
    book: &Book,
    result: &mut CallResult,
    bridged: &mut Option<oneshot::Sender<()>>,
    release: impl Future<Output = ()>,
) -> Result<(), String> {
    let commanded = Instant::now();
    slack
        .type_slash_command(&pair.slack_user, &format!("/call {}", pair.teams_upn))
        .await
        .map_err(|e| format!("slash command: {e}"))?;
    let invited = until("the INVITE", secs(10), || {
        book.phone(&pair.teams_id).map(|c| c.invited)
    })
    .await?;
    result.command_to_invite = Some(invited.saturating_duration_since(commanded));

    let join_url = until("the call card", secs(10), || book.card(&pair.slack_user))
        .await
        .map_err(|e| {
            // Tells a card never posted apart from a call never registered with Slack.
            let registered = slack
                .calls()
                .iter()
                .filter(|c| c.created_by == pair.slack_user)
                .count();
            let told = slack
                .messages(None)
                .into_iter()
                .rfind(|m| m.ephemeral_to.as_deref() == Some(pair.slack_user.as_str()))
                .map_or(String::new(), |m| format!("; last told {:?}", m.text));
            format!("{e} ({registered} calls.add by this caller{told})")
        })?;
    let join_url = url::Url::parse(&join_url).map_err(|e| format!("join URL: {e}"))?;
    let browser = BrowserStandIn::join_with_codecs(&join_url, BROWSER_HZ, codecs)
        .await
        .map_err(|e| format!("browser join: {e}"))?;
    result.browser_codec = Some(browser.codec());
    let joined = until("the browser to connect", secs(10), || {
        browser.is_connected().then(Instant::now)
    })
    .await?;
    let phone = until("the phone to answer", secs(15), || {
        book.phone(&pair.teams_id).filter(|c| c.answered.is_some())
    })
    .await?;
    let answered = phone.answered.unwrap_or(joined);
    result.connected = true;
    let first_audio = until("bridged audio at the browser", secs(10), || {
        browser.first_heard_at()
    })
    .await?;
    result.joined_after_answer = joined > answered;
    result.answer_to_audio = first_audio.checked_duration_since(answered);
    if let Some(bridged) = bridged.take() {
        let _ = bridged.send(());
    }

    release.await;
    result.heard_both_ways = heard_both_ways(&browser, &phone);
    browser
        .hang_up()
        .await
        .map_err(|e| format!("browser hang-up: {e}"))?;
    until("the Teams leg to end", secs(10), || {
        book.phone(&pair.teams_id).and_then(|c| c.ended)
    })
    .await?;
    Ok(())
}

/// Whether each side's last audio is the other's tone.
fn heard_both_ways(browser: &BrowserStandIn, phone: &PhoneCall) -> bool {
    let near =
        |heard: Option<f64>, hz: f64| heard.is_some_and(|h| (h - hz).abs() < TONE_TOLERANCE_HZ);
    let phone_heard = phone
        .media
        .as_ref()
        .map(|m| m.report().dominant_frequency());
    near(browser.dominant_frequency(), PHONE_HZ) && near(phone_heard.flatten(), BROWSER_HZ)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Looks every [`LOOK`] until `observe` gives something, for at most `within`.
async fn until<T>(
    what: &str,
    within: Duration,
    mut observe: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(seen) = observe() {
            return Ok(seen);
        }
        if Instant::now() >= deadline {
            return Err(format!("no {what} within {} s", within.as_secs()));
        }
        tokio::time::sleep(LOOK).await;
    }
}
