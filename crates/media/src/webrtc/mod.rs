//! The WebRTC (browser) leg on str0m: ICE-lite on a configured public address, DTLS-SRTP,
//! Opus/G.722/PCMU/PCMA and telephone-event, SDP offer/answer for a WHIP-style join and for
//! later offers (hold, resume, codec change), and RTT from str0m's RTCP statistics.
//!
//! str0m runs in RTP mode: it hands us decrypted RTP packets and encrypts the ones we write,
//! so the bridge can pass packets through or feed its transcoder, exactly as with the SIP leg.

mod negotiation;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use str0m::change::SdpOffer;
use str0m::media::{MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

pub use self::negotiation::AudioNegotiation;
use crate::codec::Codec;
use crate::error::{MediaError, Result};
use crate::leg::Transmit;
use crate::packet::RtpPacket;

/// How often str0m reports statistics; its RTT comes from the RTCP reception reports in them.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// Settings of a WebRTC leg.
#[derive(Debug, Clone)]
pub struct WebRtcLegConfig {
    /// The public address we advertise as our only (host) candidate and receive on.
    pub public_addr: SocketAddr,
    /// Codecs to accept, in preference order.
    pub codecs: Vec<Codec>,
}

/// What the leg has for its owner.
#[derive(Debug)]
pub enum WebRtcOutput {
    /// Send a datagram.
    Transmit(Transmit),
    /// A decrypted inbound RTP packet.
    Rtp(RtpPacket),
    /// ICE and DTLS completed: media can flow.
    Connected,
    /// Nothing more until this instant (or the next input).
    Timeout(Instant),
}

/// A browser leg.
pub struct WebRtcLeg {
    rtc: Rtc,
    local: SocketAddr,
    mid: Option<Mid>,
    roc: u64,
    last_seq: Option<u16>,
    rtt: Option<Duration>,
    remote_loss: Option<f64>,
}

impl std::fmt::Debug for WebRtcLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcLeg")
            .field("local", &self.local)
            .field("mid", &self.mid)
            .finish_non_exhaustive()
    }
}

impl WebRtcLeg {
    /// A leg listening on `cfg.public_addr`.
    pub fn new(cfg: &WebRtcLegConfig, now: Instant) -> Result<Self> {
        let b = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .set_stats_interval(Some(STATS_INTERVAL))
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()));
        let b = negotiation::configure(b, &cfg.codecs);
        let mut rtc = b.build(now);
        let candidate = Candidate::host(cfg.public_addr, "udp")
            .map_err(|e| MediaError::Misconfigured(format!("public address: {e}")))?;
        rtc.add_local_candidate(candidate);
        Ok(Self {
            rtc,
            local: cfg.public_addr,
            mid: None,
            roc: 0,
            last_seq: None,
            rtt: None,
            remote_loss: None,
        })
    }

    /// Our local address.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Answers the browser's offer (WHIP-style: the browser offers, we answer). A later offer
    /// on the same leg (hold, resume, a codec change) is answered the same way.
    pub fn accept_offer(&mut self, offer: &str) -> Result<String> {
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| MediaError::PeerSdp(e.to_string()))?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::PeerSdp(e.to_string()))?;
        let answer = answer.to_sdp_string();
        if self.mid.is_none() {
            self.mid = negotiation::audio_mid(&answer);
        }
        Ok(answer)
    }

    /// What the audio m-line negotiated, once an offer was accepted.
    pub fn negotiation(&self) -> Option<AudioNegotiation> {
        negotiation::read(&self.rtc, self.mid?)
    }

    /// The negotiated audio codec and its payload type, once known.
    pub fn negotiated_codec(&self) -> Option<(Codec, u8)> {
        self.negotiation().map(|n| (n.codec, n.codec_pt))
    }

    /// The telephone-event payload type the leg uses, if it runs at `clock`.
    pub fn negotiated_dtmf(&self, clock: u32) -> Option<u8> {
        self.negotiation()?
            .dtmf
            .and_then(|(pt, c)| (c == clock).then_some(pt))
    }

    /// The latest round-trip time str0m measured from the browser's RTCP, if any.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// The loss (0–1) the browser last reported about what we send, if any.
    pub fn remote_loss(&self) -> Option<f64> {
        self.remote_loss
    }

    /// Feeds a datagram that arrived on our address. Drain [`WebRtcLeg::poll_output`] after
    /// each one: str0m in RTP mode holds a single received packet until the next poll.
    pub fn receive(&mut self, from: SocketAddr, data: &[u8], now: Instant) -> Result<()> {
        let Ok(contents) = data.try_into() else {
            return Ok(()); // Not STUN, DTLS or SRTP: nothing str0m would accept.
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: self.local,
                contents,
            },
        );
        if self.rtc.accepts(&input) {
            self.rtc
                .handle_input(input)
                .map_err(|e| MediaError::WebRtc(e.to_string()))?;
        }
        Ok(())
    }

    /// Advances time.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<()> {
        self.rtc
            .handle_input(Input::Timeout(now))
            .map_err(|e| MediaError::WebRtc(e.to_string()))
    }

    /// Writes an outbound RTP packet (str0m encrypts it with the DTLS-SRTP keys).
    pub fn send_rtp(
        &mut self,
        pt: u8,
        marker: bool,
        seq: u16,
        ts: u32,
        payload: &[u8],
        now: Instant,
    ) -> Result<()> {
        let Some(mid) = self.mid else {
            return Err(MediaError::ApiMisuse("no audio media negotiated yet"));
        };
        // Extend the 16-bit sequence so str0m derives the right SRTP rollover counter.
        if let Some(last) = self.last_seq
            && seq < last
            && last - seq > 0x8000
        {
            self.roc += 1;
        }
        self.last_seq = Some(seq);
        let ext: SeqNo = ((self.roc << 16) | u64::from(seq)).into();
        let mut api = self.rtc.direct_api();
        let stream = api
            .stream_tx_by_mid(mid, None)
            .ok_or(MediaError::ApiMisuse(
                "no outbound stream for the audio media",
            ))?;
        stream.write_rtp(RtpWrite::new(pt.into(), ext, ts, now, payload).marker(marker));
        Ok(())
    }

    /// The next output; ends with [`WebRtcOutput::Timeout`].
    pub fn poll_output(&mut self) -> Result<WebRtcOutput> {
        loop {
            match self
                .rtc
                .poll_output()
                .map_err(|e| MediaError::WebRtc(e.to_string()))?
            {
                Output::Timeout(t) => return Ok(WebRtcOutput::Timeout(t)),
                Output::Transmit(t) => {
                    return Ok(WebRtcOutput::Transmit(Transmit {
                        from: t.source,
                        to: t.destination,
                        payload: Bytes::copy_from_slice(&t.contents),
                    }));
                }
                Output::Event(Event::Connected) => return Ok(WebRtcOutput::Connected),
                Output::Event(Event::MediaAdded(m)) if m.kind == MediaKind::Audio => {
                    self.mid.get_or_insert(m.mid);
                }
                // Egress RTT comes from the browser's reports on what we send; while we only
                // receive (hold), the ingress side is all there is.
                Output::Event(Event::MediaEgressStats(s)) if Some(s.mid) == self.mid => {
                    self.rtt = s.rtt.or(self.rtt);
                    self.remote_loss = s.loss.map(f64::from).or(self.remote_loss);
                }
                Output::Event(Event::MediaIngressStats(s)) if Some(s.mid) == self.mid => {
                    self.rtt = s.rtt.or(self.rtt);
                }
                Output::Event(Event::RtpPacket(p)) => {
                    let h = &p.header;
                    let packet = RtpPacket::build(
                        *h.payload_type,
                        h.marker,
                        h.sequence_number,
                        h.timestamp,
                        *h.ssrc,
                        &p.payload,
                    );
                    return Ok(WebRtcOutput::Rtp(packet));
                }
                Output::Event(_) => {}
            }
        }
    }
}
