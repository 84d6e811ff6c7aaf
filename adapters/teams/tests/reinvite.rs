//! Re-INVITEs from Teams through the adapter against the sandbox's SIP proxies over TLS
//! (reference `sip-direct-routing.md` §1.4): a Teams user holding an established Slack → Teams
//! call reaches the engine as `LegHoldChanged` and `LegReoffered`, and the media core's
//! `AnswerReoffer` goes back to the proxy through the trunk. A newer re-INVITE supersedes one
//! still waiting, a refusal is accepted, and an answer with nothing waiting is an error.

mod graph_support;

use std::time::Duration;

use callbridge_adapter::{AdapterError, PlatformAdapter};
use callbridge_model::{
    CallId, CallTarget, Email, LegId, MediaAnswer, MediaOffer, MediaTransport, PhoneNumber,
    PlatformCommand, PlatformEvent, Sdp, TerminationCause,
};
use callbridge_sandbox::microsoft::{Answer, PhoneBehaviour};
use callbridge_sip::Trunk;
use callbridge_teams::NumberRange;
use graph_support::trunk::{SLACK_FIRST, SandboxTrunk, start_trunk};
use graph_support::{Harness, Options, start};
use tokio::sync::mpsc;

const ALICE: &str = "alice@contoso.test";

fn offer() -> Sdp {
    let text = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/SAVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n\
a=rtcp-mux\r\na=sendrecv\r\n";
    Sdp::parse(text).unwrap()
}

/// The media core's answer to a hold: it stops sending too.
fn held_answer() -> MediaAnswer {
    let text = offer().as_str().replace("a=sendrecv", "a=inactive");
    MediaAnswer {
        transport: MediaTransport::SipRtp,
        sdp: Sdp::parse(&text).unwrap(),
    }
}

async fn next(events: &mut mpsc::Receiver<PlatformEvent>) -> PlatformEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("the adapter is running")
}

/// The next event, which must be a re-offer of `leg`; returns its SDP.
async fn reoffered(events: &mut mpsc::Receiver<PlatformEvent>, call: CallId, leg: LegId) -> String {
    match next(events).await {
        PlatformEvent::LegReoffered {
            call: c,
            leg: l,
            offer,
        } => {
            assert_eq!((c, l), (call, leg));
            assert_eq!(offer.transport, MediaTransport::SipRtp);
            offer.sdp.as_str().to_owned()
        }
        other => panic!("expected a re-offer, got {other:?}"),
    }
}

/// Polls the sandbox until `check` holds (the proxies work on their own tasks).
async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..250 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

struct Rig {
    harness: Harness,
    trunk: Trunk,
    events: mpsc::Receiver<PlatformEvent>,
    _pump: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// The adapter with a TLS trunk to the sandbox's proxies, Alice's phone answering at once.
    async fn start() -> Self {
        let first: PhoneNumber = SLACK_FIRST.parse().unwrap();
        let harness = start(Options {
            slack_numbers: Some(NumberRange::new(&first, 100).unwrap()),
            ..Options::default()
        })
        .await;
        let sandbox = &harness.sandbox;
        sandbox.clock().resume();
        let SandboxTrunk {
            trunk,
            events: trunk_events,
            _dir: dir,
        } = start_trunk(sandbox).await;
        let events = harness.adapter.events().unwrap();
        let pump = harness.adapter.attach_trunk(trunk.clone(), trunk_events);
        sandbox
            .state()
            .set_phone_behaviour(
                ALICE,
                PhoneBehaviour {
                    answer: Answer::AfterSecs { secs: 0.0 },
                    ..PhoneBehaviour::default()
                },
            )
            .unwrap();
        Self {
            harness,
            trunk,
            events,
            _pump: pump,
            _dir: dir,
        }
    }

    /// Places a Slack → Teams call to Alice and waits until it is answered with media up;
    /// returns the SIP Call-ID.
    async fn established(&mut self, call: CallId, leg: LegId) -> String {
        let outcome = self
            .harness
            .adapter
            .execute(PlatformCommand::PlaceCall {
                call,
                leg,
                to: CallTarget::Email(Email::parse_lenient(ALICE).unwrap()),
                caller_display: "Bob Brown (Slack)".to_owned(),
                offer: MediaOffer {
                    transport: MediaTransport::SipRtp,
                    sdp: offer(),
                },
            })
            .await
            .unwrap();
        let call_id = outcome.platform_ref.unwrap();
        loop {
            match next(&mut self.events).await {
                PlatformEvent::LegRinging { .. } => {}
                PlatformEvent::LegAnswered {
                    call: c, leg: l, ..
                } => {
                    assert_eq!((c, l), (call, leg));
                    break;
                }
                other => panic!("expected ringing then the answer, got {other:?}"),
            }
        }
        // The phone starts its media once the ACK is in; it holds from then on.
        let state = self.harness.sandbox.state();
        wait_for("the phone's media", || {
            state.call(&call_id).is_some_and(|c| c.media.is_some())
        })
        .await;
        call_id
    }

    async fn answer(
        &self,
        call: CallId,
        leg: LegId,
        answer: Option<MediaAnswer>,
    ) -> Result<(), AdapterError> {
        self.harness
            .adapter
            .execute(PlatformCommand::AnswerReoffer { call, leg, answer })
            .await
            .map(|_| ())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_hold_reaches_the_engine_as_a_reoffer_and_the_answer_goes_back() {
    let mut rig = Rig::start().await;
    let (call, leg) = (CallId::generate(), LegId::generate());
    let call_id = rig.established(call, leg).await;

    // Nothing offered yet: an answer has nowhere to go.
    let early = rig.answer(call, leg, Some(held_answer())).await;
    assert!(
        matches!(early, Err(AdapterError::PlatformRejected { .. })),
        "{early:?}"
    );

    rig.harness.sandbox.state().hold(&call_id).await.unwrap();
    assert_eq!(
        next(&mut rig.events).await,
        PlatformEvent::LegHoldChanged {
            call,
            leg,
            held: true
        }
    );
    let sdp = reoffered(&mut rig.events, call, leg).await;
    assert!(
        sdp.contains("a=inactive") || sdp.contains("a=sendonly"),
        "{sdp}"
    );
    // The trunk is still waiting, so the answer reaches it (it would refuse a late one).
    rig.answer(call, leg, Some(held_answer())).await.unwrap();
    let state = rig.harness.sandbox.state();
    wait_for("the proxy to record hold", || {
        state.call(&call_id).is_some_and(|c| c.state == "held")
    })
    .await;
    // Answered once: a second answer is refused, not sent.
    let again = rig.answer(call, leg, Some(held_answer())).await;
    assert!(
        matches!(again, Err(AdapterError::PlatformRejected { .. })),
        "{again:?}"
    );

    rig.harness
        .adapter
        .execute(PlatformCommand::HangUp {
            call,
            leg,
            cause: TerminationCause::Normal,
        })
        .await
        .unwrap();
    assert_eq!(
        next(&mut rig.events).await,
        PlatformEvent::LegEnded {
            call,
            leg,
            cause: TerminationCause::Normal
        }
    );
    rig.trunk.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_reoffer_supersedes_a_waiting_one_and_a_refusal_is_passed_on() {
    let mut rig = Rig::start().await;
    let (call, leg) = (CallId::generate(), LegId::generate());
    let call_id = rig.established(call, leg).await;

    rig.harness.sandbox.state().hold(&call_id).await.unwrap();
    assert!(matches!(
        next(&mut rig.events).await,
        PlatformEvent::LegHoldChanged { held: true, .. }
    ));
    let first = reoffered(&mut rig.events, call, leg).await;
    assert!(first.contains("a=inactive"), "{first}");
    // Teams re-INVITEs again before the first is answered: still held, so no hold change,
    // only the newer offer, which replaces the first.
    rig.harness.sandbox.state().hold(&call_id).await.unwrap();
    let second = reoffered(&mut rig.events, call, leg).await;
    assert!(second.contains("a=inactive"), "{second}");

    // The media core refuses it (488): accepted once, since one re-INVITE was waiting.
    rig.answer(call, leg, None).await.unwrap();
    let again = rig.answer(call, leg, None).await;
    assert!(
        matches!(again, Err(AdapterError::PlatformRejected { .. })),
        "only the newer re-INVITE was waiting: {again:?}"
    );
    rig.trunk.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_for_a_leg_without_a_reoffer_is_refused() {
    let rig = Rig::start().await;
    let unknown = rig
        .answer(CallId::generate(), LegId::generate(), Some(held_answer()))
        .await;
    assert!(
        matches!(unknown, Err(AdapterError::PlatformRejected { .. })),
        "{unknown:?}"
    );
    rig.trunk.shutdown();
}
