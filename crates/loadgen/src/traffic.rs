//! The far ends of every call, in one thread: paced SRTP sends in `sendmmsg` batches, and
//! `recvmmsg` receives stamped by the kernel on arrival, so the latency figure does not depend
//! on when this thread gets round to reading.

use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use callbridge_media::packet::RtpPacket;
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
    /// Passthrough: payloads carry their send stamp and come back unchanged.
    pub(crate) stamped: bool,
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
    /// Packets that failed SRTP or RTP parsing on arrival (must stay zero).
    pub(crate) bad_arrivals: u64,
}

/// The payloads each side cycles through; a one-frame side is stamped with its send time.
pub(crate) type Payloads = [Vec<Vec<u8>>; 2];

/// Runs the far ends until the window and its drain have passed.
pub(crate) fn run(
    socks: &[UdpSocket; 2],
    mut tx: Vec<[TxPeer; 2]>,
    mut rx: [HashMap<SocketAddr, SrtpSession>; 2],
    payloads: &Payloads,
    window: Window,
) -> Result<Tally> {
    for s in socks {
        setsockopt(s, sockopt::ReceiveTimestampns, &true)?;
        s.set_nonblocking(true)?;
    }
    let mut tally = Tally::default();
    let mut pacer = Pacer::new(tx.len(), window.traffic_start);
    let mut out: [Vec<Outgoing>; 2] = [Vec::new(), Vec::new()];
    let mut inbox = Inbox::new();
    loop {
        let now = Instant::now();
        while let Some(call) = pacer.next_due(now, window.traffic_end) {
            for (side, peer) in tx[call].iter_mut().enumerate() {
                let frames = &payloads[side];
                out[side].push(outgoing(peer, &frames[pacer.round % frames.len()], window)?);
                if out[side].len() == SEND_BATCH {
                    flush(&socks[side], &mut out[side], &mut tally);
                }
            }
        }
        for side in 0..2 {
            flush(&socks[side], &mut out[side], &mut tally);
        }
        for side in 0..2 {
            inbox.drain(&socks[side], &mut rx[side], window, &mut tally)?;
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

/// The next packet of `peer`: a stamped payload on the passthrough path, protected.
fn outgoing(peer: &mut TxPeer, frame: &[u8], window: Window) -> Result<Outgoing> {
    let stamp = wall_ns();
    let mut payload = [0u8; 1500];
    let payload = &mut payload[..frame.len()];
    payload.copy_from_slice(frame);
    if window.stamped && frame.len() >= 8 {
        payload[..8].copy_from_slice(&stamp.to_be_bytes());
    }
    let pkt = RtpPacket::build(peer.pt, false, peer.seq, peer.ts, peer.ssrc, payload);
    peer.seq = peer.seq.wrapping_add(1);
    peer.ts = peer.ts.wrapping_add(peer.ts_step);
    let SocketAddr::V4(to) = peer.to else {
        return Err("the load generator runs over IPv4 loopback".into());
    };
    Ok(Outgoing {
        to: to.into(),
        wire: peer.srtp.protect_rtp(pkt.as_bytes())?,
        counts: (window.measure_from_ns..window.measure_to_ns).contains(&stamp),
    })
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
    fn drain(
        &mut self,
        sock: &UdpSocket,
        sessions: &mut HashMap<SocketAddr, SrtpSession>,
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
                arrival(
                    &self.bufs[i][..len],
                    from,
                    arrived_ns,
                    sessions,
                    window,
                    tally,
                );
            }
            if n < RECV_BATCH {
                return Ok(());
            }
        }
    }
}

fn arrival(
    data: &[u8],
    from: SocketAddr,
    arrived_ns: u64,
    sessions: &mut HashMap<SocketAddr, SrtpSession>,
    window: Window,
    tally: &mut Tally,
) {
    if data.len() > 1 && (192..=223).contains(&data[1]) {
        return; // The bridge's RTCP reports.
    }
    let Some(session) = sessions.get_mut(&from) else {
        return;
    };
    let Some(p) = session.unprotect_rtp(data).ok().and_then(RtpPacket::parse) else {
        tally.bad_arrivals += 1;
        return;
    };
    let in_window = |ns| (window.measure_from_ns..window.measure_to_ns).contains(&ns);
    if !window.stamped {
        if in_window(arrived_ns) {
            tally.received += 1;
        }
        return;
    }
    let Some(stamp) = p.payload().get(..8) else {
        tally.bad_arrivals += 1;
        return;
    };
    let mut sent = [0u8; 8];
    sent.copy_from_slice(stamp);
    let sent = u64::from_be_bytes(sent);
    if in_window(sent) {
        tally.received += 1;
        tally.latencies_ns.push(arrived_ns.saturating_sub(sent));
    }
}
