//! The I/O shell over real loopback sockets: a worker owns a call and forwards its packets.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use bytes::BytesMut;
use callbridge_media::MediaError;
use callbridge_media::bridge::{Bridge, BridgeConfig};
use callbridge_media::codec::Codec;
use callbridge_media::event::Side;
use callbridge_media::leg::{LatchMode, RtpLeg, RtpLegConfig};
use callbridge_media::packet::{RtpPacket, is_rtcp};
use callbridge_media::sdp::{self, LocalMedia};
use callbridge_media::shell::worker::{self, MediaCallKey, Worker};

/// A plain-RTP PCMU call between two loopback peers, not yet handed to a worker.
struct LoopbackCall {
    bridge: Bridge,
    /// The far ends of leg A and leg B.
    peers: [UdpSocket; 2],
    /// The bridge's sockets for leg A and leg B.
    sockets: Vec<UdpSocket>,
    /// Where the far ends send to reach the bridge.
    to: [SocketAddr; 2],
}

fn loopback_call(latch: LatchMode) -> LoopbackCall {
    let peers = [
        UdpSocket::bind("127.0.0.1:0").expect("bind"),
        UdpSocket::bind("127.0.0.1:0").expect("bind"),
    ];
    let sockets = vec![
        UdpSocket::bind("127.0.0.1:0").expect("bind"),
        UdpSocket::bind("127.0.0.1:0").expect("bind"),
    ];
    let mut legs = Vec::new();
    for i in 0..2 {
        let p = peers[i].local_addr().expect("addr");
        let b = sockets[i].local_addr().expect("addr");
        let pm = LocalMedia::new(p.ip(), p.port(), vec![Codec::Pcmu]);
        let bm = LocalMedia::new(b.ip(), b.port(), vec![Codec::Pcmu]);
        let (_, at_bridge) = sdp::answer_offer(&sdp::create_offer(&pm, 1), &bm, 2).expect("answer");
        legs.push(
            RtpLeg::new(RtpLegConfig {
                local: b,
                negotiated: at_bridge,
                latch,
                ssrc: 0x77 + i as u32,
                cname: "t".into(),
                initial_seq: 1,
                initial_ts: 1,
            })
            .expect("leg"),
        );
    }
    let to = [
        sockets[0].local_addr().expect("addr"),
        sockets[1].local_addr().expect("addr"),
    ];
    let leg_b = legs.pop().expect("b");
    let leg_a = legs.pop().expect("a");
    let bridge = Bridge::new(
        leg_a,
        leg_b,
        BridgeConfig::new(worker::wall_clock()),
        worker::now(),
    )
    .expect("bridge");
    for p in &peers {
        p.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
    }
    LoopbackCall {
        bridge,
        peers,
        sockets,
        to,
    }
}

/// The next RTP packet (RTCP skipped) a peer receives, within 5 s.
fn next_rtp(peer: &UdpSocket) -> RtpPacket {
    let mut buf = [0u8; 1500];
    loop {
        let (n, _) = peer.recv_from(&mut buf).expect("packet within 5 s");
        if !is_rtcp(&buf[..n]) {
            return RtpPacket::parse(BytesMut::from(&buf[..n])).expect("valid RTP");
        }
    }
}

#[test]
fn worker_forwards_a_plain_rtp_call_over_loopback() {
    let call = loopback_call(LatchMode::FirstValidPacket);
    let w = Worker::spawn("test-worker").expect("worker");
    w.add_call(MediaCallKey(1), call.bridge, call.sockets)
        .expect("add");

    // Peer B must be latched before it can receive: it speaks first.
    let hello = RtpPacket::build(0, false, 1, 0, 0xB, &[0xFF; 160]);
    call.peers[1]
        .send_to(hello.as_bytes(), call.to[1])
        .expect("send");
    for seq in 0..20u16 {
        let p = RtpPacket::build(0, false, seq, u32::from(seq) * 160, 0xA, &[0xD5; 160]);
        call.peers[0]
            .send_to(p.as_bytes(), call.to[0])
            .expect("send");
    }
    for _ in 0..20 {
        let p = next_rtp(&call.peers[1]);
        assert_eq!(p.ssrc, 0x78, "rewritten to the bridge's SSRC on leg B");
        assert_eq!(p.payload(), &[0xD5; 160]);
    }
    let r = w.report().expect("report");
    assert_eq!(r.calls, 1);
    assert!(r.datagrams_in >= 21 && r.datagrams_out >= 20, "{r:?}");
    w.remove_call(MediaCallKey(1)).expect("remove");
    assert_eq!(w.report().expect("report").calls, 0);
}

#[test]
fn a_lone_datagram_costs_one_receive_call_not_a_second_that_finds_nothing() {
    let call = loopback_call(LatchMode::SdpAddressOnly);
    let w = Worker::spawn("test-worker").expect("worker");
    w.add_call(MediaCallKey(1), call.bridge, call.sockets)
        .expect("add");
    for seq in 0..10u16 {
        let p = RtpPacket::build(0, false, seq, u32::from(seq) * 160, 0xA, &[0xD5; 160]);
        call.peers[0]
            .send_to(p.as_bytes(), call.to[0])
            .expect("send");
        // Wait for it to come out, so every datagram arrives at an idle worker on its own.
        assert_eq!(next_rtp(&call.peers[1]).seq, 1 + seq);
    }
    let r = w.report().expect("report");
    assert_eq!(r.datagrams_in, 10, "{r:?}");
    assert_eq!(r.recv_calls, 10, "one recvmmsg per wake-up: {r:?}");
}

#[test]
fn a_burst_for_one_destination_leaves_in_one_gso_send() {
    let call = loopback_call(LatchMode::SdpAddressOnly);
    // Queue the burst before the worker owns the socket, so it reads all of it in one batch.
    for seq in 0..20u16 {
        let p = RtpPacket::build(0, false, seq, u32::from(seq) * 160, 0xA, &[0xD5; 160]);
        call.peers[0]
            .send_to(p.as_bytes(), call.to[0])
            .expect("send");
    }
    let w = Worker::spawn("test-worker").expect("worker");
    w.add_call(MediaCallKey(1), call.bridge, call.sockets)
        .expect("add");
    for seq in 0..20u16 {
        let p = next_rtp(&call.peers[1]);
        assert_eq!(p.seq, 1 + seq, "each datagram arrives on its own, in order");
        assert_eq!(p.payload(), &[0xD5; 160]);
    }
    let r = w.report().expect("report");
    assert!(r.datagrams_out >= 20, "{r:?}");
    assert!(
        r.send_calls + 15 <= r.datagrams_out,
        "20 datagrams to one peer should share a few sends: {r:?}"
    );
}

#[test]
fn a_reinvite_reaches_a_running_call_and_media_follows_the_new_address() {
    let call = loopback_call(LatchMode::SdpAddressOnly);
    let bridge_b = call.to[1];
    let w = Worker::spawn("test-worker").expect("worker");
    w.add_call(MediaCallKey(1), call.bridge, call.sockets)
        .expect("add");
    let send_from_a = |seq: u16| {
        let p = RtpPacket::build(0, false, seq, u32::from(seq) * 160, 0xA, &[0xD5; 160]);
        call.peers[0]
            .send_to(p.as_bytes(), call.to[0])
            .expect("send");
    };
    send_from_a(0);
    let before = next_rtp(&call.peers[1]);

    // Leg B moves: its far end re-INVITEs from a new address.
    let moved = UdpSocket::bind("127.0.0.1:0").expect("bind");
    moved
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let m = moved.local_addr().expect("addr");
    let offer = sdp::create_offer(&LocalMedia::new(m.ip(), m.port(), vec![Codec::Pcmu]), 2);
    let bm = LocalMedia::new(bridge_b.ip(), bridge_b.port(), vec![Codec::Pcmu]);
    let (_, negotiated) = sdp::answer_offer(&offer, &bm, 3).expect("answer");
    let ssrcs = sdp::remote_ssrcs(&offer).expect("valid SDP");
    w.with_call(MediaCallKey(1), move |bridge, now| {
        bridge.renegotiate(Side::B, negotiated, ssrcs, now)
    })
    .expect("call exists")
    .expect("re-INVITE accepted");

    send_from_a(1);
    let after = next_rtp(&moved);
    assert_eq!(after.ssrc, before.ssrc, "the same stream, continued");
    assert_eq!(after.seq, before.seq.wrapping_add(1), "no gap in sequence");
    let stats = w
        .with_call(MediaCallKey(1), |bridge, _| bridge.stats(Side::A))
        .expect("call exists");
    assert_eq!(stats.packets_received, 2, "{stats:?}");
    assert!(
        matches!(
            w.with_call(MediaCallKey(9), |_, _| ()),
            Err(MediaError::ApiMisuse(_))
        ),
        "an unknown call is refused"
    );
}

#[test]
fn a_worker_pins_to_a_cpu_or_says_why_not() {
    let w = Worker::spawn_pinned("pinned-worker", 0).expect("CPU 0 exists");
    assert_eq!(w.report().expect("report").calls, 0);
    match Worker::spawn_pinned("nowhere", 100_000) {
        Err(MediaError::Misconfigured(reason)) => assert!(reason.contains("100000"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn transcode_bridge() -> (Bridge, Vec<UdpSocket>) {
    let socks = vec![
        UdpSocket::bind("127.0.0.1:0").expect("bind"),
        UdpSocket::bind("127.0.0.1:0").expect("bind"),
    ];
    let mut legs = Vec::new();
    for (i, codec) in [Codec::Opus, Codec::G722].into_iter().enumerate() {
        let b = socks[i].local_addr().expect("addr");
        let pm = LocalMedia::new([127, 0, 0, 1].into(), 9, vec![codec]);
        let bm = LocalMedia::new(b.ip(), b.port(), vec![codec]);
        let (_, n) = sdp::answer_offer(&sdp::create_offer(&pm, 1), &bm, 2).expect("answer");
        legs.push(
            RtpLeg::new(RtpLegConfig {
                local: b,
                negotiated: n,
                latch: LatchMode::FirstValidPacket,
                ssrc: 1,
                cname: "t".into(),
                initial_seq: 1,
                initial_ts: 1,
            })
            .expect("leg"),
        );
    }
    let b = legs.pop().expect("b");
    let a = legs.pop().expect("a");
    (
        Bridge::new(a, b, BridgeConfig::new(worker::wall_clock()), worker::now()).expect("bridge"),
        socks,
    )
}

#[test]
fn the_pool_refuses_the_call_that_does_not_fit_with_a_reason() {
    use callbridge_media::shell::admission::CallCost;
    use callbridge_media::shell::pool::WorkerPool;

    // Budget: 80 % of one core; 300 ms/s per transcoded call, so two fit and the third does not.
    let cost = CallCost {
        passthrough_us_per_s: 1_000,
        transcode_us_per_s: 300_000,
    };
    // Pinned, as a deployment runs it: one worker on CPU 0.
    let mut pool = WorkerPool::pinned(1, cost, 0.8).expect("pool");
    let (b1, s1) = transcode_bridge();
    let (b2, s2) = transcode_bridge();
    let (b3, s3) = transcode_bridge();
    let first = pool.add_call(b1, s1).expect("first call");
    pool.add_call(b2, s2).expect("second call");
    match pool.add_call(b3, s3) {
        Err(MediaError::AtCapacity(reason)) => assert!(reason.contains("Transcode"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let running = pool
        .workers()
        .next()
        .expect("worker")
        .report()
        .expect("report")
        .calls;
    assert_eq!(running, 2, "the admitted calls keep running");
    let path = pool
        .with_call(first, |bridge, _| bridge.path())
        .expect("the pool reaches a placed call");
    assert_eq!(path, first.path);
    pool.remove_call(first).expect("remove");
    let (b4, s4) = transcode_bridge();
    pool.add_call(b4, s4)
        .expect("fits again after a call ended");
}

#[test]
fn an_async_owner_gets_job_results_and_events_through_its_sink() {
    use std::sync::{Arc, Mutex};

    use callbridge_media::MediaEvent;
    use callbridge_media::shell::worker::EventSink;

    let seen: Arc<Mutex<Vec<(MediaCallKey, MediaEvent)>>> = Arc::default();
    let sink: EventSink = {
        let seen = Arc::clone(&seen);
        Arc::new(move |key, event| seen.lock().expect("events").push((key, event)))
    };
    let w = Worker::spawn_with_events("sink-worker", None, sink).expect("worker");
    let mut call = loopback_call(LatchMode::FirstValidPacket);
    // Nothing is ever sent: both legs time out after 200 ms.
    let mut cfg = BridgeConfig::new(worker::wall_clock());
    cfg.timeouts.active = Duration::from_millis(200);
    let (a, b) = (call.to[0], call.to[1]);
    call.bridge = loopback_bridge_with(cfg, a, b);
    w.add_call(MediaCallKey(5), call.bridge, call.sockets)
        .expect("add");

    let path = futures::executor::block_on(w.run(MediaCallKey(5), |bridge, _| bridge.path()))
        .expect("the call exists");
    assert_eq!(path, callbridge_media::Path::Passthrough);
    let unknown = futures::executor::block_on(w.run(MediaCallKey(6), |_, _| ()));
    assert!(matches!(unknown, Err(MediaError::ApiMisuse(_))));
    let report = futures::executor::block_on(w.report_async()).expect("report");
    assert_eq!(report.calls, 1);

    let deadline = worker::now() + Duration::from_secs(5);
    while seen.lock().expect("events").len() < 2 && worker::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = seen.lock().expect("events").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for side in [Side::A, Side::B] {
        assert!(
            seen.iter().any(|(key, e)| *key == MediaCallKey(5)
                && matches!(e, MediaEvent::MediaTimeout { leg, .. } if *leg == side)),
            "{seen:?}"
        );
    }
    assert!(
        w.events().try_recv().is_err(),
        "events go to the sink, not the queue"
    );
}

/// A plain PCMU bridge between local addresses `a` and `b` with `cfg`.
fn loopback_bridge_with(cfg: BridgeConfig, a: SocketAddr, b: SocketAddr) -> Bridge {
    let leg = |local: SocketAddr, ssrc: u32| {
        let pm = LocalMedia::new([127, 0, 0, 1].into(), 9, vec![Codec::Pcmu]);
        let bm = LocalMedia::new(local.ip(), local.port(), vec![Codec::Pcmu]);
        let (_, n) = sdp::answer_offer(&sdp::create_offer(&pm, 1), &bm, 2).expect("answer");
        RtpLeg::new(RtpLegConfig {
            local,
            negotiated: n,
            latch: LatchMode::FirstValidPacket,
            ssrc,
            cname: "t".into(),
            initial_seq: 1,
            initial_ts: 1,
        })
        .expect("leg")
    };
    Bridge::new(leg(a, 1), leg(b, 2), cfg, worker::now()).expect("bridge")
}

#[test]
fn a_reservation_holds_the_dearer_path_and_shrinks_to_the_bridge_path() {
    use callbridge_media::Path;
    use callbridge_media::shell::admission::CallCost;
    use callbridge_media::shell::pool::WorkerPool;

    let cost = CallCost {
        passthrough_us_per_s: 100_000,
        transcode_us_per_s: 400_000,
    };
    let mut pool = WorkerPool::new(1, cost, 0.8).expect("pool");
    assert_eq!(pool.headroom(Path::Transcode), 2);
    let first = pool.reserve(Path::Transcode).expect("first");
    let second = pool.reserve(Path::Transcode).expect("second");
    assert!(matches!(
        pool.reserve(Path::Transcode),
        Err(MediaError::AtCapacity(_))
    ));
    pool.cancel(second);
    assert_eq!(pool.headroom(Path::Transcode), 1);

    // A passthrough bridge placed on a transcode reservation gives the difference back.
    let call = loopback_call(LatchMode::FirstValidPacket);
    let placed = pool
        .place(first, call.bridge, call.sockets)
        .expect("placed");
    assert_eq!(placed.path, Path::Passthrough);
    assert_eq!(pool.headroom(Path::Passthrough), 7);
    let reports = futures::executor::block_on(pool.reports()).expect("reports");
    assert_eq!(reports[0].calls, 1);
    pool.remove_call(placed).expect("remove");
    assert_eq!(pool.headroom(Path::Transcode), 2);
}
