//! Per-method rate budgets, kept per budget key (a workspace, a tenant, a user), so callbridge
//! stays inside a platform's published limits instead of discovering them through 429s. Slack
//! counts per method, per workspace, per app over a minute (`slack-api.md` §13); Graph per app
//! and tenant. The buckets are governor's GCRA limiters, on a clock that follows tokio's time so
//! tests can pause and advance it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// governor's clock over `tokio::time::Instant`: real monotonic time in production, virtual
/// time under `tokio::time::pause`.
#[derive(Clone, Debug)]
pub(super) struct TokioClock {
    start: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.start)
    }
}

type KeyedLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, TokioClock, NoOpMiddleware<Duration>>;

/// One budget: a per-minute allowance, with bursts of up to a sixth of it.
#[derive(Debug)]
struct Budget {
    limiter: KeyedLimiter,
    clock: TokioClock,
}

/// What the budget says about a call now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// Go ahead; the call has been counted.
    Go,
    /// Not before this long from now.
    Wait(Duration),
}

/// The budgets of one client, by method. Cloning shares the buckets.
#[derive(Clone, Debug, Default)]
pub(super) struct Budgets {
    by_method: HashMap<&'static str, Arc<Budget>>,
}

impl Budgets {
    /// Sets `method`'s budget to `per_minute` calls per budget key (zero is treated as one: a
    /// budget of nothing would block the method for ever).
    ///
    /// The burst is ten seconds' worth: a full minute's allowance at once would let a caller
    /// spend up to twice the platform's per-minute count within one sliding minute (the
    /// sandbox and Slack count over a sliding window), and be throttled for it.
    pub(super) fn set(&mut self, method: &'static str, per_minute: u32) {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(per_minute.get().div_ceil(6)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        let clock = TokioClock::default();
        let limiter = RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone());
        self.by_method
            .insert(method, Arc::new(Budget { limiter, clock }));
    }

    /// Whether a call to `method` for `key` may go now; counts it if so. A method without a
    /// budget always may.
    pub(super) fn admit(&self, method: &str, key: &str) -> Admission {
        let Some(budget) = self.by_method.get(method) else {
            return Admission::Go;
        };
        // governor takes the key by reference to the map's key type.
        match budget.limiter.check_key(&key.to_owned()) {
            Ok(()) => Admission::Go,
            Err(not_until) => Admission::Wait(not_until.wait_time_from(budget.clock.now())),
        }
    }

    /// Forgets keys whose buckets are full again, so the maps do not grow with every workspace
    /// ever seen.
    pub(super) fn shrink(&self) {
        for budget in self.by_method.values() {
            budget.limiter.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbudgeted_methods_always_go() {
        let budgets = Budgets::default();
        for _ in 0..1000 {
            assert_eq!(budgets.admit("auth.test", "T1"), Admission::Go);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_steady_rate_per_key() {
        let mut budgets = Budgets::default();
        budgets.set("users.profile.set", 60); // one a second, bursts of ten
        for _ in 0..10 {
            assert_eq!(budgets.admit("users.profile.set", "T1"), Admission::Go);
        }
        let Admission::Wait(wait) = budgets.admit("users.profile.set", "T1") else {
            panic!("the eleventh call in a burst must wait");
        };
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        // Another workspace has its own bucket; another method is not budgeted.
        assert_eq!(budgets.admit("users.profile.set", "T2"), Admission::Go);
        assert_eq!(budgets.admit("users.info", "T1"), Admission::Go);

        tokio::time::advance(wait).await;
        assert_eq!(budgets.admit("users.profile.set", "T1"), Admission::Go);
        assert!(matches!(
            budgets.admit("users.profile.set", "T1"),
            Admission::Wait(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn one_per_minute_waits_a_minute() {
        let mut budgets = Budgets::default();
        budgets.set("apps.uninstall", 1);
        assert_eq!(budgets.admit("apps.uninstall", "T1"), Admission::Go);
        let Admission::Wait(wait) = budgets.admit("apps.uninstall", "T1") else {
            panic!("a tier-1 method allows one call a minute");
        };
        assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(60)).await;
        budgets.shrink();
        assert_eq!(budgets.admit("apps.uninstall", "T1"), Admission::Go);
    }
}
