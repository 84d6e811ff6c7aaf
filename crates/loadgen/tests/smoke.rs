//! The load generator as shipped: each mode runs a few calls end to end and reports traffic
//! that came back intact. Loose bounds on purpose: this checks that it works, not how fast.

use std::process::Command;

/// Runs the load generator and returns its report.
fn run(mode: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_callbridge-loadgen"))
        .args([
            "--calls",
            "10",
            "--seconds",
            "1",
            "--no-pin",
            "--mode",
            mode,
        ])
        .output()
        .expect("the load generator runs");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{mode}: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

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

/// Sent and received packets of the measured window.
fn sent_received(report: &str) -> (f64, f64) {
    let n = numbers(report, "loss:");
    (n[0], n[1])
}

#[test]
fn passthrough_calls_come_back_verified_with_latency_figures() {
    let report = run("passthrough");
    let (sent, received) = sent_received(&report);
    // 10 calls, both directions, 50 packets/s, 1 s measured.
    assert!(sent >= 900.0, "{report}");
    assert!(received >= sent * 0.9, "{report}");
    let checked = numbers(&report, "far ends:");
    assert!(checked[0] > 0.0, "some arrivals were decrypted: {report}");
    assert_eq!(
        checked[1], 0.0,
        "none failed SRTP or sequence checks: {report}"
    );
    assert!(report.contains("added latency (send stamp"), "{report}");
}

#[test]
fn transcoded_calls_come_back_decodable() {
    let report = run("transcode");
    let (sent, received) = sent_received(&report);
    assert!(sent >= 900.0 && received >= sent * 0.8, "{report}");
    assert_eq!(numbers(&report, "far ends:")[1], 0.0, "{report}");
}

#[test]
fn the_floor_forwards_the_same_traffic() {
    let report = run("floor");
    let (sent, received) = sent_received(&report);
    assert!(sent >= 900.0 && received >= sent * 0.9, "{report}");
}
