//! The floor: a bare UDP forwarder with the media worker's I/O pattern (one socket per leg,
//! one poll, `recvmmsg` batches through `quinn-udp`, one send per datagram), and nothing else:
//! no SRTP, no checks, no rewriting. What it costs per datagram is the kernel's share of the
//! worker's cost on this machine; the worker's figure divided by it is what the media core adds.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use callbridge_media::shell::affinity::pin_current_thread;
use callbridge_media::shell::worker::{WorkerReport, schedstat_cpu_time};
use mio::net::UdpSocket as MioSocket;
use mio::{Events, Interest, Poll, Token};
use quinn_udp::{RecvMeta, Transmit, UdpSocketState};

use crate::Result;

const BATCH: usize = 32;

/// Counters the forwarder keeps, readable while it runs.
#[derive(Default)]
struct Counters {
    datagrams_in: AtomicU64,
    datagrams_out: AtomicU64,
    recv_calls: AtomicU64,
    /// The forwarder thread's id, for its CPU time in `/proc`.
    tid: AtomicU64,
}

/// A running forwarder.
pub(crate) struct Forwarder {
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Forwards between each pair of `sockets` (leg A, leg B of one call): what arrives on a
    /// call's leg-A socket leaves from its leg-B socket to `far_ends[1]`, and the other way.
    pub(crate) fn start(
        sockets: Vec<UdpSocket>,
        far_ends: [SocketAddr; 2],
        cpu: Option<usize>,
    ) -> Result<Self> {
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (Arc::clone(&counters), Arc::clone(&stop));
        let (started_tx, started) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("floor-forwarder".into())
            .spawn(move || {
                let ready = cpu
                    .map_or(Ok(()), pin_current_thread)
                    .map_err(|e| e.to_string());
                let ok = ready.is_ok();
                c.tid.store(
                    u64::from(nix::unistd::gettid().as_raw().unsigned_abs()),
                    Ordering::Relaxed,
                );
                let _ = started_tx.send(ready);
                if ok && let Err(e) = forward(sockets, far_ends, &c, &s) {
                    eprintln!("floor forwarder stopped: {e}");
                }
            })?;
        started.recv().map_err(|_| "the forwarder died")??;
        Ok(Self {
            counters,
            stop,
            thread: Some(thread),
        })
    }

    /// The forwarder's counters, in the worker's report shape.
    pub(crate) fn report(&self) -> WorkerReport {
        let c = &self.counters;
        WorkerReport {
            calls: 0,
            cpu: self.cpu(),
            datagrams_in: c.datagrams_in.load(Ordering::Relaxed),
            datagrams_out: c.datagrams_out.load(Ordering::Relaxed),
            recv_calls: c.recv_calls.load(Ordering::Relaxed),
            send_calls: c.datagrams_out.load(Ordering::Relaxed),
            ..WorkerReport::default()
        }
    }

    /// The forwarder thread's CPU time so far.
    fn cpu(&self) -> Duration {
        let tid = self.counters.tid.load(Ordering::Relaxed);
        schedstat_cpu_time(&format!("/proc/self/task/{tid}/schedstat"))
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Leg {
    socket: MioSocket,
    state: UdpSocketState,
}

fn forward(
    sockets: Vec<UdpSocket>,
    far_ends: [SocketAddr; 2],
    counters: &Counters,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut legs = Vec::with_capacity(sockets.len());
    for (i, s) in sockets.into_iter().enumerate() {
        s.set_nonblocking(true)?;
        let state = UdpSocketState::new((&s).into())?;
        let mut socket = MioSocket::from_std(s);
        poll.registry()
            .register(&mut socket, Token(i), Interest::READABLE)?;
        legs.push(Leg { socket, state });
    }
    let mut events = Events::with_capacity(1024);
    let mut bufs = Box::new([[0u8; 2048]; BATCH]);
    let mut metas = [RecvMeta::default(); BATCH];
    while !stop.load(Ordering::Relaxed) {
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        for ev in &events {
            let from = ev.token().0;
            // Leg A is even, leg B odd: a datagram leaves through its partner socket.
            let (to_leg, to) = (from ^ 1, far_ends[(from & 1) ^ 1]);
            loop {
                let l = &legs[from];
                let mut slices = bufs.each_mut().map(|b| IoSliceMut::new(b));
                counters.recv_calls.fetch_add(1, Ordering::Relaxed);
                let n = match l.state.recv((&l.socket).into(), &mut slices, &mut metas) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
                let out = &legs[to_leg];
                for (meta, buf) in metas.iter().zip(bufs.iter()).take(n) {
                    for seg in buf[..meta.len].chunks(meta.stride.max(1)) {
                        counters.datagrams_in.fetch_add(1, Ordering::Relaxed);
                        let t = Transmit {
                            destination: to,
                            ecn: None,
                            contents: seg,
                            segment_size: None,
                            src_ip: None,
                        };
                        if out.state.try_send((&out.socket).into(), &t).is_ok() {
                            counters.datagrams_out.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if n < BATCH {
                    break;
                }
            }
        }
    }
    Ok(())
}
