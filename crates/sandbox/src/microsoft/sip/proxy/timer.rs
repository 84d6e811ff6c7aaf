//! Call timers in sandbox time: how long a phone rings, when it answers, holds or hangs up.
//! They follow the `SandboxClock`, so a test that freezes the clock and advances it by 30 s
//! sees a ring timeout at once instead of waiting for it. (SIP retransmission timers stay on
//! the wall clock: they belong to the network, not to the people.)

use std::time::Duration;

use crate::control::SandboxClock;

/// How often a waiting timer looks at the clock: coarse enough to cost nothing, fine enough
/// that an `advance` is noticed within a frame of audio.
const POLL: Duration = Duration::from_millis(10);

/// Waits until `wait` of sandbox time has passed (never, while frozen and not advanced).
pub(crate) async fn sleep(clock: &SandboxClock, wait: Duration) {
    let Some(deadline) = clock.now().checked_add(wait) else {
        return std::future::pending().await;
    };
    loop {
        match deadline.duration_since(clock.now()) {
            Ok(left) if !left.is_zero() => tokio::time::sleep(left.min(POLL)).await,
            _ => return,
        }
    }
}

/// Seconds from a phone behaviour as a duration: negative means now, too large means never
/// (the behaviour is input, so no value may panic here).
pub(crate) fn secs(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
}
