//! Interop with a real peer: Debian's ffmpeg sends and receives plain RTP (G.722, PCMU, Opus)
//! against the SIP/RTP leg, through a media worker on loopback. The decoded audio must carry
//! the tone. Needs `/usr/bin/ffmpeg` (Debian package `ffmpeg`); the test fails without it.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::BytesMut;
use callbridge_media::bridge::{Bridge, BridgeConfig};
use callbridge_media::codec::Codec;
use callbridge_media::leg::{LatchMode, RtpLeg, RtpLegConfig};
use callbridge_media::packet::RtpPacket;
use callbridge_media::sdp::{Direction, Negotiated};
use callbridge_media::shell::worker::{self, MediaCallKey, Worker};
use callbridge_media::transcode::codecs::{Decoder, Encoder};
use common::audio::analyse;

const FFMPEG: &str = "/usr/bin/ffmpeg";

/// SNR floor for these real-time runs: on a loaded machine ffmpeg's `-re` pacing and our
/// worker's scheduling add jitter the adaptive buffer absorbs with the odd stretch or skip,
/// each a small discontinuity. The frequency check stays at ±5 Hz.
const MIN_SNR_DB: f64 = 5.0;

fn ffmpeg() -> &'static str {
    assert!(
        Path::new(FFMPEG).exists(),
        "{FFMPEG} is required (apt-get install ffmpeg)"
    );
    FFMPEG
}

fn plain(remote: SocketAddr, codec: Codec, pt: u8) -> Negotiated {
    Negotiated {
        remote,
        codec,
        codec_pt: pt,
        dtmf_pt: None,
        cn_pt: None,
        ptime: 20,
        srtp: None,
        direction: Direction::SendRecv,
        rtcp_mux: true,
    }
}

fn leg(sock: &UdpSocket, n: Negotiated, latch: LatchMode) -> RtpLeg {
    RtpLeg::new(RtpLegConfig {
        local: sock.local_addr().expect("addr"),
        negotiated: n,
        latch,
        ssrc: 0x4242,
        cname: "interop".into(),
        initial_seq: 1000,
        initial_ts: 0,
    })
    .expect("leg")
}

fn ffmpeg_codec(codec: Codec) -> (&'static str, u8, &'static str) {
    match codec {
        Codec::G722 => ("g722", 9, "G722/8000"),
        Codec::Pcmu => ("pcm_mulaw", 0, "PCMU/8000"),
        Codec::Opus => ("libopus", 111, "opus/48000/2"),
        Codec::Pcma => ("pcm_alaw", 8, "PCMA/8000"),
    }
}

/// ffmpeg sends a 440 Hz tone in `codec`; our peer on the other leg receives PCMU.
fn ffmpeg_sends(codec: Codec) {
    let (enc, pt, _) = ffmpeg_codec(codec);
    let peer = UdpSocket::bind("127.0.0.1:0").expect("bind");
    peer.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let a_addr = a.local_addr().expect("addr");
    let unused: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let bridge = Bridge::new(
        leg(&a, plain(unused, codec, pt), LatchMode::FirstValidPacket),
        leg(
            &b,
            plain(peer.local_addr().expect("addr"), Codec::Pcmu, 0),
            LatchMode::FirstValidPacket,
        ),
        BridgeConfig::new(worker::wall_clock()),
        worker::now(),
    )
    .expect("bridge");
    let w = Worker::spawn("interop").expect("worker");
    w.add_call(MediaCallKey(1), bridge, vec![a, b])
        .expect("add");
    let rate = if codec == Codec::Opus {
        48_000
    } else {
        codec.sample_rate()
    };
    let status = Command::new(ffmpeg())
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
        ])
        .args([
            "-ar",
            &rate.to_string(),
            "-ac",
            "1",
            "-c:a",
            enc,
            "-payload_type",
            &pt.to_string(),
        ])
        .args(["-b:a", "32k", "-f", "rtp"])
        // 172-byte packets make ffmpeg send one 20 ms G.711/G.722 frame per packet; Opus
        // frames are 20 ms by default.
        .arg(if codec == Codec::Opus {
            format!("rtp://{a_addr}")
        } else {
            format!("rtp://{a_addr}?pkt_size=172")
        })
        .stdout(Stdio::null())
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg failed for {codec:?}");
    let mut packets = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = peer.recv_from(&mut buf) {
        if (192..=223).contains(&buf[1]) {
            continue;
        }
        if let Some(p) = RtpPacket::parse(BytesMut::from(&buf[..n])) {
            packets.push((p.seq, p.payload().to_vec()));
        }
        if packets.len() >= 140 {
            break;
        }
    }
    packets.sort_by_key(|(s, _)| s.wrapping_sub(1000));
    let mut d = Decoder::new(Codec::Pcmu, 8000).expect("decoder");
    let mut pcm = Vec::new();
    for (_, p) in &packets {
        d.decode(p, 160, &mut pcm);
    }
    let (f, snr) = analyse(&pcm, 8000, 0.5, 1.5);
    assert!(
        (f - 440.0).abs() < 5.0 && snr > MIN_SNR_DB,
        "ffmpeg {codec:?} -> bridge: {f:.1} Hz, SNR {snr:.1} dB"
    );
}

/// Our peer sends a 660 Hz PCMU tone; ffmpeg receives `codec` from the bridge and decodes it.
fn ffmpeg_receives(codec: Codec) {
    let (_, pt, rtpmap) = ffmpeg_codec(codec);
    let dir = std::env::temp_dir().join(format!(
        "callbridge-interop-{}-{codec:?}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let sdp_path = dir.join("in.sdp");
    let sdp = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {rtpmap}\r\n"
    );
    std::fs::write(&sdp_path, sdp).expect("sdp");
    let out = dir.join("out.raw");
    let rate = 16_000;
    let mut child = Command::new(ffmpeg())
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-protocol_whitelist",
            "file,udp,rtp",
        ])
        .arg("-i")
        .arg(&sdp_path)
        .args([
            "-t",
            "2.5",
            "-ac",
            "1",
            "-ar",
            &rate.to_string(),
            "-f",
            "s16le",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .spawn()
        .expect("run ffmpeg");
    let peer = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let b_addr = b.local_addr().expect("addr");
    let ff: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let bridge = Bridge::new(
        leg(&a, plain(ff, codec, pt), LatchMode::SdpAddressOnly),
        leg(
            &b,
            plain(peer.local_addr().expect("addr"), Codec::Pcmu, 0),
            LatchMode::FirstValidPacket,
        ),
        BridgeConfig::new(worker::wall_clock()),
        worker::now(),
    )
    .expect("bridge");
    let w = Worker::spawn("interop").expect("worker");
    w.add_call(MediaCallKey(1), bridge, vec![a, b])
        .expect("add");
    let mut enc = Encoder::new(Codec::Pcmu, 8000, 5).expect("encoder");
    let mut payload = Vec::new();
    let start = worker::now();
    // Send until ffmpeg has its 2.5 s and exits; a slow-starting ffmpeg still gets them, and
    // one that never hears anything is stopped after 30 s instead of hanging the suite.
    let mut exited = false;
    for i in 0..1500u32 {
        let pcm: Vec<i16> = (0..160)
            .map(|k| {
                (8000.0
                    * (2.0 * std::f64::consts::PI * 660.0 * f64::from(i * 160 + k) / 8000.0).sin())
                    as i16
            })
            .collect();
        enc.encode(&pcm, &mut payload).expect("encode");
        let p = RtpPacket::build(0, i == 0, i as u16, i * 160, 0x99, &payload);
        peer.send_to(p.as_bytes(), b_addr).expect("send");
        // Real-time pacing: ffmpeg is a real-time peer.
        let due = start + Duration::from_millis(20 * u64::from(i + 1));
        std::thread::sleep(due.saturating_duration_since(worker::now()));
        if child.try_wait().expect("wait").is_some() {
            exited = true;
            break;
        }
    }
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("ffmpeg received no {codec:?} audio within 30 s");
    }
    let status = child.wait().expect("ffmpeg exit");
    assert!(status.success(), "ffmpeg receive failed for {codec:?}");
    let raw = std::fs::read(&out).expect("decoded audio");
    let pcm: Vec<i16> = raw
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let (f, snr) = analyse(&pcm, rate, 0.5, 1.5);
    assert!(
        (f - 660.0).abs() < 5.0 && snr > MIN_SNR_DB,
        "bridge -> ffmpeg {codec:?}: {f:.1} Hz, SNR {snr:.1} dB"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ffmpeg_sends_g722_pcmu_and_opus_to_the_sip_leg() {
    for codec in [Codec::G722, Codec::Pcmu, Codec::Opus] {
        ffmpeg_sends(codec);
    }
}

#[test]
fn ffmpeg_receives_g722_pcmu_and_opus_from_the_sip_leg() {
    for codec in [Codec::G722, Codec::Pcmu, Codec::Opus] {
        ffmpeg_receives(codec);
    }
}
