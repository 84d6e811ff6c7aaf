//! Pinning a thread to one CPU, so a worker's calls keep their caches and its CPU time can be
//! told apart from everything else on the machine.

use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;

use crate::error::{MediaError, Result};

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu)
        .map_err(|_| MediaError::Misconfigured(format!("CPU {cpu} is out of range")))?;
    // Pid 0 is the calling thread, not the whole process.
    sched_setaffinity(Pid::from_raw(0), &set)
        .map_err(|e| MediaError::Misconfigured(format!("cannot pin to CPU {cpu}: {e}")))
}
