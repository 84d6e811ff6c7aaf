//! SDP offer/answer for the SIP/RTP leg (RFC 3264), on top of `rtc-sdp`.
//!
//! One audio m-line. We offer `RTP/SAVP` with SDES keys (both `_80` and `_32`) or `RTP/AVP`,
//! our codecs in preference order, `telephone-event`, CN 13, `a=rtcp-mux` and `a=ptime`.
//! Negotiation picks the first codec in the *offerer's* order that we support (RFC 3264 §6.1).
//! The SSRCs the peer declares (`a=ssrc`, [`remote_ssrcs`]) feed the SIP leg's source checks.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use rtc_sdp::description::common::{Address, Attribute, ConnectionInformation};
use rtc_sdp::description::media::{MediaDescription, MediaName, RangedPort};
use rtc_sdp::description::session::{Origin, SessionDescription, TimeDescription, Timing};

use crate::codec::{CN_PAYLOAD_TYPE, Codec};
use crate::error::{MediaError, Result};
use crate::srtp::{CryptoAttribute, SrtpSuite};

/// Media direction of an m-line (RFC 3264 §5.1), from the point of view of its author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Send and receive.
    #[default]
    SendRecv,
    /// Send only (the author puts the other side on hold).
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither (hold in both directions).
    Inactive,
}

impl Direction {
    const fn attribute(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction seen from the other side of the line.
    pub const fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            other => other,
        }
    }

    /// Whether the author of this direction may send.
    pub const fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the author of this direction expects to receive.
    pub const fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    /// The answer direction compatible with an offered one, capped by our own wish.
    const fn answer_to(offered: Self, wish: Self) -> Self {
        let send = offered.receives() && wish.sends();
        let recv = offered.sends() && wish.receives();
        match (send, recv) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }
}

/// What we put into an offer or answer.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    /// Address advertised in `c=` (the public address of the media worker).
    pub address: IpAddr,
    /// Our RTP port (RTCP is multiplexed on it).
    pub port: u16,
    /// Codecs in our preference order.
    pub codecs: Vec<Codec>,
    /// Dynamic payload type for Opus.
    pub opus_pt: u8,
    /// Dynamic payload type for telephone-event/8000 (and /48000 when offering Opus).
    pub dtmf_pt: u8,
    /// Whether to offer comfort noise (PT 13).
    pub comfort_noise: bool,
    /// Packetisation time in ms.
    pub ptime: u32,
    /// SDES keys to offer, in preference order; empty for plain RTP.
    pub crypto: Vec<CryptoAttribute>,
    /// Our direction.
    pub direction: Direction,
}

impl LocalMedia {
    /// A plain-RTP description with the usual defaults (20 ms, PT 101 DTMF, CN, Opus PT 111).
    pub fn new(address: IpAddr, port: u16, codecs: Vec<Codec>) -> Self {
        Self {
            address,
            port,
            codecs,
            opus_pt: 111,
            dtmf_pt: 101,
            comfort_noise: true,
            ptime: 20,
            crypto: Vec::new(),
            direction: Direction::SendRecv,
        }
    }

    /// Adds fresh SDES keys for both suites, `_80` first (the suite Teams mandates).
    pub fn with_fresh_srtp(mut self) -> Self {
        self.crypto = vec![
            CryptoAttribute::random(1, SrtpSuite::AesCm128HmacSha1_80),
            CryptoAttribute::random(2, SrtpSuite::AesCm128HmacSha1_32),
        ];
        self
    }

    fn pt_for(&self, codec: Codec) -> u8 {
        codec.static_payload_type().unwrap_or(self.opus_pt)
    }
}

/// The outcome of an offer/answer exchange for one leg.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// Where the peer wants media (from `c=`/`m=`); the latching starting point.
    pub remote: SocketAddr,
    /// The codec both sides use, and its payload type on this leg.
    pub codec: Codec,
    /// Payload type of the codec on this leg.
    pub codec_pt: u8,
    /// Payload type of telephone-event at the codec's RTP clock, if negotiated.
    pub dtmf_pt: Option<u8>,
    /// Payload type of comfort noise, if negotiated.
    pub cn_pt: Option<u8>,
    /// Packetisation time in ms.
    pub ptime: u32,
    /// Our SRTP key (sending) and the peer's (receiving); `None` for plain RTP.
    pub srtp: Option<(CryptoAttribute, CryptoAttribute)>,
    /// Our effective direction on this leg.
    pub direction: Direction,
    /// Whether RTCP is multiplexed on the RTP port.
    pub rtcp_mux: bool,
}

/// Builds an SDP offer for `local`.
pub fn create_offer(local: &LocalMedia, session_id: u64) -> String {
    build(
        local,
        session_id,
        &local.codecs,
        local.dtmf_pt,
        &local.crypto,
        local.direction,
    )
}

/// Answers a remote offer: picks the first offered codec we support, one crypto suite we
/// support, and the matching telephone-event and CN payload types.
pub fn answer_offer(
    offer: &str,
    local: &LocalMedia,
    session_id: u64,
) -> Result<(String, Negotiated)> {
    let remote = parse(offer)?;
    let media = audio_section(&remote)?;
    let secure = is_secure(media)?;
    let offered = offered_codecs(media);
    let (codec, codec_pt) = offered
        .iter()
        .find(|(c, _)| local.codecs.contains(c))
        .copied()
        .ok_or(MediaError::NoCommonCodec)?;
    let dtmf_pt = telephone_event_pt(media, codec.rtp_clock());
    let cn_pt = (local.comfort_noise && has_cn(media) && codec.rtp_clock() == 8_000)
        .then_some(CN_PAYLOAD_TYPE);
    let srtp = if secure {
        let theirs = crypto_attributes(media)
            .into_iter()
            .find(|a| local.crypto.iter().any(|l| l.suite == a.suite))
            .ok_or_else(|| MediaError::PeerCrypto("no supported crypto suite offered".into()))?;
        let mut ours = local
            .crypto
            .iter()
            .find(|l| l.suite == theirs.suite)
            .cloned()
            .ok_or_else(|| MediaError::Misconfigured("no local key for the suite".into()))?;
        ours.tag = theirs.tag;
        Some((ours, theirs))
    } else {
        None
    };
    let direction = Direction::answer_to(media_direction(media), local.direction);
    let answer_local = LocalMedia {
        opus_pt: codec_pt,
        ..local.clone()
    };
    let answer_crypto: Vec<CryptoAttribute> = srtp.iter().map(|(o, _)| o.clone()).collect();
    let mut answer_codecs = vec![codec];
    answer_codecs.dedup();
    let mut text = build(
        &answer_local,
        session_id,
        &answer_codecs,
        dtmf_pt.unwrap_or(local.dtmf_pt),
        &answer_crypto,
        direction,
    );
    if dtmf_pt.is_none() {
        text = strip_dtmf(&text, local.dtmf_pt);
    }
    let negotiated = Negotiated {
        remote: remote_address(&remote, media)?,
        codec,
        codec_pt,
        dtmf_pt,
        cn_pt,
        ptime: ptime(media).unwrap_or(local.ptime),
        srtp,
        direction,
        rtcp_mux: media.has_attribute("rtcp-mux"),
    };
    Ok((text, negotiated))
}

/// Applies the peer's answer to our earlier offer.
pub fn apply_answer(answer: &str, local: &LocalMedia) -> Result<Negotiated> {
    let remote = parse(answer)?;
    let media = audio_section(&remote)?;
    let secure = is_secure(media)?;
    let (codec, codec_pt) = offered_codecs(media)
        .into_iter()
        .find(|(c, _)| local.codecs.contains(c))
        .ok_or(MediaError::NoCommonCodec)?;
    let srtp = match (secure, local.crypto.is_empty()) {
        (false, true) => None,
        (true, false) => {
            let theirs = crypto_attributes(media)
                .into_iter()
                .next()
                .ok_or_else(|| MediaError::PeerCrypto("answer has no a=crypto".into()))?;
            let ours = local
                .crypto
                .iter()
                .find(|l| l.tag == theirs.tag && l.suite == theirs.suite)
                .cloned()
                .ok_or_else(|| {
                    MediaError::PeerCrypto("answer chose a suite we did not offer".into())
                })?;
            Some((ours, theirs))
        }
        _ => {
            return Err(MediaError::PeerSdp(
                "answer changed the transport profile".into(),
            ));
        }
    };
    let peer_direction = media_direction(media);
    Ok(Negotiated {
        remote: remote_address(&remote, media)?,
        codec,
        codec_pt,
        dtmf_pt: telephone_event_pt(media, codec.rtp_clock()),
        cn_pt: (local.comfort_noise && has_cn(media)).then_some(CN_PAYLOAD_TYPE),
        ptime: ptime(media).unwrap_or(local.ptime),
        srtp,
        direction: Direction::answer_to(peer_direction, local.direction),
        rtcp_mux: media.has_attribute("rtcp-mux"),
    })
}

fn parse(text: &str) -> Result<SessionDescription> {
    SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
        .map_err(|e| MediaError::PeerSdp(e.to_string()))
}

fn audio_section(sdp: &SessionDescription) -> Result<&MediaDescription> {
    sdp.media_descriptions
        .iter()
        .find(|m| m.media_name.media == "audio" && m.media_name.port.value != 0)
        .ok_or_else(|| MediaError::PeerSdp("no active audio m-line".into()))
}

fn is_secure(media: &MediaDescription) -> Result<bool> {
    match media.media_name.protos.join("/").as_str() {
        "RTP/AVP" => Ok(false),
        "RTP/SAVP" => Ok(true),
        other => Err(MediaError::PeerSdp(format!(
            "unsupported transport {other}"
        ))),
    }
}

fn offered_codecs(media: &MediaDescription) -> Vec<(Codec, u8)> {
    let codecs = media.codecs();
    media
        .media_name
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .filter_map(|pt| {
            let codec = match codecs.get(&pt) {
                Some(c) => Codec::from_rtpmap(&c.name, c.clock_rate),
                // Static payload types may come without an rtpmap.
                None => Codec::ALL
                    .into_iter()
                    .find(|c| c.static_payload_type() == Some(pt)),
            }?;
            Some((codec, pt))
        })
        .collect()
}

fn telephone_event_pt(media: &MediaDescription, clock: u32) -> Option<u8> {
    let codecs = media.codecs();
    media
        .media_name
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .find(|pt| {
            codecs.get(pt).is_some_and(|c| {
                c.name.eq_ignore_ascii_case("telephone-event") && c.clock_rate == clock
            })
        })
}

fn has_cn(media: &MediaDescription) -> bool {
    media.media_name.formats.iter().any(|f| f == "13")
}

fn crypto_attributes(media: &MediaDescription) -> Vec<CryptoAttribute> {
    media
        .attributes
        .iter()
        .filter(|a| a.key == "crypto")
        .filter_map(|a| {
            a.value
                .as_deref()
                .and_then(|v| CryptoAttribute::parse(v).ok())
        })
        .collect()
}

fn media_direction(media: &MediaDescription) -> Direction {
    [
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
        Direction::SendRecv,
    ]
    .into_iter()
    .find(|d| media.has_attribute(d.attribute()))
    .unwrap_or_default()
}

fn ptime(media: &MediaDescription) -> Option<u32> {
    media
        .attribute("ptime")
        .flatten()
        .and_then(|v| v.trim().parse().ok())
        .filter(|p| (10..=120).contains(p))
}

fn remote_address(sdp: &SessionDescription, media: &MediaDescription) -> Result<SocketAddr> {
    let conn = media
        .connection_information
        .as_ref()
        .or(sdp.connection_information.as_ref())
        .and_then(|c| c.address.as_ref())
        .ok_or_else(|| MediaError::PeerSdp("no c= line".into()))?;
    let ip: IpAddr = conn
        .address
        .parse()
        .map_err(|_| MediaError::PeerSdp("c= address is not an IP literal".into()))?;
    let port = u16::try_from(media.media_name.port.value)
        .map_err(|_| MediaError::PeerSdp("m= port out of range".into()))?;
    Ok(SocketAddr::new(ip, port))
}

fn build(
    local: &LocalMedia,
    session_id: u64,
    codecs: &[Codec],
    dtmf_pt: u8,
    crypto: &[CryptoAttribute],
    direction: Direction,
) -> String {
    let address_type = if local.address.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    };
    let attr = |key: &str, value: Option<String>| Attribute {
        key: key.to_owned(),
        value,
    };
    let mut formats = Vec::new();
    let mut attributes = Vec::new();
    let mut dtmf_clocks = Vec::new();
    for &codec in codecs {
        let pt = local.pt_for(codec);
        formats.push(pt.to_string());
        let channels = if codec == Codec::Opus { "/2" } else { "" };
        attributes.push(attr(
            "rtpmap",
            Some(format!(
                "{pt} {}/{}{channels}",
                codec.encoding_name(),
                codec.rtp_clock()
            )),
        ));
        if codec == Codec::Opus {
            attributes.push(attr(
                "fmtp",
                Some(format!("{pt} useinbandfec=1;minptime=10")),
            ));
        }
        if !dtmf_clocks.contains(&codec.rtp_clock()) {
            dtmf_clocks.push(codec.rtp_clock());
        }
    }
    // One telephone-event per clock rate (RFC 4733 §7.1.1); the 48 kHz one takes the next PT.
    for (i, clock) in dtmf_clocks.iter().enumerate() {
        let pt = dtmf_pt.wrapping_add(i as u8);
        formats.push(pt.to_string());
        attributes.push(attr(
            "rtpmap",
            Some(format!("{pt} telephone-event/{clock}")),
        ));
        attributes.push(attr("fmtp", Some(format!("{pt} 0-16"))));
    }
    if local.comfort_noise && dtmf_clocks.contains(&8_000) {
        formats.push(CN_PAYLOAD_TYPE.to_string());
        attributes.push(attr("rtpmap", Some(format!("{CN_PAYLOAD_TYPE} CN/8000"))));
    }
    for c in crypto {
        attributes.push(attr("crypto", Some(c.to_value())));
    }
    attributes.push(attr("rtcp-mux", None));
    attributes.push(attr("ptime", Some(local.ptime.to_string())));
    attributes.push(attr(direction.attribute(), None));

    let connection = ConnectionInformation {
        network_type: "IN".into(),
        address_type: address_type.into(),
        address: Some(Address {
            address: local.address.to_string(),
            ttl: None,
            range: None,
        }),
    };
    let sdp = SessionDescription {
        version: 0,
        origin: Origin {
            username: "-".into(),
            session_id,
            session_version: session_id,
            network_type: "IN".into(),
            address_type: address_type.into(),
            unicast_address: local.address.to_string(),
        },
        session_name: "-".into(),
        connection_information: Some(connection),
        time_descriptions: vec![TimeDescription {
            timing: Timing {
                start_time: 0,
                stop_time: 0,
            },
            repeat_times: Vec::new(),
        }],
        media_descriptions: vec![MediaDescription {
            media_name: MediaName {
                media: "audio".into(),
                port: RangedPort {
                    value: isize::try_from(local.port).unwrap_or(0),
                    range: None,
                },
                protos: if crypto.is_empty() {
                    vec!["RTP".into(), "AVP".into()]
                } else {
                    vec!["RTP".into(), "SAVP".into()]
                },
                formats,
            },
            attributes,
            ..Default::default()
        }],
        ..Default::default()
    };
    sdp.marshal()
}

/// Removes an unnegotiated telephone-event from an answer.
fn strip_dtmf(text: &str, pt: u8) -> String {
    let pt_s = pt.to_string();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let l = line.trim_end();
        if l.starts_with(&format!("a=rtpmap:{pt_s} ")) || l.starts_with(&format!("a=fmtp:{pt_s} "))
        {
            continue;
        }
        if let Some(rest) = l.strip_prefix("m=") {
            let kept: Vec<&str> = rest.split(' ').filter(|f| *f != pt_s).collect();
            out.push_str("m=");
            out.push_str(&kept.join(" "));
            out.push_str("\r\n");
            continue;
        }
        out.push_str(line);
    }
    out
}

mod ssrc;

pub use ssrc::{DeclaredSsrcs, remote_ssrcs};

#[cfg(test)]
mod tests;
