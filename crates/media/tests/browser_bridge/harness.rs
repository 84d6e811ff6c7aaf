//! A browser (str0m playing Chrome: full ICE, DTLS-SRTP, Opus and telephone-event) bridged to
//! a plain-RTP SIP peer (PCMU, telephone-event at PT 101), all in virtual time. The path
//! between the browser and the bridge can carry a one-way delay in each direction.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use callbridge_media::bridge::{Bridge, BridgeConfig, Input, Output, Timeouts};
use callbridge_media::clock::WallClock;
use callbridge_media::codec::Codec;
use callbridge_media::dtmf::TelephoneEvent;
use callbridge_media::event::{MediaEvent, Side};
use callbridge_media::leg::{LatchMode, RtpLeg, RtpLegConfig};
use callbridge_media::media_leg::BrowserLeg;
use callbridge_media::packet::{RtpPacket, is_rtcp};
use callbridge_media::sdp::{Direction as SipDirection, Negotiated};
use callbridge_media::transcode::codecs::Encoder;
use callbridge_media::webrtc::{WebRtcLeg, WebRtcLegConfig};
use str0m::change::SdpAnswer;
use str0m::format::{Codec as RtcCodec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input as RtcInput, Output as RtcOutput, Rtc};

pub(crate) const OPUS_PT: u8 = 111;
pub(crate) const SIP_DTMF_PT: u8 = 101;
const SIP_OPUS_PT: u8 = 96;
const FRAME: Duration = Duration::from_millis(20);
const BROWSER: &str = "192.0.2.50:9000";
const PUBLIC: &str = "203.0.113.10:40000";
const SIP_LOCAL: &str = "203.0.113.10:40002";
const SIP_PEER: &str = "52.114.1.1:49152";

/// A packet as one end received it, with its arrival time.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) at: Instant,
    pub(crate) pt: u8,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) ssrc: u32,
    pub(crate) marker: bool,
    pub(crate) payload: Vec<u8>,
}

impl Received {
    pub(crate) fn event(&self) -> Option<TelephoneEvent> {
        TelephoneEvent::parse(&self.payload)
    }
}

/// An RFC 4733 event being sent, one packet per 20 ms frame, ending with three End packets.
struct EventTx {
    pt: u8,
    event: u8,
    step: u16,
    total: u16,
    sent: u16,
    ends_left: u8,
    start_ts: Option<u32>,
}

impl EventTx {
    fn new(pt: u8, event: u8, clock: u32, length: Duration) -> Self {
        let units = |d: Duration| (d.as_micros() * u128::from(clock) / 1_000_000) as u16;
        Self {
            pt,
            event,
            step: units(FRAME),
            total: units(length),
            sent: 0,
            ends_left: 3,
            start_ts: None,
        }
    }

    /// The next packet: (payload type, marker, timestamp, payload), `None` when done.
    fn next(&mut self, ts_now: u32) -> Option<(u8, bool, u32, [u8; 4])> {
        if self.ends_left == 0 {
            return None;
        }
        let marker = self.start_ts.is_none();
        let ts = *self.start_ts.get_or_insert(ts_now);
        self.sent = (self.sent + self.step).min(self.total);
        let end = self.sent >= self.total;
        if end {
            self.ends_left -= 1;
        }
        let ev = TelephoneEvent {
            event: self.event,
            end,
            volume: 10,
            duration: self.sent,
        };
        Some((self.pt, marker, ts, ev.to_bytes()))
    }
}

enum Hop {
    ToBridge,
    ToBrowser,
}

pub(crate) struct Call {
    pub(crate) now: Instant,
    pub(crate) bridge: Bridge,
    pub(crate) browser: Rtc,
    mid: Mid,
    browser_addr: SocketAddr,
    sip_local: SocketAddr,
    sip_peer: SocketAddr,
    delay: Duration,
    in_flight: Vec<(Instant, Hop, SocketAddr, SocketAddr, Vec<u8>)>,
    pub(crate) connected: bool,
    pub(crate) browser_sends: bool,
    pub(crate) sip_sends: bool,
    next_frame: Instant,
    frame: u32,
    browser_seq: u64,
    sip_seq: u16,
    browser_event: Option<EventTx>,
    sip_event: Option<EventTx>,
    opus: Encoder,
    sip_codec: Codec,
    sip_encoder: Encoder,
    payload: Vec<u8>,
    pub(crate) browser_rx: Vec<Received>,
    pub(crate) sip_rx: Vec<Received>,
    pub(crate) events: Vec<MediaEvent>,
}

impl Call {
    /// Sets up and connects a call. The browser offers Opus plus telephone-event at each of
    /// `browser_events` (payload type, clock); the SIP peer runs `sip` with telephone-event at
    /// its clock; `delay` applies to each direction between the browser and the bridge.
    pub(crate) fn connect(
        sip: Codec,
        browser_events: &[(u8, u32)],
        delay: Duration,
        timeouts: Timeouts,
    ) -> Self {
        let start = crate::common::epoch();
        let (browser, mid, browser_leg) =
            browser_joins(start, browser_events, vec![Codec::Opus, Codec::Pcmu]);
        let sip_local: SocketAddr = SIP_LOCAL.parse().expect("addr");
        let sip_peer: SocketAddr = SIP_PEER.parse().expect("addr");
        let sip_leg = sip_leg(
            sip_local,
            Negotiated {
                remote: sip_peer,
                codec: sip,
                codec_pt: sip.static_payload_type().unwrap_or(SIP_OPUS_PT),
                dtmf_pt: Some(SIP_DTMF_PT),
                cn_pt: None,
                ptime: 20,
                srtp: None,
                direction: SipDirection::SendRecv,
                rtcp_mux: true,
            },
        );
        let mut cfg = BridgeConfig::new(WallClock {
            at: start,
            unix: Duration::from_secs(1_790_000_000),
        });
        cfg.timeouts = timeouts;
        let bridge = Bridge::new(browser_leg, sip_leg, cfg, start).expect("bridge");

        let mut call = Self {
            now: start,
            bridge,
            browser,
            mid,
            browser_addr: BROWSER.parse().expect("addr"),
            sip_local,
            sip_peer,
            delay,
            in_flight: Vec::new(),
            connected: false,
            browser_sends: true,
            sip_sends: true,
            next_frame: start,
            frame: 0,
            browser_seq: 1,
            sip_seq: 7,
            browser_event: None,
            sip_event: None,
            opus: Encoder::new(Codec::Opus, 48_000, 5).expect("opus"),
            sip_codec: sip,
            sip_encoder: Encoder::new(sip, sip.sample_rate(), 5).expect("encoder"),
            payload: Vec::new(),
            browser_rx: Vec::new(),
            sip_rx: Vec::new(),
            events: Vec::new(),
        };
        let deadline = start + Duration::from_secs(10);
        while !call.connected && call.now < deadline {
            call.run_for(FRAME);
        }
        assert!(call.connected, "ICE and DTLS completed through the bridge");
        call
    }

    /// The browser renegotiates with `direction` on its audio m-line; returns our answer.
    pub(crate) fn browser_reoffers(&mut self, direction: Direction) -> String {
        let mut api = self.browser.sdp_api();
        api.set_direction(self.mid, direction);
        let (offer, pending) = api.apply().expect("re-offer");
        let answer = self
            .bridge
            .renegotiate_webrtc(Side::A, &offer.to_sdp_string(), self.now)
            .expect("bridge answers the re-offer");
        self.browser
            .sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).expect("sdp"))
            .expect("browser accepts the answer");
        answer
    }

    /// The browser sends RFC 4733 `event` (instead of audio, as browsers do) for `length`.
    pub(crate) fn browser_sends_event(&mut self, pt: u8, clock: u32, event: u8, length: Duration) {
        self.browser_event = Some(EventTx::new(pt, event, clock, length));
    }

    /// The SIP peer sends RFC 4733 `event` at its codec's clock (instead of audio) for `length`.
    pub(crate) fn sip_sends_event(&mut self, event: u8, length: Duration) {
        let clock = self.sip_codec.rtp_clock();
        self.sip_event = Some(EventTx::new(SIP_DTMF_PT, event, clock, length));
    }

    /// The SIP peer sends one RTP packet now, next in its sequence.
    pub(crate) fn sip_sends_packet(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        let p = RtpPacket::build(pt, marker, self.sip_seq, ts, 0xCAFE, payload);
        self.sip_seq = self.sip_seq.wrapping_add(1);
        let input = Input::Receive {
            from: self.sip_peer,
            to: self.sip_local,
            data: p.as_bytes(),
        };
        self.bridge
            .handle_input(input, self.now)
            .expect("sip input");
    }

    /// Runs both ends and the bridge for `d` of virtual time.
    pub(crate) fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let (browser_deadline, bridge_deadline) = self.settle();
            if self.now >= end {
                return;
            }
            if self.connected && self.now >= self.next_frame {
                self.send_frame();
                continue;
            }
            let mut next = browser_deadline.min(bridge_deadline).min(end);
            if let Some(at) = self.in_flight.iter().map(|f| f.0).min() {
                next = next.min(at);
            }
            if self.connected {
                next = next.min(self.next_frame);
            }
            self.now = next.max(self.now + Duration::from_micros(50)).min(end);
            self.browser
                .handle_input(RtcInput::Timeout(self.now))
                .expect("browser timeout");
            self.bridge
                .handle_input(Input::Timeout, self.now)
                .expect("bridge timeout");
        }
    }

    /// Delivers what is due and drains both ends until neither has anything to send now;
    /// returns their deadlines.
    fn settle(&mut self) -> (Instant, Instant) {
        loop {
            let mut moved = self.deliver_due();
            let browser_deadline = loop {
                match self.browser.poll_output().expect("browser poll") {
                    RtcOutput::Timeout(t) => break t,
                    RtcOutput::Transmit(t) => {
                        moved = true;
                        let hop = (Hop::ToBridge, t.source, t.destination);
                        self.send(hop, t.contents.to_vec());
                    }
                    RtcOutput::Event(Event::Connected) => self.connected = true,
                    RtcOutput::Event(Event::RtpPacket(p)) => self.browser_rx.push(Received {
                        at: self.now,
                        pt: *p.header.payload_type,
                        seq: p.header.sequence_number,
                        ts: p.header.timestamp,
                        ssrc: *p.header.ssrc,
                        marker: p.header.marker,
                        payload: p.payload.to_vec(),
                    }),
                    RtcOutput::Event(_) => {}
                }
            };
            let bridge_deadline = loop {
                match self.bridge.poll_output() {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) if t.to == self.browser_addr => {
                        moved = true;
                        self.send((Hop::ToBrowser, t.from, t.to), t.payload.to_vec());
                    }
                    Output::Transmit(t) if t.to == self.sip_peer => {
                        if is_rtcp(&t.payload) {
                            continue;
                        }
                        let p = RtpPacket::parse(BytesMut::from(&t.payload[..])).expect("rtp");
                        self.sip_rx.push(Received {
                            at: self.now,
                            pt: p.pt,
                            seq: p.seq,
                            ts: p.ts,
                            ssrc: p.ssrc,
                            marker: p.marker,
                            payload: p.payload().to_vec(),
                        });
                    }
                    Output::Transmit(t) => panic!("unexpected destination {}", t.to),
                    Output::Event(e) => self.events.push(e),
                }
            };
            if !moved {
                return (browser_deadline, bridge_deadline);
            }
        }
    }

    fn send(&mut self, (hop, from, to): (Hop, SocketAddr, SocketAddr), data: Vec<u8>) {
        self.in_flight
            .push((self.now + self.delay, hop, from, to, data));
    }

    /// Delivers the oldest datagram that is due, if any. One at a time: both ends must be
    /// drained after every input (str0m in RTP mode holds a single received packet for the
    /// next poll).
    fn deliver_due(&mut self) -> bool {
        let now = self.now;
        let Some(i) = self.in_flight.iter().position(|f| f.0 <= now) else {
            return false;
        };
        let (_, hop, from, to, data) = self.in_flight.remove(i);
        match hop {
            Hop::ToBridge => {
                let input = Input::Receive {
                    from,
                    to,
                    data: &data,
                };
                self.bridge.handle_input(input, now).expect("bridge input");
            }
            Hop::ToBrowser => {
                let contents = data.as_slice().try_into().expect("contents");
                let rcv = Receive {
                    proto: Protocol::Udp,
                    source: from,
                    destination: to,
                    contents,
                };
                self.browser
                    .handle_input(RtcInput::Receive(now, rcv))
                    .expect("browser input");
            }
        }
        true
    }

    /// One 20 ms frame from each end that is sending: audio, or the event in progress.
    fn send_frame(&mut self) {
        self.next_frame += FRAME;
        let browser_ts = self.frame * 960;
        let sip_ts = self.frame * self.sip_codec.rtp_clock() / 50;
        let from_browser = match self.browser_event.as_mut().and_then(|e| e.next(browser_ts)) {
            Some((pt, marker, ts, ev)) => Some((pt, marker, ts, ev.to_vec())),
            None if self.browser_sends => {
                self.browser_event = None;
                let pcm = tone(48_000, 960, self.frame as usize * 960, 440.0);
                self.opus.encode(&pcm, &mut self.payload).expect("opus");
                Some((OPUS_PT, false, browser_ts, self.payload.clone()))
            }
            None => None,
        };
        if let Some((pt, marker, ts, payload)) = from_browser {
            let mut api = self.browser.direct_api();
            let stream = api.stream_tx_by_mid(self.mid, None).expect("stream");
            let write = RtpWrite::new(
                pt.into(),
                self.browser_seq.into(),
                ts,
                self.now,
                &payload[..],
            );
            stream.write_rtp(write.marker(marker));
            self.browser_seq += 1;
        }
        let from_sip = match self.sip_event.as_mut().and_then(|e| e.next(sip_ts)) {
            Some((pt, marker, ts, ev)) => Some((pt, marker, ts, ev.to_vec())),
            None if self.sip_sends => {
                self.sip_event = None;
                let rate = self.sip_codec.sample_rate();
                let n = rate as usize / 50;
                let pcm = tone(rate, n, self.frame as usize * n, 660.0);
                self.sip_encoder
                    .encode(&pcm, &mut self.payload)
                    .expect("encode");
                let pt = self.bridge.leg(Side::B).negotiated().codec_pt;
                Some((pt, false, sip_ts, self.payload.clone()))
            }
            None => None,
        };
        if let Some((pt, marker, ts, payload)) = from_sip {
            self.sip_sends_packet(pt, marker, ts, &payload);
        }
        self.frame += 1;
        self.browser
            .handle_input(RtcInput::Timeout(self.now))
            .expect("browser timeout");
    }
}

/// A browser offering Opus and telephone-event at each of `events` (payload type, clock),
/// and our WebRTC leg answering with `codecs`: the browser after our answer, its audio m-line,
/// and the leg ready for a bridge.
pub(crate) fn browser_joins(
    start: Instant,
    events: &[(u8, u32)],
    codecs: Vec<Codec>,
) -> (Rtc, Mid, BrowserLeg) {
    let browser_addr: SocketAddr = BROWSER.parse().expect("addr");
    let mut cfg = Rtc::builder()
        .set_rtp_mode(true)
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs()
        .enable_opus(true, false);
    for &(pt, clock) in events {
        let rate = if clock == 48_000 {
            Frequency::FORTY_EIGHT_KHZ
        } else {
            Frequency::EIGHT_KHZ
        };
        cfg.codec_config().add_config(
            pt.into(),
            None,
            RtcCodec::Tele,
            rate,
            None,
            FormatParams::parse_line("0-16"),
        );
    }
    let mut browser = cfg.build(start);
    browser.add_local_candidate(Candidate::host(browser_addr, "udp").expect("candidate"));
    let mut api = browser.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = api.apply().expect("offer");
    let public: SocketAddr = PUBLIC.parse().expect("addr");
    let mut web = WebRtcLeg::new(
        &WebRtcLegConfig {
            public_addr: public,
            codecs,
        },
        start,
    )
    .expect("leg");
    let answer = web.accept_offer(&offer.to_sdp_string()).expect("answer");
    browser
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).expect("sdp"))
        .expect("accept");
    let leg = BrowserLeg::new(web, 0x1111, 100, 5000, start).expect("browser leg");
    (browser, mid, leg)
}

/// The bridge's SIP leg on `local`, latching onto the first valid packet.
pub(crate) fn sip_leg(local: SocketAddr, negotiated: Negotiated) -> RtpLeg {
    RtpLeg::new(RtpLegConfig {
        local,
        negotiated,
        latch: LatchMode::FirstValidPacket,
        ssrc: 0x2222,
        cname: "bridge".into(),
        initial_seq: 1,
        initial_ts: 1,
    })
    .expect("sip leg")
}

pub(crate) fn tone(rate: u32, n: usize, offset: usize, hz: f64) -> Vec<i16> {
    (0..n)
        .map(|i| {
            (8000.0
                * (2.0 * std::f64::consts::PI * hz * (offset + i) as f64 / f64::from(rate)).sin())
                as i16
        })
        .collect()
}
