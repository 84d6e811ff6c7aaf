//! The trunk against the Microsoft sandbox's Direct Routing proxies over TLS (reference
//! `sip-direct-routing.md` §1.4–§1.5): calls with SRTP audio both ways checked by the virtual
//! phones, forks, early media, hold, CANCEL, BYE in both directions, failover on 503 and on
//! silence but never after 603, calls from Teams, and drain.

mod common;

use std::time::Duration;

use callbridge_model::{LegId, TerminationCause};
use callbridge_sandbox::microsoft::{Answer, PhoneBehaviour};
use callbridge_sip::{SipError, Trunk, TrunkEvent};
use common::media::SbcMedia;
use common::*;

fn phone(answer: Answer) -> PhoneBehaviour {
    PhoneBehaviour {
        answer,
        ..PhoneBehaviour::default()
    }
}

async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ended(events: &[TrunkEvent]) -> Option<(TerminationCause, Option<u16>)> {
    events.iter().find_map(|e| match e {
        TrunkEvent::Ended { cause, status, .. } => Some((*cause, *status)),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_over_tls_carries_srtp_tone_both_ways_and_ends_with_bye() {
    let mut rig = Rig::start().await;
    rig.sandbox
        .state()
        .set_phone_behaviour(
            ALICE,
            PhoneBehaviour {
                answer: Answer::AfterSecs { secs: 0.3 },
                ringing_devices: 2,
                early_media: true,
                tone_hz: Some(1000.0),
                ..PhoneBehaviour::default()
            },
        )
        .expect("phone");
    let media = SbcMedia::bind().await;
    let leg = LegId::generate();
    rig.trunk
        .invite(
            leg,
            &number(ALICE_NUMBER),
            ("Bob Brown (Slack)", &number(SLACK_NUMBER)),
            &media.offer(),
        )
        .expect("invite");
    let seen = until_settled(&mut rig.events, leg, 10).await;
    let tags: Vec<&String> = seen
        .iter()
        .filter_map(|e| match e {
            TrunkEvent::Ringing { to_tag, .. } => Some(to_tag),
            _ => None,
        })
        .collect();
    assert_eq!(tags.len(), 2, "one Ringing per forked 180: {seen:?}");
    assert_ne!(tags[0], tags[1]);
    assert!(
        seen.iter()
            .any(|e| matches!(e, TrunkEvent::EarlyMedia { .. })),
        "183 SDP reported"
    );
    let Some(TrunkEvent::Answered { sdp: answer, .. }) = seen.last() else {
        panic!("not answered: {seen:?}");
    };
    let running = media.start(answer, 440.0);

    // The Call-ID is ours, never rsipstack's default domain (§2.2).
    let call_id = rig.trunk.call_id(leg).expect("live leg");
    assert!(call_id.ends_with(&format!("@{SBC_FQDN}")), "{call_id}");
    // The phone starts its media once our ACK is in.
    let phone_media = wait_for("the phone's media", || {
        rig.sandbox.state().call(&call_id)?.media
    })
    .await;
    let record = rig
        .sandbox
        .state()
        .call(&call_id)
        .expect("the proxy saw the call");
    assert_eq!(record.proxy, "sip", "the first proxy is tried first");
    assert_eq!(record.state, "answered");

    wait_for("a second of audio each way", || {
        (running.samples() >= 12_000 && phone_media.report().samples.len() >= 12_000).then_some(())
    })
    .await;
    let heard = phone_media.report();
    assert_eq!(heard.auth_failures, 0, "SRTP keys agree");
    let phone_heard = heard.dominant_frequency().expect("phone heard audio");
    assert!(
        (phone_heard - 440.0).abs() < 5.0,
        "the Teams phone heard {phone_heard} Hz"
    );
    let sbc_heard = running.dominant_frequency().expect("SBC heard audio");
    assert!(
        (sbc_heard - 1000.0).abs() < 5.0,
        "the SBC heard {sbc_heard} Hz"
    );
    assert_eq!(*running.auth_failures.lock().expect("failures"), 0);

    rig.trunk.hang_up(leg).await.expect("bye");
    let event = next_event(&mut rig.events, 5).await;
    assert!(
        matches!(
            event,
            TrunkEvent::Ended {
                cause: TerminationCause::Normal,
                ..
            }
        ),
        "{event:?}"
    );
    wait_for("the proxy to see BYE", || {
        (rig.sandbox.state().call(&call_id)?.state == "ended").then_some(())
    })
    .await;
    assert_eq!(rig.trunk.live_legs(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_hold_reinvite_goes_to_the_media_side_and_teams_bye_ends_the_leg() {
    let mut rig = Rig::start().await;
    rig.sandbox
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::AfterSecs { secs: 0.0 }))
        .expect("phone");
    let media = SbcMedia::bind().await;
    let leg = LegId::generate();
    rig.trunk
        .invite(
            leg,
            &number(ALICE_NUMBER),
            ("Bob", &number(SLACK_NUMBER)),
            &media.offer(),
        )
        .expect("invite");
    let seen = until_settled(&mut rig.events, leg, 10).await;
    assert!(
        matches!(seen.last(), Some(TrunkEvent::Answered { .. })),
        "{seen:?}"
    );
    let call_id = rig.trunk.call_id(leg).expect("live");
    // The phone starts its media once the ACK is in; hold from then on.
    wait_for("the phone's media", || {
        rig.sandbox.state().call(&call_id)?.media.map(|_| ())
    })
    .await;

    rig.sandbox.state().hold(&call_id).await.expect("hold");
    let event = next_event(&mut rig.events, 5).await;
    assert!(
        matches!(event, TrunkEvent::Hold { held: true, leg: l } if l == leg),
        "{event:?}"
    );
    let TrunkEvent::Reinvite { sdp, reply, .. } = next_event(&mut rig.events, 5).await else {
        panic!("re-INVITE not handed out");
    };
    assert!(sdp.as_str().contains("a=inactive"));
    let answer = media.offer().as_str().replace("a=sendrecv", "a=inactive");
    reply
        .send(Some(callbridge_model::Sdp::parse(&answer).expect("sdp")))
        .expect("trunk waits");
    wait_for("the proxy to record hold", || {
        (rig.sandbox.state().call(&call_id)?.state == "held").then_some(())
    })
    .await;

    rig.sandbox
        .state()
        .hang_up(&call_id)
        .await
        .expect("teams hangs up");
    let event = next_event(&mut rig.events, 5).await;
    assert!(
        matches!(
            event,
            TrunkEvent::Ended {
                cause: TerminationCause::Normal,
                ..
            }
        ),
        "{event:?}"
    );
    assert_eq!(rig.trunk.live_legs(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_ringing_ends_with_487() {
    let mut rig = Rig::start().await;
    rig.sandbox
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::NoAnswer))
        .expect("phone");
    let media = SbcMedia::bind().await;
    let leg = LegId::generate();
    rig.trunk
        .invite(
            leg,
            &number(ALICE_NUMBER),
            ("Bob", &number(SLACK_NUMBER)),
            &media.offer(),
        )
        .expect("invite");
    let event = next_event(&mut rig.events, 5).await;
    assert!(matches!(event, TrunkEvent::Ringing { .. }), "{event:?}");
    let call_id = rig.trunk.call_id(leg).expect("live");
    rig.trunk.hang_up(leg).await.expect("cancel");
    let event = next_event(&mut rig.events, 5).await;
    assert!(
        matches!(
            event,
            TrunkEvent::Ended {
                cause: TerminationCause::Cancelled,
                status: Some(487),
                ..
            }
        ),
        "{event:?}"
    );
    assert_eq!(
        rig.sandbox.state().call(&call_id).expect("record").state,
        "cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_on_503_with_retry_after() {
    let mut rig = Rig::start().await;
    rig.sandbox
        .state()
        .set_proxy_unavailable("sip", Some(30))
        .expect("503");
    rig.sandbox
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::AfterSecs { secs: 0.0 }))
        .expect("phone");
    let media = SbcMedia::bind().await;
    let leg = LegId::generate();
    rig.trunk
        .invite(
            leg,
            &number(ALICE_NUMBER),
            ("Bob", &number(SLACK_NUMBER)),
            &media.offer(),
        )
        .expect("invite");
    let seen = until_settled(&mut rig.events, leg, 10).await;
    assert!(
        matches!(seen.last(), Some(TrunkEvent::Answered { .. })),
        "{seen:?}"
    );
    let call_id = rig.trunk.call_id(leg).expect("live");
    assert_eq!(
        rig.sandbox.state().call(&call_id).expect("record").proxy,
        "sip2"
    );

    // Within the Retry-After window the resting proxy is not tried first.
    let second = LegId::generate();
    rig.trunk
        .invite(
            second,
            &number(ALICE_NUMBER),
            ("Bob", &number(SLACK_NUMBER)),
            &media.offer(),
        )
        .expect("invite");
    let seen = until_settled(&mut rig.events, second, 10).await;
    assert!(
        matches!(seen.last(), Some(TrunkEvent::Answered { .. })),
        "{seen:?}"
    );
    let calls = rig.sandbox.state().calls();
    let attempts_on_sip = calls.iter().filter(|c| c.proxy == "sip").count();
    assert_eq!(
        attempts_on_sip, 0,
        "503s are answered before a call record exists"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_fails_over_after_603() {
    let mut rig = Rig::start().await;
    rig.sandbox
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::Decline { secs: 0.1 }))
        .expect("phone");
    let media = SbcMedia::bind().await;
    let leg = LegId::generate();
    rig.trunk
        .invite(
            leg,
            &number(ALICE_NUMBER),
            ("Bob", &number(SLACK_NUMBER)),
            &media.offer(),
        )
        .expect("invite");
    let seen = until_settled(&mut rig.events, leg, 10).await;
    assert_eq!(ended(&seen), Some((TerminationCause::Declined, Some(603))));
    let calls = rig.sandbox.state().calls();
    assert_eq!(calls.len(), 1, "exactly one attempt: {calls:?}");
    assert_eq!(calls[0].state, "declined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_when_the_first_proxy_is_silent() {
    // The first proxy accepts TCP and then says nothing, not even a TLS handshake.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let sandbox = callbridge_sandbox::microsoft::MicrosoftSandbox::start(
        callbridge_sandbox::microsoft::MicrosoftConfig::new(
            callbridge_sandbox::microsoft::MicrosoftSeed::demo(),
        ),
    )
    .await
    .expect("sandbox");
    let files = sandbox_files(&sandbox);
    let mut proxies = tls_proxies(&sandbox);
    proxies[0].addr = silent_addr;
    let config = config(&files, proxies);
    let (trunk, mut events, _) = Trunk::start(config).await.expect("trunk");
    wait_for("sip2 and sip3 healthy", || {
        trunk
            .proxy_health()
            .iter()
            .skip(1)
            .all(|(_, h)| *h)
            .then_some(())
    })
    .await;
    assert!(
        !trunk.proxy_health()[0].1,
        "the silent proxy is reported unhealthy"
    );
    sandbox
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::AfterSecs { secs: 0.0 }))
        .expect("phone");
    let media = SbcMedia::bind().await;
    let leg = LegId::generate();
    trunk
        .invite(
            leg,
            &number(ALICE_NUMBER),
            ("Bob", &number(SLACK_NUMBER)),
            &media.offer(),
        )
        .expect("invite");
    let seen = until_settled(&mut events, leg, 15).await;
    assert!(
        matches!(seen.last(), Some(TrunkEvent::Answered { .. })),
        "{seen:?}"
    );
    let call_id = trunk.call_id(leg).expect("live");
    assert_eq!(
        sandbox.state().call(&call_id).expect("record").proxy,
        "sip2"
    );
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_from_teams_is_offered_answered_and_carries_audio() {
    let mut rig = Rig::start().await;
    let call_id = wait_for_dial(&rig).await;
    let TrunkEvent::Incoming {
        leg,
        call_id: seen_id,
        from,
        to,
        sdp,
        history_info,
    } = next_event(&mut rig.events, 5).await
    else {
        panic!("no Incoming");
    };
    assert_eq!(seen_id, call_id);
    assert_eq!(to, number(SLACK_NUMBER));
    assert_eq!(from.number, Some(number(ALICE_NUMBER)));
    assert!(history_info.is_empty(), "not a forwarded call");
    let media = SbcMedia::bind().await;
    let (answer, running) = media.answer(&sdp, 440.0);
    rig.trunk.answer(leg, answer).expect("answer");
    let record_media = wait_for("the phone's media", || {
        rig.sandbox.state().call(&call_id)?.media
    })
    .await;
    wait_for("audio both ways", || {
        (running.samples() >= 8_000 && record_media.report().samples.len() >= 8_000).then_some(())
    })
    .await;
    let heard = record_media
        .report()
        .dominant_frequency()
        .expect("phone audio");
    assert!((heard - 440.0).abs() < 5.0, "{heard}");
    let heard = running.dominant_frequency().expect("sbc audio");
    assert!((heard - 1000.0).abs() < 5.0, "{heard}");
    rig.trunk.hang_up(leg).await.expect("bye");
    wait_for("BYE at the proxy", || {
        (rig.sandbox.state().call(&call_id)?.state == "ended").then_some(())
    })
    .await;
}

/// Waits until a proxy considers the SBC healthy (its OPTIONS answered), then dials.
async fn wait_for_dial(rig: &Rig) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match rig.sandbox.state().dial(ALICE, SLACK_NUMBER).await {
            Ok(call_id) => return call_id,
            Err(error) => {
                assert!(tokio::time::Instant::now() < deadline, "dial: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_refuses_new_calls_with_503_and_retry_after() {
    let rig = Rig::start().await;
    rig.trunk.drain();
    let media = SbcMedia::bind().await;
    let refused = rig.trunk.invite(
        LegId::generate(),
        &number(ALICE_NUMBER),
        ("Bob", &number(SLACK_NUMBER)),
        &media.offer(),
    );
    assert!(matches!(refused, Err(SipError::Draining)), "{refused:?}");
    let call_id = wait_for_dial(&rig).await;
    wait_for("the 503", || {
        (rig.sandbox.state().call(&call_id)?.state == "failed_503").then_some(())
    })
    .await;
    assert_eq!(rig.trunk.live_legs(), 0);
}
