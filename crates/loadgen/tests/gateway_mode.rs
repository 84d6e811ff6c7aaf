//! The gateway mode as shipped: two calls through the whole gateway between both sandboxes,
//! two seconds of media, every call connected with audio both ways, and every figure of the
//! report present. Loose on purpose: this checks that it works, not how fast.

use std::process::Command;

/// The numbers on the report line starting with `prefix`, in order.
fn numbers(report: &str, prefix: &str) -> Vec<f64> {
    let line = report
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{report}"));
    line.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|w| w.parse().ok())
        .collect()
}

#[test]
fn two_calls_connect_hear_each_other_and_are_measured() {
    let out = Command::new(env!("CARGO_BIN_EXE_callbridge-loadgen"))
        .args([
            "--mode",
            "gateway",
            "--calls",
            "2",
            "--seconds",
            "2",
            "--answer-after-ms",
            "1500",
            "--media-core-seconds",
            "1",
            "--no-pin",
        ])
        .output()
        .expect("the load generator runs");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // requested, connected, heard both ways, failed
    assert_eq!(
        numbers(&report, "gateway calls:"),
        [2.0, 2.0, 2.0, 0.0],
        "{report}"
    );
    assert!(
        report.contains("G722 x2"),
        "passthrough by default: {report}"
    );
    // `p50 X ms, p99 Y ms (n=N…`: the numbers are 50, X, 99, Y, N, …
    let invite = numbers(&report, "command -> INVITE");
    assert!(invite[1] > 0.0 && invite[3] >= invite[1], "{report}");
    assert_eq!(invite[4], 2.0, "{report}");
    let audio = numbers(&report, "answer -> first bridged audio");
    assert!(audio[1] > 0.0 && audio[3] >= audio[1], "{report}");
    assert_eq!(audio[4], 2.0, "{report}");
    assert_eq!(numbers(&report, "steady phase:")[0], 2.0, "{report}");
    let cpu = numbers(&report, "gateway CPU:");
    assert!(cpu[0] > 0.0, "the gateway's threads were counted: {report}");
    assert!(
        numbers(&report, "bridged calls per core of gateway CPU:")[0] > 0.0,
        "{report}"
    );
    assert!(
        report.contains("media core alone (passthrough, 2 calls"),
        "{report}"
    );
}
