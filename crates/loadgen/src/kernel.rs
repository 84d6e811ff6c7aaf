//! What the kernel knows and the threads don't: datagrams dropped per socket
//! (`/proc/net/udp`), which tells loss at the worker's sockets apart from loss at the load
//! generator's own; and time the hypervisor took from a CPU (`/proc/stat`'s steal), during which
//! no thread on it runs and every datagram waits.

use std::collections::HashSet;
use std::time::Duration;

/// `/proc/stat` counts in USER_HZ, which is 100 on Linux.
const TICK: Duration = Duration::from_millis(10);

/// Time the hypervisor has taken from `cpu` since boot.
pub(crate) fn cpu_steal(cpu: usize) -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{cpu}");
    stat.lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .and_then(steal_ticks)
        .map(|t| TICK * t)
}

/// The steal column of a `cpuN user nice system idle iowait irq softirq steal …` row.
fn steal_ticks(row: &str) -> Option<u32> {
    row.split_whitespace().nth(8)?.parse().ok()
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
    fn reads_the_steal_column() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        assert_eq!(steal_ticks("cpu0 100 2 30 5000 7 1 40 3 0 0"), Some(3));
        assert_eq!(steal_ticks("cpu0 1 2"), None);
    }
}
