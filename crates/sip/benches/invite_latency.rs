//! Latency inside the trunk on loopback UDP, the two figures the trunk is held to:
//! - an INVITE arriving → its `100 Trying` leaving (parse, checks, SDP check, leg creation);
//! - `Trunk::invite` called → the INVITE on the wire (build, parse, transaction, send).
//!
//! The peer is a raw UDP socket, so only the trunk is measured.
//! Run: `cargo bench -p callbridge-sip --bench invite_latency` (add `-- <iterations>`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use callbridge_model::{LegId, PhoneNumber, Sdp};
use callbridge_sip::{ProxyTarget, SipTransport, Trunk, TrunkConfig, TrunkEvent};
use rcgen::{CertificateParams, KeyPair};
use tokio::net::UdpSocket;

const SBC: &str = "sbc.gateway.test";
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/SAVP 9 0 8 101 13\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk|2^31\r\n\
a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=rtcp-mux\r\na=ptime:20\r\na=sendrecv\r\n";

fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name}: n={} p50={:?} p99={:?} max={:?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default()
    );
}

fn write_files(dir: &Path) -> TrunkConfig {
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec![SBC.to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let (cert_file, key_file) = (dir.join("sbc.pem"), dir.join("sbc.key"));
    std::fs::write(&cert_file, cert.pem()).expect("cert");
    std::fs::write(&key_file, key.serialize_pem()).expect("key");
    TrunkConfig::new(SBC, Vec::new(), cert_file.clone(), key_file, cert_file)
}

async fn recv(socket: &UdpSocket, prefix: &str) -> (String, Instant) {
    let mut buffer = vec![0u8; 8192];
    loop {
        let (length, _) = socket.recv_from(&mut buffer).await.expect("recv");
        let at = Instant::now();
        let text = String::from_utf8_lossy(&buffer[..length]).into_owned();
        if text.starts_with(prefix) {
            return (text, at);
        }
    }
}

async fn inbound(iterations: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = write_files(dir.path());
    config.udp_listen = Some("127.0.0.1:0".parse().expect("addr"));
    let (trunk, mut events, addrs) = Trunk::start(config).await.expect("trunk");
    let target = addrs.udp.expect("udp");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("peer");
    let local = peer.local_addr().expect("addr");
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations + 50 {
        let invite = format!(
            "INVITE sip:+15550001000@{SBC};user=phone SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKb{i};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:+14255550101@sip.pstnhub.microsoft.com;user=phone>;tag=f{i}\r\n\
To: <sip:+15550001000@{SBC};user=phone>\r\nCall-ID: bench{i}@peer\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:+14255550101@{local};transport=udp>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
            SDP.len()
        );
        let sent = Instant::now();
        peer.send_to(invite.as_bytes(), target).await.expect("send");
        let (_, at) = recv(&peer, "SIP/2.0 100").await;
        if i >= 50 {
            samples.push(at - sent);
        }
        // Clean up: the gateway refuses, the peer ACKs the 486.
        while let Some(event) = events.recv().await {
            if let TrunkEvent::Incoming { leg, .. } = event {
                trunk.reject(leg, 486).expect("reject");
                break;
            }
        }
        let (busy, _) = recv(&peer, "SIP/2.0 486").await;
        let ack = format!(
            "ACK sip:+15550001000@{SBC} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKb{i};rport\r\nMax-Forwards: 70\r\n\
From: <sip:+14255550101@sip.pstnhub.microsoft.com;user=phone>;tag=f{i}\r\nTo: {}\r\nCall-ID: bench{i}@peer\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            header(&busy, "To")
        );
        peer.send_to(ack.as_bytes(), target).await.expect("ack");
    }
    report("INVITE -> 100 Trying", samples);
    trunk.shutdown();
}

async fn outbound(iterations: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("peer");
    let peer_addr: SocketAddr = peer.local_addr().expect("addr");
    let mut config = write_files(dir.path());
    config.udp_listen = Some("127.0.0.1:0".parse().expect("addr"));
    config.proxies = vec![ProxyTarget {
        fqdn: "sip.pstnhub.microsoft.com".to_owned(),
        addr: peer_addr,
        transport: SipTransport::Udp,
    }];
    config.options_interval = Duration::from_secs(3600);
    let (trunk, mut events, addrs) = Trunk::start(config).await.expect("trunk");
    let trunk_addr = addrs.udp.expect("udp");
    let to: PhoneNumber = "+14255550101".parse().expect("number");
    let caller: PhoneNumber = "+15550001000".parse().expect("number");
    let sdp = Sdp::parse(SDP).expect("sdp");
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations + 50 {
        let started = Instant::now();
        trunk
            .invite(LegId::generate(), &to, ("Bench", &caller), &sdp)
            .expect("invite");
        let (invite, at) = recv(&peer, "INVITE").await;
        if i >= 50 {
            samples.push(at - started);
        }
        let mut busy = String::from("SIP/2.0 486 Busy Here\r\n");
        for name in ["Via", "From", "Call-ID", "CSeq"] {
            busy.push_str(&format!("{name}: {}\r\n", header(&invite, name)));
        }
        busy.push_str(&format!(
            "To: {};tag=p{i}\r\nContent-Length: 0\r\n\r\n",
            header(&invite, "To")
        ));
        peer.send_to(busy.as_bytes(), trunk_addr)
            .await
            .expect("486");
        while let Some(event) = events.recv().await {
            if matches!(event, TrunkEvent::Ended { .. }) {
                break;
            }
        }
    }
    report("Trunk::invite -> INVITE on the wire", samples);
    trunk.shutdown();
}

fn main() {
    let iterations = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        inbound(iterations).await;
        outbound(iterations).await;
    });
}
