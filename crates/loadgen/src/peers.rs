//! One load run: the worker (pinned to its core), the calls, the far ends (pinned to the
//! other core), and the figures.

use std::collections::HashSet;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use callbridge_media::codec::Codec;
use callbridge_media::shell::affinity::pin_current_thread;
use callbridge_media::shell::worker::{MediaCallKey, Worker, WorkerReport, thread_cpu_time};
use callbridge_media::transcode::codecs::Encoder;
use nix::sys::socket::{setsockopt, sockopt};

use crate::Result;
use crate::floor::Forwarder;
use crate::kernel::{cpu_steal, udp_drops};
use crate::setup;
use crate::traffic::{self, Payloads, Tally, Window, wall_ns};

/// Which path the datagrams take between the far ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// Through the media worker, rewritten and re-protected.
    Passthrough,
    /// Through the media worker, decoded and re-encoded.
    Transcode,
    /// Through a bare forwarder with the worker's I/O pattern (the kernel's share).
    Floor,
}

/// What to run.
#[derive(Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) calls: usize,
    pub(crate) path: Path,
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
    pub(crate) complexity: i32,
    /// CPU the media worker is pinned to.
    pub(crate) worker_cpu: Option<usize>,
    /// CPU the far ends (and this thread) are pinned to.
    pub(crate) peer_cpu: Option<usize>,
}

/// What was measured.
pub(crate) struct Outcome {
    pub(crate) plan: Plan,
    /// The worker's counters over the measured window.
    pub(crate) worker: WorkerReport,
    /// The far ends' counts.
    pub(crate) tally: Tally,
    /// Share of a core the far ends' thread used over the whole run.
    pub(crate) peer_cpu_share: f64,
    /// Datagrams the kernel dropped at the bridge's sockets / at the far ends' sockets during
    /// the measured window.
    pub(crate) drops_at_bridge: Option<u64>,
    pub(crate) drops_at_peers: Option<u64>,
    /// Time the hypervisor took from the worker's CPU during the window.
    pub(crate) worker_cpu_stolen: Option<Duration>,
    pub(crate) rss_per_call_kib: f64,
    pub(crate) rss_per_call_after_kib: f64,
}

impl Outcome {
    pub(crate) fn loss_percent(&self) -> f64 {
        let t = &self.tally;
        if t.sent == 0 {
            return 0.0;
        }
        t.sent.saturating_sub(t.received) as f64 * 100.0 / t.sent as f64
    }

    /// A percentile of the send-to-arrival times.
    pub(crate) fn latency(&self, p: f64) -> Option<Duration> {
        let l = &self.tally.latencies_ns;
        l.get(((l.len() as f64 - 1.0) * p) as usize)
            .map(|&ns| Duration::from_nanos(ns))
    }
}

pub(crate) fn run(plan: Plan) -> Result<Outcome> {
    if let Some(cpu) = plan.peer_cpu {
        // Setup and orchestration stay off the worker's core too.
        pin_current_thread(cpu)?;
    }
    let transcode = plan.path == Path::Transcode;
    let codecs = if transcode {
        [Codec::Opus, Codec::G722]
    } else {
        [Codec::Pcmu, Codec::Pcmu]
    };
    let peer_socks = [
        UdpSocket::bind("127.0.0.1:0")?,
        UdpSocket::bind("127.0.0.1:0")?,
    ];
    for s in &peer_socks {
        // The far ends receive up to 100,000 datagrams/s each: give them room for bursts.
        // Forcing past `net.core.rmem_max` needs CAP_NET_ADMIN; without it take what we get.
        if setsockopt(s, sockopt::RcvBufForce, &(64 << 20)).is_err() {
            setsockopt(s, sockopt::RcvBuf, &(64 << 20))?;
        }
    }
    let peer_addrs = [peer_socks[0].local_addr()?, peer_socks[1].local_addr()?];
    let peer_ports: HashSet<u16> = peer_addrs.iter().map(|a| a.port()).collect();

    let rss0 = rss_kib();
    let worker = match (plan.path, plan.worker_cpu) {
        (Path::Floor, _) => None,
        (_, Some(cpu)) => Some(Worker::spawn_pinned("media-worker-0", cpu)?),
        (_, None) => Some(Worker::spawn("media-worker-0")?),
    };
    let mut floor_sockets = Vec::new();
    let calls = setup::calls(
        plan.calls,
        codecs,
        plan.complexity,
        peer_addrs,
        &mut |id, bridge, sockets| match &worker {
            Some(w) => Ok(w.add_call(MediaCallKey(id), bridge, sockets)?),
            None => {
                floor_sockets.extend(sockets);
                Ok(())
            }
        },
    )?;
    let forwarder = match worker {
        Some(_) => None,
        None => Some(Forwarder::start(
            floor_sockets,
            peer_addrs,
            plan.worker_cpu,
        )?),
    };
    let bridge_ports: HashSet<u16> = calls.bridge_ports.iter().copied().collect();
    let report = || -> Result<WorkerReport> {
        match (&worker, &forwarder) {
            (Some(w), _) => Ok(w.report()?),
            (None, Some(f)) => Ok(f.report()),
            (None, None) => Err("nothing forwards".into()),
        }
    };
    // Let the worker take ownership of everything before measuring memory.
    let _ = report()?;
    let rss1 = rss_kib();

    let payloads: Payloads = if transcode {
        [
            frames(codecs[0], plan.complexity)?,
            frames(codecs[1], plan.complexity)?,
        ]
    } else {
        [vec![vec![0xD5; 160]], vec![vec![0xD5; 160]]]
    };
    let (origin, origin_ns) = (Instant::now(), wall_ns());
    let traffic_start = origin + Duration::from_millis(50);
    let window_start = traffic_start + plan.warmup;
    let window_end = window_start + plan.measure;
    let ns_at = |t: Instant| origin_ns + t.duration_since(origin).as_nanos() as u64;
    let window = Window {
        traffic_start,
        traffic_end: window_end,
        drain: Duration::from_millis(300),
        measure_from_ns: ns_at(window_start),
        measure_to_ns: ns_at(window_end),
        stamped: !transcode,
        verify: plan.path != Path::Floor,
    };

    let peer_cpu = plan.peer_cpu;
    let far_ends = std::thread::Builder::new()
        .name("loadgen-peers".into())
        .spawn(move || -> Result<(Tally, f64)> {
            if let Some(cpu) = peer_cpu {
                pin_current_thread(cpu)?;
            }
            let (cpu0, t0) = (thread_cpu_time(), Instant::now());
            let tally = traffic::run(&peer_socks, calls.tx, calls.rx, &payloads, window)?;
            let share =
                thread_cpu_time().saturating_sub(cpu0).as_secs_f64() / t0.elapsed().as_secs_f64();
            Ok((tally, share))
        })?;

    sleep_until(window_start);
    let r0 = report()?;
    let (bd0, pd0) = (udp_drops(&bridge_ports), udp_drops(&peer_ports));
    let steal0 = plan.worker_cpu.and_then(cpu_steal);
    sleep_until(window_end);
    let r1 = report()?;
    let (bd1, pd1) = (udp_drops(&bridge_ports), udp_drops(&peer_ports));
    let steal1 = plan.worker_cpu.and_then(cpu_steal);
    let rss2 = rss_kib();
    let (mut tally, peer_cpu_share) = far_ends.join().map_err(|_| "the far ends panicked")??;
    tally.latencies_ns.sort_unstable();

    let calls_f = plan.calls.max(1) as f64;
    Ok(Outcome {
        plan,
        worker: window_delta(&r0, &r1),
        tally,
        peer_cpu_share,
        drops_at_bridge: bd0.zip(bd1).map(|(a, b)| b.saturating_sub(a)),
        drops_at_peers: pd0.zip(pd1).map(|(a, b)| b.saturating_sub(a)),
        worker_cpu_stolen: steal0.zip(steal1).map(|(a, b)| b.saturating_sub(a)),
        rss_per_call_kib: (rss1 - rss0) / calls_f,
        rss_per_call_after_kib: (rss2 - rss0) / calls_f,
    })
}

/// The worker's counters between two reports; its latency percentiles are over the whole run.
fn window_delta(r0: &WorkerReport, r1: &WorkerReport) -> WorkerReport {
    WorkerReport {
        cpu: r1.cpu.saturating_sub(r0.cpu),
        datagrams_in: r1.datagrams_in - r0.datagrams_in,
        datagrams_out: r1.datagrams_out - r0.datagrams_out,
        send_errors: r1.send_errors - r0.send_errors,
        recv_calls: r1.recv_calls - r0.recv_calls,
        send_calls: r1.send_calls - r0.send_calls,
        ..*r1
    }
}

fn sleep_until(t: Instant) {
    if let Some(d) = t.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
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

/// One second of a 440 Hz tone, pre-encoded in 20 ms frames.
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
