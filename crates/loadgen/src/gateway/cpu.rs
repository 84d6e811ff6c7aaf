//! CPU time by thread group, from `/proc/self/task/*`: the gateway and the load that drives it
//! share one process, so the gateway's share is counted over its own threads. A thread is the
//! gateway's when its name says so: its runtime's workers and blocking pool (`gateway-rt`),
//! the media workers (`media-N`) and the store's SQLite workers (`sqlx-sqlite-…`). Everything
//! else (the sandboxes' runtime, the virtual phones, the browser stand-ins) is the load's.
//! A thread that ends inside the window takes its time with it; the gateway's threads live as
//! long as the run, so only a blocking-pool thread retiring after 10 s idle could be missed.

use std::collections::HashMap;
use std::time::Duration;

use callbridge_media::shell::worker::schedstat_cpu_time;

/// Name of the gateway runtime's threads.
pub(crate) const GATEWAY_RUNTIME: &str = "gateway-rt";

/// Which side of the run a thread works for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Group {
    /// The gateway's runtime: HTTP edge, engine, SIP trunk, adapters.
    GatewayRuntime,
    /// The gateway's media workers.
    MediaWorkers,
    /// The gateway's store.
    Store,
    /// Sandboxes, virtual phones, browser stand-ins, the load generator.
    Load,
}

impl Group {
    /// The group a thread named `comm` (at most 15 bytes, as the kernel keeps it) is in.
    pub(crate) fn of(comm: &str) -> Self {
        if comm.starts_with(GATEWAY_RUNTIME) {
            Self::GatewayRuntime
        } else if comm
            .strip_prefix("media-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            Self::MediaWorkers
        } else if comm.starts_with("sqlx-sqlite") {
            Self::Store
        } else {
            Self::Load
        }
    }

    /// Whether the gateway does this work.
    pub(crate) fn is_gateway(self) -> bool {
        self != Self::Load
    }
}

/// Each live thread's group and CPU time so far.
pub(crate) struct Sample(HashMap<u32, (Group, Duration)>);

impl Sample {
    /// The process's threads now.
    pub(crate) fn now() -> Self {
        let mut threads = HashMap::new();
        let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
            return Self(threads);
        };
        for entry in dir.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            let path = entry.path();
            let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
                continue; // Ended meanwhile.
            };
            let cpu = schedstat_cpu_time(&path.join("schedstat").to_string_lossy());
            threads.insert(tid, (Group::of(comm.trim_end()), cpu));
        }
        Self(threads)
    }

    /// Live threads per group.
    pub(crate) fn threads(&self) -> HashMap<Group, usize> {
        let mut by_group = HashMap::new();
        for (group, _) in self.0.values() {
            *by_group.entry(*group).or_insert(0) += 1;
        }
        by_group
    }

    /// CPU time per group between `earlier` and this sample; a thread born in between counts
    /// from zero.
    pub(crate) fn since(&self, earlier: &Self) -> HashMap<Group, Duration> {
        let mut by_group = HashMap::new();
        for (tid, (group, cpu)) in &self.0 {
            let before = earlier.0.get(tid).map_or(Duration::ZERO, |(_, c)| *c);
            *by_group.entry(*group).or_insert(Duration::ZERO) += cpu.saturating_sub(before);
        }
        by_group
    }
}

#[cfg(test)]
mod tests {
    use callbridge_media::shell::worker::thread_cpu_time;

    use super::*;

    #[test]
    fn threads_are_grouped_by_name() {
        assert_eq!(Group::of("gateway-rt"), Group::GatewayRuntime);
        assert_eq!(Group::of("media-0"), Group::MediaWorkers);
        assert_eq!(Group::of("media-12"), Group::MediaWorkers);
        assert_eq!(Group::of("media-worker-0"), Group::Load);
        assert_eq!(Group::of("sqlx-sqlite-wor"), Group::Store);
        assert_eq!(Group::of("browser-stand-i"), Group::Load);
        assert_eq!(Group::of("loadgen-rt"), Group::Load);
        assert!(Group::Store.is_gateway() && !Group::Load.is_gateway());
    }

    #[test]
    fn a_busy_thread_shows_in_its_group() {
        let before = Sample::now();
        let spun = std::thread::Builder::new()
            .name("media-7".into())
            .spawn(|| {
                // Spins until it has used 30 ms of CPU, however long that takes on a busy box.
                let start = thread_cpu_time();
                let mut x = 0u64;
                while thread_cpu_time().saturating_sub(start) < Duration::from_millis(30) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
                // Sampled while alive: a thread's time goes with it.
                Sample::now()
            })
            .expect("a thread");
        let after = spun.join().expect("it ran");
        let used = after.since(&before);
        assert!(
            used[&Group::MediaWorkers] >= Duration::from_millis(30),
            "{used:?}"
        );
    }
}
