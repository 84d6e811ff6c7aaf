//! Teams legs through the adapter and the Direct Routing trunk against the sandbox's SIP
//! proxies (references `teams-graph.md` §7, `sip-direct-routing.md` §1.4): `PlaceCall` to an
//! address resolves the Teams user's Direct Routing number in the directory and rings their
//! phone; the trunk's progress comes back as `LegRinging`, `LegAnswered` and, after `HangUp`,
//! `LegEnded`; a Teams user dialling a Slack user's number becomes `IncomingCall`, and a number
//! outside the Slack range is refused.

mod graph_support;

use std::time::Duration;

use callbridge_adapter::PlatformAdapter;
use callbridge_model::{
    CallId, CallTarget, Email, LegId, MediaOffer, MediaTransport, PhoneNumber, PlatformCommand,
    PlatformEvent, Sdp, TerminationCause, UserRef,
};
use callbridge_sandbox::microsoft::{Answer, PhoneBehaviour};
use callbridge_teams::NumberRange;
use callbridge_teams::directory::Lookup;
use graph_support::trunk::{SBC_FQDN, SLACK_FIRST, SandboxTrunk, start_trunk};
use graph_support::{ALICE, Options, start};
use tokio::sync::mpsc;

fn offer() -> Sdp {
    let text = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/SAVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n\
a=rtcp-mux\r\na=sendrecv\r\n";
    Sdp::parse(text).unwrap()
}

async fn next(events: &mut mpsc::Receiver<PlatformEvent>) -> PlatformEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("the adapter is running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_and_from_teams_go_through_the_trunk() {
    let first: PhoneNumber = SLACK_FIRST.parse().unwrap();
    let harness = start(Options {
        slack_numbers: Some(NumberRange::new(&first, 100).unwrap()),
        ..Options::default()
    })
    .await;
    let sandbox = &harness.sandbox;
    // The proxies ring and answer on the sandbox clock: let it run.
    sandbox.clock().resume();
    let SandboxTrunk {
        trunk,
        events: trunk_events,
        _dir,
    } = start_trunk(sandbox).await;
    let adapter = &harness.adapter;
    let mut events = adapter.events().unwrap();
    let _pump = adapter.attach_trunk(trunk.clone(), trunk_events);
    sandbox
        .state()
        .set_phone_behaviour(
            "alice@contoso.test",
            PhoneBehaviour {
                answer: Answer::AfterSecs { secs: 0.2 },
                ..PhoneBehaviour::default()
            },
        )
        .unwrap();

    // Slack → Teams: placed by address, through the directory.
    let (call, leg) = (CallId::generate(), LegId::generate());
    let outcome = adapter
        .execute(PlatformCommand::PlaceCall {
            call,
            leg,
            to: CallTarget::Email(Email::parse_lenient("alice@contoso.test").unwrap()),
            caller_display: "Bob Brown (Slack)".to_owned(),
            offer: MediaOffer {
                transport: MediaTransport::SipRtp,
                sdp: offer(),
            },
        })
        .await
        .unwrap();
    let call_id = outcome.platform_ref.unwrap();
    assert!(call_id.ends_with(&format!("@{SBC_FQDN}")), "{call_id}");
    assert_eq!(
        next(&mut events).await,
        PlatformEvent::LegRinging { call, leg }
    );
    match next(&mut events).await {
        PlatformEvent::LegAnswered {
            call: c,
            leg: l,
            answer: Some(answer),
        } => {
            assert_eq!((c, l), (call, leg));
            assert_eq!(answer.transport, MediaTransport::SipRtp);
            assert!(answer.sdp.as_str().contains("a=crypto:"));
        }
        other => panic!("expected the answer, got {other:?}"),
    }
    // The proxy records the answer after its media starts, which can be just after the trunk
    // has reported the 200.
    let mut state = String::new();
    for _ in 0..250 {
        state = sandbox.state().call(&call_id).unwrap().state;
        if state == "answered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state, "answered");
    adapter
        .execute(PlatformCommand::HangUp {
            call,
            leg,
            cause: TerminationCause::Normal,
        })
        .await
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        PlatformEvent::LegEnded {
            call,
            leg,
            cause: TerminationCause::Normal
        }
    );

    // Teams → Slack: Alice dials a Slack user's number; the adapter knows her number from
    // the directory.
    adapter
        .resolve_user(&Lookup::Id(ALICE.parse().unwrap()), harness.now())
        .await
        .unwrap();
    sandbox
        .state()
        .dial("alice@contoso.test", "+15550001007")
        .await
        .unwrap();
    match next(&mut events).await {
        PlatformEvent::IncomingCall {
            event_id,
            call,
            leg,
            caller,
            target,
            offer,
        } => {
            assert!(event_id.as_str().starts_with("sip:"));
            assert_eq!(
                caller,
                UserRef::Teams {
                    tenant: graph_support::TENANT.parse().unwrap(),
                    user: ALICE.parse().unwrap(),
                }
            );
            assert_eq!(target, CallTarget::Phone("+15550001007".parse().unwrap()));
            assert!(offer.sdp.as_str().contains("RTP/SAVP"));
            assert_ne!(
                call.as_uuid(),
                leg.as_uuid(),
                "the call and its leg are named apart"
            );
        }
        other => panic!("expected an incoming call, got {other:?}"),
    }
    // Outside the Slack range: refused by the adapter, no event.
    // The sandbox reports the SIP outcome of the dial; what matters here is the adapter's side.
    let _ = sandbox
        .state()
        .dial("alice@contoso.test", "+15559990000")
        .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), events.recv())
            .await
            .is_err(),
        "no event for a number outside the range"
    );
    trunk.shutdown();
}
