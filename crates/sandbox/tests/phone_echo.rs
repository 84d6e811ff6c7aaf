//! A phone a person can answer and hear: `Answer::Manual` rings until `answer_call` or
//! `decline_call` (or the ring timeout), and an echoing phone plays back what it hears after a
//! fixed delay, whatever codec was negotiated. The SBC is a minimal scripted peer over SIP/TCP;
//! the echo is measured with a second virtual phone: Alice dials out through the SBC, which
//! routes the call back into Teams to Bob, whose phone echoes Alice's tone back to her.

use std::time::{Duration, Instant};

use base64::Engine;
use callbridge_sandbox::microsoft::phone::audio;
use callbridge_sandbox::microsoft::{
    Answer, Codec, Echo, MediaReport, MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed,
    PhoneBehaviour, RunningMicrosoftSandbox,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ALICE: &str = "alice@contoso.test";
const BOB: &str = "bob@contoso.test";
const BOB_URI: &str = "<sip:+14255550102@sip.pstnhub.microsoft.com;user=phone>";
const BOB_RURI: &str = "sip:+14255550102@sip.pstnhub.microsoft.com;user=phone";

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

    fn to_tag(&self) -> String {
        self.header("To")
            .split("tag=")
            .nth(1)
            .unwrap_or_default()
            .to_owned()
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

/// The SBC end of one SIP/TCP connection to a proxy.
struct Sbc {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Sbc {
    /// Connects to the first proxy and exchanges OPTIONS both ways, so calls route.
    async fn connect(sandbox: &RunningMicrosoftSandbox) -> Self {
        let mut sbc = Self {
            stream: TcpStream::connect(sandbox.sip_addrs()[0].tcp)
                .await
                .unwrap(),
            buffer: Vec::new(),
        };
        sbc.send(&request(
            "OPTIONS",
            "sip:sip.pstnhub.microsoft.com",
            "keepalive-echo",
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
        let options = sbc.expect("OPTIONS").await;
        let reply = options.reply("200 OK", Some("sbc-options"), None);
        sbc.send(&reply).await;
        sbc
    }

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
From: \"Slack Sam\" <sip:+15550001000@sbc.gateway.test;user=phone>;tag=sbc1\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
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

/// An SDES-SRTP G.722 offer with a fresh key toward `port` (nothing listens: signalling only).
fn srtp_offer(port: u16) -> String {
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 30]>());
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio {port} RTP/SAVP 9 0 101 13\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^31\r\n\
a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp-mux\r\na=sendrecv\r\n"
    )
}

async fn start() -> RunningMicrosoftSandbox {
    MicrosoftSandbox::start(MicrosoftConfig::new(MicrosoftSeed::demo()))
        .await
        .unwrap()
}

/// Polls `check` until it gives a value or `within` has passed.
async fn eventually<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Alice (playing `alice_tone`) dials out; the SBC routes the call back to Bob with Alice's
/// offer, restricted to `codec_list` (e.g. `0 101` for PCMU only). Returns what Alice hears
/// once she has received `seconds` of audio, and Bob's negotiated codec.
async fn loop_back_to_bob(
    sandbox: &RunningMicrosoftSandbox,
    codec_list: Option<&str>,
    seconds: f64,
) -> (MediaReport, Option<Codec>) {
    let mut sbc = Sbc::connect(sandbox).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let dialled = loop {
        match sandbox.dial(ALICE, "+15550001000").await {
            Ok(call_id) => break call_id,
            Err(error) => assert!(Instant::now() < deadline, "dial: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let invite = sbc.expect("INVITE").await;
    let mut offer = invite.body.clone();
    if let Some(list) = codec_list {
        let m_line = offer
            .lines()
            .find(|l| l.starts_with("m=audio "))
            .unwrap()
            .to_owned();
        let port = m_line.split(' ').nth(1).unwrap();
        offer = offer.replace(&m_line, &format!("m=audio {port} RTP/SAVP {list}"));
    }
    let bob_call = format!("echo-{:x}", rand::random::<u32>());
    sbc.send(&request(
        "INVITE",
        BOB_RURI,
        &bob_call,
        1,
        BOB_URI,
        Some(&offer),
    ))
    .await;
    let ok = sbc.expect("SIP/2.0 200").await;
    let to_bob = format!("{BOB_URI};tag={}", ok.to_tag());
    sbc.send(&request(
        "ACK",
        "sip:sip.pstnhub.microsoft.com",
        &bob_call,
        1,
        &to_bob,
        None,
    ))
    .await;
    sbc.send(&invite.reply("200 OK", Some("slack-1"), Some(&ok.body)))
        .await;
    sbc.expect("ACK").await;
    let media = eventually(Duration::from_secs(5), || sandbox.call(&dialled)?.media)
        .await
        .expect("Alice's call is answered");
    let rate = f64::from(media.report().sample_rate);
    let report = eventually(Duration::from_secs(10), || {
        let report = media.report();
        (report.samples.len() as f64 >= rate * seconds).then_some(report)
    })
    .await
    .expect("Alice hears the call");
    let bob_codec = sandbox
        .call(&bob_call)
        .and_then(|c| c.media?.report().codec);
    sandbox.hang_up(&dialled).await.unwrap();
    (report, bob_codec)
}

/// The time until the received audio first gets loud (20 ms blocks above −40 dBFS).
fn onset(report: &MediaReport) -> Duration {
    let block = (report.sample_rate / 50) as usize;
    let loud = report
        .samples
        .chunks(block)
        .position(|b| audio::level_dbfs(b) > -40.0)
        .expect("something was echoed");
    Duration::from_secs_f64((loud * block) as f64 / f64::from(report.sample_rate))
}

fn echoing(delay_ms: u64, prompt_first: bool) -> PhoneBehaviour {
    PhoneBehaviour {
        answer: Answer::AfterSecs { secs: 0.0 },
        echo: Some(Echo {
            delay_ms,
            prompt_first,
        }),
        ..PhoneBehaviour::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tone_comes_back_after_the_echo_delay_in_g722_and_pcmu() {
    for (codec_list, codec) in [(None, Codec::G722), (Some("0 101"), Codec::Pcmu)] {
        let sandbox = start().await;
        sandbox
            .set_phone_behaviour(
                ALICE,
                PhoneBehaviour {
                    tone_hz: Some(1000.0),
                    ..PhoneBehaviour::default()
                },
            )
            .unwrap();
        sandbox
            .set_phone_behaviour(BOB, echoing(400, false))
            .unwrap();
        let (heard, bob_codec) = loop_back_to_bob(&sandbox, codec_list, 1.5).await;
        assert_eq!(bob_codec, Some(codec));
        assert_eq!(heard.codec, Some(codec));
        let delay = onset(&heard);
        assert!(
            delay >= Duration::from_millis(340) && delay <= Duration::from_millis(520),
            "{codec:?}: echo after {delay:?}"
        );
        let skip = (heard.sample_rate as usize) * 6 / 10;
        let echoed = MediaReport {
            samples: heard.samples[skip..].to_vec(),
            ..heard.clone()
        };
        let frequency = echoed.dominant_frequency().unwrap();
        assert!(
            (frequency - 1000.0).abs() <= 5.0,
            "{codec:?}: {frequency} Hz"
        );
        assert!(echoed.tone_snr_db(1000.0) > 15.0, "{codec:?}");
        sandbox.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_echo_the_phone_plays_its_tone_not_the_caller() {
    // The control: Bob's default phone plays its own 440 Hz tone, not Alice's 1000 Hz.
    let sandbox = start().await;
    sandbox
        .set_phone_behaviour(
            ALICE,
            PhoneBehaviour {
                tone_hz: Some(1000.0),
                ..PhoneBehaviour::default()
            },
        )
        .unwrap();
    sandbox
        .set_phone_behaviour(
            BOB,
            PhoneBehaviour {
                answer: Answer::AfterSecs { secs: 0.0 },
                tone_hz: Some(440.0),
                ..PhoneBehaviour::default()
            },
        )
        .unwrap();
    let (heard, _) = loop_back_to_bob(&sandbox, None, 1.0).await;
    let frequency = heard.dominant_frequency().unwrap();
    assert!((frequency - 440.0).abs() <= 5.0, "{frequency} Hz");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_prompt_plays_once_then_the_echo() {
    let sandbox = start().await;
    sandbox
        .set_phone_behaviour(
            ALICE,
            PhoneBehaviour {
                tone_hz: Some(1000.0),
                ..PhoneBehaviour::default()
            },
        )
        .unwrap();
    sandbox
        .set_phone_behaviour(BOB, echoing(400, true))
        .unwrap();
    let (heard, _) = loop_back_to_bob(&sandbox, None, 3.4).await;
    let rate = heard.sample_rate as usize;
    let speech = audio::speech_fixture(heard.sample_rate);
    // The first two seconds are the prompt, close to its start.
    let (lag, snr) = audio::align(&speech, &heard.samples[..rate * 2], rate / 10).unwrap();
    assert!(lag < rate / 20, "prompt starts {lag} samples in");
    assert!(snr > 10.0, "prompt SNR {snr}");
    // Then Alice hears her own tone.
    let after = MediaReport {
        samples: heard.samples[rate * 5 / 2..].to_vec(),
        ..heard.clone()
    };
    let frequency = after.dominant_frequency().unwrap();
    assert!((frequency - 1000.0).abs() <= 5.0, "{frequency} Hz");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_answer_rings_until_a_person_answers_or_declines() {
    let sandbox = start().await;
    sandbox
        .set_phone_behaviour(
            BOB,
            PhoneBehaviour {
                answer: Answer::Manual,
                echo: Some(Echo::default()),
                ..PhoneBehaviour::default()
            },
        )
        .unwrap();
    let mut sbc = Sbc::connect(&sandbox).await;

    // Answered by hand: one 200 OK, and a second answer is an error, not a second 200.
    sbc.send(&request(
        "INVITE",
        BOB_RURI,
        "manual-1",
        1,
        BOB_URI,
        Some(&srtp_offer(40_010)),
    ))
    .await;
    sbc.expect("SIP/2.0 180").await;
    assert_eq!(sandbox.call("manual-1").unwrap().state, "ringing");
    // Nothing answers by itself (the scripted default would answer after 1 s).
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), sbc.expect("SIP/2.0 200"))
            .await
            .is_err(),
        "a manual phone answered by itself"
    );
    sandbox.answer_call("manual-1").unwrap();
    let ok = sbc.expect("SIP/2.0 200").await;
    assert!(ok.body.contains("a=crypto:"), "{}", ok.body);
    let again = sandbox.answer_call("manual-1").unwrap_err().to_string();
    assert!(
        again.contains("not ringing") || again.contains("already"),
        "{again}"
    );
    assert!(sandbox.decline_call("manual-1").is_err());
    sbc.send(&request(
        "ACK",
        "sip:sip.pstnhub.microsoft.com",
        "manual-1",
        1,
        &format!("{BOB_URI};tag={}", ok.to_tag()),
        None,
    ))
    .await;
    let answered = eventually(Duration::from_secs(3), || {
        sandbox.call("manual-1").filter(|c| c.state == "answered")
    })
    .await;
    assert!(
        answered.is_some(),
        "{:?}",
        sandbox.call("manual-1").map(|c| c.state)
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sbc.expect("SIP/2.0 200"))
            .await
            .is_err(),
        "a second 200 OK"
    );
    sandbox.hang_up("manual-1").await.unwrap();
    sbc.expect("BYE").await;
    assert!(
        sandbox.answer_call("manual-1").is_err(),
        "answering an ended call"
    );

    // Declined by hand: 603, state `declined`, and answering afterwards is an error.
    sbc.send(&request(
        "INVITE",
        BOB_RURI,
        "manual-2",
        1,
        BOB_URI,
        Some(&srtp_offer(40_012)),
    ))
    .await;
    sbc.expect("SIP/2.0 180").await;
    sandbox.decline_call("manual-2").unwrap();
    sbc.expect("SIP/2.0 603").await;
    assert_eq!(sandbox.call("manual-2").unwrap().state, "declined");
    assert!(sandbox.answer_call("manual-2").is_err());
    assert!(sandbox.answer_call("no-such-call").is_err());

    // Nobody comes: the ring timeout gives 480, in sandbox time.
    sandbox.clock().freeze();
    sbc.send(&request(
        "INVITE",
        BOB_RURI,
        "manual-3",
        1,
        BOB_URI,
        Some(&srtp_offer(40_014)),
    ))
    .await;
    sbc.expect("SIP/2.0 180").await;
    sandbox.clock().advance(Duration::from_secs(31));
    sbc.expect("SIP/2.0 480").await;
    assert_eq!(sandbox.call("manual-3").unwrap().state, "no_answer");
    assert!(sandbox.decline_call("manual-3").is_err());
    sandbox.shutdown().await;
}
