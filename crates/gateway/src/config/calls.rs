//! `[calls]`: ringing, call length, how long media may stop, and where call media is relayed.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// `[calls]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCalls {
    #[serde(default, with = "humantime_serde")]
    ring_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    max_duration: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    media_timeout: Option<Duration>,
    #[serde(default)]
    media_public_ip: Option<IpAddr>,
    #[serde(default)]
    media_bind_ip: Option<IpAddr>,
    /// `first-last`, e.g. `40000-49999`.
    #[serde(default)]
    media_ports: Option<String>,
    #[serde(default)]
    media_workers: Option<usize>,
}

/// Validated `[calls]`.
#[derive(Clone, Debug)]
pub struct CallSettings {
    /// How long a callee rings before the call ends unanswered.
    pub ring_timeout: Duration,
    /// The longest a connected call may last.
    pub max_duration: Duration,
    /// No media from a leg of a connected call for this long ends the call (`media_timeout`).
    pub media_timeout: Duration,
    /// The address put in SDP: where Teams and browsers send media.
    pub media_public_ip: IpAddr,
    /// The address media sockets bind to.
    pub media_bind_ip: IpAddr,
    /// The UDP ports media uses.
    pub media_ports: RangeInclusive<u16>,
    /// Media worker threads.
    pub media_workers: usize,
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            ring_timeout: Duration::from_secs(45),
            max_duration: Duration::from_secs(4 * 3600),
            media_timeout: Duration::from_secs(30),
            media_public_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            media_bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            media_ports: 40_000..=49_999,
            media_workers: 1,
        }
    }
}

pub(crate) fn calls(raw: RawCalls) -> Result<CallSettings, ConfigError> {
    let defaults = CallSettings::default();
    let ring_timeout = raw.ring_timeout.unwrap_or(defaults.ring_timeout);
    if !(Duration::from_secs(5)..=Duration::from_secs(300)).contains(&ring_timeout) {
        return Err(ConfigError::invalid(
            "calls.ring_timeout",
            "must be between 5s and 5m",
        ));
    }
    let max_duration = raw.max_duration.unwrap_or(defaults.max_duration);
    // The floor only has to keep a call answerable; a deployment may cap calls hard.
    if !(Duration::from_secs(10)..=Duration::from_secs(24 * 3600)).contains(&max_duration) {
        return Err(ConfigError::invalid(
            "calls.max_duration",
            "must be between 10s and 24h",
        ));
    }
    let media_timeout = raw.media_timeout.unwrap_or(defaults.media_timeout);
    // Below a second, ordinary network jitter would end calls; past five minutes a dead call
    // holds its ports and capacity for too long.
    if !(Duration::from_secs(1)..=Duration::from_secs(300)).contains(&media_timeout) {
        return Err(ConfigError::invalid(
            "calls.media_timeout",
            "must be between 1s and 5m",
        ));
    }
    let media_ports = match raw.media_ports {
        Some(text) => ports(&text)?,
        None => defaults.media_ports,
    };
    let media_workers = raw.media_workers.unwrap_or(defaults.media_workers);
    if !(1..=256).contains(&media_workers) {
        return Err(ConfigError::invalid(
            "calls.media_workers",
            "must be between 1 and 256",
        ));
    }
    let media_public_ip = raw.media_public_ip.unwrap_or(defaults.media_public_ip);
    Ok(CallSettings {
        ring_timeout,
        max_duration,
        media_timeout,
        media_public_ip,
        media_bind_ip: raw.media_bind_ip.unwrap_or(media_public_ip),
        media_ports,
        media_workers,
    })
}

fn ports(text: &str) -> Result<RangeInclusive<u16>, ConfigError> {
    let invalid = || {
        ConfigError::invalid(
            "calls.media_ports",
            "must be first-last, e.g. 40000-49999, with at least 16 ports above 1023",
        )
    };
    let (first, last) = text.split_once('-').ok_or_else(invalid)?;
    let first: u16 = first.trim().parse().map_err(|_| invalid())?;
    let last: u16 = last.trim().parse().map_err(|_| invalid())?;
    if first < 1024 || last < first || last - first < 15 {
        return Err(invalid());
    }
    Ok(first..=last)
}
