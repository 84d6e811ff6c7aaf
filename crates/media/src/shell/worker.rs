//! A media worker thread: owns calls and their sockets, one poll, one timer.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use quinn_udp::{RecvMeta, Transmit as UdpTransmit, UdpSocketState};

use crate::bridge::{Bridge, Input, Output};
use crate::clock::WallClock;
use crate::error::{MediaError, Result};
use crate::event::MediaEvent;

/// Identifies a call within the process.
pub type CallId = u64;

const WAKER: Token = Token(usize::MAX);
const LEGS: usize = 2;
const BATCH: usize = 32;
const BUF: usize = 2048;

/// Reads the monotonic clock (the shell's job, never the core's).
#[allow(clippy::disallowed_methods)] // The shell is where time enters the system.
pub fn now() -> Instant {
    Instant::now()
}

/// Reads both clocks once, for RTCP's NTP timestamps.
#[allow(clippy::disallowed_methods)] // The shell is where time enters the system.
pub fn wall_clock() -> WallClock {
    WallClock {
        at: Instant::now(),
        unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
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
    /// Median time a received datagram spent inside the worker, from the batch read to the end
    /// of the bridge's output drain (the sends of a passthrough packet included).
    pub in_worker_p50: Duration,
    /// 99th percentile of the same.
    pub in_worker_p99: Duration,
}

/// Histogram of in-worker latency in 1 µs buckets up to 10 ms (the last bucket collects more).
#[derive(Clone)]
struct LatencyHistogram {
    buckets: Vec<u64>,
    count: u64,
}

impl LatencyHistogram {
    const BUCKETS: usize = 10_001;

    fn new() -> Self {
        Self {
            buckets: vec![0; Self::BUCKETS],
            count: 0,
        }
    }

    fn record(&mut self, d: Duration, n: u64) {
        let us = usize::try_from(d.as_micros())
            .unwrap_or(usize::MAX)
            .min(Self::BUCKETS - 1);
        self.buckets[us] += n;
        self.count += n;
    }

    fn percentile(&self, p: f64) -> Duration {
        let target = (self.count as f64 * p).ceil() as u64;
        let mut seen = 0;
        for (us, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target && n > 0 {
                return Duration::from_micros(us as u64);
            }
        }
        Duration::ZERO
    }
}

enum Command {
    Add {
        id: CallId,
        bridge: Box<Bridge>,
        sockets: Vec<std::net::UdpSocket>,
    },
    Remove(CallId),
    Report(Sender<WorkerReport>),
    Stop,
}

/// Handle to a worker thread.
#[derive(Debug)]
pub struct Worker {
    tx: Sender<Command>,
    waker: Arc<Waker>,
    events: Receiver<(CallId, MediaEvent)>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts a worker thread.
    pub fn spawn(name: &str) -> Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = mpsc::channel();
        let (etx, erx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut l = Loop::new(poll, rx, etx);
                l.run();
            })?;
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
        id: CallId,
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
    pub fn remove_call(&self, id: CallId) -> Result<()> {
        self.send(Command::Remove(id))
    }

    /// Asks for the worker's counters.
    pub fn report(&self) -> Result<WorkerReport> {
        let (tx, rx) = mpsc::channel();
        self.send(Command::Report(tx))?;
        rx.recv()
            .map_err(|_| MediaError::ApiMisuse("worker has stopped"))
    }

    /// Events from the worker's calls.
    pub fn events(&self) -> &Receiver<(CallId, MediaEvent)> {
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
    id: CallId,
    bridge: Box<Bridge>,
    legs: Vec<Leg>,
    deadline: Instant,
}

struct Loop {
    poll: Poll,
    commands: Receiver<Command>,
    events_out: Sender<(CallId, MediaEvent)>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: HashMap<CallId, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    bufs: Vec<[u8; BUF]>,
    report: WorkerReport,
    latency: LatencyHistogram,
    stop: bool,
}

impl Loop {
    fn new(
        poll: Poll,
        commands: Receiver<Command>,
        events_out: Sender<(CallId, MediaEvent)>,
    ) -> Self {
        Self {
            poll,
            commands,
            events_out,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            timers: BinaryHeap::new(),
            bufs: vec![[0u8; BUF]; BATCH],
            report: WorkerReport::default(),
            latency: LatencyHistogram::new(),
            stop: false,
        }
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        while !self.stop {
            let timeout = self
                .timers
                .peek()
                .map(|Reverse((at, _))| at.saturating_duration_since(now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "media worker poll failed");
                return;
            }
            for ev in &events {
                if ev.token() == WAKER {
                    self.commands();
                } else {
                    self.readable(ev.token().0 / LEGS, ev.token().0 % LEGS);
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
                        tracing::warn!(call = id, error = %e, "could not add call to worker");
                    }
                }
                Command::Remove(id) => self.remove(id),
                Command::Report(tx) => {
                    let mut r = self.report;
                    r.calls = self.by_id.len();
                    r.cpu = thread_cpu_time();
                    r.in_worker_p50 = self.latency.percentile(0.5);
                    r.in_worker_p99 = self.latency.percentile(0.99);
                    let _ = tx.send(r);
                }
                Command::Stop => self.stop = true,
            }
        }
    }

    fn add(
        &mut self,
        id: CallId,
        bridge: Box<Bridge>,
        sockets: Vec<std::net::UdpSocket>,
    ) -> Result<()> {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let mut legs = Vec::with_capacity(sockets.len());
        for (i, s) in sockets.into_iter().enumerate() {
            s.set_nonblocking(true)?;
            let local = s.local_addr()?;
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

    fn remove(&mut self, id: CallId) {
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
            let mut slices: Vec<IoSliceMut<'_>> =
                self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let n = match l.state.recv((&l.socket).into(), &mut slices, &mut metas) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(error = %e, "recv failed");
                    return;
                }
            };
            drop(slices);
            let at = now();
            let mut datagrams = 0;
            for (meta, buf) in metas.iter().zip(self.bufs.iter()).take(n) {
                // With GRO one buffer may hold several datagrams of `stride` bytes each.
                for seg in buf[..meta.len].chunks(meta.stride.max(1)) {
                    self.report.datagrams_in += 1;
                    datagrams += 1;
                    let input = Input::Receive {
                        from: meta.addr,
                        to: local,
                        data: seg,
                    };
                    let _ = slot.bridge.handle_input(input, at);
                }
            }
            self.drain(idx);
            self.latency
                .record(now().saturating_duration_since(at), datagrams);
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
        }
    }

    fn drain(&mut self, idx: usize) {
        let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) else {
            return;
        };
        loop {
            match slot.bridge.poll_output() {
                Output::Transmit(t) => {
                    let Some(leg) = slot.legs.iter().find(|l| l.local == t.from) else {
                        continue;
                    };
                    let tx = UdpTransmit {
                        destination: t.to,
                        ecn: None,
                        contents: &t.payload,
                        segment_size: None,
                        src_ip: None,
                    };
                    match leg.state.try_send((&leg.socket).into(), &tx) {
                        Ok(()) => self.report.datagrams_out += 1,
                        Err(_) => self.report.send_errors += 1,
                    }
                    slot.bridge.recycle(t);
                }
                Output::Event(e) => {
                    let _ = self.events_out.send((slot.id, e));
                }
                Output::Timeout(at) => {
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

/// CPU time of the calling thread (Linux `schedstat`), zero where unavailable.
fn thread_cpu_time() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(Duration::ZERO, Duration::from_nanos)
}
