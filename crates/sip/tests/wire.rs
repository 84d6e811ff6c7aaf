//! What the trunk puts on the wire and how it treats bad input, seen by raw peers: the
//! Direct Routing header rules and rsipstack's two caveats (reference `sip-direct-routing.md`
//! §2.2: Contact rewritten to an IP/`sips:` over TLS, Call-ID on rsipstack's domain), 400 for
//! malformed requests and 488 for unusable SDP, and the certificate swapped on disk being
//! served on the next TLS handshake.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callbridge_model::LegId;
use callbridge_sip::{ProxyTarget, SipTransport, Trunk, TrunkConfig, TrunkEvent};
use common::pki::TestCa;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const PROXY_FQDN: &str = "sip.pstnhub.microsoft.com";

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// A reply to `request` copying its transaction headers.
fn reply_to(request: &str, status: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if let Some(value) = header(request, name) {
            let value = if name == "To" && !value.contains("tag=") && !status.starts_with('1') {
                format!("{value};tag=proxy1")
            } else {
                value.to_owned()
            };
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// Splits complete messages off a stream buffer (Content-Length framing).
fn take_message(buffer: &mut Vec<u8>) -> Option<String> {
    let text = String::from_utf8_lossy(buffer).into_owned();
    let end = text.find("\r\n\r\n")? + 4;
    let length: usize = header(&text[..end], "Content-Length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    if text.len() < end + length {
        return None;
    }
    buffer.drain(..end + length);
    Some(text[..end + length].to_owned())
}

fn server_config(cert_pem: &str, key_pem: &str) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
    Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config"),
    )
}

/// A TLS "proxy" that records every request, answers OPTIONS 200 and INVITE 486.
async fn recording_proxy(ca: &TestCa) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let leaf = ca.leaf(PROXY_FQDN, 2040);
    let acceptor = TlsAcceptor::from(server_config(&leaf.cert_pem, &leaf.key_pem));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (seen, seen_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(stream).await else {
                    return;
                };
                let (mut buffer, mut chunk) = (Vec::new(), vec![0u8; 8192]);
                while let Ok(read) = stream.read(&mut chunk).await {
                    if read == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..read]);
                    while let Some(message) = take_message(&mut buffer) {
                        let answer = if message.starts_with("OPTIONS") {
                            Some(reply_to(&message, "200 OK"))
                        } else if message.starts_with("INVITE") {
                            Some(reply_to(&message, "486 Busy Here"))
                        } else {
                            None
                        };
                        let _ = seen.send(message);
                        if let Some(answer) = answer {
                            let _ = stream.write_all(answer.as_bytes()).await;
                        }
                    }
                }
            });
        }
    });
    (addr, seen_rx)
}

async fn next_request(seen: &mut mpsc::UnboundedReceiver<String>, method: &str) -> String {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), seen.recv())
            .await
            .expect("request in time")
            .expect("proxy running");
        if message.starts_with(method) {
            return message;
        }
    }
}

fn trunk_config(files: &Files, proxies: Vec<ProxyTarget>) -> TrunkConfig {
    let mut config = config(files, proxies);
    config.udp_listen = Some("127.0.0.1:0".parse().expect("addr"));
    config.tls_listen = Some("127.0.0.1:0".parse().expect("addr"));
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carry_fqdn_contact_own_call_id_user_phone_and_x_ms_sbc() {
    let ca = TestCa::new();
    let sbc = ca.leaf(SBC_FQDN, 2040);
    let files = Files::write(&sbc.cert_pem, &sbc.key_pem, &ca.pem);
    let (addr, mut seen) = recording_proxy(&ca).await;
    let proxies = vec![ProxyTarget {
        fqdn: PROXY_FQDN.to_owned(),
        addr,
        transport: SipTransport::Tls,
    }];
    let (trunk, mut events, _) = Trunk::start(trunk_config(&files, proxies))
        .await
        .expect("trunk");

    let options = next_request(&mut seen, "OPTIONS").await;
    let contact = header(&options, "Contact").expect("OPTIONS Contact");
    assert_eq!(contact, format!("<sip:{SBC_FQDN}:5061;transport=tls>"));
    assert!(header(&options, "X-MS-SBC").is_some_and(|v| v.starts_with("callbridge/")));

    let media = media::SbcMedia::bind().await;
    let leg = LegId::generate();
    trunk
        .invite(
            leg,
            &number(ALICE_NUMBER),
            ("Bob Brown (Slack)", &number(SLACK_NUMBER)),
            &media.offer(),
        )
        .expect("invite");
    let invite = next_request(&mut seen, "INVITE").await;
    let request_line = invite.lines().next().expect("request line");
    assert_eq!(
        request_line,
        format!("INVITE sip:{ALICE_NUMBER}@{PROXY_FQDN};user=phone SIP/2.0")
    );
    // §2.2: rsipstack rewrites a TLS Contact to the socket address and `sips:` unless it
    // already names a transport; ours must keep the FQDN, `sip:` and `transport=tls`.
    let contact = header(&invite, "Contact").expect("INVITE Contact");
    assert_eq!(
        contact,
        format!("<sip:{SLACK_NUMBER}@{SBC_FQDN}:5061;transport=tls>")
    );
    assert!(!contact.contains("sips:") && !contact.contains("127.0.0.1"));
    // §2.2: rsipstack's default Call-ID domain is not ours.
    let call_id = header(&invite, "Call-ID").expect("Call-ID");
    assert!(
        call_id.ends_with(&format!("@{SBC_FQDN}")) && !call_id.contains("restsend"),
        "{call_id}"
    );
    let from = header(&invite, "From").expect("From");
    assert!(
        from.starts_with(&format!(
            "\"Bob Brown (Slack)\" <sip:{SLACK_NUMBER}@{SBC_FQDN};user=phone>;tag="
        )),
        "{from}"
    );
    assert!(header(&invite, "X-MS-SBC").is_some());
    assert!(header(&invite, "Content-Type").is_some_and(|c| c == "application/sdp"));
    assert!(invite.contains("RTP/SAVP") && invite.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80"));

    let event = next_event(&mut events, 5).await;
    assert!(
        matches!(
            event,
            TrunkEvent::Ended {
                status: Some(486),
                ..
            }
        ),
        "{event:?}"
    );
    trunk.shutdown();
}

async fn udp_exchange(socket: &UdpSocket, to: SocketAddr, message: &str) -> String {
    socket.send_to(message.as_bytes(), to).await.expect("send");
    let mut buffer = vec![0u8; 8192];
    loop {
        let (length, _) =
            tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
                .await
                .expect("answer in time")
                .expect("recv");
        let text = String::from_utf8_lossy(&buffer[..length]).into_owned();
        // Provisional answers, and the CRLF pong to a CRLF keep-alive ping (RFC 5626 §4.4.1),
        // are not what these checks are about.
        if text.starts_with("SIP/2.0 ") && !text.starts_with("SIP/2.0 1") {
            return text;
        }
    }
}

fn raw_invite(local: SocketAddr, cseq: &str, content_type: Option<&str>, body: &str) -> String {
    let branch = format!("z9hG4bK{:x}", rand::random::<u64>());
    let call_id = format!("{:x}@peer.test", rand::random::<u64>());
    let content_type = content_type
        .map(|c| format!("Content-Type: {c}\r\n"))
        .unwrap_or_default();
    format!(
        "INVITE sip:{SLACK_NUMBER}@{SBC_FQDN};user=phone SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:{ALICE_NUMBER}@{PROXY_FQDN};user=phone>;tag=p1\r\nTo: <sip:{SLACK_NUMBER}@{SBC_FQDN};user=phone>\r\n\
Call-ID: {call_id}\r\nCSeq: {cseq}\r\nContact: <sip:{ALICE_NUMBER}@{local}>\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_sip_gets_400_and_bad_sdp_gets_488_without_harm() {
    let ca = TestCa::new();
    let sbc = ca.leaf(SBC_FQDN, 2040);
    let files = Files::write(&sbc.cert_pem, &sbc.key_pem, &ca.pem);
    let (trunk, mut events, addrs) = Trunk::start(trunk_config(&files, Vec::new()))
        .await
        .expect("trunk");
    let target = addrs.udp.expect("udp");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let local = peer.local_addr().expect("addr");
    let sdp = media::SbcMedia::bind().await.offer();

    let answer = udp_exchange(
        &peer,
        target,
        &raw_invite(local, "1 BYE", Some("application/sdp"), sdp.as_str()),
    )
    .await;
    assert!(
        answer.starts_with("SIP/2.0 400"),
        "CSeq method mismatch: {answer}"
    );
    assert!(header(&answer, "Warning").is_some_and(|w| w.contains("CSeq")));

    let answer = udp_exchange(
        &peer,
        target,
        &raw_invite(
            local,
            "1 INVITE",
            Some("application/sdp"),
            "v=0\r\nnot sdp at all\r\n",
        ),
    )
    .await;
    assert!(answer.starts_with("SIP/2.0 488"), "garbage SDP: {answer}");
    let answer = udp_exchange(&peer, target, &raw_invite(local, "1 INVITE", None, "")).await;
    assert!(answer.starts_with("SIP/2.0 488"), "delayed offer: {answer}");
    let video = sdp.as_str().replace("m=audio", "m=video");
    let answer = udp_exchange(
        &peer,
        target,
        &raw_invite(local, "1 INVITE", Some("application/sdp"), &video),
    )
    .await;
    assert!(answer.starts_with("SIP/2.0 488"), "no audio: {answer}");
    let answer = udp_exchange(
        &peer,
        target,
        &raw_invite(
            local,
            "1 INVITE",
            Some("application/sdp"),
            "\u{0}\u{1}binary",
        ),
    )
    .await;
    assert!(answer.starts_with("SIP/2.0 488"), "binary body: {answer}");

    // Bytes that are not SIP at all, and a request cut short, change nothing.
    for junk in [
        &b"\x00\xff\xfe garbage"[..],
        b"INVITE sip:x SIP/2.0\r\nVia: broken",
        b"\r\n\r\n",
    ] {
        peer.send_to(junk, target).await.expect("send");
    }
    let options = format!(
        "OPTIONS sip:{SBC_FQDN} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKopt1;rport\r\nMax-Forwards: 70\r\n\
From: <sip:{PROXY_FQDN}>;tag=o1\r\nTo: <sip:{SBC_FQDN}>\r\nCall-ID: opt1@peer.test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let answer = udp_exchange(&peer, target, &options).await;
    assert!(answer.starts_with("SIP/2.0 200"), "still serving: {answer}");
    assert!(header(&answer, "Allow").is_some_and(|a| a.contains("INVITE")));
    assert!(header(&answer, "Contact").is_some_and(|c| c.contains(SBC_FQDN)));
    assert_eq!(trunk.live_legs(), 0, "no half-made leg");
    assert!(events.try_recv().is_err(), "nothing offered to the gateway");
    trunk.shutdown();
}

/// Connects as a TLS client trusting `ca_pem` and returns the served leaf's notAfter.
async fn served_not_after(addr: SocketAddr, ca_pem: &str) -> i64 {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(SBC_FQDN).expect("name"), stream)
        .await
        .expect("handshake");
    let leaf = tls.get_ref().1.peer_certificates().expect("certs")[0].clone();
    x509_parser::parse_x509_certificate(&leaf)
        .expect("x509")
        .1
        .validity()
        .not_after
        .timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_swapped_on_disk_is_served_on_the_next_handshake() {
    let ca = TestCa::new();
    let first = ca.leaf(SBC_FQDN, 2035);
    let files = Files::write(&first.cert_pem, &first.key_pem, &ca.pem);
    let (trunk, _events, addrs) = Trunk::start(trunk_config(&files, Vec::new()))
        .await
        .expect("trunk");
    let tls = addrs.tls.expect("tls");
    let year_2035 = 2_051_222_400;
    assert_eq!(served_not_after(tls, &ca.pem).await, year_2035);
    assert_eq!(trunk.certificate_not_after(), year_2035);

    // Rotation: new files written in place (as certbot or a secret mount would).
    let second = ca.leaf(SBC_FQDN, 2036);
    std::fs::write(&files.key, &second.key_pem).expect("key");
    std::fs::write(&files.cert, format!("{}\n", second.cert_pem)).expect("cert");
    let year_2036 = 2_082_758_400;
    assert_eq!(
        served_not_after(tls, &ca.pem).await,
        year_2036,
        "the new certificate is served"
    );
    assert_eq!(trunk.certificate_not_after(), year_2036);

    // A broken file keeps the last good identity in service.
    std::fs::write(&files.cert, "not a certificate").expect("cert");
    assert_eq!(served_not_after(tls, &ca.pem).await, year_2036);
    trunk.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_answers_new_invites_503_with_retry_after() {
    let ca = TestCa::new();
    let sbc = ca.leaf(SBC_FQDN, 2040);
    let files = Files::write(&sbc.cert_pem, &sbc.key_pem, &ca.pem);
    let mut config = trunk_config(&files, Vec::new());
    config.drain_retry_after_secs = 45;
    let (trunk, mut events, addrs) = Trunk::start(config).await.expect("trunk");
    let target = addrs.udp.expect("udp");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let local = peer.local_addr().expect("addr");
    let sdp = media::SbcMedia::bind().await.offer();

    // Before the drain the same INVITE is offered to the gateway.
    let invite = raw_invite(local, "1 INVITE", Some("application/sdp"), sdp.as_str());
    peer.send_to(invite.as_bytes(), target).await.expect("send");
    let event = next_event(&mut events, 5).await;
    let TrunkEvent::Incoming { leg, .. } = event else {
        panic!("{event:?}");
    };
    trunk.reject(leg, 480).expect("reject");

    trunk.drain();
    let invite = raw_invite(local, "1 INVITE", Some("application/sdp"), sdp.as_str());
    peer.send_to(invite.as_bytes(), target).await.expect("send");
    // The earlier call's 480 (retransmitted until ACKed) may go by first.
    let mut buffer = vec![0u8; 8192];
    let answer = loop {
        let (length, _) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buffer))
            .await
            .expect("503 in time")
            .expect("recv");
        let text = String::from_utf8_lossy(&buffer[..length]).into_owned();
        if !text.starts_with("SIP/2.0 480") && !text.starts_with("SIP/2.0 1") {
            break text;
        }
    };
    assert!(answer.starts_with("SIP/2.0 503"), "{answer}");
    assert_eq!(header(&answer, "Retry-After"), Some("45"));
    assert!(trunk.is_draining());
    trunk.shutdown();
}
