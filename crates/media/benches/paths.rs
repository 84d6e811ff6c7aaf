//! Micro-benchmarks of the per-packet (passthrough) and per-frame (transcode) paths, with the
//! codec costs alone measured in the same run for the ratio.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use callbridge_media::bridge::{Bridge, BridgeConfig, Input, Output};
use callbridge_media::clock::WallClock;
use callbridge_media::codec::Codec;
use callbridge_media::leg::{LatchMode, RtpLeg, RtpLegConfig};
use callbridge_media::packet::RtpPacket;
use callbridge_media::sdp::{self, LocalMedia};
use callbridge_media::srtp::SrtpSession;
use callbridge_media::transcode::codecs::{Decoder, Encoder};
use callbridge_media::transcode::{TranscodeConfig, TranscodeDirection};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

#[allow(clippy::disallowed_methods)] // Benchmarks need a real origin for virtual time.
fn epoch() -> Instant {
    Instant::now()
}

fn tone(rate: u32, n: usize, offset: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = (offset + i) as f64 / f64::from(rate);
            (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect()
}

struct PassthroughRig {
    bridge: Bridge,
    /// The sending peer's SRTP keys; `None` for plain RTP.
    peer: Option<SrtpSession>,
    from: std::net::SocketAddr,
    to: std::net::SocketAddr,
    seq: u16,
    now: Instant,
}

fn passthrough_rig(srtp: bool) -> PassthroughRig {
    let now = epoch();
    let peers: [std::net::SocketAddr; 2] = [
        "192.0.2.1:5000".parse().unwrap(),
        "192.0.2.2:5000".parse().unwrap(),
    ];
    let locals: [std::net::SocketAddr; 2] = [
        "10.0.0.1:4000".parse().unwrap(),
        "10.0.0.1:4002".parse().unwrap(),
    ];
    let mut legs = Vec::new();
    let mut peer_sessions = Vec::new();
    for i in 0..2 {
        let mut pm = LocalMedia::new(peers[i].ip(), peers[i].port(), vec![Codec::Pcmu]);
        let mut bm = LocalMedia::new(locals[i].ip(), locals[i].port(), vec![Codec::Pcmu]);
        if srtp {
            pm = pm.with_fresh_srtp();
            bm = bm.with_fresh_srtp();
        }
        let offer = sdp::create_offer(&pm, 1);
        let (answer, at_bridge) = sdp::answer_offer(&offer, &bm, 2).unwrap();
        let at_peer = sdp::apply_answer(&answer, &pm).unwrap();
        peer_sessions.push(at_peer.srtp.map(|(o, t)| SrtpSession::new(&o, &t).unwrap()));
        legs.push(
            RtpLeg::new(RtpLegConfig {
                local: locals[i],
                negotiated: at_bridge,
                latch: LatchMode::FirstValidPacket,
                ssrc: 1 + i as u32,
                cname: "bench".into(),
                initial_seq: 0,
                initial_ts: 0,
            })
            .unwrap(),
        );
    }
    let b = legs.pop().unwrap();
    let a = legs.pop().unwrap();
    let bridge = Bridge::new(
        a,
        b,
        BridgeConfig::new(WallClock {
            at: now,
            unix: Duration::from_secs(1),
        }),
        now,
    )
    .unwrap();
    PassthroughRig {
        bridge,
        peer: peer_sessions.swap_remove(0),
        from: peers[0],
        to: locals[0],
        seq: 0,
        now,
    }
}

fn bench_passthrough(c: &mut Criterion) {
    let payload = [0xD5u8; 160];
    for (srtp, name) in [
        (
            true,
            "passthrough/srtp_in_rewrite_srtp_out (172-byte G.711 packet)",
        ),
        (
            false,
            "passthrough/rtp_in_rewrite_rtp_out (172-byte G.711 packet)",
        ),
    ] {
        let mut rig = passthrough_rig(srtp);
        c.bench_function(name, |b| {
            b.iter_batched(
                || {
                    rig.seq = rig.seq.wrapping_add(1);
                    let p = RtpPacket::build(
                        0,
                        false,
                        rig.seq,
                        u32::from(rig.seq) * 160,
                        0xAAAA,
                        &payload,
                    );
                    match &mut rig.peer {
                        Some(s) => s.protect_rtp(p.as_bytes()).unwrap().to_vec(),
                        None => p.as_bytes().to_vec(),
                    }
                },
                |wire| {
                    rig.now += Duration::from_millis(20);
                    let (from, to, now) = (rig.from, rig.to, rig.now);
                    rig.bridge
                        .handle_input(
                            Input::Receive {
                                from,
                                to,
                                data: &wire,
                            },
                            now,
                        )
                        .unwrap();
                    // As the shell does: send, then hand the payload back.
                    while let Output::Transmit(t) = rig.bridge.poll_output() {
                        black_box(&t);
                        rig.bridge.recycle(t);
                    }
                },
                BatchSize::SmallInput,
            );
        });
    }
    let mut ctx = passthrough_rig(true).peer.unwrap();
    let mut seq = 0u16;
    c.bench_function("alone/srtp_protect (172-byte packet)", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let p = RtpPacket::build(0, false, seq, 0, 1, &payload);
            black_box(ctx.protect_rtp(p.as_bytes()).unwrap());
        });
    });
}

fn bench_transcode(c: &mut Criterion) {
    let ms20 = Duration::from_millis(20);
    for complexity in [5, 10] {
        // Pre-encode G.722 input; measure G.722 -> Opus at the given complexity (the costly way).
        let mut g722 = Encoder::new(Codec::G722, 16_000, 5).unwrap();
        let input: Vec<Vec<u8>> = (0..50)
            .map(|k| {
                let mut out = Vec::new();
                g722.encode(&tone(16_000, 320, k * 320), &mut out).unwrap();
                out
            })
            .collect();
        let cfg = TranscodeConfig {
            opus_complexity: complexity,
            ..TranscodeConfig::default()
        };
        let mut dir = TranscodeDirection::new(Codec::G722, ms20, Codec::Opus, ms20, cfg).unwrap();
        let mut now = epoch();
        let mut k = 0u32;
        c.bench_function(
            &format!("transcode/g722_to_opus_frame (c{complexity})"),
            |b| {
                b.iter(|| {
                    dir.push(k * 160, &input[k as usize % 50], false, now);
                    now += ms20;
                    k += 1;
                    black_box(
                        dir.tick(now + Duration::from_millis(100), || 0)
                            .unwrap()
                            .map(|f| f.payload.len()),
                    );
                });
            },
        );
        let mut enc = Encoder::new(Codec::Opus, 16_000, complexity).unwrap();
        let pcm = tone(16_000, 320, 0);
        let mut out = Vec::new();
        c.bench_function(
            &format!("alone/opus_encode_20ms_16k (c{complexity})"),
            |b| {
                b.iter(|| enc.encode(black_box(&pcm), &mut out).unwrap());
            },
        );
    }
    let mut opus = Encoder::new(Codec::Opus, 48_000, 5).unwrap();
    let opus_in: Vec<Vec<u8>> = (0..50)
        .map(|k| {
            let mut out = Vec::new();
            opus.encode(&tone(48_000, 960, k * 960), &mut out).unwrap();
            out
        })
        .collect();
    let mut dir = TranscodeDirection::new(
        Codec::Opus,
        ms20,
        Codec::G722,
        ms20,
        TranscodeConfig::default(),
    )
    .unwrap();
    let mut now = epoch();
    let mut k = 0u32;
    c.bench_function("transcode/opus_to_g722_frame", |b| {
        b.iter(|| {
            dir.push(k * 960, &opus_in[k as usize % 50], false, now);
            now += ms20;
            k += 1;
            black_box(
                dir.tick(now + Duration::from_millis(100), || 0)
                    .unwrap()
                    .map(|f| f.payload.len()),
            );
        });
    });
    let mut dec = Decoder::new(Codec::Opus, 16_000).unwrap();
    let mut pcm = Vec::new();
    let mut i = 0;
    c.bench_function("alone/opus_decode_20ms_at_16k", |b| {
        b.iter(|| {
            pcm.clear();
            dec.decode(&opus_in[i % 50], 320, &mut pcm);
            i += 1;
        });
    });
    let mut g722 = Encoder::new(Codec::G722, 16_000, 5).unwrap();
    let pcm16 = tone(16_000, 320, 0);
    let mut out = Vec::new();
    c.bench_function("alone/g722_encode_20ms", |b| {
        b.iter(|| g722.encode(black_box(&pcm16), &mut out).unwrap())
    });
}

criterion_group!(benches, bench_passthrough, bench_transcode);
criterion_main!(benches);
