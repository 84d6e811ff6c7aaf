//! Interop with a real browser: Debian's headless Chromium (fake audio device fed a 440 Hz tone
//! file) joins the WebRTC leg WHIP-style, completes ICE (against our ICE-lite) and DTLS-SRTP,
//! and the bridge connects it to a SIP/RTP peer. The SIP peer must hear 440 Hz and the browser
//! must hear the SIP peer's 660 Hz. The page then sends "159#" through `RTCDTMFSender` (100 ms
//! tones at 48 kHz telephone-event): the SIP peer must receive those digits as RFC 4733 events
//! at its 8 kHz payload type, each lasting 100 ms (800 units). Needs `/usr/bin/chromium`
//! (Debian package `chromium`); the test fails without it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::BytesMut;
use callbridge_media::bridge::{Bridge, BridgeConfig};
use callbridge_media::codec::Codec;
use callbridge_media::dtmf::TelephoneEvent;
use callbridge_media::leg::{LatchMode, RtpLeg, RtpLegConfig};
use callbridge_media::media_leg::BrowserLeg;
use callbridge_media::packet::RtpPacket;
use callbridge_media::sdp::{Direction, Negotiated};
use callbridge_media::shell::worker::{self, Worker};
use callbridge_media::transcode::codecs::{Decoder, Encoder};
use callbridge_media::webrtc::{WebRtcLeg, WebRtcLegConfig};
use common::audio::analyse;

const CHROMIUM: &str = "/usr/bin/chromium";
const SIP_PCMU_PT: u8 = 0;
const SIP_DTMF_PT: u8 = 101;
const PAGE: &str = include_str!("assets/whip.html");

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
    let path = line.split_whitespace().nth(1)?.to_owned();
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

#[test]
fn headless_chromium_joins_hears_and_is_heard_and_its_dtmf_reaches_sip() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is required (apt-get install chromium)"
    );
    let dir = std::env::temp_dir().join(format!("callbridge-chromium-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let wav = dir.join("tone.wav");
    write_tone_wav(&wav, 440.0, 30);

    let ip = public_ip();
    let web_sock = UdpSocket::bind((ip, 0)).expect("bind webrtc");
    let public: SocketAddr = web_sock.local_addr().expect("addr");
    let sip_sock = UdpSocket::bind("127.0.0.1:0").expect("bind sip");
    let sip_local = sip_sock.local_addr().expect("addr");
    let peer = UdpSocket::bind("127.0.0.1:0").expect("bind peer");
    let peer_addr = peer.local_addr().expect("addr");
    let worker = Worker::spawn("chromium-interop").expect("worker");

    let http = TcpListener::bind("127.0.0.1:0").expect("http");
    let url = format!("http://{}/", http.local_addr().expect("addr"));
    let mut browser = Command::new(CHROMIUM)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
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

    // The SIP peer: sends 660 Hz PCMU in real time, collects what the bridge sends it.
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (collect_stop_tx, collect_stop_rx) = mpsc::channel::<()>();
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
                    (8000.0
                        * (2.0 * std::f64::consts::PI * 660.0 * f64::from(i * 160 + k) / 8000.0)
                            .sin()) as i16
                })
                .collect();
            enc.encode(&pcm, &mut payload).expect("encode");
            let p = RtpPacket::build(0, false, i as u16, i * 160, 0x77, &payload);
            let _ = peer.send_to(p.as_bytes(), sip_local);
            let due = start + Duration::from_millis(20 * u64::from(i + 1));
            std::thread::sleep(due.saturating_duration_since(worker::now()));
        }
    });
    let collector = std::thread::spawn(move || {
        let mut packets = Vec::new();
        let mut buf = [0u8; 2048];
        let deadline = worker::now() + Duration::from_secs(40);
        while worker::now() < deadline && collect_stop_rx.try_recv().is_err() {
            if let Ok((n, _)) = peer_rx.recv_from(&mut buf) {
                if (192..=223).contains(&buf[1]) {
                    continue;
                }
                if let Some(p) = RtpPacket::parse(BytesMut::from(&buf[..n])) {
                    packets.push((p.pt, p.seq, p.ts, p.payload().to_vec()));
                }
            }
        }
        packets
    });

    let mut web_sock = Some(web_sock);
    let mut sip_sock = Some(sip_sock);
    let mut result = None;
    http.set_nonblocking(false).expect("blocking");
    for stream in http.incoming() {
        let Ok(mut stream) = stream else { continue };
        let Some(req) = read_request(&mut stream) else {
            continue;
        };
        match req.path.as_str() {
            "/" => respond(&mut stream, "text/html", PAGE),
            "/whip" => {
                let now = worker::now();
                let mut leg = WebRtcLeg::new(
                    &WebRtcLegConfig {
                        public_addr: public,
                        codecs: vec![Codec::Opus],
                    },
                    now,
                )
                .expect("webrtc leg");
                let answer = leg.accept_offer(&req.body).expect("answer");
                let browser_leg = BrowserLeg::new(leg, 0x1001, 1, 0, now).expect("browser leg");
                let sip = RtpLeg::new(RtpLegConfig {
                    local: sip_local,
                    negotiated: Negotiated {
                        remote: peer_addr,
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
                let bridge = Bridge::new(
                    browser_leg,
                    sip,
                    BridgeConfig::new(worker::wall_clock()),
                    now,
                )
                .expect("bridge");
                let sockets = vec![
                    web_sock.take().expect("once"),
                    sip_sock.take().expect("once"),
                ];
                worker.add_call(1, bridge, sockets).expect("add call");
                respond(&mut stream, "application/sdp", &answer);
            }
            "/result" => {
                respond(&mut stream, "text/plain", "ok");
                result = Some(req.body);
                break;
            }
            _ => respond(&mut stream, "text/plain", "ok"),
        }
    }
    let _ = stop_tx.send(());
    let _ = sender.join();
    let _ = collect_stop_tx.send(());
    let _ = browser.kill();
    let _ = browser.wait();
    let packets = collector.join().expect("collector");
    let _ = std::fs::remove_dir_all(&dir);

    let result = result.expect("the page reported a result");
    assert!(!result.starts_with("error"), "browser: {result}");
    let hz: f64 = result
        .split("\"hz\":")
        .nth(1)
        .and_then(|s| s.split([',', '}']).next())
        .and_then(|s| s.trim().parse().ok())
        .expect("hz in result");
    let mut packets = packets;
    packets.sort_by_key(|p| p.1);
    let mut d = Decoder::new(Codec::Pcmu, 8000).expect("decoder");
    let mut pcm = Vec::new();
    for (_, _, _, p) in packets.iter().filter(|p| p.0 == SIP_PCMU_PT) {
        d.decode(p, 160, &mut pcm);
    }
    let digits = ended_events(&packets);
    eprintln!("browser: {result}; SIP peer got {} packets", packets.len());
    // The browser's fake capture device can start late: judge the last two seconds.
    let skip = (pcm.len() as f64 / 8000.0 - 2.0).max(0.5);
    let (f, snr) = analyse(&pcm, 8000, skip, 2.0);
    eprintln!("SIP peer: {f:.1} Hz, SNR {snr:.1} dB, events {digits:?}");
    assert!(
        (f - 440.0).abs() < 5.0 && snr > 5.0,
        "SIP peer heard {f:.1} Hz, SNR {snr:.1} dB"
    );
    assert!(
        (hz - 660.0).abs() < 5.0,
        "browser heard {hz:.1} Hz ({result})"
    );
    assert!(
        result.contains("\"digits\":\"159#\""),
        "browser DTMF: {result}"
    );
    let heard: String = digits.iter().map(|(d, _)| *d).collect();
    assert_eq!(heard, "159#", "SIP peer's events: {digits:?}");
    for (digit, duration) in &digits {
        assert!(
            (640..=960).contains(duration),
            "{digit} lasted {duration} units at 8 kHz, not about 800"
        );
    }
}

/// The events the SIP peer saw end, in order: (digit, final duration in 8 kHz units).
fn ended_events(packets: &[(u8, u16, u32, Vec<u8>)]) -> Vec<(char, u16)> {
    let mut ended: Vec<(u32, char, u16)> = Vec::new();
    for (_, _, ts, payload) in packets.iter().filter(|p| p.0 == SIP_DTMF_PT) {
        let Some(ev) = TelephoneEvent::parse(payload).filter(|e| e.end) else {
            continue;
        };
        if ended.iter().all(|(t, _, _)| t != ts) {
            ended.push((*ts, ev.digit().unwrap_or('?'), ev.duration));
        }
    }
    ended.into_iter().map(|(_, d, dur)| (d, dur)).collect()
}
