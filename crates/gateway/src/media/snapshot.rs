//! A point-in-time view of the media service for metrics and the dashboard.

/// Live calls and capacity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaSnapshot {
    /// Calls holding media state (prepared, negotiating or bridged).
    pub calls: usize,
    /// Calls relayed by a worker.
    pub bridged: usize,
    /// Bridged calls per worker, by worker index.
    pub calls_per_worker: Vec<usize>,
    /// How many more transcoded calls the pool admits.
    pub headroom_transcode: u64,
    /// How many more passthrough calls the pool admits.
    pub headroom_passthrough: u64,
    /// Free RTP ports.
    pub free_ports: usize,
}
