//! One worker per core, with admission control in front: a call is pinned to the worker with
//! the most headroom, or refused with a reason when none has room.

use std::time::Instant;

use crate::bridge::{Bridge, Path};
use crate::error::{MediaError, Result};

use super::admission::{Admission, CallCost};
use super::worker::{CallId, Worker};

/// Where a call lives, to remove it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Index of the worker that owns the call.
    pub worker: usize,
    /// The call's id.
    pub id: CallId,
    /// The path it was admitted for.
    pub path: Path,
}

/// A fixed set of workers (normally one per core).
#[derive(Debug)]
pub struct WorkerPool {
    workers: Vec<(Worker, Admission)>,
    next_id: CallId,
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

    /// Admits and places a call, or refuses it (the running calls are untouched).
    pub fn add_call(
        &mut self,
        bridge: Bridge,
        sockets: Vec<std::net::UdpSocket>,
    ) -> Result<Placement> {
        let path = bridge.path();
        let (index, (worker, admission)) = self
            .workers
            .iter_mut()
            .enumerate()
            .max_by_key(|(_, (_, a))| a.headroom(path))
            .ok_or(MediaError::ApiMisuse("empty pool"))?;
        admission.admit(path)?;
        let id = self.next_id;
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

    /// Runs `f` on a placed call's bridge, on the worker that owns it: a re-INVITE, a browser
    /// re-offer, a stats read (see [`Worker::with_call`]).
    pub fn with_call<R: Send + 'static>(
        &self,
        placement: Placement,
        f: impl FnOnce(&mut Bridge, Instant) -> R + Send + 'static,
    ) -> Result<R> {
        let (worker, _) = self
            .workers
            .get(placement.worker)
            .ok_or(MediaError::ApiMisuse("no such worker"))?;
        worker.with_call(placement.id, f)
    }

    /// Ends a call and returns its capacity.
    pub fn remove_call(&mut self, placement: Placement) -> Result<()> {
        let (worker, admission) = self
            .workers
            .get_mut(placement.worker)
            .ok_or(MediaError::ApiMisuse("no such worker"))?;
        worker.remove_call(placement.id)?;
        admission.release(placement.path);
        Ok(())
    }

    /// The workers, for reports and events.
    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.workers.iter().map(|(w, _)| w)
    }
}
