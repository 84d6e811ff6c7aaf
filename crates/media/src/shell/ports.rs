//! RTP port allocation from a configured range (one port per leg: RTCP is multiplexed).

use std::collections::VecDeque;
use std::ops::RangeInclusive;

use crate::error::{MediaError, Result};

/// Hands out ports from a range, least recently released first (so a port is not reused while
/// stray packets of its previous call may still arrive).
#[derive(Debug, Clone)]
pub struct PortAllocator {
    free: VecDeque<u16>,
    range: RangeInclusive<u16>,
}

impl PortAllocator {
    /// An allocator over `range` (even ports only, by RTP convention).
    pub fn new(range: RangeInclusive<u16>) -> Result<Self> {
        let free: VecDeque<u16> = range.clone().filter(|p| p.is_multiple_of(2)).collect();
        if free.is_empty() {
            return Err(MediaError::Misconfigured(
                "RTP port range has no even port".into(),
            ));
        }
        Ok(Self { free, range })
    }

    /// Takes a free port.
    pub fn allocate(&mut self) -> Result<u16> {
        self.free.pop_front().ok_or(MediaError::PortsExhausted)
    }

    /// Returns a port; ports outside the range or already free are ignored.
    pub fn release(&mut self, port: u16) {
        if self.range.contains(&port) && port.is_multiple_of(2) && !self.free.contains(&port) {
            self.free.push_back(port);
        }
    }

    /// Ports currently free.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_even_ports_until_exhausted_and_reuses_oldest_release_last() {
        let mut a = PortAllocator::new(40_000..=40_005).expect("range");
        assert_eq!(a.available(), 3);
        let p: Vec<u16> = (0..3).map(|_| a.allocate().expect("port")).collect();
        assert_eq!(p, [40_000, 40_002, 40_004]);
        assert!(matches!(a.allocate(), Err(MediaError::PortsExhausted)));
        a.release(40_002);
        a.release(40_002);
        a.release(1);
        assert_eq!(a.available(), 1);
        assert_eq!(a.allocate().expect("port"), 40_002);
        assert!(PortAllocator::new(41..=41).is_err());
    }
}
