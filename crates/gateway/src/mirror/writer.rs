//! The mirror's writes to the platforms: one at a time per person, the latest value winning.
//!
//! A write can wait on the platform's budget (Slack allows ten profile writes a minute per
//! person) and then fail for want of it. Were writes to one person sent side by side, a write
//! held up by the budget could land after a later one — a call's "on a call" after the
//! status that followed the call — and stay. So each person has one writer: a value asked for
//! while a write is out replaces any value still waiting, and goes once the write before it has
//! finished. A write the platform could not take for now is tried again, after the wait the
//! platform or the budget names, unless a newer value has come meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use callbridge_adapter::{AdapterError, PlatformAdapter};
use callbridge_engine::presence::PresenceInput;
use callbridge_model::{Platform, PlatformCommand, Presence, UserRef};
use tokio::sync::mpsc;

use crate::platforms::Platforms;

/// Tries of one value the platform could not take for now, before the mirror is told it failed.
const TRIES: u32 = 4;
/// The wait before another try when the platform names none.
const DEFAULT_WAIT: Duration = Duration::from_secs(6);
/// The longest wait before another try, whatever the platform names.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// The writers of every person being written to.
#[derive(Clone)]
pub(super) struct Writers {
    /// Per person with a write out: the value waiting to go after it, if any.
    waiting: Arc<Mutex<HashMap<UserRef, Option<Presence>>>>,
    platforms: Platforms,
    feedback: mpsc::Sender<PresenceInput>,
}

impl Writers {
    pub(super) fn new(platforms: Platforms, feedback: mpsc::Sender<PresenceInput>) -> Self {
        Self {
            waiting: Arc::default(),
            platforms,
            feedback,
        }
    }

    /// Writes `presence` to `target` once the write out for them, if any, has finished.
    pub(super) fn write(&self, target: UserRef, presence: Presence) {
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(next) = waiting.get_mut(&target) {
                *next = Some(presence);
                return;
            }
            waiting.insert(target.clone(), None);
        }
        let writers = self.clone();
        tokio::spawn(async move { writers.run(target, presence).await });
    }

    /// Writes `first`, then whatever value came meanwhile, until none is waiting.
    async fn run(self, target: UserRef, first: Presence) {
        let mut value = first;
        loop {
            let ok = self.write_one(&target, value).await;
            let _ = self
                .feedback
                .send(PresenceInput::WriteResult {
                    target: target.clone(),
                    ok,
                })
                .await;
            match self.take_waiting(&target) {
                Some(next) => value = next,
                None => return,
            }
        }
    }

    /// The value waiting for `target`; when there is none, `target` has no writer any more.
    fn take_waiting(&self, target: &UserRef) -> Option<Presence> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let next = waiting.get_mut(target).and_then(Option::take);
        if next.is_none() {
            waiting.remove(target);
        }
        next
    }

    /// Whether a newer value for `target` is waiting.
    fn superseded(&self, target: &UserRef) -> bool {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(target)
            .is_some_and(Option::is_some)
    }

    /// One value, tried again while the platform cannot take it for now and nothing newer
    /// waits. Whether the platform took it.
    async fn write_one(&self, target: &UserRef, presence: Presence) -> bool {
        let platform: Platform = target.platform();
        let Some(adapter) = self.platforms.for_platform(platform).cloned() else {
            return false;
        };
        for attempt in 1..=TRIES {
            let outcome = execute(adapter.as_ref(), target, presence.clone()).await;
            let ok = outcome.is_ok();
            metrics::counter!(
                "callbridge_presence_writes_total",
                "platform" => platform.as_str(),
                "ok" => if ok { "true" } else { "false" },
            )
            .increment(1);
            let wait = match outcome {
                Ok(()) => return true,
                Err(AdapterError::PlatformUnavailable { retry_after, .. }) if attempt < TRIES => {
                    retry_after.unwrap_or(DEFAULT_WAIT).min(LONGEST_WAIT)
                }
                Err(error) => {
                    tracing::warn!(%error, platform = platform.as_str(), "presence write failed");
                    return false;
                }
            };
            tracing::debug!(
                platform = platform.as_str(),
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "presence write deferred"
            );
            tokio::time::sleep(wait).await;
            if self.superseded(target) {
                // The newer value goes next; this one is no longer what the person should show.
                return false;
            }
        }
        false
    }
}

async fn execute(
    adapter: &dyn PlatformAdapter,
    target: &UserRef,
    presence: Presence,
) -> Result<(), AdapterError> {
    let command = PlatformCommand::SetPresence {
        user: target.clone(),
        presence,
    };
    adapter.execute(command).await.map(drop)
}
