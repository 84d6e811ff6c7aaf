//! What the kernel knows and the threads don't: datagrams dropped per socket
//! (`/proc/net/udp`), which tells loss at the worker's sockets apart from loss at the load
//! generator's own; and how busy a CPU was for any reason (`/proc/stat`), which includes the
//! softirq time of loopback deliveries that the kernel does not charge to the sending thread.

use std::collections::HashSet;
use std::time::Duration;

/// `/proc/stat` counts in USER_HZ, which is 100 on Linux.
const TICK: Duration = Duration::from_millis(10);

/// Time `cpu` has spent busy (user, nice, system, irq, softirq, steal) since boot.
pub(crate) fn cpu_busy(cpu: usize) -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    busy_ticks(line).map(|t| TICK * t)
}

/// Busy ticks of a `cpuN user nice system idle iowait irq softirq steal …` row.
fn busy_ticks(line: &str) -> Option<u32> {
    let v: Vec<u32> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    Some(at(0) + at(1) + at(2) + at(5) + at(6) + at(7))
}

/// Sum of the `drops` column over the loopback UDP sockets bound to `ports`; `None` where
/// `/proc/net/udp` is unavailable.
pub(crate) fn udp_drops(ports: &HashSet<u16>) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    Some(
        table
            .lines()
            .skip(1)
            .filter_map(parse_line)
            .filter(|(port, _)| ports.contains(port))
            .map(|(_, drops)| drops)
            .sum(),
    )
}

/// `(local port, drops)` of one row: `sl local_address rem_address st … drops` with
/// addresses as `HEXIP:HEXPORT` and drops the last column.
fn parse_line(line: &str) -> Option<(u16, u64)> {
    let mut cols = line.split_whitespace();
    let local = cols.nth(1)?;
    let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
    let drops = line.split_whitespace().last()?.parse().ok()?;
    Some((port, drops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_port_and_drops_of_a_row() {
        let row = "  711: 0100007F:4E20 0100007F:8CA3 01 00000000:00000000 00:00000000 \
                   00000000     0        0 123456 2 0000000000000000 17";
        assert_eq!(parse_line(row), Some((0x4E20, 17)));
        assert_eq!(parse_line("garbage"), None);
    }

    #[test]
    fn busy_time_leaves_out_idle_and_iowait() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let row = "cpu0 100 2 30 5000 7 1 40 3 0 0";
        assert_eq!(busy_ticks(row), Some(100 + 2 + 30 + 1 + 40 + 3));
        assert_eq!(busy_ticks("cpu0 x"), None);
    }
}
