//! The fake far ends of every call: one sender thread, one receiver thread per side.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The load generator's peers report any failure to `main`, which prints it and exits.
type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

use callbridge_media::bridge::{Bridge, BridgeConfig};
use callbridge_media::codec::Codec;
use callbridge_media::leg::{LatchMode, RtpLeg, RtpLegConfig};
use callbridge_media::packet::RtpPacket;
use callbridge_media::sdp::{self, LocalMedia};
use callbridge_media::shell::ports::PortAllocator;
use callbridge_media::shell::worker::{self, Worker};
use callbridge_media::srtp::SrtpSession;
use callbridge_media::transcode::codecs::Encoder;

/// What to run.
#[derive(Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) calls: usize,
    pub(crate) transcode: bool,
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
    pub(crate) complexity: i32,
}

/// What was measured.
pub(crate) struct Outcome {
    pub(crate) calls: usize,
    pub(crate) measured: Duration,
    pub(crate) worker_cpu: Duration,
    pub(crate) datagrams_in: u64,
    pub(crate) datagrams_out: u64,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) latency_p50: Option<Duration>,
    pub(crate) latency_p99: Option<Duration>,
    pub(crate) rss_per_call_kib: f64,
    pub(crate) rss_per_call_after_kib: f64,
    pub(crate) send_errors: u64,
    pub(crate) in_worker_p50: Duration,
    pub(crate) in_worker_p99: Duration,
}

impl Outcome {
    pub(crate) fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        (self.sent.saturating_sub(self.received)) as f64 * 100.0 / self.sent as f64
    }
}

struct TxPeer {
    to: SocketAddr,
    srtp: SrtpSession,
    pt: u8,
    ssrc: u32,
    seq: u16,
    ts: u32,
    ts_step: u32,
}

fn rss_kib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0.0)
}

fn frames(codec: Codec, complexity: i32) -> Result<Vec<Vec<u8>>> {
    let rate = codec.sample_rate();
    let n = rate as usize / 50;
    let mut enc = Encoder::new(codec, rate, complexity)?;
    let mut out = Vec::new();
    for f in 0..50 {
        let pcm: Vec<i16> = (0..n)
            .map(|i| {
                let t = (f * n + i) as f64 / f64::from(rate);
                (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
            })
            .collect();
        let mut payload = Vec::new();
        enc.encode(&pcm, &mut payload)?;
        out.push(payload);
    }
    Ok(out)
}

pub(crate) fn run(plan: Plan) -> Result<Outcome> {
    let start = Instant::now();
    let codecs = if plan.transcode {
        [Codec::Opus, Codec::G722]
    } else {
        [Codec::Pcmu, Codec::Pcmu]
    };
    let peer_socks = [
        UdpSocket::bind("127.0.0.1:0")?,
        UdpSocket::bind("127.0.0.1:0")?,
    ];
    for s in &peer_socks {
        let state = quinn_udp::UdpSocketState::new(s.into())?;
        let _ = state.set_recv_buffer_size(s.into(), 16 << 20);
        let _ = state.set_send_buffer_size(s.into(), 16 << 20);
    }
    let peer_addrs = [peer_socks[0].local_addr()?, peer_socks[1].local_addr()?];
    let rss0 = rss_kib();
    let worker = Worker::spawn("media-worker-0")?;
    let mut ports = PortAllocator::new(20_000..=59_999)?;
    let mut tx: Vec<[TxPeer; 2]> = Vec::with_capacity(plan.calls);
    let mut rx: [HashMap<SocketAddr, SrtpSession>; 2] = [HashMap::new(), HashMap::new()];
    for call in 0..plan.calls {
        let mut legs = Vec::new();
        let mut sockets = Vec::new();
        let mut peers = Vec::new();
        for side in 0..2 {
            let sock = loop {
                let port = ports.allocate()?;
                if let Ok(s) = UdpSocket::bind(("127.0.0.1", port)) {
                    break s;
                }
            };
            let local = sock.local_addr()?;
            let codec = codecs[side];
            let pm = LocalMedia::new(peer_addrs[side].ip(), peer_addrs[side].port(), vec![codec])
                .with_fresh_srtp();
            let bm = LocalMedia::new(local.ip(), local.port(), vec![codec]).with_fresh_srtp();
            let offer = sdp::create_offer(&pm, call as u64);
            let (answer, at_bridge) = sdp::answer_offer(&offer, &bm, call as u64)?;
            let at_peer = sdp::apply_answer(&answer, &pm)?;
            let (ours, theirs) = at_peer.srtp.clone().ok_or("srtp negotiated")?;
            rx[side].insert(local, SrtpSession::new(&ours, &theirs)?);
            peers.push(TxPeer {
                to: local,
                srtp: SrtpSession::new(&ours, &theirs)?,
                pt: at_peer.codec_pt,
                ssrc: 0x5000_0000 + (call as u32) * 2 + side as u32,
                seq: rand_u16(call, side),
                ts: 0,
                ts_step: codec.rtp_clock() / 50,
            });
            legs.push(RtpLeg::new(RtpLegConfig {
                local,
                negotiated: at_bridge,
                latch: LatchMode::FirstValidPacket,
                ssrc: 0x6000_0000 + (call as u32) * 2 + side as u32,
                cname: "loadgen".into(),
                initial_seq: rand_u16(side, call),
                initial_ts: 0,
            })?);
            sockets.push(sock);
        }
        let mut cfg = BridgeConfig::new(worker::wall_clock());
        cfg.transcode.opus_complexity = plan.complexity;
        let b = legs.pop().ok_or("leg b")?;
        let a = legs.pop().ok_or("leg a")?;
        let bridge = Bridge::new(a, b, cfg, worker::now())?;
        worker.add_call(call as u64, bridge, sockets)?;
        let pb = peers.pop().ok_or("peer b")?;
        let pa = peers.pop().ok_or("peer a")?;
        tx.push([pa, pb]);
    }
    // Let the worker take ownership of everything before measuring memory.
    let _ = worker.report()?;
    let rss1 = rss_kib();

    let payloads: [Vec<Vec<u8>>; 2] = if plan.transcode {
        [
            frames(codecs[0], plan.complexity)?,
            frames(codecs[1], plan.complexity)?,
        ]
    } else {
        [vec![vec![0xD5; 160]], vec![vec![0xD5; 160]]]
    };
    let traffic_start = Instant::now();
    let window_start = traffic_start + plan.warmup;
    let window_end = window_start + plan.measure;
    let stop = Arc::new(AtomicBool::new(false));

    let mut receivers = Vec::new();
    for (side, sessions) in rx.into_iter().enumerate() {
        let sock = peer_socks[side].try_clone()?;
        sock.set_read_timeout(Some(Duration::from_millis(200)))?;
        let stop = Arc::clone(&stop);
        let transcode = plan.transcode;
        receivers.push(std::thread::spawn(move || {
            receive(
                sock,
                sessions,
                transcode,
                start,
                window_start,
                window_end,
                &stop,
            )
        }));
    }
    let sender_socks = [peer_socks[0].try_clone()?, peer_socks[1].try_clone()?];
    let sender = std::thread::spawn(move || {
        send(
            sender_socks,
            tx,
            &payloads,
            start,
            traffic_start,
            window_start,
            window_end,
        )
    });

    let mut cpu_at_start = None;
    while Instant::now() < window_start {
        std::thread::sleep(Duration::from_millis(10));
    }
    let r0 = worker.report()?;
    cpu_at_start.get_or_insert(r0.cpu);
    while Instant::now() < window_end {
        std::thread::sleep(Duration::from_millis(10));
    }
    let r1 = worker.report()?;
    let rss2 = rss_kib();
    let sent = sender.join().map_err(|_| "sender panicked")?;
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut received = 0;
    let mut latencies = Vec::new();
    for r in receivers {
        let (n, mut l) = r.join().map_err(|_| "receiver panicked")?;
        received += n;
        latencies.append(&mut l);
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .map(|&ns| Duration::from_nanos(ns))
    };
    let calls = plan.calls.max(1) as f64;
    Ok(Outcome {
        calls: plan.calls,
        measured: plan.measure,
        worker_cpu: r1.cpu.saturating_sub(r0.cpu),
        datagrams_in: r1.datagrams_in - r0.datagrams_in,
        datagrams_out: r1.datagrams_out - r0.datagrams_out,
        sent,
        received,
        latency_p50: pct(0.5),
        latency_p99: pct(0.99),
        rss_per_call_kib: (rss1 - rss0) / calls,
        rss_per_call_after_kib: (rss2 - rss0) / calls,
        send_errors: r1.send_errors,
        in_worker_p50: r1.in_worker_p50,
        in_worker_p99: r1.in_worker_p99,
    })
}

fn rand_u16(a: usize, b: usize) -> u16 {
    ((a * 7919 + b * 104_729) % 65_536) as u16
}

#[allow(clippy::needless_pass_by_value)] // The thread owns its sockets and peers.
fn send(
    socks: [UdpSocket; 2],
    mut peers: Vec<[TxPeer; 2]>,
    payloads: &[Vec<Vec<u8>>; 2],
    origin: Instant,
    traffic_start: Instant,
    window_start: Instant,
    window_end: Instant,
) -> u64 {
    let n = peers.len().max(1) as u32;
    let period = Duration::from_millis(20);
    let mut sent = 0;
    let mut round: u32 = 0;
    let mut payload = Vec::with_capacity(256);
    loop {
        for (i, call) in peers.iter_mut().enumerate() {
            let due = traffic_start + period * round + period * (i as u32) / n;
            if due >= window_end {
                return sent;
            }
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            for (side, p) in call.iter_mut().enumerate() {
                let frames = &payloads[side];
                payload.clear();
                payload.extend_from_slice(&frames[round as usize % frames.len()]);
                let sent_at = Instant::now();
                if frames.len() == 1 {
                    // Passthrough payloads carry their send time for the latency measurement.
                    let ns = sent_at.duration_since(origin).as_nanos() as u64;
                    payload[..8].copy_from_slice(&ns.to_be_bytes());
                }
                let pkt = RtpPacket::build(p.pt, false, p.seq, p.ts, p.ssrc, &payload);
                p.seq = p.seq.wrapping_add(1);
                p.ts = p.ts.wrapping_add(p.ts_step);
                let Ok(wire) = p.srtp.protect_rtp(pkt.as_bytes()) else {
                    continue;
                };
                if socks[side].send_to(&wire, p.to).is_ok() && sent_at >= window_start {
                    sent += 1;
                }
            }
        }
        round += 1;
    }
}

#[allow(clippy::needless_pass_by_value)] // The thread owns its socket and sessions.
fn receive(
    sock: UdpSocket,
    mut sessions: HashMap<SocketAddr, SrtpSession>,
    transcode: bool,
    origin: Instant,
    window_start: Instant,
    window_end: Instant,
    stop: &AtomicBool,
) -> (u64, Vec<u64>) {
    let mut buf = [0u8; 2048];
    let mut count = 0;
    let mut latencies = Vec::new();
    let (ws, we) = (
        window_start.duration_since(origin).as_nanos() as u64,
        window_end.duration_since(origin).as_nanos() as u64,
    );
    while !stop.load(Ordering::Relaxed) {
        let Ok((len, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let now = Instant::now();
        let data = &buf[..len];
        if data.len() > 1 && (192..=223).contains(&data[1]) {
            continue; // RTCP
        }
        let Some(s) = sessions.get_mut(&from) else {
            continue;
        };
        let Ok(plain) = s.unprotect_rtp(data) else {
            continue;
        };
        let Some(p) = RtpPacket::parse(plain) else {
            continue;
        };
        if transcode {
            if now >= window_start && now < window_end {
                count += 1;
            }
            continue;
        }
        let Some(stamp) = p.payload().get(..8) else {
            continue;
        };
        let sent_ns = u64::from_be_bytes(stamp.try_into().unwrap_or_default());
        if sent_ns >= ws && sent_ns < we {
            count += 1;
            let now_ns = now.duration_since(origin).as_nanos() as u64;
            latencies.push(now_ns.saturating_sub(sent_ns));
        }
    }
    (count, latencies)
}
