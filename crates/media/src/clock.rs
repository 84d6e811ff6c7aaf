//! Mapping the caller's monotonic `Instant`s to NTP wall-clock time for RTCP sender reports.

use std::time::{Duration, Instant};

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// One reading of both clocks, taken by the shell; the core only ever adds offsets to it.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    /// The monotonic instant of the reading.
    pub at: Instant,
    /// Time since the Unix epoch at that instant.
    pub unix: Duration,
}

impl WallClock {
    /// The 64-bit NTP timestamp (32.32 fixed point) at `now`.
    pub fn ntp(&self, now: Instant) -> u64 {
        let t = self.unix + now.saturating_duration_since(self.at);
        let secs = t.as_secs() + NTP_UNIX_OFFSET;
        let frac = (u64::from(t.subsec_nanos()) << 32) / 1_000_000_000;
        (secs << 32) | frac
    }
}

/// The middle 32 bits of an NTP timestamp (the "compact" form used by LSR/DLSR).
pub fn ntp_mid(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A duration in the compact NTP unit (1/65536 s), saturating.
pub fn to_compact(d: Duration) -> u32 {
    u32::try_from(d.as_micros() * 65_536 / 1_000_000).unwrap_or(u32::MAX)
}

/// A compact NTP quantity as a duration.
pub fn from_compact(v: u32) -> Duration {
    Duration::from_micros(u64::from(v) * 1_000_000 / 65_536)
}
