//! Waiting for something that happens on another task (an event loop, a sandbox delivering a
//! request) without guessing a sleep: poll a check until it holds or patience runs out, then
//! fail with the last observation.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

/// How long and how often [`eventually`] polls.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    /// Longest total wait.
    pub within: Duration,
    /// Pause between polls.
    pub every: Duration,
}

impl Default for Patience {
    /// Generous for a loaded 2-core machine, quick when things work.
    fn default() -> Self {
        Self {
            within: Duration::from_secs(10),
            every: Duration::from_millis(10),
        }
    }
}

/// Polls `observe` until `holds` accepts what it returned, and returns that value. Panics with
/// `what` and the last observation when `patience` runs out.
pub async fn eventually<T, F, Fut>(
    what: &str,
    patience: Patience,
    mut observe: F,
    holds: impl Fn(&T) -> bool,
) -> T
where
    T: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + patience.within;
    loop {
        let observed = observe().await;
        if holds(&observed) {
            return observed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {:?}; last observed {observed:?}",
            patience.within
        );
        tokio::time::sleep(patience.every).await;
    }
}
