//! One worker per core, with admission control in front: a call is pinned to the worker with
//! the most headroom, or refused with a reason when none has room.
//!
//! A call can be admitted in one step ([`WorkerPool::add_call`]) or in two: capacity is
//! [reserved](WorkerPool::reserve) while the call is still being negotiated (its path not yet
//! known, so the dearer one is held), then the bridge is [placed](WorkerPool::place) on the
//! reserved worker, the reservation shrinking to the path the bridge actually takes.

use std::future::Future;
use std::time::Instant;

use crate::bridge::{Bridge, Path};
use crate::error::{MediaError, Result};

use super::admission::{Admission, CallCost};
use super::worker::{EventSink, MediaCallKey, Worker, WorkerReport};

/// Where a call lives, to remove it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Index of the worker that owns the call.
    pub worker: usize,
    /// The call's key on that worker.
    pub id: MediaCallKey,
    /// The path it was admitted for.
    pub path: Path,
}

/// Capacity held on one worker for a call not placed yet. Give it back with
/// [`WorkerPool::cancel`] or turn it into a call with [`WorkerPool::place`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation holds capacity until placed or cancelled"]
pub struct Reservation {
    worker: usize,
    path: Path,
}

impl Reservation {
    /// The worker holding the capacity.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// The path the capacity was reserved for.
    pub fn path(&self) -> Path {
        self.path
    }
}

/// A fixed set of workers (normally one per core).
#[derive(Debug)]
pub struct WorkerPool {
    workers: Vec<(Worker, Admission)>,
    next_id: u64,
}

impl WorkerPool {
    /// Starts `n` workers, each with a budget of `max_utilization` of a core; the scheduler
    /// places them.
    pub fn new(n: usize, cost: CallCost, max_utilization: f64) -> Result<Self> {
        Self::start(n, cost, max_utilization, |i| {
            Worker::spawn(&format!("media-{i}"))
        })
    }

    /// Starts `n` workers pinned to CPUs `0..n`, one each: a worker's calls keep one core's
    /// caches and its budget is that core's time.
    pub fn pinned(n: usize, cost: CallCost, max_utilization: f64) -> Result<Self> {
        Self::start(n, cost, max_utilization, |i| {
            Worker::spawn_pinned(&format!("media-{i}"), i)
        })
    }

    /// Starts `n` unpinned workers that deliver every call's events to `sink`, tagged with
    /// the call's [`Placement::id`] (keys are unique across the pool).
    pub fn with_events(
        n: usize,
        cost: CallCost,
        max_utilization: f64,
        sink: EventSink,
    ) -> Result<Self> {
        Self::start(n, cost, max_utilization, move |i| {
            Worker::spawn_with_events(&format!("media-{i}"), None, sink.clone())
        })
    }

    fn start(
        n: usize,
        cost: CallCost,
        max_utilization: f64,
        spawn: impl Fn(usize) -> Result<Worker>,
    ) -> Result<Self> {
        if n == 0 {
            return Err(MediaError::Misconfigured(
                "a worker pool needs at least one worker".into(),
            ));
        }
        let workers = (0..n)
            .map(|i| Ok((spawn(i)?, Admission::new(cost, max_utilization))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            workers,
            next_id: 1,
        })
    }

    /// Reserves capacity for a call on `path` on the worker with the most headroom, or
    /// refuses it (the running calls are untouched).
    pub fn reserve(&mut self, path: Path) -> Result<Reservation> {
        let (worker, (_, admission)) = self
            .workers
            .iter_mut()
            .enumerate()
            .max_by_key(|(_, (_, a))| a.headroom(path))
            .ok_or(MediaError::ApiMisuse("empty pool"))?;
        admission.admit(path)?;
        Ok(Reservation { worker, path })
    }

    /// Gives reserved capacity back.
    #[allow(clippy::needless_pass_by_value)] // Taking the token is the point: it cannot be used twice.
    pub fn cancel(&mut self, reservation: Reservation) {
        if let Some((_, admission)) = self.workers.get_mut(reservation.worker) {
            admission.release(reservation.path);
        }
    }

    /// Hands a call and its sockets (one per leg, in leg order) to the worker its reservation
    /// is on. If the bridge's path differs from the reserved one, the reservation is swapped
    /// for the bridge's path on the same worker first; if that does not fit, the call is
    /// refused and the reservation returned.
    #[allow(clippy::needless_pass_by_value)] // Taking the token is the point: it cannot be used twice.
    pub fn place(
        &mut self,
        reservation: Reservation,
        bridge: Bridge,
        sockets: Vec<std::net::UdpSocket>,
    ) -> Result<Placement> {
        let path = bridge.path();
        let index = reservation.worker;
        let Some((worker, admission)) = self.workers.get_mut(index) else {
            return Err(MediaError::ApiMisuse("no such worker"));
        };
        if path != reservation.path {
            admission.release(reservation.path);
            admission.admit(path)?;
        }
        let id = MediaCallKey(self.next_id);
        self.next_id += 1;
        if let Err(e) = worker.add_call(id, bridge, sockets) {
            admission.release(path);
            return Err(e);
        }
        Ok(Placement {
            worker: index,
            id,
            path,
        })
    }

    /// Admits and places a call, or refuses it (the running calls are untouched).
    pub fn add_call(
        &mut self,
        bridge: Bridge,
        sockets: Vec<std::net::UdpSocket>,
    ) -> Result<Placement> {
        let reservation = self.reserve(bridge.path())?;
        self.place(reservation, bridge, sockets)
    }

    /// Runs `f` on a placed call's bridge, on the worker that owns it: a re-INVITE, a browser
    /// re-offer, a stats read (see [`Worker::run`]). Queued before this returns; the future
    /// waits for the result without blocking a thread.
    pub fn run<R, F>(
        &self,
        placement: Placement,
        f: F,
    ) -> impl Future<Output = Result<R>> + Send + use<R, F>
    where
        R: Send + 'static,
        F: FnOnce(&mut Bridge, Instant) -> R + Send + 'static,
    {
        let queued = self
            .workers
            .get(placement.worker)
            .ok_or(MediaError::ApiMisuse("no such worker"))
            .map(|(worker, _)| worker.run(placement.id, f));
        async move { queued?.await }
    }

    /// [`WorkerPool::run`], waiting on the calling thread. Never call it from an async task.
    pub fn with_call<R: Send + 'static>(
        &self,
        placement: Placement,
        f: impl FnOnce(&mut Bridge, Instant) -> R + Send + 'static,
    ) -> Result<R> {
        futures::executor::block_on(self.run(placement, f))
    }

    /// Ends a call and returns its capacity.
    pub fn remove_call(&mut self, placement: Placement) -> Result<()> {
        let (worker, admission) = self
            .workers
            .get_mut(placement.worker)
            .ok_or(MediaError::ApiMisuse("no such worker"))?;
        // The capacity comes back even if the worker has stopped: its calls are gone with it.
        admission.release(placement.path);
        worker.remove_call(placement.id)
    }

    /// How many more calls on `path` the pool admits, over all workers.
    pub fn headroom(&self, path: Path) -> u64 {
        self.workers.iter().map(|(_, a)| a.headroom(path)).sum()
    }

    /// Every worker's counters, by worker index; the future waits without blocking a thread.
    pub fn reports(&self) -> impl Future<Output = Result<Vec<WorkerReport>>> + Send + use<> {
        let pending: Vec<_> = self.workers.iter().map(|(w, _)| w.report_async()).collect();
        async move {
            let mut out = Vec::with_capacity(pending.len());
            for p in pending {
                out.push(p.await?);
            }
            Ok(out)
        }
    }

    /// The workers, for reports and events.
    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.workers.iter().map(|(w, _)| w)
    }
}
