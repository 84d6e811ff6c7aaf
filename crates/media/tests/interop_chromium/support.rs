//! What the Chromium interop tests share: the page server, the browser process, the SIP peer
//! (real-time PCMU tone out, everything the bridge sends collected), the bridge for a WHIP
//! offer, and a small real-time driver that can also hand the bridge the browser's re-offers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::BytesMut;
use callbridge_media::bridge::{Bridge, BridgeConfig};
use callbridge_media::codec::Codec;
use callbridge_media::dtmf::TelephoneEvent;
use callbridge_media::leg::{LatchMode, RtpLeg, RtpLegConfig};
use callbridge_media::media_leg::BrowserLeg;
use callbridge_media::packet::RtpPacket;
use callbridge_media::sdp::{Direction, Negotiated};
use callbridge_media::shell::worker;
use callbridge_media::transcode::codecs::{Decoder, Encoder};
use callbridge_media::webrtc::{WebRtcLeg, WebRtcLegConfig};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const SIP_PCMU_PT: u8 = 0;
pub(crate) const SIP_DTMF_PT: u8 = 101;
const PAGE: &str = include_str!("../assets/whip.html");

/// One RTP packet the SIP peer received: payload type, sequence, SSRC, timestamp, payload.
pub(crate) type SipPacket = (u8, u16, u32, u32, Vec<u8>);

/// The address other hosts would reach us on (no packet is sent to find it).
fn public_ip() -> std::net::IpAddr {
    let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
    match s.connect("192.0.2.1:9").and_then(|()| s.local_addr()) {
        Ok(a) if !a.ip().is_unspecified() => a.ip(),
        _ => [127, 0, 0, 1].into(),
    }
}

fn write_tone_wav(path: &Path, hz: f64, seconds: u32) {
    let rate = 48_000u32;
    let n = rate * seconds;
    let mut data = Vec::with_capacity(44 + n as usize * 2);
    data.extend_from_slice(b"RIFF");
    data.extend_from_slice(&(36 + n * 2).to_le_bytes());
    data.extend_from_slice(b"WAVEfmt ");
    data.extend_from_slice(&16u32.to_le_bytes());
    data.extend_from_slice(&1u16.to_le_bytes());
    data.extend_from_slice(&1u16.to_le_bytes());
    data.extend_from_slice(&rate.to_le_bytes());
    data.extend_from_slice(&(rate * 2).to_le_bytes());
    data.extend_from_slice(&2u16.to_le_bytes());
    data.extend_from_slice(&16u16.to_le_bytes());
    data.extend_from_slice(b"data");
    data.extend_from_slice(&(n * 2).to_le_bytes());
    for i in 0..n {
        let v = (10_000.0
            * (2.0 * std::f64::consts::PI * hz * f64::from(i) / f64::from(rate)).sin())
            as i16;
        data.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, data).expect("wav");
}

struct Request {
    path: String,
    body: String,
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?;
    let path = target.split('?').next()?.to_owned();
    let mut len = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        if h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn respond(stream: &mut TcpStream, content_type: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The SIP peer: sends 660 Hz PCMU in real time, collects what the bridge sends it.
struct SipPeer {
    stop: Sender<()>,
    collect_stop: Sender<()>,
    sender: JoinHandle<()>,
    collector: JoinHandle<Vec<SipPacket>>,
}

impl SipPeer {
    fn spawn(peer: UdpSocket, bridge: SocketAddr) -> Self {
        let (stop, stop_rx) = mpsc::channel::<()>();
        let (collect_stop, collect_stop_rx) = mpsc::channel::<()>();
        let peer_rx = peer.try_clone().expect("clone");
        peer_rx
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let sender = std::thread::spawn(move || {
            let mut enc = Encoder::new(Codec::Pcmu, 8000, 5).expect("encoder");
            let mut payload = Vec::new();
            let start = worker::now();
            for i in 0u32.. {
                if stop_rx.try_recv().is_ok() || i > 50 * 60 {
                    break;
                }
                let pcm: Vec<i16> = (0..160)
                    .map(|k| {
                        let t = f64::from(i * 160 + k) / 8000.0;
                        (8000.0 * (2.0 * std::f64::consts::PI * 660.0 * t).sin()) as i16
                    })
                    .collect();
                enc.encode(&pcm, &mut payload).expect("encode");
                let p = RtpPacket::build(SIP_PCMU_PT, false, i as u16, i * 160, 0x77, &payload);
                let _ = peer.send_to(p.as_bytes(), bridge);
                let due = start + Duration::from_millis(20 * u64::from(i + 1));
                std::thread::sleep(due.saturating_duration_since(worker::now()));
            }
        });
        let collector = std::thread::spawn(move || {
            let mut packets = Vec::new();
            let mut buf = [0u8; 2048];
            let deadline = worker::now() + Duration::from_secs(60);
            while worker::now() < deadline && collect_stop_rx.try_recv().is_err() {
                if let Ok((n, _)) = peer_rx.recv_from(&mut buf) {
                    if (192..=223).contains(&buf[1]) {
                        continue;
                    }
                    if let Some(p) = RtpPacket::parse(BytesMut::from(&buf[..n])) {
                        packets.push((p.pt, p.seq, p.ssrc, p.ts, p.payload().to_vec()));
                    }
                }
            }
            packets
        });
        Self {
            stop,
            collect_stop,
            sender,
            collector,
        }
    }
}

/// A page session: the page server, Chromium (fake microphone playing 440 Hz), the SIP peer,
/// and the two sockets the bridge will use.
pub(crate) struct Session {
    dir: PathBuf,
    http: TcpListener,
    browser: Child,
    peer: Option<SipPeer>,
    /// The WebRTC leg's socket and public address.
    pub(crate) web: Option<UdpSocket>,
    pub(crate) public: SocketAddr,
    /// The SIP leg's socket and address, and the SIP peer's address.
    pub(crate) sip: Option<UdpSocket>,
    pub(crate) sip_local: SocketAddr,
    pub(crate) peer_addr: SocketAddr,
}

impl Session {
    /// Starts Chromium on the page; `query` selects the page's extra steps (`?hold`).
    pub(crate) fn start(name: &str, query: &str) -> Self {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is required (apt-get install chromium)"
        );
        let dir =
            std::env::temp_dir().join(format!("callbridge-chromium-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let wav = dir.join("tone.wav");
        write_tone_wav(&wav, 440.0, 30);
        let web = UdpSocket::bind((public_ip(), 0)).expect("bind webrtc");
        let public = web.local_addr().expect("addr");
        let sip = UdpSocket::bind("127.0.0.1:0").expect("bind sip");
        let sip_local = sip.local_addr().expect("addr");
        let peer = UdpSocket::bind("127.0.0.1:0").expect("bind peer");
        let peer_addr = peer.local_addr().expect("addr");
        let http = TcpListener::bind("127.0.0.1:0").expect("http");
        let url = format!("http://{}/{query}", http.local_addr().expect("addr"));
        let browser = Command::new(CHROMIUM)
            .args(["--headless=new", "--no-sandbox", "--disable-gpu"])
            .args(["--no-first-run", "--disable-background-networking"])
            .args(["--disable-component-update", "--disable-sync"])
            .args([
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
            ])
            .arg(format!(
                "--use-file-for-fake-audio-capture={}",
                wav.display()
            ))
            .arg("--autoplay-policy=no-user-gesture-required")
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg(&url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        Self {
            dir,
            http,
            browser,
            peer: Some(SipPeer::spawn(peer, sip_local)),
            web: Some(web),
            public,
            sip: Some(sip),
            sip_local,
            peer_addr,
        }
    }

    /// Serves the page until it posts `/result`; `handle` answers the SDP posts (`/whip`,
    /// `/reoffer`). Returns the page's result.
    pub(crate) fn serve(&self, mut handle: impl FnMut(&str, &str) -> String) -> String {
        for stream in self.http.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(req) = read_request(&mut stream) else {
                continue;
            };
            match req.path.as_str() {
                "/" => respond(&mut stream, "text/html", PAGE),
                "/whip" | "/reoffer" => {
                    let answer = handle(&req.path, &req.body);
                    respond(&mut stream, "application/sdp", &answer);
                }
                "/result" => {
                    respond(&mut stream, "text/plain", "ok");
                    return req.body;
                }
                _ => respond(&mut stream, "text/plain", "ok"),
            }
        }
        unreachable!("a listener's incoming() never ends")
    }

    /// Stops the peer and the browser; returns what the SIP peer received, in arrival order.
    pub(crate) fn finish(mut self) -> Vec<SipPacket> {
        let peer = self.peer.take().expect("once");
        let _ = peer.stop.send(());
        let _ = peer.sender.join();
        let _ = peer.collect_stop.send(());
        let _ = self.browser.kill();
        let _ = self.browser.wait();
        let packets = peer.collector.join().expect("collector");
        let _ = std::fs::remove_dir_all(&self.dir);
        packets
    }

    /// Answers the page's WHIP offer: a bridge between the browser (Opus) and the SIP peer
    /// (PCMU, telephone-event at PT 101), plus our answer.
    pub(crate) fn bridge_for(&self, offer: &str) -> (Bridge, String) {
        let now = worker::now();
        let mut leg = WebRtcLeg::new(
            &WebRtcLegConfig {
                public_addr: self.public,
                codecs: vec![Codec::Opus],
            },
            now,
        )
        .expect("webrtc leg");
        let answer = leg.accept_offer(offer).expect("answer");
        let browser_leg = BrowserLeg::new(leg, 0x1001, 1, 0, now).expect("browser leg");
        let sip = RtpLeg::new(RtpLegConfig {
            local: self.sip_local,
            negotiated: Negotiated {
                remote: self.peer_addr,
                codec: Codec::Pcmu,
                codec_pt: SIP_PCMU_PT,
                dtmf_pt: Some(SIP_DTMF_PT),
                cn_pt: None,
                ptime: 20,
                srtp: None,
                direction: Direction::SendRecv,
                rtcp_mux: true,
            },
            latch: LatchMode::FirstValidPacket,
            ssrc: 0x2002,
            cname: "interop".into(),
            initial_seq: 1,
            initial_ts: 0,
        })
        .expect("sip leg");
        let cfg = BridgeConfig::new(worker::wall_clock());
        let bridge = Bridge::new(browser_leg, sip, cfg, now).expect("bridge");
        (bridge, answer)
    }
}

/// A number field of the page's JSON result.
pub(crate) fn number(result: &str, field: &str) -> Option<f64> {
    result
        .split(&format!("\"{field}\":"))
        .nth(1)?
        .split([',', '}'])
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The PCMU audio the SIP peer received, decoded in sequence order.
pub(crate) fn sip_audio(packets: &[SipPacket]) -> Vec<i16> {
    let mut audio: Vec<&SipPacket> = packets.iter().filter(|p| p.0 == SIP_PCMU_PT).collect();
    audio.sort_by_key(|p| p.1);
    let mut d = Decoder::new(Codec::Pcmu, 8000).expect("decoder");
    let mut pcm = Vec::new();
    for p in audio {
        d.decode(&p.4, 160, &mut pcm);
    }
    pcm
}

/// The events the SIP peer saw end, in order: (digit, final duration in 8 kHz units).
pub(crate) fn ended_events(packets: &[SipPacket]) -> Vec<(char, u16)> {
    let mut ended: Vec<(u32, char, u16)> = Vec::new();
    for p in packets.iter().filter(|p| p.0 == SIP_DTMF_PT) {
        let Some(ev) = TelephoneEvent::parse(&p.4).filter(|e| e.end) else {
            continue;
        };
        if ended.iter().all(|(ts, _, _)| *ts != p.3) {
            ended.push((p.3, ev.digit().unwrap_or('?'), ev.duration));
        }
    }
    ended.into_iter().map(|(_, d, dur)| (d, dur)).collect()
}
