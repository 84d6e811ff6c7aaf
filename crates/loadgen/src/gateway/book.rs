//! What the sandboxes saw, and when: one task reads the Microsoft sandbox's call log every
//! millisecond (the SIP proxy's record of each INVITE, and its state turning `answered` once
//! the 200 is acknowledged and the phone's audio starts) and the Slack sandbox's call cards
//! every few milliseconds, and stamps each change with the time it first saw it. The calls'
//! own tasks read the book instead of each polling the sandboxes. The sandboxes keep no times
//! of their own, so the stamps are late by at most one poll period (plus the read itself).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use callbridge_sandbox::microsoft::{MediaHandle, MicrosoftState};
use callbridge_sandbox::slack::SlackState;
use tokio::sync::watch;

/// How often the Microsoft sandbox's call log is read.
pub(crate) const CALL_POLL: Duration = Duration::from_millis(1);
/// How often the Slack sandbox's call cards are read (a card only starts the browser's join,
/// which is not timed).
const CARD_POLL: Duration = Duration::from_millis(5);

/// One Teams call as the proxy recorded it.
#[derive(Clone)]
pub(crate) struct PhoneCall {
    /// SIP Call-ID.
    pub(crate) call_id: String,
    /// When the INVITE's record first showed.
    pub(crate) invited: Instant,
    /// When the call first showed `answered`.
    pub(crate) answered: Option<Instant>,
    /// When it first showed `ended` (or a failure).
    pub(crate) ended: Option<Instant>,
    /// The phone's audio stream once answered.
    pub(crate) media: Option<MediaHandle>,
    /// The last state seen.
    pub(crate) state: String,
}

#[derive(Default)]
struct Pages {
    /// By Teams object id.
    phones: HashMap<String, PhoneCall>,
    /// Join URL by Slack user id.
    cards: HashMap<String, String>,
}

/// The shared book.
#[derive(Clone, Default)]
pub(crate) struct Book(Arc<Mutex<Pages>>);

impl Book {
    fn pages(&self) -> MutexGuard<'_, Pages> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The Teams user's call, once the proxy has recorded one.
    pub(crate) fn phone(&self, teams_id: &str) -> Option<PhoneCall> {
        self.pages().phones.get(teams_id).cloned()
    }

    /// The join URL of the call card a Slack user's command produced.
    pub(crate) fn card(&self, slack_user: &str) -> Option<String> {
        self.pages().cards.get(slack_user).cloned()
    }

    /// Reads both sandboxes until `stop` turns true.
    pub(crate) async fn keep(
        self,
        microsoft: MicrosoftState,
        slack: SlackState,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(CALL_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_cards = Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let now = Instant::now();
            self.read_calls(&microsoft, now);
            if now.duration_since(last_cards) >= CARD_POLL {
                last_cards = now;
                self.read_cards(&slack);
            }
        }
    }

    fn read_calls(&self, microsoft: &MicrosoftState, now: Instant) {
        let calls = microsoft.calls();
        let mut pages = self.pages();
        for call in calls {
            let seen = pages
                .phones
                .entry(call.user_id.clone())
                .or_insert_with(|| PhoneCall {
                    call_id: call.call_id.clone(),
                    invited: now,
                    answered: None,
                    ended: None,
                    media: None,
                    state: String::new(),
                });
            if seen.call_id != call.call_id {
                continue; // An older call of the same user (the warm-up's callee is not reused).
            }
            if call.state == "answered" && seen.answered.is_none() {
                seen.answered = Some(now);
                seen.media = call.media.clone();
            }
            let over = !matches!(call.state.as_str(), "ringing" | "answered" | "held");
            if over && seen.ended.is_none() {
                seen.ended = Some(now);
            }
            seen.state = call.state;
        }
    }

    fn read_cards(&self, slack: &SlackState) {
        let cards = slack.call_cards();
        let mut pages = self.pages();
        for card in cards {
            pages
                .cards
                .entry(card.call.created_by.clone())
                .or_insert(card.call.join_url);
        }
    }
}
