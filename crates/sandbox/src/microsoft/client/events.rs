//! Live updates: a cheap fingerprint of everything a user's view shows, checked every 250 ms
//! per open page and pushed as a Server-Sent Event when it changes; the page then re-fetches
//! `/view`. Each stream ends after a while (the browser reconnects on its own) so an open tab
//! never holds up a sandbox shutdown for long.

use std::collections::hash_map::DefaultHasher;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::time::Instant;

use super::book::ClientBook;
use crate::microsoft::state::MicrosoftState;

const POLL: Duration = Duration::from_millis(250);
const KEEP_ALIVE: Duration = Duration::from_secs(15);
const LIFETIME: Duration = Duration::from_secs(30);

/// A hash of what `user_id`'s view shows, except the running call clock (the page ticks that).
pub(super) fn fingerprint(state: &MicrosoftState, book: &ClientBook, user_id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    if let Ok(shown) = state.presence_of(user_id) {
        (shown.availability, shown.activity, shown.status_message).hash(&mut hasher);
    }
    for message in state.bot_messages(user_id).unwrap_or_default() {
        (&message.activity_id, message.deleted).hash(&mut hasher);
        message.activity.to_string().hash(&mut hasher);
    }
    for call in state.calls().iter().filter(|c| c.user_id == user_id) {
        (&call.call_id, &call.state).hash(&mut hasher);
    }
    book.version(user_id).hash(&mut hasher);
    state
        .phone_behaviour(user_id)
        .echo
        .is_some_and(|e| e.prompt_first)
        .hash(&mut hasher);
    hasher.finish()
}

/// The event stream for one open page; `since` is the fingerprint the page was rendered with.
pub(super) fn stream(
    state: MicrosoftState,
    book: Arc<ClientBook>,
    user_id: String,
    since: Option<u64>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ends = Instant::now() + LIFETIME;
    let events = futures::stream::unfold(since, move |last| {
        let (state, book, user_id) = (state.clone(), book.clone(), user_id.clone());
        async move {
            loop {
                if Instant::now() >= ends {
                    return None;
                }
                let now = fingerprint(&state, &book, &user_id);
                if last != Some(now) {
                    let event = Event::default()
                        .event("change")
                        .data(now.to_string())
                        .retry(Duration::from_secs(1));
                    return Some((Ok(event), Some(now)));
                }
                tokio::time::sleep(POLL).await;
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
