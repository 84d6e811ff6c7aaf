//! Admission control: a worker accepts calls while their measured CPU cost fits its budget;
//! the next call is refused with a reason instead of degrading the calls already running.

use crate::bridge::Path;
use crate::error::{MediaError, Result};

/// Measured CPU cost of one call, in microseconds of worker CPU per second of call.
///
/// Defaults come from `crates/media/BENCHMARKS.md` (loadgen, 2-core VM) with headroom; set them
/// from your own measurement on the target machine.
#[derive(Debug, Clone, Copy)]
pub struct CallCost {
    /// A passthrough SRTP↔SRTP call.
    pub passthrough_us_per_s: u32,
    /// A transcoded Opus↔G.722/G.711 call at the configured Opus complexity.
    pub transcode_us_per_s: u32,
}

impl Default for CallCost {
    fn default() -> Self {
        Self {
            passthrough_us_per_s: 1_400,
            transcode_us_per_s: 17_000,
        }
    }
}

/// A worker's admission state.
#[derive(Debug, Clone)]
pub struct Admission {
    cost: CallCost,
    /// CPU budget of the worker in µs per second (1 000 000 = one full core).
    budget_us_per_s: u64,
    used_us_per_s: u64,
}

impl Admission {
    /// A budget of `max_utilization` (0–1) of one core.
    pub fn new(cost: CallCost, max_utilization: f64) -> Self {
        Self {
            cost,
            budget_us_per_s: (1_000_000.0 * max_utilization.clamp(0.0, 1.0)) as u64,
            used_us_per_s: 0,
        }
    }

    fn cost_of(&self, path: Path) -> u64 {
        u64::from(match path {
            Path::Passthrough => self.cost.passthrough_us_per_s,
            Path::Transcode => self.cost.transcode_us_per_s,
        })
    }

    /// Reserves capacity for a call on `path`, or refuses it with the reason.
    pub fn admit(&mut self, path: Path) -> Result<()> {
        let cost = self.cost_of(path);
        if self.used_us_per_s + cost > self.budget_us_per_s {
            return Err(MediaError::AtCapacity(format!(
                "{path:?} call needs {cost} us/s; {} of {} us/s in use",
                self.used_us_per_s, self.budget_us_per_s
            )));
        }
        self.used_us_per_s += cost;
        Ok(())
    }

    /// Returns a finished call's capacity.
    pub fn release(&mut self, path: Path) {
        self.used_us_per_s = self.used_us_per_s.saturating_sub(self.cost_of(path));
    }

    /// How many more calls on `path` fit.
    pub fn headroom(&self, path: Path) -> u64 {
        (self.budget_us_per_s - self.used_us_per_s.min(self.budget_us_per_s))
            / self.cost_of(path).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_call_that_does_not_fit_and_admits_after_release() {
        let cost = CallCost {
            passthrough_us_per_s: 100_000,
            transcode_us_per_s: 300_000,
        };
        let mut a = Admission::new(cost, 0.8);
        assert_eq!(a.headroom(Path::Transcode), 2);
        a.admit(Path::Transcode).expect("first");
        a.admit(Path::Transcode).expect("second");
        let refused = a.admit(Path::Transcode);
        assert!(
            matches!(refused, Err(MediaError::AtCapacity(ref why)) if why.contains("600000 of 800000"))
        );
        a.admit(Path::Passthrough).expect("a cheap call still fits");
        a.admit(Path::Passthrough).expect("and another");
        assert!(a.admit(Path::Passthrough).is_err());
        a.release(Path::Transcode);
        a.admit(Path::Transcode).expect("fits again");
    }
}
