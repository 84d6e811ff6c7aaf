//! The Direct Routing SIP proxy against SIPp (Debian `sip-tester`) as a real SBC peer over UDP,
//! following reference `sip-direct-routing.md` §1.4–§1.5. These tests fail, not skip, when
//! SIPp is missing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use callbridge_sandbox::microsoft::{
    Answer, MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed, PhoneBehaviour,
    RunningMicrosoftSandbox,
};

const SIPP: &str = "/usr/bin/sipp";
const ALICE_NUMBER: &str = "+14255550101";
const ALICE: &str = "alice@contoso.test";

async fn sandbox() -> RunningMicrosoftSandbox {
    MicrosoftSandbox::start(MicrosoftConfig::new(MicrosoftSeed::demo()))
        .await
        .unwrap()
}

fn udp_of(sandbox: &RunningMicrosoftSandbox, name: &str) -> SocketAddr {
    sandbox
        .sip_addrs()
        .into_iter()
        .find(|a| a.name == name)
        .unwrap()
        .udp
}

/// The SBC's SDP offer with a key generated for this run.
fn offer_sdp(proto: &str, direction: &str) -> String {
    let key = STANDARD.encode(rand::random::<[u8; 30]>());
    format!(
        "v=0\r\no=- 1 1 IN IP[local_ip_type] [local_ip]\r\ns=-\r\nc=IN IP[media_ip_type] [media_ip]\r\nt=0 0\r\n\
m=audio [media_port] {proto} 9 0 8 101 13\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^31\r\n\
a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=rtcp-mux\r\na=ptime:20\r\na={direction}\r\n"
    )
}

const FROM: &str = "From: <sip:+15550001000@sbc.gateway.test;user=phone>;tag=[pid]SBC[call_number]";

fn options(contact: &str, expect: u16) -> String {
    format!(
        r#"<send retrans="500"><![CDATA[
OPTIONS sip:sip.pstnhub.microsoft.com SIP/2.0
Via: SIP/2.0/[transport] sbc.gateway.test:[local_port];branch=[branch]
{FROM}
To: <sip:sip.pstnhub.microsoft.com>
Call-ID: [call_id]
CSeq: [cseq] OPTIONS
Contact: <{contact}>
Max-Forwards: 70
X-MS-SBC: callbridge/sandbox-test/1
Content-Length: 0

]]></send>
<recv response="{expect}"/>
"#
    )
}

fn invite(number: &str, sdp: Option<&str>, cseq: u32) -> String {
    let (content_type, body) = match sdp {
        Some(sdp) => ("Content-Type: application/sdp\r\n", sdp.to_owned()),
        None => ("", String::new()),
    };
    format!(
        r#"<send retrans="500"><![CDATA[
INVITE sip:{number}@sip.pstnhub.microsoft.com;user=phone SIP/2.0
Via: SIP/2.0/[transport] sbc.gateway.test:[local_port];branch=[branch]
{FROM}
To: <sip:{number}@sip.pstnhub.microsoft.com;user=phone>
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:+15550001000@sbc.gateway.test:[local_port];transport=udp>
Max-Forwards: 70
{content_type}Content-Length: [len]

{body}]]></send>
"#
    )
}

fn in_dialog(method: &str, cseq: u32, sdp: Option<&str>) -> String {
    let (content_type, body) = match sdp {
        Some(sdp) => ("Content-Type: application/sdp\r\n", sdp.to_owned()),
        None => ("", String::new()),
    };
    format!(
        r#"<send><![CDATA[
{method} [next_url] SIP/2.0
Via: SIP/2.0/[transport] sbc.gateway.test:[local_port];branch=[branch]
{FROM}
To: <sip:{ALICE_NUMBER}@sip.pstnhub.microsoft.com;user=phone>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: <sip:+15550001000@sbc.gateway.test:[local_port];transport=udp>
Max-Forwards: 70
{content_type}Content-Length: [len]

{body}]]></send>
"#
    )
}

/// ACK for a non-2xx final response (same To-tag, CSeq number of the INVITE).
fn ack_failure(number: &str, cseq: u32) -> String {
    format!(
        r#"<send><![CDATA[
ACK sip:{number}@sip.pstnhub.microsoft.com;user=phone SIP/2.0
Via: SIP/2.0/[transport] sbc.gateway.test:[local_port];branch=[branch]
{FROM}
To: <sip:{number}@sip.pstnhub.microsoft.com;user=phone>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
"#
    )
}

fn scenario(name: &str, steps: &[String]) -> String {
    let body = steps.concat();
    // SIPp rejects variables assigned by a check but never read; mark them as used.
    let checked: Vec<&str> = ["c", "m", "h", "r", "w"]
        .into_iter()
        .filter(|v| body.contains(&format!("assign_to=\"{v}\"")))
        .collect();
    let reference = if checked.is_empty() {
        String::new()
    } else {
        format!("<Reference variables=\"{}\"/>", checked.join(","))
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"{name}\">\n{body}{reference}\n</scenario>\n"
    )
}

fn work_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callbridge-ms-sipp-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs one SIPp call over UDP against `target`; panics with SIPp's output on failure.
async fn run_sipp(xml: String, target: SocketAddr) {
    assert!(
        Path::new(SIPP).exists(),
        "SIPp is required: install the Debian package sip-tester"
    );
    let dir = work_dir();
    let file = dir.join("scenario.xml");
    std::fs::write(&file, xml).unwrap();
    let log_dir = dir.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(SIPP)
            .args([
                &target.to_string(),
                "-sf",
                file.to_str().unwrap(),
                "-m",
                "1",
                "-i",
                "127.0.0.1",
                "-t",
                "u1",
                "-aa",
                "-nostdin",
                "-timeout",
                "20s",
                "-timeout_error",
                "-trace_err",
            ])
            .current_dir(&dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    if !output.status.success() {
        let errors: String = std::fs::read_dir(&log_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        panic!(
            "SIPp failed ({}):\n{}\n{}{errors}",
            output.status,
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n"),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn good_options() -> String {
    options("sip:sbc.gateway.test:[local_port];transport=udp", 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_call_with_two_ringing_devices_hold_and_bye() {
    let sandbox = sandbox().await;
    sandbox
        .set_phone_behaviour(
            ALICE,
            PhoneBehaviour {
                ringing_devices: 2,
                early_media: true,
                answer: Answer::AfterSecs { secs: 0.3 },
                ..PhoneBehaviour::default()
            },
        )
        .unwrap();
    let steps = vec![
        good_options(),
        invite(ALICE_NUMBER, Some(&offer_sdp("RTP/SAVP", "sendrecv")), 2),
        r#"<recv response="100" optional="true"/><recv response="180"/><recv response="180"/><recv response="183"><action><ereg regexp="RTP/SAVP" search_in="body" check_it="true" assign_to="m"/></action></recv>"#.to_owned(),
        r#"<recv response="200" rrs="true"><action><ereg regexp="a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" search_in="body" check_it="true" assign_to="c"/><ereg regexp="m=audio [0-9]+ RTP/SAVP 9 " search_in="body" check_it="true" assign_to="m"/></action></recv>"#.to_owned(),
        in_dialog("ACK", 2, None),
        r#"<pause milliseconds="300"/>"#.to_owned(),
        in_dialog("INVITE", 3, Some(&offer_sdp("RTP/SAVP", "inactive"))),
        r#"<recv response="100" optional="true"/><recv response="200"><action><ereg regexp="a=inactive" search_in="body" check_it="true" assign_to="h"/></action></recv>"#.to_owned(),
        in_dialog("ACK", 3, None),
        in_dialog("BYE", 4, None),
        r#"<recv response="200"/>"#.to_owned(),
    ];
    run_sipp(scenario("call, hold, bye", &steps), udp_of(&sandbox, "sip")).await;
    let call = sandbox.calls().pop().unwrap();
    assert_eq!(call.state, "ended");
    assert_eq!(call.ringing_tags.len(), 2);
    assert_ne!(
        call.ringing_tags[0], call.ringing_tags[1],
        "each ringing device has its own To-tag"
    );
    assert_eq!(call.remote_number, "+15550001000");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_cancel_while_ringing() {
    let sandbox = sandbox().await;
    sandbox
        .set_phone_behaviour(
            ALICE,
            PhoneBehaviour {
                answer: Answer::NoAnswer,
                ..PhoneBehaviour::default()
            },
        )
        .unwrap();
    let cancel = r#"<send><![CDATA[
CANCEL sip:+14255550101@sip.pstnhub.microsoft.com;user=phone SIP/2.0
Via: SIP/2.0/[transport] sbc.gateway.test:[local_port];branch=[branch]
From: <sip:+15550001000@sbc.gateway.test;user=phone>;tag=[pid]SBC[call_number]
To: <sip:+14255550101@sip.pstnhub.microsoft.com;user=phone>
Call-ID: [call_id]
CSeq: 2 CANCEL
Max-Forwards: 70
Content-Length: 0

]]></send>
"#;
    let steps = vec![
        good_options(),
        invite(ALICE_NUMBER, Some(&offer_sdp("RTP/SAVP", "sendrecv")), 2),
        r#"<recv response="100" optional="true"/><recv response="180"/>"#.to_owned(),
        cancel.to_owned(),
        r#"<recv response="200"/><recv response="487"/>"#.to_owned(),
        ack_failure(ALICE_NUMBER, 2),
    ];
    run_sipp(scenario("cancel", &steps), udp_of(&sandbox, "sip")).await;
    assert_eq!(sandbox.calls().pop().unwrap().state, "cancelled");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_gets_the_documented_rejections() {
    let sandbox = sandbox().await;
    sandbox
        .set_phone_behaviour(
            "bob@contoso.test",
            PhoneBehaviour {
                answer: Answer::Busy,
                ..PhoneBehaviour::default()
            },
        )
        .unwrap();
    let steps = vec![
        // An IP address or a sips: URI in the Contact is refused (§1.4).
        options("sip:127.0.0.1:[local_port];transport=udp", 403),
        options("sips:sbc.gateway.test:[local_port]", 403),
        // Before the SBC's OPTIONS succeeded, no call is routed.
        invite(ALICE_NUMBER, Some(&offer_sdp("RTP/SAVP", "sendrecv")), 3),
        r#"<recv response="403"/>"#.to_owned(),
        ack_failure(ALICE_NUMBER, 3),
        options("sip:sbc.gateway.test:[local_port];transport=udp", 200),
        // Delayed offer, plain RTP and unknown numbers.
        invite(ALICE_NUMBER, None, 5),
        r#"<recv response="488"/>"#.to_owned(),
        ack_failure(ALICE_NUMBER, 5),
        invite(ALICE_NUMBER, Some(&offer_sdp("RTP/AVP", "sendrecv")), 6),
        r#"<recv response="488"><action><ereg regexp="SrtpEncryptionRequired" search_in="hdr" header="Warning:" check_it="true" assign_to="w"/></action></recv>"#.to_owned(),
        ack_failure(ALICE_NUMBER, 6),
        invite("+19995550000", Some(&offer_sdp("RTP/SAVP", "sendrecv")), 7),
        r#"<recv response="100" optional="true"/><recv response="404"/>"#.to_owned(),
        ack_failure("+19995550000", 7),
        invite("+14255550102", Some(&offer_sdp("RTP/SAVP", "sendrecv")), 8),
        r#"<recv response="100" optional="true"/><recv response="486"/>"#.to_owned(),
        ack_failure("+14255550102", 8),
    ];
    run_sipp(scenario("rejections", &steps), udp_of(&sandbox, "sip")).await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_fails_over_from_a_503_proxy() {
    let sandbox = sandbox().await;
    sandbox.set_proxy_unavailable("sip", Some(30)).unwrap();
    let steps = vec![
        good_options(),
        invite(ALICE_NUMBER, Some(&offer_sdp("RTP/SAVP", "sendrecv")), 2),
        r#"<recv response="503"><action><ereg regexp="30" search_in="hdr" header="Retry-After:" check_it="true" assign_to="r"/></action></recv>"#.to_owned(),
        ack_failure(ALICE_NUMBER, 2),
    ];
    run_sipp(scenario("503", &steps), udp_of(&sandbox, "sip")).await;
    // sip2 still takes calls.
    let steps = vec![
        good_options(),
        invite(ALICE_NUMBER, Some(&offer_sdp("RTP/SAVP", "sendrecv")), 2),
        r#"<recv response="100" optional="true"/><recv response="180"/><recv response="200" rrs="true"/>"#.to_owned(),
        in_dialog("ACK", 2, None),
        in_dialog("BYE", 3, None),
        r#"<recv response="200"/>"#.to_owned(),
    ];
    run_sipp(scenario("sip2 call", &steps), udp_of(&sandbox, "sip2")).await;
    assert_eq!(sandbox.calls().pop().unwrap().proxy, "sip2");
    tokio::time::sleep(Duration::from_millis(10)).await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn garbage_never_takes_a_proxy_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let sandbox = sandbox().await;
    let addrs = sandbox.sip_addrs()[0].clone();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut junk: Vec<Vec<u8>> = vec![
        b"\r\n\r\n".to_vec(),
        b"INVITE sip:x SIP/2.0\r\nVia: a\r\nFrom: a\r\nTo: a\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\nContent-Length: 99999\r\n\r\n".to_vec(),
        b"INVITE sip:x SIP/2.0\r\nVia: a\r\nFrom: a\r\nTo: a\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\nContact: <sip:sbc.test>\r\nContent-Type: application/sdp\r\nContent-Length: 9\r\n\r\nm=audio x".to_vec(),
        b"BYE sip:x SIP/2.0\r\nVia: a\r\nFrom: a\r\nTo: a;tag=1\r\nCall-ID: nope\r\nCSeq: 2 BYE\r\n\r\n".to_vec(),
        b"SIP/2.0 200 OK\r\nVia: a\r\nFrom: a\r\nTo: a\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n".to_vec(),
    ];
    junk.extend((0..200).map(|_| {
        (0..rand::random_range(1..600))
            .map(|_| rand::random::<u8>())
            .collect()
    }));
    for datagram in &junk {
        socket.send_to(datagram, addrs.udp).await.unwrap();
    }
    let mut tcp = tokio::net::TcpStream::connect(addrs.tcp).await.unwrap();
    let _ = tcp.write_all(&[0xff; 70_000]).await;
    let options = "OPTIONS sip:sip.pstnhub.microsoft.com SIP/2.0\r\nVia: SIP/2.0/UDP sbc.gateway.test:5060;branch=z9hG4bKok\r\n\
From: <sip:sbc.gateway.test>;tag=1\r\nTo: <sip:sip.pstnhub.microsoft.com>\r\nCall-ID: alive\r\nCSeq: 1 OPTIONS\r\n\
Contact: <sip:sbc.gateway.test:5060;transport=udp>\r\nContent-Length: 0\r\n\r\n";
    socket.send_to(options.as_bytes(), addrs.udp).await.unwrap();
    let mut buffer = vec![0u8; 4096];
    loop {
        let (read, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&buffer[..read]).into_owned();
        if text.contains("Call-ID: alive") {
            assert!(text.starts_with("SIP/2.0 200 OK"), "{text}");
            break;
        }
    }
    // The stream that sent junk was closed rather than answered.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
    assert!(closed.is_ok());
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_meets_phones_that_hang_up_decline_and_refuse() {
    let sandbox = sandbox().await;
    let answer_then_hang_up = PhoneBehaviour {
        answer: Answer::AfterSecs { secs: 0.1 },
        hang_up_after_secs: Some(0.5),
        ..PhoneBehaviour::default()
    };
    sandbox
        .set_phone_behaviour(ALICE, answer_then_hang_up)
        .unwrap();
    let decline = PhoneBehaviour {
        answer: Answer::Decline { secs: 0.2 },
        ..PhoneBehaviour::default()
    };
    sandbox
        .set_phone_behaviour("bob@contoso.test", decline)
        .unwrap();
    let dnd = PhoneBehaviour {
        answer: Answer::DoNotDisturb,
        ..PhoneBehaviour::default()
    };
    sandbox
        .set_phone_behaviour("carol@contoso.test", dnd)
        .unwrap();
    let answer_bye = r#"<recv request="BYE"/><send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"#;
    let steps = vec![
        good_options(),
        invite(ALICE_NUMBER, Some(&offer_sdp("RTP/SAVP", "sendrecv")), 2),
        r#"<recv response="100" optional="true"/><recv response="180"/><recv response="200" rrs="true"/>"#.to_owned(),
        in_dialog("ACK", 2, None),
        // Alice's phone hangs up half a second after answering.
        answer_bye.to_owned(),
        invite("+14255550102", Some(&offer_sdp("RTP/SAVP", "sendrecv")), 3),
        r#"<recv response="100" optional="true"/><recv response="180"/><recv response="603"/>"#.to_owned(),
        ack_failure("+14255550102", 3),
        invite("+14255550103", Some(&offer_sdp("RTP/SAVP", "sendrecv")), 4),
        r#"<recv response="100" optional="true"/><recv response="480"/>"#.to_owned(),
        ack_failure("+14255550103", 4),
    ];
    run_sipp(
        scenario("phone behaviours", &steps),
        udp_of(&sandbox, "sip"),
    )
    .await;
    let states: Vec<String> = sandbox.calls().into_iter().map(|c| c.state).collect();
    assert_eq!(states, ["ended", "declined", "dnd"]);
    sandbox.shutdown().await;
}
