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

#[cfg(test)]
mod tests {
    //! The writer against a platform stand-in that records what it is asked to write and can
    //! hold the first write, or refuse writes for now; time is tokio's paused clock.

    use std::sync::atomic::{AtomicU32, Ordering};

    use callbridge_adapter::{
        AdapterHealth, BoxFuture, CommandOutcome, Inbound, InboundRequest, PlatformAdapter,
    };
    use callbridge_model::{Availability, PresenceOrigin, PresenceSource};
    use tokio::sync::Notify;

    use super::*;

    /// Records each write's availability; holds the first until released; refuses the first
    /// `refusals` writes as "not now".
    #[derive(Default)]
    struct Recorder {
        written: Mutex<Vec<Availability>>,
        hold_first: bool,
        release: Notify,
        calls: AtomicU32,
        refusals: u32,
    }

    impl PlatformAdapter for Recorder {
        fn platform(&self) -> Platform {
            Platform::Slack
        }

        fn handle_inbound(
            &self,
            _request: InboundRequest,
        ) -> BoxFuture<'_, Result<Inbound, AdapterError>> {
            Box::pin(async { Err(AdapterError::Bug("no inbound here".to_owned())) })
        }

        fn execute(
            &self,
            command: PlatformCommand,
        ) -> BoxFuture<'_, Result<CommandOutcome, AdapterError>> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst);
                if n == 0 && self.hold_first {
                    self.release.notified().await;
                }
                if n < self.refusals {
                    return Err(AdapterError::PlatformUnavailable {
                        method: "users.profile.set".to_owned(),
                        reason: "rate budget spent".to_owned(),
                        retry_after: Some(Duration::from_secs(3)),
                    });
                }
                let PlatformCommand::SetPresence { presence, .. } = command else {
                    return Err(AdapterError::Bug("only presence writes here".to_owned()));
                };
                self.written
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(presence.availability);
                Ok(CommandOutcome::default())
            })
        }

        fn health(&self) -> AdapterHealth {
            AdapterHealth::healthy(None)
        }
    }

    fn bob() -> UserRef {
        UserRef::Slack {
            team: "T0DEMOTEAM".parse().expect("a team id"),
            user: "U0DEMOBOB1".parse().expect("a user id"),
        }
    }

    fn showing(availability: Availability) -> Presence {
        Presence {
            availability,
            activity: None,
            status_text: None,
            status_emoji: None,
            expires_at: None,
            source: PresenceSource {
                platform: Platform::Slack,
                origin: PresenceOrigin::Callbridge,
                fingerprint: None,
            },
        }
    }

    fn writers(recorder: &Arc<Recorder>) -> (Writers, mpsc::Receiver<PresenceInput>) {
        let (feedback, results) = mpsc::channel(16);
        let adapter: Arc<dyn PlatformAdapter> = recorder.clone();
        let platforms = Platforms::default().with("slack", adapter);
        (Writers::new(platforms, feedback), results)
    }

    async fn result(results: &mut mpsc::Receiver<PresenceInput>) -> bool {
        match results.recv().await {
            Some(PresenceInput::WriteResult { ok, .. }) => ok,
            _ => panic!("a write result"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn writes_to_one_person_go_in_order_and_the_latest_waiting_value_wins() {
        let recorder = Arc::new(Recorder {
            hold_first: true,
            ..Recorder::default()
        });
        let (writers, mut results) = writers(&recorder);
        writers.write(bob(), showing(Availability::Busy));
        tokio::task::yield_now().await;
        writers.write(bob(), showing(Availability::Available));
        writers.write(bob(), showing(Availability::DoNotDisturb));
        recorder.release.notify_one();
        assert!(result(&mut results).await);
        assert!(result(&mut results).await);
        assert_eq!(
            *recorder.written.lock().expect("the record"),
            [Availability::Busy, Availability::DoNotDisturb],
            "the held write first, then only the latest value that waited"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_the_platform_cannot_take_now_is_tried_again() {
        let recorder = Arc::new(Recorder {
            refusals: 2,
            ..Recorder::default()
        });
        let (writers, mut results) = writers(&recorder);
        writers.write(bob(), showing(Availability::Busy));
        assert!(result(&mut results).await, "it lands on the third try");
        assert_eq!(recorder.calls.load(Ordering::SeqCst), 3);
        assert_eq!(
            *recorder.written.lock().expect("the record"),
            [Availability::Busy]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_deferred_write_gives_way_to_a_newer_value() {
        let recorder = Arc::new(Recorder {
            refusals: 1,
            ..Recorder::default()
        });
        let (writers, mut results) = writers(&recorder);
        writers.write(bob(), showing(Availability::Busy));
        tokio::task::yield_now().await;
        writers.write(bob(), showing(Availability::Available));
        assert!(!result(&mut results).await, "the stale value is given up");
        assert!(result(&mut results).await, "the newer value is written");
        assert_eq!(
            *recorder.written.lock().expect("the record"),
            [Availability::Available]
        );
    }
}
