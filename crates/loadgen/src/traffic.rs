//! The far ends of every call, in one thread: paced SRTP sends in `sendmmsg` batches, and
//! `recvmmsg` receives stamped by the kernel on arrival, so the latency figure does not depend
//! on when this thread gets round to reading.
//!
//! On the passthrough path each payload carries its sender's sequence number and each sender
//! logs when it sent which number. The receiver reads the rewritten sequence number from the
//! clear RTP header, maps it back through the call's offset and looks the send time up: the far
//! ends' one core then keeps up with thousands of calls. Every sixteenth packet of a stream (and
//! its first) is fully SRTP-authenticated and decrypted, which checks the keys, the rewriting and
//! the offset.

use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use callbridge_media::packet::{RtpPacket, is_rtcp};
use callbridge_media::srtp::SrtpSession;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, sendmmsg,
    setsockopt, sockopt,
};
use nix::sys::time::TimeSpec;

use crate::Result;
use crate::setup::TxPeer;

/// Datagrams per `sendmmsg`: small enough that the send stamps in a batch stay within a few
/// tens of microseconds of the moment the batch leaves.
const SEND_BATCH: usize = 16;
/// Datagrams per `recvmmsg`.
const RECV_BATCH: usize = 64;
/// The longest the thread sleeps between rounds of sends and receives.
const MAX_NAP: Duration = Duration::from_micros(200);
/// One packet in this many is decrypted and checked on arrival (passthrough).
const VERIFY_EVERY: u16 = 16;
/// Send times kept per stream: 2.5 s of packets at 50/s.
const LOG: usize = 128;

/// When traffic runs and which part of it counts. Stamps are wall-clock nanoseconds, the clock
/// the kernel stamps arrivals with.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub(crate) traffic_start: Instant,
    pub(crate) traffic_end: Instant,
    /// Stragglers are still received this long after the last send.
    pub(crate) drain: Duration,
    pub(crate) measure_from_ns: u64,
    pub(crate) measure_to_ns: u64,
    /// Passthrough: payloads carry their sequence number and come back unchanged.
    pub(crate) stamped: bool,
    /// Whether what comes back was re-protected with the receiving leg's keys (not so through
    /// the bare forwarder of the floor measurement, which neither rewrites nor re-protects).
    pub(crate) verify: bool,
}

/// What the far ends saw.
#[derive(Default)]
pub(crate) struct Tally {
    /// Packets sent with a stamp inside the measured window.
    pub(crate) sent: u64,
    /// Of those, received back through the bridge (passthrough), or packets received inside the
    /// window (transcode, whose payloads are re-encoded and carry no stamp).
    pub(crate) received: u64,
    /// Send-to-arrival times of the received stamped packets, in nanoseconds.
    pub(crate) latencies_ns: Vec<u64>,
    /// Datagrams `sendmmsg` did not take.
    pub(crate) send_failures: u64,
    /// Packets that failed SRTP, RTP parsing or the sequence mapping on arrival (must stay
    /// zero).
    pub(crate) bad_arrivals: u64,
    /// Packets decrypted and checked on arrival.
    pub(crate) verified: u64,
}

/// When a stream sent which sequence number (passthrough).
struct SendLog([(u16, u64); LOG]);

impl SendLog {
    fn new() -> Self {
        Self([(0, u64::MAX); LOG])
    }

    fn record(&mut self, seq: u16, at_ns: u64) {
        self.0[usize::from(seq) % LOG] = (seq, at_ns);
    }

    fn sent_at(&self, seq: u16) -> Option<u64> {
        let (s, at) = self.0[usize::from(seq) % LOG];
        (s == seq && at != u64::MAX).then_some(at)
    }
}

/// The receiving end of one bridge socket.
struct Stream {
    call: usize,
    srtp: SrtpSession,
    /// Rewritten minus original sequence number, learned from the first verified packet.
    offset: Option<u16>,
}

/// The payloads each side cycles through; a one-frame side is stamped with its send time.
pub(crate) type Payloads = [Vec<Vec<u8>>; 2];

/// Runs the far ends until the window and its drain have passed.
pub(crate) fn run(
    socks: &[UdpSocket; 2],
    mut tx: Vec<[TxPeer; 2]>,
    rx: [HashMap<SocketAddr, (usize, SrtpSession)>; 2],
    payloads: &Payloads,
    window: Window,
) -> Result<Tally> {
    for s in socks {
        setsockopt(s, sockopt::ReceiveTimestampns, &true)?;
        s.set_nonblocking(true)?;
    }
    let mut rx = rx.map(|side| {
        side.into_iter()
            .map(|(from, (call, srtp))| {
                let stream = Stream {
                    call,
                    srtp,
                    offset: None,
                };
                (from, stream)
            })
            .collect::<HashMap<_, _>>()
    });
    let mut logs: Vec<[SendLog; 2]> = (0..tx.len())
        .map(|_| [SendLog::new(), SendLog::new()])
        .collect();
    let mut tally = Tally::default();
    let mut pacer = Pacer::new(tx.len(), window.traffic_start);
    let mut out: [Vec<Outgoing>; 2] = [Vec::new(), Vec::new()];
    let mut inbox = Inbox::new();
    loop {
        let now = Instant::now();
        while let Some(call) = pacer.next_due(now, window.traffic_end) {
            for (side, peer) in tx[call].iter_mut().enumerate() {
                let frames = &payloads[side];
                let (packet, sent_ns) =
                    outgoing(peer, &frames[pacer.round % frames.len()], window)?;
                logs[call][side].record(peer.seq.wrapping_sub(1), sent_ns);
                out[side].push(packet);
                if out[side].len() == SEND_BATCH {
                    flush(&socks[side], &mut out[side], &mut tally);
                }
            }
        }
        for side in 0..2 {
            flush(&socks[side], &mut out[side], &mut tally);
        }
        for side in 0..2 {
            // What arrives at side A's far end was sent by side B's, and the other way round.
            let senders = |call: usize| &logs[call][1 - side];
            inbox.drain(&socks[side], &mut rx[side], &senders, window, &mut tally)?;
        }
        if pacer.finished(window.traffic_end) && now >= window.traffic_end + window.drain {
            return Ok(tally);
        }
        let next = pacer.due().min(now + MAX_NAP);
        if let Some(nap) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(nap);
        }
    }
}

/// Spreads each call's 20 ms cadence evenly over the period: call `i` of `n` is due at
/// `start + 20 ms × round + 20 ms × i / n`.
struct Pacer {
    calls: usize,
    start: Instant,
    round: usize,
    next: usize,
}

impl Pacer {
    const PERIOD: Duration = Duration::from_millis(20);

    fn new(calls: usize, start: Instant) -> Self {
        Self {
            calls: calls.max(1),
            start,
            round: 0,
            next: 0,
        }
    }

    fn due(&self) -> Instant {
        let offset = Self::PERIOD.as_nanos() as u64 * self.next as u64 / self.calls as u64;
        self.start + Self::PERIOD * self.round as u32 + Duration::from_nanos(offset)
    }

    fn finished(&self, end: Instant) -> bool {
        self.due() >= end
    }

    /// The next call whose packet is due by `now`, if any, before `end`.
    fn next_due(&mut self, now: Instant, end: Instant) -> Option<usize> {
        let due = self.due();
        if due > now || due >= end {
            return None;
        }
        let call = self.next;
        self.next += 1;
        if self.next == self.calls {
            self.next = 0;
            self.round += 1;
        }
        Some(call)
    }
}

struct Outgoing {
    to: SockaddrIn,
    wire: BytesMut,
    counts: bool,
}

/// Wall-clock nanoseconds since the Unix epoch: the clock the kernel stamps arrivals with.
pub(crate) fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The next packet of `peer`, protected, and when it was built. On the passthrough path the
/// payload starts with the packet's own sequence number.
fn outgoing(peer: &mut TxPeer, frame: &[u8], window: Window) -> Result<(Outgoing, u64)> {
    let stamp = wall_ns();
    let mut payload = [0u8; 1500];
    let payload = &mut payload[..frame.len()];
    payload.copy_from_slice(frame);
    if window.stamped && frame.len() >= 2 {
        payload[..2].copy_from_slice(&peer.seq.to_be_bytes());
    }
    let pkt = RtpPacket::build(peer.pt, false, peer.seq, peer.ts, peer.ssrc, payload);
    peer.seq = peer.seq.wrapping_add(1);
    peer.ts = peer.ts.wrapping_add(peer.ts_step);
    let SocketAddr::V4(to) = peer.to else {
        return Err("the load generator runs over IPv4 loopback".into());
    };
    let packet = Outgoing {
        to: to.into(),
        wire: peer.srtp.protect_rtp(pkt.as_bytes())?,
        counts: (window.measure_from_ns..window.measure_to_ns).contains(&stamp),
    };
    Ok((packet, stamp))
}

fn flush(sock: &UdpSocket, batch: &mut Vec<Outgoing>, tally: &mut Tally) {
    if batch.is_empty() {
        return;
    }
    let iovs: Vec<[IoSlice<'_>; 1]> = batch.iter().map(|o| [IoSlice::new(&o.wire)]).collect();
    let addrs: Vec<Option<SockaddrIn>> = batch.iter().map(|o| Some(o.to)).collect();
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(batch.len(), None);
    let no_cmsgs: [ControlMessage<'_>; 0] = [];
    let taken = sendmmsg(
        sock.as_raw_fd(),
        &mut headers,
        &iovs,
        &addrs,
        no_cmsgs,
        MsgFlags::empty(),
    )
    .map_or(0, Iterator::count);
    for (i, o) in batch.iter().enumerate() {
        if i >= taken {
            tally.send_failures += 1;
        } else if o.counts {
            tally.sent += 1;
        }
    }
    batch.clear();
}

/// Receive buffers, kept between calls.
struct Inbox {
    bufs: Box<[[u8; 2048]; RECV_BATCH]>,
    headers: MultiHeaders<SockaddrIn>,
}

impl Inbox {
    fn new() -> Self {
        Self {
            bufs: Box::new([[0u8; 2048]; RECV_BATCH]),
            headers: MultiHeaders::preallocate(RECV_BATCH, Some(nix::cmsg_space!(TimeSpec))),
        }
    }

    /// Reads everything queued on `sock`.
    fn drain<'l>(
        &mut self,
        sock: &UdpSocket,
        streams: &mut HashMap<SocketAddr, Stream>,
        senders: &impl Fn(usize) -> &'l SendLog,
        window: Window,
        tally: &mut Tally,
    ) -> Result<()> {
        loop {
            let mut meta = [(0usize, None::<SocketAddr>, 0u64); RECV_BATCH];
            let mut iovs = self.bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
            let n = match recvmmsg(
                sock.as_raw_fd(),
                &mut self.headers,
                iovs.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            ) {
                Ok(results) => {
                    let mut n = 0;
                    for (slot, r) in meta.iter_mut().zip(results) {
                        let at = r.cmsgs().ok().and_then(|mut c| {
                            c.find_map(|m| match m {
                                ControlMessageOwned::ScmTimestampns(ts) => {
                                    Some(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64)
                                }
                                _ => None,
                            })
                        });
                        *slot = (
                            r.bytes,
                            r.address.map(|a| SocketAddr::V4(a.into())),
                            at.unwrap_or_else(wall_ns),
                        );
                        n += 1;
                    }
                    n
                }
                Err(nix::errno::Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            for (i, &(len, from, arrived_ns)) in meta.iter().enumerate().take(n) {
                let Some(from) = from else { continue };
                let Some(stream) = streams.get_mut(&from) else {
                    continue;
                };
                let data = &self.bufs[i][..len];
                if window.stamped {
                    passthrough_arrival(data, arrived_ns, stream, senders, window, tally);
                } else {
                    transcode_arrival(data, arrived_ns, stream, window, tally);
                }
            }
            if n < RECV_BATCH {
                return Ok(());
            }
        }
    }
}

/// A passthrough packet: matched to its send time through the clear header's sequence number;
/// one in [`VERIFY_EVERY`] (and the stream's first) decrypted and checked.
fn passthrough_arrival<'l>(
    data: &[u8],
    arrived_ns: u64,
    stream: &mut Stream,
    senders: &impl Fn(usize) -> &'l SendLog,
    window: Window,
    tally: &mut Tally,
) {
    if is_rtcp(data) {
        return; // The bridge's RTCP reports.
    }
    let Some(seq) = data.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        tally.bad_arrivals += 1;
        return;
    };
    if window.verify && (stream.offset.is_none() || seq % VERIFY_EVERY == 0) {
        let original = stream
            .srtp
            .unprotect_rtp(data)
            .ok()
            .and_then(RtpPacket::parse)
            .and_then(|p| {
                p.payload()
                    .get(..2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]))
            });
        let Some(original) = original else {
            tally.bad_arrivals += 1;
            return;
        };
        let offset = seq.wrapping_sub(original);
        if stream.offset.is_some_and(|o| o != offset) {
            tally.bad_arrivals += 1; // The rewriter broke sequence continuity.
        }
        stream.offset = Some(offset);
        tally.verified += 1;
    }
    let original = seq.wrapping_sub(stream.offset.unwrap_or(0));
    let Some(sent) = senders(stream.call).sent_at(original) else {
        return; // Older than the log: long lost, counted as such.
    };
    if (window.measure_from_ns..window.measure_to_ns).contains(&sent) {
        tally.received += 1;
        tally.latencies_ns.push(arrived_ns.saturating_sub(sent));
    }
}

/// A transcoded packet: its payload was re-encoded, so it is decrypted, checked and counted
/// by arrival time.
fn transcode_arrival(
    data: &[u8],
    arrived_ns: u64,
    stream: &mut Stream,
    window: Window,
    tally: &mut Tally,
) {
    if is_rtcp(data) {
        return;
    }
    if stream
        .srtp
        .unprotect_rtp(data)
        .ok()
        .and_then(RtpPacket::parse)
        .is_none()
    {
        tally.bad_arrivals += 1;
        return;
    }
    tally.verified += 1;
    if (window.measure_from_ns..window.measure_to_ns).contains(&arrived_ns) {
        tally.received += 1;
    }
}
