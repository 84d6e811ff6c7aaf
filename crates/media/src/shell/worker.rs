//! A media worker thread: owns calls and their sockets, one poll, one timer.
//!
//! Its control surface never blocks the caller: commands go through a channel and a waker, and
//! what a command returns comes back through a runtime-agnostic oneshot ([`Worker::run`],
//! [`Worker::report_async`]), so an async owner awaits it without holding a thread. The
//! blocking forms ([`Worker::with_call`], [`Worker::report`]) wait on the same oneshot, for
//! tools and tests that have no runtime. Events leave through the [`EventSink`] the owner gives
//! at spawn time, called on the worker thread.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::channel::oneshot;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use quinn_udp::{RecvMeta, Transmit as UdpTransmit, UdpSocketState};

use crate::bridge::{Bridge, Input, Output};
use crate::clock::WallClock;
use crate::error::{MediaError, Result};
use crate::event::{MediaEvent, Side};
use crate::leg::Transmit;

use super::affinity::pin_current_thread;
use super::histogram::LatencyHistogram;
use super::timer::WorkerTimer;

/// Identifies a call within the media shell (a worker's or pool's key, not the call model's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaCallKey(pub u64);

impl fmt::Display for MediaCallKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a worker delivers its calls' events. Called on the worker thread, once per event: it
/// must return quickly and never block (forward into a channel, count, drop).
pub type EventSink = Arc<dyn Fn(MediaCallKey, MediaEvent) + Send + Sync>;

const WAKER: Token = Token(usize::MAX);
const TIMER: Token = Token(usize::MAX - 1);
const LEGS: usize = 2;
const BATCH: usize = 32;
const BUF: usize = 2048;

/// Reads the monotonic clock (the shell's job, never the core's).
#[allow(clippy::disallowed_methods)] // The shell is where time enters the system.
pub fn now() -> Instant {
    Instant::now()
}

/// Wall-clock time since the Unix epoch, the clock of the kernel's receive stamps.
#[allow(clippy::disallowed_methods)] // The shell is where time enters the system.
fn unix_time() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Reads both clocks once, for RTCP's NTP timestamps.
#[allow(clippy::disallowed_methods)] // The shell is where time enters the system.
pub fn wall_clock() -> WallClock {
    WallClock {
        at: Instant::now(),
        unix: unix_time(),
    }
}

/// Counters a worker reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerReport {
    /// Calls owned.
    pub calls: usize,
    /// CPU time the worker thread has used since it started.
    pub cpu: Duration,
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Sends that failed (buffer full, unreachable).
    pub send_errors: u64,
    /// Median latency the worker added to a received datagram: from the kernel's arrival stamp
    /// on the socket (so waiting for the worker counts) to the end of the bridge's output drain
    /// (the sends of a passthrough packet included).
    pub in_worker_p50: Duration,
    /// 99th percentile of the same.
    pub in_worker_p99: Duration,
    /// Median time from a bridge's deadline (a transcoder's 20 ms pacing tick, an RTCP report)
    /// to the end of the sends it produced: timer lateness plus decode, encode and protect.
    /// On the transcode path this is the latency added beyond the jitter buffer.
    pub timer_p50: Duration,
    /// 99th percentile of the same.
    pub timer_p99: Duration,
    /// Receive system calls made (each may return a batch of datagrams).
    pub recv_calls: u64,
    /// Send system calls made (each may carry several datagrams through GSO).
    pub send_calls: u64,
}

/// Work on one call's bridge, run on the worker thread.
type Job = Box<dyn FnOnce(&mut Bridge, Instant) + Send>;

enum Command {
    Add {
        id: MediaCallKey,
        bridge: Box<Bridge>,
        sockets: Vec<std::net::UdpSocket>,
    },
    Remove(MediaCallKey),
    Run {
        id: MediaCallKey,
        job: Job,
    },
    Report(oneshot::Sender<WorkerReport>),
    Stop,
}

/// Handle to a worker thread.
pub struct Worker {
    tx: Sender<Command>,
    waker: Arc<Waker>,
    events: Receiver<(MediaCallKey, MediaEvent)>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

impl Worker {
    /// Starts a worker thread that the scheduler may move between CPUs; its events queue up
    /// for [`Worker::events`].
    pub fn spawn(name: &str) -> Result<Self> {
        Self::start(name, None, None)
    }

    /// Starts a worker thread pinned to `cpu`, so its calls stay in one core's caches and its
    /// CPU time is that core's. Fails if the thread cannot be pinned.
    pub fn spawn_pinned(name: &str, cpu: usize) -> Result<Self> {
        Self::start(name, Some(cpu), None)
    }

    /// Starts a worker thread that hands every event to `sink` (on the worker thread) instead
    /// of queueing it for [`Worker::events`]. `cpu` pins the thread when given.
    pub fn spawn_with_events(name: &str, cpu: Option<usize>, sink: EventSink) -> Result<Self> {
        Self::start(name, cpu, Some(sink))
    }

    fn start(name: &str, cpu: Option<usize>, sink: Option<EventSink>) -> Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let timer = WorkerTimer::new(poll.registry(), TIMER)?;
        let (tx, rx) = mpsc::channel();
        let (etx, erx) = mpsc::channel();
        // Without a sink of the owner's, events queue up for `events()`; with one, the queue's
        // sender is dropped and `events()` stays empty.
        let sink: EventSink = sink.unwrap_or_else(|| {
            let etx = std::sync::Mutex::new(etx);
            Arc::new(move |key, event| {
                if let Ok(etx) = etx.lock() {
                    let _ = etx.send((key, event));
                }
            })
        });
        let (started_tx, started) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let pinned = cpu.map_or(Ok(()), pin_current_thread);
                let ok = pinned.is_ok();
                let _ = started_tx.send(pinned);
                if ok {
                    Loop::new(poll, timer, rx, sink).run();
                }
            })?;
        started
            .recv()
            .map_err(|_| MediaError::ApiMisuse("worker thread died while starting"))??;
        Ok(Self {
            tx,
            waker,
            events: erx,
            thread: Some(thread),
        })
    }

    fn send(&self, c: Command) -> Result<()> {
        self.tx
            .send(c)
            .map_err(|_| MediaError::ApiMisuse("worker has stopped"))?;
        self.waker.wake()?;
        Ok(())
    }

    /// Hands a call and its sockets (one per leg, bound to the legs' local addresses) to the
    /// worker; it owns them from now on.
    pub fn add_call(
        &self,
        id: MediaCallKey,
        bridge: Bridge,
        sockets: Vec<std::net::UdpSocket>,
    ) -> Result<()> {
        if sockets.len() > LEGS {
            return Err(MediaError::ApiMisuse("a call has at most two sockets"));
        }
        self.send(Command::Add {
            id,
            bridge: Box::new(bridge),
            sockets,
        })
    }

    /// Ends a call (its bridge sends RTCP BYE on both legs) and closes its sockets.
    pub fn remove_call(&self, id: MediaCallKey) -> Result<()> {
        self.send(Command::Remove(id))
    }

    /// Runs `f` on call `id`'s bridge on the worker thread, with the current time, sends what
    /// it produced, and resolves to its result: how a re-INVITE (`Bridge::renegotiate`), a
    /// browser re-offer (`Bridge::renegotiate_webrtc`) or a stats read (`Bridge::stats`)
    /// reaches a call the worker owns. The job is queued before this returns; the future only
    /// waits for the reply, without blocking a thread, and resolves to an error if the worker
    /// has no such call or has stopped.
    pub fn run<R, F>(
        &self,
        id: MediaCallKey,
        f: F,
    ) -> impl Future<Output = Result<R>> + Send + use<R, F>
    where
        R: Send + 'static,
        F: FnOnce(&mut Bridge, Instant) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |bridge, now| {
            let _ = tx.send(f(bridge, now));
        });
        let sent = self.send(Command::Run { id, job });
        async move {
            sent?;
            // A job for a call the worker does not own is dropped unrun, and with it the sender.
            rx.await
                .map_err(|_| MediaError::ApiMisuse("the worker has no such call"))
        }
    }

    /// [`Worker::run`], waiting on the calling thread: for tools and tests without an async
    /// runtime. Never call it from an async task.
    pub fn with_call<R: Send + 'static>(
        &self,
        id: MediaCallKey,
        f: impl FnOnce(&mut Bridge, Instant) -> R + Send + 'static,
    ) -> Result<R> {
        futures::executor::block_on(self.run(id, f))
    }

    /// Asks for the worker's counters; the future waits for the reply without blocking a thread.
    pub fn report_async(&self) -> impl Future<Output = Result<WorkerReport>> + Send + use<> {
        let (tx, rx) = oneshot::channel();
        let sent = self.send(Command::Report(tx));
        async move {
            sent?;
            rx.await
                .map_err(|_| MediaError::ApiMisuse("worker has stopped"))
        }
    }

    /// [`Worker::report_async`], waiting on the calling thread. Never call it from an async task.
    pub fn report(&self) -> Result<WorkerReport> {
        futures::executor::block_on(self.report_async())
    }

    /// Events from the worker's calls, for a worker started without an [`EventSink`] (one
    /// started with [`Worker::spawn_with_events`] delivers them to its sink, and this stays
    /// empty).
    pub fn events(&self) -> &Receiver<(MediaCallKey, MediaEvent)> {
        &self.events
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Leg {
    local: SocketAddr,
    socket: UdpSocket,
    state: UdpSocketState,
}

struct Slot {
    id: MediaCallKey,
    bridge: Box<Bridge>,
    legs: Vec<Leg>,
    deadline: Instant,
}

struct Loop {
    poll: Poll,
    commands: Receiver<Command>,
    events_out: EventSink,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: HashMap<MediaCallKey, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    timer: WorkerTimer,
    bufs: Box<[[u8; BUF]; BATCH]>,
    batch: SendBatch,
    report: WorkerReport,
    latency: LatencyHistogram,
    timer_latency: LatencyHistogram,
    stop: bool,
}

/// Datagrams for one destination from one socket, all of one size, waiting to leave in a
/// single GSO send. Its buffer is kept between batches so sending allocates nothing.
struct SendBatch {
    leg: usize,
    to: SocketAddr,
    segment: usize,
    count: usize,
    buf: Vec<u8>,
}

impl SendBatch {
    /// GSO caps a send at 64 KiB of payload.
    const MAX_BYTES: usize = 65_000;

    fn new() -> Self {
        Self {
            leg: 0,
            to: SocketAddr::from(([0, 0, 0, 0], 0)),
            segment: 0,
            count: 0,
            buf: Vec::with_capacity(Self::MAX_BYTES),
        }
    }

    /// Whether `t`, leaving through leg `leg`, can join the datagrams already here.
    fn fits(&self, leg: usize, t: &Transmit, max_segments: usize) -> bool {
        self.count > 0
            && self.leg == leg
            && self.to == t.to
            && self.segment == t.payload.len()
            && self.count < max_segments
            && self.buf.len() + t.payload.len() <= Self::MAX_BYTES
    }

    fn push(&mut self, leg: usize, t: &Transmit) {
        if self.count == 0 {
            self.leg = leg;
            self.to = t.to;
            self.segment = t.payload.len();
        }
        self.buf.extend_from_slice(&t.payload);
        self.count += 1;
    }

    /// Sends what is waiting, as one datagram or one GSO train.
    fn flush(&mut self, legs: &[Leg], report: &mut WorkerReport) {
        if self.count == 0 {
            return;
        }
        if let Some(leg) = legs.get(self.leg) {
            let tx = UdpTransmit {
                destination: self.to,
                ecn: None,
                contents: &self.buf,
                segment_size: (self.count > 1).then_some(self.segment),
                src_ip: None,
            };
            report.send_calls += 1;
            match leg.state.try_send((&leg.socket).into(), &tx) {
                Ok(()) => report.datagrams_out += self.count as u64,
                Err(_) => report.send_errors += self.count as u64,
            }
        }
        self.buf.clear();
        self.count = 0;
    }
}

impl Loop {
    fn new(
        poll: Poll,
        timer: WorkerTimer,
        commands: Receiver<Command>,
        events_out: EventSink,
    ) -> Self {
        Self {
            poll,
            commands,
            events_out,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            timers: BinaryHeap::new(),
            timer,
            bufs: Box::new([[0u8; BUF]; BATCH]),
            batch: SendBatch::new(),
            report: WorkerReport::default(),
            latency: LatencyHistogram::new(),
            timer_latency: LatencyHistogram::new(),
            stop: false,
        }
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        while !self.stop {
            let earliest = self.timers.peek().map(|Reverse((at, _))| *at);
            let timeout = match self.timer.arm(earliest, now()) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "media worker timer failed");
                    return;
                }
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "media worker poll failed");
                return;
            }
            for ev in &events {
                match ev.token() {
                    WAKER => self.commands(),
                    TIMER => self.timer.fired(),
                    t => self.readable(t.0 / LEGS, t.0 % LEGS),
                }
            }
            self.timers_due();
        }
    }

    fn commands(&mut self) {
        while let Ok(c) = self.commands.try_recv() {
            match c {
                Command::Add {
                    id,
                    bridge,
                    sockets,
                } => {
                    if let Err(e) = self.add(id, bridge, sockets) {
                        tracing::warn!(call = %id, error = %e, "could not add call to worker");
                    }
                }
                Command::Remove(id) => self.remove(id),
                Command::Run { id, job } => self.run_job(id, job),
                Command::Report(tx) => {
                    let mut r = self.report;
                    r.calls = self.by_id.len();
                    r.cpu = thread_cpu_time();
                    r.in_worker_p50 = self.latency.percentile(0.5);
                    r.in_worker_p99 = self.latency.percentile(0.99);
                    r.timer_p50 = self.timer_latency.percentile(0.5);
                    r.timer_p99 = self.timer_latency.percentile(0.99);
                    let _ = tx.send(r);
                }
                Command::Stop => self.stop = true,
            }
        }
    }

    fn add(
        &mut self,
        id: MediaCallKey,
        bridge: Box<Bridge>,
        sockets: Vec<std::net::UdpSocket>,
    ) -> Result<()> {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let mut legs = Vec::with_capacity(sockets.len());
        // The legs' own idea of their local address is what they match datagrams and sends
        // against; behind NAT that is the public address, not the one the socket is bound to.
        let leg_locals = [bridge.leg(Side::A).local(), bridge.leg(Side::B).local()];
        for (i, s) in sockets.into_iter().enumerate() {
            s.set_nonblocking(true)?;
            let local = leg_address(&leg_locals, s.local_addr()?);
            let state = UdpSocketState::new((&s).into())?;
            let mut socket = UdpSocket::from_std(s);
            self.poll.registry().register(
                &mut socket,
                Token(idx * LEGS + i),
                Interest::READABLE,
            )?;
            legs.push(Leg {
                local,
                socket,
                state,
            });
        }
        self.slots[idx] = Some(Slot {
            id,
            bridge,
            legs,
            deadline: now(),
        });
        self.by_id.insert(id, idx);
        self.drain(idx);
        Ok(())
    }

    fn run_job(&mut self, id: MediaCallKey, job: Job) {
        let Some(&idx) = self.by_id.get(&id) else {
            return;
        };
        if let Some(slot) = self.slots[idx].as_mut() {
            job(&mut slot.bridge, now());
        }
        self.drain(idx);
    }

    fn remove(&mut self, id: MediaCallKey) {
        let Some(idx) = self.by_id.remove(&id) else {
            return;
        };
        if let Some(slot) = self.slots[idx].as_mut() {
            slot.bridge.close(now());
        }
        self.drain(idx);
        if let Some(mut slot) = self.slots[idx].take() {
            for leg in &mut slot.legs {
                let _ = self.poll.registry().deregister(&mut leg.socket);
            }
        }
        self.free.push(idx);
    }

    fn readable(&mut self, idx: usize, leg: usize) {
        let mut metas = [RecvMeta::default(); BATCH];
        loop {
            let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) else {
                return;
            };
            let Some(l) = slot.legs.get(leg) else { return };
            let local = l.local;
            let mut slices = self.bufs.each_mut().map(|b| IoSliceMut::new(b));
            self.report.recv_calls += 1;
            let n = match l.state.recv((&l.socket).into(), &mut slices, &mut metas) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(error = %e, "recv failed");
                    return;
                }
            };
            let at = now();
            for (meta, buf) in metas.iter().zip(self.bufs.iter()).take(n) {
                // With GRO one buffer may hold several datagrams of `stride` bytes each.
                for seg in buf[..meta.len].chunks(meta.stride.max(1)) {
                    self.report.datagrams_in += 1;
                    let input = Input::Receive {
                        from: meta.addr,
                        to: local,
                        data: seg,
                    };
                    let _ = slot.bridge.handle_input(input, at);
                }
            }
            self.drain(idx);
            let done = now();
            let done_wall = unix_time();
            for meta in metas.iter().take(n) {
                // From the kernel's arrival stamp when there is one: that includes the time the
                // datagram waited in the socket for this thread.
                let waited = meta.timestamp.map_or_else(
                    || done.saturating_duration_since(at),
                    |arrived| done_wall.saturating_sub(arrived),
                );
                let segments = meta.len.div_ceil(meta.stride.max(1)) as u64;
                self.latency.record(waited, segments);
            }
            if n < BATCH {
                // The queue was emptied: a datagram arriving from now on raises a new readiness
                // edge, so asking again would only cost a system call that returns EAGAIN.
                return;
            }
        }
    }

    fn timers_due(&mut self) {
        let t = now();
        while let Some(&Reverse((at, idx))) = self.timers.peek() {
            if at > t {
                break;
            }
            self.timers.pop();
            let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) else {
                continue;
            };
            if slot.deadline != at {
                continue; // Superseded by a later deadline.
            }
            let _ = slot.bridge.handle_input(Input::Timeout, t);
            self.drain(idx);
            self.timer_latency
                .record(now().saturating_duration_since(at), 1);
        }
    }

    /// Runs a bridge's outputs: sends (datagrams for one destination coalesced into one GSO
    /// send), events, and its next deadline.
    fn drain(&mut self, idx: usize) {
        let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) else {
            return;
        };
        loop {
            match slot.bridge.poll_output() {
                Output::Transmit(t) => {
                    let Some(leg) = slot.legs.iter().position(|l| l.local == t.from) else {
                        slot.bridge.recycle(t);
                        continue;
                    };
                    let max_segments = slot.legs[leg].state.max_gso_segments();
                    if !self.batch.fits(leg, &t, max_segments) {
                        self.batch.flush(&slot.legs, &mut self.report);
                    }
                    self.batch.push(leg, &t);
                    slot.bridge.recycle(t);
                }
                Output::Event(e) => {
                    (self.events_out)(slot.id, e);
                }
                Output::Timeout(at) => {
                    self.batch.flush(&slot.legs, &mut self.report);
                    if at != slot.deadline {
                        slot.deadline = at;
                        self.timers.push(Reverse((at, idx)));
                    }
                    return;
                }
            }
        }
    }
}

/// The leg address a socket bound to `bound` serves: the leg with exactly that address, else
/// the one on the same port (a leg advertising a public address on a socket bound to a private
/// or wildcard one), else the bound address itself.
fn leg_address(legs: &[SocketAddr], bound: SocketAddr) -> SocketAddr {
    legs.iter()
        .find(|l| **l == bound)
        .or_else(|| legs.iter().find(|l| l.port() == bound.port()))
        .copied()
        .unwrap_or(bound)
}

/// CPU time of the calling thread (Linux `schedstat`), zero where unavailable.
pub fn thread_cpu_time() -> Duration {
    schedstat_cpu_time("/proc/thread-self/schedstat")
}

/// CPU time a `schedstat` file reports (its first field, nanoseconds), zero where unavailable:
/// `/proc/self/task/<tid>/schedstat` reads another thread of this process.
pub fn schedstat_cpu_time(path: &str) -> Duration {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(Duration::ZERO, Duration::from_nanos)
}
