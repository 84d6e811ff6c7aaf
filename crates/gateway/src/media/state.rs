//! The media service's mutable state: the worker pool, the RTP ports and each call's media,
//! and the steps that change them together (admitting a call, opening a leg, forgetting a
//! call whose first offer failed). Every step runs under the service's lock and never waits.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};

use callbridge_media::bridge::Path;
use callbridge_media::shell::pool::WorkerPool;
use callbridge_media::shell::ports::PortAllocator;
use callbridge_model::{CallId, LegId};

use super::call::{CallMedia, LegMedia, Negotiation};
use super::{MediaServiceError, MediaSettings, MediaSnapshot};

/// Everything the service changes under its lock.
#[derive(Debug)]
pub(super) struct State {
    /// The media workers and their admission.
    pub(super) pool: WorkerPool,
    /// Free RTP ports.
    pub(super) ports: PortAllocator,
    /// Media of each call from its first offer to its release.
    pub(super) calls: HashMap<CallId, CallMedia>,
}

impl State {
    /// Reserves capacity for a call seen for the first time.
    pub(super) fn ensure_admitted(&mut self, call: CallId) -> Result<(), MediaServiceError> {
        if self.calls.contains_key(&call) {
            return Ok(());
        }
        // The path is unknown until both legs are negotiated: hold the dearer one.
        let reservation = self.pool.reserve(Path::Transcode).map_err(|e| {
            metrics::counter!("callbridge_media_admission_refused_total").increment(1);
            MediaServiceError::from(e)
        })?;
        self.calls.insert(
            call,
            CallMedia {
                reservation: Some(reservation),
                ..CallMedia::default()
            },
        );
        self.publish();
        Ok(())
    }

    /// Opens a new leg of an admitted call: a port and a bound socket, then `negotiate` with
    /// the address the leg advertises. If that fails, the port returns, and a call left with
    /// no leg is dropped with its capacity, so a refused offer leaks nothing.
    pub(super) fn open_leg(
        &mut self,
        settings: &MediaSettings,
        call: CallId,
        leg: LegId,
        negotiate: impl FnOnce(SocketAddr) -> Result<(Negotiation, String), MediaServiceError>,
    ) -> Result<String, MediaServiceError> {
        let opened = self.bind(settings, call).and_then(|(port, socket)| {
            let local = SocketAddr::new(settings.public_ip, port);
            match negotiate(local) {
                Ok((negotiation, text)) => Ok((port, socket, local, negotiation, text)),
                Err(e) => {
                    drop(socket);
                    self.ports.release(port);
                    Err(e)
                }
            }
        });
        match opened {
            Ok((port, socket, local, negotiation, text)) => {
                let media = self
                    .calls
                    .get_mut(&call)
                    .ok_or(MediaServiceError::UnknownCall)?;
                media.legs.push(LegMedia {
                    id: leg,
                    port,
                    local,
                    socket: Some(socket),
                    negotiation,
                });
                Ok(text)
            }
            Err(e) => {
                self.forget_if_empty(call);
                Err(e)
            }
        }
    }

    /// A free port and a socket bound to it, for a call with room for another leg.
    fn bind(
        &mut self,
        settings: &MediaSettings,
        call: CallId,
    ) -> Result<(u16, UdpSocket), MediaServiceError> {
        let media = self
            .calls
            .get(&call)
            .ok_or(MediaServiceError::UnknownCall)?;
        if media.legs.len() >= 2 {
            return Err(MediaServiceError::Internal(
                "a call bridges at most two legs".into(),
            ));
        }
        // A port whose bind fails (taken by another process) goes to the back of the queue.
        for _ in 0..self.ports.available() {
            let port = self.ports.allocate()?;
            match UdpSocket::bind(SocketAddr::new(settings.bind_ip, port)) {
                Ok(socket) => return Ok((port, socket)),
                Err(e) => {
                    tracing::debug!(port, error = %e, "RTP port unavailable");
                    self.ports.release(port);
                }
            }
        }
        Err(MediaServiceError::CapacityRefused)
    }

    /// Drops a call that has no leg (its first offer failed) and returns its capacity.
    fn forget_if_empty(&mut self, call: CallId) {
        if !self.calls.get(&call).is_some_and(|c| c.legs.is_empty()) {
            return;
        }
        if let Some(r) = self.calls.remove(&call).and_then(|m| m.reservation) {
            self.pool.cancel(r);
        }
        self.publish();
    }

    /// Updates the gauges after a change.
    pub(super) fn publish(&self) {
        metrics::gauge!("callbridge_media_calls").set(self.calls.len() as f64);
        let bridged = self.calls.values().filter(|c| c.bridged.is_some()).count();
        metrics::gauge!("callbridge_media_bridged_calls").set(bridged as f64);
    }

    pub(super) fn snapshot(&self, workers: usize) -> MediaSnapshot {
        let mut calls_per_worker = vec![0; workers];
        for w in self.calls.values().filter_map(CallMedia::worker) {
            if let Some(n) = calls_per_worker.get_mut(w) {
                *n += 1;
            }
        }
        MediaSnapshot {
            calls: self.calls.len(),
            bridged: self.calls.values().filter(|c| c.bridged.is_some()).count(),
            calls_per_worker,
            headroom_transcode: self.pool.headroom(Path::Transcode),
            headroom_passthrough: self.pool.headroom(Path::Passthrough),
            free_ports: self.ports.available(),
        }
    }
}
