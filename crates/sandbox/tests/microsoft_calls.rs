//! A Teams user dials out through the SBC and the call is looped back to another Teams user:
//! both virtual phones exchange SRTP G.722 audio whose tones are detected within ±5 Hz. The SBC
//! here is a minimal scripted peer over SIP/TCP (reference `sip-direct-routing.md` §1.4, §1.7).

use std::time::Duration;

use callbridge_sandbox::microsoft::{
    Codec, MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed, PhoneBehaviour,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed SIP message: start line, headers, body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Message {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }

    /// A response copying the dialog headers, optionally with a To-tag and an SDP body.
    fn reply(&self, status: &str, to_tag: Option<&str>, sdp: Option<&str>) -> String {
        let mut out = format!("SIP/2.0 {status}\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            let mut value = self.header(name).to_owned();
            if name == "To"
                && let Some(tag) = to_tag
            {
                value = format!("{value};tag={tag}");
            }
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("Contact: <sip:sbc.gateway.test:5061;transport=tcp>\r\n");
        match sdp {
            Some(body) => out.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )),
            None => out.push_str("Content-Length: 0\r\n\r\n"),
        }
        out
    }
}

struct Sbc {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Sbc {
    async fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).await.unwrap();
    }

    async fn receive(&mut self) -> Message {
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                let mut lines = head.split("\r\n");
                let start = lines.next().unwrap().to_owned();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
                    .map_or(0, |(_, v)| v.parse().unwrap());
                if self.buffer.len() >= end + 4 + length {
                    let body = String::from_utf8_lossy(&self.buffer[end + 4..end + 4 + length])
                        .into_owned();
                    self.buffer.drain(..end + 4 + length);
                    return Message {
                        start,
                        headers,
                        body,
                    };
                }
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
                .await
                .expect("the proxy went silent")
                .unwrap();
            assert!(read > 0, "connection closed");
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    /// Receives until a message whose start line begins with `prefix`, answering the proxy's
    /// OPTIONS keep-alives on the way.
    async fn expect(&mut self, prefix: &str) -> Message {
        loop {
            let message = self.receive().await;
            if message.start.starts_with(prefix) {
                return message;
            }
            if message.start.starts_with("OPTIONS") {
                let reply = message.reply("200 OK", None, None);
                self.send(&reply).await;
            }
        }
    }
}

fn request(
    method: &str,
    uri: &str,
    call_id: &str,
    cseq: u32,
    to: &str,
    sdp: Option<&str>,
) -> String {
    let mut out = format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/TCP sbc.gateway.test:5061;branch=z9hG4bK{:x}\r\n\
From: <sip:+15550001000@sbc.gateway.test;user=phone>;tag=sbc1\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\nContact: <sip:+15550001000@sbc.gateway.test:5061;transport=tcp>\r\nMax-Forwards: 70\r\n",
        rand::random::<u32>()
    );
    match sdp {
        Some(body) => out.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => out.push_str("Content-Length: 0\r\n\r\n"),
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_user_dials_out_and_two_phones_exchange_srtp_g722_audio() {
    let sandbox = MicrosoftSandbox::start(MicrosoftConfig::new(MicrosoftSeed::demo()))
        .await
        .unwrap();
    let tone = |hz| PhoneBehaviour {
        tone_hz: Some(hz),
        answer: callbridge_sandbox::microsoft::Answer::AfterSecs { secs: 0.2 },
        ..PhoneBehaviour::default()
    };
    sandbox
        .set_phone_behaviour("alice@contoso.test", tone(1000.0))
        .unwrap();
    sandbox
        .set_phone_behaviour(
            "bob@contoso.test",
            // Bob's phone sends DTMF one second after answering and holds the call at 1.4 s.
            PhoneBehaviour {
                dtmf: Some("12#".to_owned()),
                hold_after_secs: Some(1.4),
                ..tone(440.0)
            },
        )
        .unwrap();
    let tcp = sandbox.sip_addrs()[0].tcp;
    let mut sbc = Sbc {
        stream: TcpStream::connect(tcp).await.unwrap(),
        buffer: Vec::new(),
    };

    // No OPTIONS yet: Teams cannot route calls to the SBC.
    assert!(
        sandbox
            .dial("alice@contoso.test", "+15550001000")
            .await
            .is_err()
    );
    sbc.send(&request(
        "OPTIONS",
        "sip:sip.pstnhub.microsoft.com",
        "keepalive-1",
        1,
        "<sip:sip.pstnhub.microsoft.com>",
        None,
    ))
    .await;
    assert!(
        sbc.expect("SIP/2.0 ")
            .await
            .start
            .starts_with("SIP/2.0 200")
    );
    // Microsoft answers with OPTIONS of its own toward the SBC's Contact FQDN.
    let options = sbc.expect("OPTIONS").await;
    assert_eq!(options.start, "OPTIONS sip:sbc.gateway.test SIP/2.0");
    let reply = options.reply("200 OK", Some("sbc-options"), None);
    sbc.send(&reply).await;

    let mut outbound_call = None;
    for _ in 0..50 {
        if let Ok(call_id) = sandbox.dial("alice@contoso.test", "+15550001000").await {
            outbound_call = Some(call_id);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let outbound_call = outbound_call.expect("dial succeeds once OPTIONS went both ways");
    let invite = sbc.expect("INVITE").await;
    assert_eq!(
        invite.start,
        "INVITE sip:+15550001000@sbc.gateway.test;user=phone SIP/2.0"
    );
    assert!(
        invite
            .header("From")
            .starts_with("<sip:+14255550101@sip.pstnhub.microsoft.com;user=phone>")
    );
    assert_eq!(invite.header("Session-Expires"), "1800");
    let sdp = &invite.body;
    assert!(
        sdp.contains("m=audio ") && sdp.contains(" RTP/SAVP 9 0 8 13 101"),
        "{sdp}"
    );
    let first_32 = sdp.find("AES_CM_128_HMAC_SHA1_32").unwrap();
    assert!(
        first_32 < sdp.find("AES_CM_128_HMAC_SHA1_80").unwrap(),
        "_32 is offered before _80"
    );

    // The SBC routes the call back into Teams, to Bob, carrying Alice's offer.
    let bob_call = "loop-call-1";
    sbc.send(&request(
        "INVITE",
        "sip:+14255550102@sip.pstnhub.microsoft.com;user=phone",
        bob_call,
        1,
        "<sip:+14255550102@sip.pstnhub.microsoft.com;user=phone>",
        Some(sdp),
    ))
    .await;
    let ringing = sbc.expect("SIP/2.0 180").await;
    let bob_tag = ringing
        .header("To")
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_owned();
    let ok = sbc.expect("SIP/2.0 200").await;
    assert!(
        ok.body
            .contains("a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:"),
        "{}",
        ok.body
    );
    let to_bob = format!("<sip:+14255550102@sip.pstnhub.microsoft.com;user=phone>;tag={bob_tag}");
    sbc.send(&request(
        "ACK",
        "sip:sip.pstnhub.microsoft.com",
        bob_call,
        1,
        &to_bob,
        None,
    ))
    .await;
    // Alice's INVITE is answered with Bob's answer.
    sbc.send(&invite.reply("180 Ringing", Some("slack-1"), None))
        .await;
    sbc.send(&invite.reply("200 OK", Some("slack-1"), Some(&ok.body)))
        .await;
    let ack = sbc.expect("ACK").await;
    assert_eq!(ack.header("Call-ID"), outbound_call);

    // Hold arrives as a re-INVITE with a=inactive (the only hold form Direct Routing uses).
    let hold = sbc.expect("INVITE").await;
    assert_eq!(hold.header("Call-ID"), bob_call);
    assert!(hold.body.contains("a=inactive"), "{}", hold.body);
    sbc.send(&hold.reply("200 OK", None, Some(&hold.body)))
        .await;
    sbc.expect("ACK").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let alice = sandbox.call(&outbound_call).unwrap();
    let bob = sandbox.call(bob_call).unwrap();
    assert_eq!(
        (alice.state.as_str(), bob.state.as_str()),
        ("answered", "held")
    );
    let (heard_by_alice, heard_by_bob) =
        (alice.media.unwrap().report(), bob.media.unwrap().report());
    assert_eq!(heard_by_bob.codec, Some(Codec::G722));
    let at_bob = heard_by_bob.dominant_frequency().unwrap();
    let at_alice = heard_by_alice.dominant_frequency().unwrap();
    assert!((at_bob - 1000.0).abs() <= 5.0, "Bob heard {at_bob} Hz");
    assert!((at_alice - 440.0).abs() <= 5.0, "Alice heard {at_alice} Hz");
    assert!(heard_by_bob.tone_snr_db(1000.0) > 20.0);
    assert_eq!(heard_by_alice.auth_failures + heard_by_bob.auth_failures, 0);
    assert_eq!(heard_by_alice.dtmf_events, "12#");
    // On hold Bob's phone stops sending: Alice's packet count stands still.
    let alice_media = sandbox.call(&outbound_call).unwrap().media.unwrap();
    let before = alice_media.report().packets_received;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(alice_media.report().packets_received, before);

    // Alice hangs up: BYE reaches the SBC on her dialog.
    sandbox.hang_up(&outbound_call).await.unwrap();
    let bye = sbc.expect("BYE").await;
    assert_eq!(bye.header("Call-ID"), outbound_call);
    let reply = bye.reply("200 OK", None, None);
    sbc.send(&reply).await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn sip_over_tls_with_the_sandbox_ca() {
    use std::sync::Arc;

    use tokio_rustls::TlsConnector;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

    let mut config = MicrosoftConfig::new(MicrosoftSeed::demo());
    config.extra_tls_names = vec!["sip.pstnhub.test".to_owned()];
    let sandbox = MicrosoftSandbox::start(config).await.unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(sandbox.ca_certificate_pem().as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(client));
    let addr = sandbox.sip_addrs()[0].tls;
    for name in ["sip.pstnhub.microsoft.com", "sip.pstnhub.test"] {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let server_name = ServerName::try_from(name.to_owned()).unwrap();
        let mut tls = connector
            .connect(server_name, tcp)
            .await
            .expect("the CA-signed certificate verifies");
        let options = request(
            "OPTIONS",
            "sip:sip.pstnhub.microsoft.com",
            "tls-1",
            1,
            "<sip:sip.pstnhub.microsoft.com>",
            None,
        )
        .replace("SIP/2.0/TCP", "SIP/2.0/TLS")
        .replace("transport=tcp", "transport=tls");
        tls.write_all(options.as_bytes()).await.unwrap();
        let mut buffer = vec![0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        let reply = String::from_utf8_lossy(&buffer[..read]).into_owned();
        assert!(reply.starts_with("SIP/2.0 200 OK\r\n"), "{reply}");
    }
    // A name the certificate does not cover fails verification.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let wrong = ServerName::try_from("sbc.gateway.test".to_owned()).unwrap();
    assert!(connector.connect(wrong, tcp).await.is_err());
    sandbox.shutdown().await;
}

/// An SDES-SRTP G.722 offer with a fresh key, media toward `port` (nothing listens there; the
/// test is about signalling timers).
fn srtp_offer(port: u16) -> String {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 30]>());
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio {port} RTP/SAVP 9 0 101 13\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^31\r\n\
a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp-mux\r\na=sendrecv\r\n"
    )
}

/// Ringing, answering and hanging up follow the sandbox clock: with the
/// clock frozen nothing happens however long the test waits, and advancing it past the ring
/// timeout (480, reference `sip-direct-routing.md` §1.5), the answer delay (200) and the
/// hang-up time (BYE) brings each about at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_timeout_answer_and_hang_up_run_in_sandbox_time() {
    let sandbox = MicrosoftSandbox::start(MicrosoftConfig::new(MicrosoftSeed::demo()))
        .await
        .unwrap();
    let clock = sandbox.clock();
    clock.freeze();
    sandbox
        .set_phone_behaviour(
            "alice@contoso.test",
            PhoneBehaviour {
                answer: callbridge_sandbox::microsoft::Answer::NoAnswer,
                ring_timeout_secs: 30.0,
                ..PhoneBehaviour::default()
            },
        )
        .unwrap();
    sandbox
        .set_phone_behaviour(
            "bob@contoso.test",
            PhoneBehaviour {
                answer: callbridge_sandbox::microsoft::Answer::AfterSecs { secs: 120.0 },
                hang_up_after_secs: Some(600.0),
                ..PhoneBehaviour::default()
            },
        )
        .unwrap();
    let mut sbc = Sbc {
        stream: TcpStream::connect(sandbox.sip_addrs()[0].tcp)
            .await
            .unwrap(),
        buffer: Vec::new(),
    };
    sbc.send(&request(
        "OPTIONS",
        "sip:sip.pstnhub.microsoft.com",
        "keepalive-timers",
        1,
        "<sip:sip.pstnhub.microsoft.com>",
        None,
    ))
    .await;
    assert!(
        sbc.expect("SIP/2.0 ")
            .await
            .start
            .starts_with("SIP/2.0 200")
    );
    let quiet = Duration::from_millis(300);

    // Alice never answers: 480 exactly when 30 s of sandbox time have passed.
    let alice_uri = "<sip:+14255550101@sip.pstnhub.microsoft.com;user=phone>";
    sbc.send(&request(
        "INVITE",
        "sip:+14255550101@sip.pstnhub.microsoft.com;user=phone",
        "ring-timeout-1",
        1,
        alice_uri,
        Some(&srtp_offer(40_000)),
    ))
    .await;
    sbc.expect("SIP/2.0 180").await;
    assert!(
        tokio::time::timeout(quiet, sbc.expect("SIP/2.0 480"))
            .await
            .is_err(),
        "the ring timeout fired while the clock stood still"
    );
    clock.advance(Duration::from_secs(29));
    assert!(
        tokio::time::timeout(quiet, sbc.expect("SIP/2.0 480"))
            .await
            .is_err(),
        "fired early"
    );
    clock.advance(Duration::from_secs(2));
    let timeout = tokio::time::timeout(Duration::from_secs(3), sbc.expect("SIP/2.0 480"))
        .await
        .expect("480 once 30 s of sandbox time passed");
    assert!(timeout.header("To").contains("tag="));
    assert_eq!(sandbox.call("ring-timeout-1").unwrap().state, "no_answer");

    // Bob answers after 120 s and hangs up 600 s later, both in sandbox time.
    let bob_uri = "<sip:+14255550102@sip.pstnhub.microsoft.com;user=phone>";
    sbc.send(&request(
        "INVITE",
        "sip:+14255550102@sip.pstnhub.microsoft.com;user=phone",
        "answer-delay-1",
        1,
        bob_uri,
        Some(&srtp_offer(40_002)),
    ))
    .await;
    sbc.expect("SIP/2.0 180").await;
    assert!(
        tokio::time::timeout(quiet, sbc.expect("SIP/2.0 200"))
            .await
            .is_err(),
        "answered early"
    );
    clock.advance(Duration::from_secs(120));
    let ok = tokio::time::timeout(Duration::from_secs(3), sbc.expect("SIP/2.0 200"))
        .await
        .expect("answered once 120 s passed");
    let tag = ok.header("To").split("tag=").nth(1).unwrap().to_owned();
    sbc.send(&request(
        "ACK",
        "sip:sip.pstnhub.microsoft.com",
        "answer-delay-1",
        1,
        &format!("{bob_uri};tag={tag}"),
        None,
    ))
    .await;
    assert!(
        tokio::time::timeout(quiet, sbc.expect("BYE"))
            .await
            .is_err(),
        "hung up early"
    );
    clock.advance(Duration::from_secs(600));
    let bye = tokio::time::timeout(Duration::from_secs(3), sbc.expect("BYE"))
        .await
        .expect("BYE once 600 s passed");
    assert_eq!(bye.header("Call-ID"), "answer-delay-1");
    assert_eq!(sandbox.call("answer-delay-1").unwrap().state, "ended");
}
