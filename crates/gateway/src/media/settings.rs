//! What the media service is configured with: addresses, the RTP port range, workers, capacity,
//! codecs and the media timeout.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::time::Duration;

use callbridge_media::Codec;
use callbridge_media::shell::admission::CallCost;

/// Settings of the [`super::MediaService`].
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Address put in our SDP and advertised as the browser legs' ICE candidate.
    pub public_ip: IpAddr,
    /// Address the RTP sockets bind to.
    pub bind_ip: IpAddr,
    /// RTP ports (one per leg, RTCP multiplexed; even ports only).
    pub ports: RangeInclusive<u16>,
    /// Media worker threads (normally one per core).
    pub workers: usize,
    /// Share of one core (0–1) each worker may spend on calls before admission refuses more.
    pub max_utilization: f64,
    /// Codecs offered and accepted on SIP legs, in preference order (Direct Routing speaks
    /// G.722, PCMU and PCMA).
    pub codecs_sip: Vec<Codec>,
    /// Codecs accepted from browsers, in preference order: the SIP codecs first, so that the
    /// bridge can pass packets through instead of transcoding.
    pub codecs_browser: Vec<Codec>,
    /// Measured CPU cost of one call per path, for admission.
    pub call_cost: CallCost,
    /// No media from a leg for this long ends the call; `None` keeps the media core's default.
    pub media_timeout: Option<Duration>,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            public_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: 40_000..=49_999,
            workers: 1,
            max_utilization: 0.8,
            codecs_sip: vec![Codec::G722, Codec::Pcmu, Codec::Pcma],
            codecs_browser: vec![Codec::G722, Codec::Opus, Codec::Pcmu, Codec::Pcma],
            call_cost: CallCost::default(),
            media_timeout: None,
        }
    }
}
