//! Crash recovery of Teams legs through the adapter, against the sandbox's SIP proxies over
//! TLS: a Slack → Teams call is answered and the adapter hands out its dialog as JSON; the
//! trunk then stops without a BYE (the crash), leaving the call up at the proxy; a new
//! adapter with a new trunk on the same certificate ends the leg from that JSON, and ending
//! it again (already gone) still succeeds.

mod graph_support;

use std::sync::Arc;
use std::time::Duration;

use callbridge_adapter::{AdapterError, PlatformAdapter, TokenVault};
use callbridge_model::{
    CallId, CallTarget, Email, LegId, MediaOffer, MediaTransport, PhoneNumber, PlatformCommand,
    PlatformEvent, Sdp,
};
use callbridge_sandbox::microsoft::{Answer, PhoneBehaviour, RunningMicrosoftSandbox};
use callbridge_sip::{ProxyTarget, SipTransport, Trunk, TrunkConfig};
use callbridge_teams::{NumberRange, TeamsAdapter};
use graph_support::trunk::{SBC_FQDN, SLACK_FIRST, SandboxTrunk, start_trunk};
use graph_support::{Options, client, start};
use tokio::sync::mpsc;

const ALICE: &str = "alice@contoso.test";

fn offer() -> Sdp {
    let text = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/SAVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
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

/// The restarted process's trunk: the certificate files the first one used.
async fn restarted_trunk(
    sandbox: &RunningMicrosoftSandbox,
    dir: &tempfile::TempDir,
) -> (Trunk, callbridge_sip::TrunkEvents) {
    let proxies = sandbox
        .sip_addrs()
        .into_iter()
        .map(|addr| ProxyTarget {
            fqdn: addr.fqdn,
            addr: addr.tls,
            transport: SipTransport::Tls,
        })
        .collect();
    let mut config = TrunkConfig::new(
        SBC_FQDN,
        proxies,
        dir.path().join("sbc.pem"),
        dir.path().join("sbc.key"),
        dir.path().join("ca.pem"),
    );
    config.request_timeout = Duration::from_secs(3);
    let (trunk, events, _) = Trunk::start(config).await.unwrap();
    (trunk, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_leg_left_by_a_crash_is_ended_by_the_restarted_adapter() {
    let first: PhoneNumber = SLACK_FIRST.parse().unwrap();
    let harness = start(Options {
        slack_numbers: Some(NumberRange::new(&first, 100).unwrap()),
        ..Options::default()
    })
    .await;
    let sandbox = &harness.sandbox;
    sandbox.clock().resume();
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
    let SandboxTrunk {
        trunk,
        events: trunk_events,
        _dir: dir,
    } = start_trunk(sandbox).await;
    let mut events = harness.adapter.events().unwrap();
    let pump = harness.adapter.attach_trunk(trunk.clone(), trunk_events);

    let (call, leg) = (CallId::generate(), LegId::generate());
    let outcome = harness
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
    assert_eq!(harness.adapter.dialog_of(leg), None, "not answered yet");
    loop {
        match next(&mut events).await {
            PlatformEvent::LegRinging { .. } => {}
            PlatformEvent::LegAnswered { leg: l, .. } => {
                assert_eq!(l, leg);
                break;
            }
            other => panic!("expected ringing then the answer, got {other:?}"),
        }
    }
    let stored = harness
        .adapter
        .dialog_of(leg)
        .expect("the answered leg's dialog");
    let value: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(value["call_id"], call_id.as_str());
    assert_eq!(value["proxy"], "sip.pstnhub.microsoft.com");
    assert_eq!(value["transport"], "tls");
    assert_eq!(harness.adapter.dialog_of(LegId::generate()), None);
    let state = sandbox.state();
    wait_for("the phone's media", || {
        state.call(&call_id).is_some_and(|c| c.media.is_some())
    })
    .await;

    // The crash: the trunk stops, no BYE leaves, the call stays up at the proxy.
    trunk.shutdown();
    pump.abort();
    drop(trunk);
    assert_eq!(state.call(&call_id).unwrap().state, "answered");

    // The restarted process: a new adapter for the same tenant, a new trunk.
    let config = harness.adapter.config().clone();
    let vault = Arc::clone(&harness.vault) as Arc<dyn TokenVault>;
    let restarted = TeamsAdapter::with_client(config, vault, client())
        .await
        .unwrap();
    let no_trunk = restarted.end_stale_leg(&stored).await;
    assert!(
        matches!(no_trunk, Err(AdapterError::Misconfigured(_))),
        "{no_trunk:?}"
    );
    let (fresh, fresh_events) = restarted_trunk(sandbox, &dir).await;
    let _pump = restarted.attach_trunk(fresh.clone(), fresh_events);
    restarted.end_stale_leg(&stored).await.expect("leg ended");
    assert_eq!(
        state.call(&call_id).unwrap().state,
        "ended",
        "the proxy answered the BYE after ending the call"
    );
    // Recovery may run twice (a crash during recovery): a leg already gone is ended too.
    restarted
        .end_stale_leg(&stored)
        .await
        .expect("already gone");
    let garbage = restarted.end_stale_leg("{\"call_id\": 7}").await;
    assert!(
        matches!(garbage, Err(AdapterError::Malformed(_))),
        "{garbage:?}"
    );
    fresh.shutdown();
}
