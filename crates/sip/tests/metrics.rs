//! What the trunk exports for operators: OPTIONS health per proxy and the
//! SBC certificate's expiry, plus bad input counted. Its own test binary, because the
//! recorder is process-wide.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use callbridge_sip::{CERT_EXPIRY_METRIC, PROXY_HEALTH_METRIC, REJECTED_METRIC};
use common::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tokio::net::UdpSocket;

type Values = Vec<(String, Vec<(String, String)>, DebugValue)>;

/// One snapshot (it resets what it reads), as (name, labels, value).
fn snapshot(snapshotter: &Snapshotter) -> Values {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let labels = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.key().name().to_owned(), labels, value)
        })
        .collect()
}

fn values<'a>(all: &'a Values, name: &str) -> Vec<(&'a [(String, String)], &'a DebugValue)> {
    all.iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, labels, value)| (labels.as_slice(), value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_health_certificate_expiry_and_rejections_are_exported() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder in this binary");

    let rig = Rig::start_with(|config| {
        config.udp_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    let first = snapshot(&snapshotter);
    let health = values(&first, PROXY_HEALTH_METRIC);
    for fqdn in [
        "sip.pstnhub.microsoft.com",
        "sip2.pstnhub.microsoft.com",
        "sip3.pstnhub.microsoft.com",
    ] {
        let gauge = health
            .iter()
            .find(|(labels, _)| labels.contains(&("proxy".to_owned(), fqdn.to_owned())))
            .map(|(_, value)| *value);
        assert!(
            matches!(gauge, Some(DebugValue::Gauge(v)) if v.into_inner() == 1.0),
            "{fqdn}: {gauge:?}"
        );
    }
    let expiry = values(&first, CERT_EXPIRY_METRIC);
    let not_after = rig.trunk.certificate_not_after() as f64;
    assert!(
        matches!(expiry.first(), Some((_, DebugValue::Gauge(v))) if v.into_inner() == not_after),
        "{expiry:?} vs {not_after}"
    );
    assert!(not_after > 1.7e9, "a real timestamp: {not_after}");

    // A request with a CSeq for another method: 400, counted.
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let local: SocketAddr = peer.local_addr().expect("addr");
    let bad = format!(
        "OPTIONS sip:{SBC_FQDN} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKm1;rport\r\nMax-Forwards: 70\r\n\
From: <sip:peer.test>;tag=m1\r\nTo: <sip:{SBC_FQDN}>\r\nCall-ID: m1@peer.test\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    );
    let target = rig.addrs.udp.expect("udp listener");
    peer.send_to(bad.as_bytes(), target).await.expect("send");
    let mut buffer = vec![0u8; 4096];
    let (length, _) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buffer))
        .await
        .expect("answer")
        .expect("recv");
    assert!(String::from_utf8_lossy(&buffer[..length]).starts_with("SIP/2.0 400"));
    let second = snapshot(&snapshotter);
    let rejected = values(&second, REJECTED_METRIC);
    assert!(
        rejected.iter().any(|(labels, value)| labels
            .contains(&("reason".to_owned(), "malformed".to_owned()))
            && matches!(value, DebugValue::Counter(n) if *n >= 1)),
        "{rejected:?}"
    );
}
