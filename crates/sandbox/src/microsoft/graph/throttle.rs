//! Per-tenant, per-app presence budgets: 1500 requests per 30 s (§3.2, §6).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

/// The sliding window all presence budgets use.
const WINDOW_SECS: i64 = 30;

/// Request timestamps per (tenant, app).
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    windows: HashMap<(String, String), VecDeque<DateTime<Utc>>>,
}

impl Throttle {
    /// Counts one presence request; `Err(seconds to wait)` once the budget is spent.
    pub(crate) fn admit(
        &mut self,
        tenant: &str,
        app: &str,
        now: DateTime<Utc>,
        budget: u32,
    ) -> Result<(), f64> {
        let window = self
            .windows
            .entry((tenant.to_owned(), app.to_owned()))
            .or_default();
        let horizon = now - Duration::seconds(WINDOW_SECS);
        while window.front().is_some_and(|t| *t <= horizon) {
            window.pop_front();
        }
        if window.len() >= budget as usize {
            let oldest = window.front().copied().unwrap_or(now);
            let wait = (oldest + Duration::seconds(WINDOW_SECS) - now).num_milliseconds();
            return Err((wait.max(1) as f64) / 1000.0);
        }
        window.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refills_after_the_window() {
        let mut throttle = Throttle::default();
        let t0 = Utc::now();
        for _ in 0..3 {
            assert!(throttle.admit("t", "a", t0, 3).is_ok());
        }
        let wait = throttle
            .admit("t", "a", t0 + Duration::seconds(10), 3)
            .unwrap_err();
        assert!((wait - 20.0).abs() < 0.01, "{wait}");
        assert!(throttle.admit("t", "other-app", t0, 3).is_ok());
        assert!(
            throttle
                .admit("t", "a", t0 + Duration::seconds(30), 3)
                .is_ok()
        );
    }
}
