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

include!("support/sbc.rs");

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
