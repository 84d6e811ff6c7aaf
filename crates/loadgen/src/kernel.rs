//! Datagrams the kernel dropped, per socket, from `/proc/net/udp`: tells loss at the worker's
//! sockets apart from loss at the load generator's own.

use std::collections::HashSet;

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
}
