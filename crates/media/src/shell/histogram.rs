//! A fixed-size latency histogram the worker fills on its hot path without allocating.

use std::time::Duration;

/// Latencies in 1 µs buckets up to 100 ms (beyond the 30 ms a transcoded frame may add); the
/// last bucket collects everything longer.
#[derive(Debug, Clone)]
pub(crate) struct LatencyHistogram {
    buckets: Box<[u64]>,
    count: u64,
}

impl LatencyHistogram {
    const BUCKETS: usize = 100_001;

    pub(crate) fn new() -> Self {
        Self {
            buckets: vec![0; Self::BUCKETS].into_boxed_slice(),
            count: 0,
        }
    }

    /// Records `n` samples of `d`.
    pub(crate) fn record(&mut self, d: Duration, n: u64) {
        let us = usize::try_from(d.as_micros())
            .unwrap_or(usize::MAX)
            .min(Self::BUCKETS - 1);
        self.buckets[us] += n;
        self.count += n;
    }

    /// The smallest bucket at or below which a fraction `p` of the samples fall; zero when empty.
    pub(crate) fn percentile(&self, p: f64) -> Duration {
        let target = ((self.count as f64 * p).ceil() as u64).max(1);
        let mut seen = 0;
        for (us, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return Duration::from_micros(us as u64);
            }
        }
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_recorded_samples() {
        let mut h = LatencyHistogram::new();
        assert_eq!(h.percentile(0.99), Duration::ZERO, "empty");
        h.record(Duration::from_micros(10), 98);
        h.record(Duration::from_micros(500), 1);
        h.record(Duration::from_secs(1), 1);
        assert_eq!(h.percentile(0.5), Duration::from_micros(10));
        assert_eq!(h.percentile(0.99), Duration::from_micros(500));
        assert_eq!(h.percentile(1.0), Duration::from_millis(100), "capped");
    }
}
