//! Dialogs left by a crashed trunk: a call to Teams and a call from Teams are answered, their
//! dialogs snapshotted, the trunk stopped without a BYE, and a new trunk with the same
//! certificate ends each from its snapshot, the sandbox proxy's call record turning "ended".
//! A dialog already gone (481) counts as ended; a raw peer checks the BYE's wire form and
//! that other answers, or none, are errors.

mod common;

use std::time::Duration;

use callbridge_model::LegId;
use callbridge_sandbox::microsoft::{Answer, PhoneBehaviour};
use callbridge_sip::{
    DialogSnapshot, ProxyTarget, SipError, SipTransport, Trunk, TrunkEvent, TrunkEvents,
};
use common::media::SbcMedia;
use common::*;
use tokio::net::UdpSocket;

const PROXY_FQDN: &str = "sip.pstnhub.microsoft.com";

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

/// The crash: every task stopped, nothing sent, the trunk gone.
fn crash(trunk: Trunk, events: TrunkEvents) {
    trunk.shutdown();
    drop((trunk, events));
}

/// The restarted process's trunk: same certificate files, same proxies.
async fn restarted(rig_files: &Files, proxies: Vec<ProxyTarget>) -> (Trunk, TrunkEvents) {
    let (trunk, events, _) = Trunk::start(config(rig_files, proxies))
        .await
        .expect("second trunk");
    (trunk, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_teams_left_by_a_crashed_trunk_is_ended_by_a_new_one() {
    let Rig {
        sandbox,
        trunk,
        mut events,
        files,
        ..
    } = Rig::start().await;
    sandbox
        .state()
        .set_phone_behaviour(
            ALICE,
            PhoneBehaviour {
                answer: Answer::AfterSecs { secs: 0.0 },
                ..PhoneBehaviour::default()
            },
        )
        .expect("phone");
    let media = SbcMedia::bind().await;
    let leg = LegId::generate();
    assert_eq!(trunk.dialog_snapshot(leg), None, "no such leg yet");
    trunk
        .invite(
            leg,
            &number(ALICE_NUMBER),
            ("Bob Brown (Slack)", &number(SLACK_NUMBER)),
            &media.offer(),
        )
        .expect("invite");
    let seen = until_settled(&mut events, leg, 10).await;
    assert!(
        matches!(seen.last(), Some(TrunkEvent::Answered { .. })),
        "{seen:?}"
    );
    let snapshot = trunk
        .dialog_snapshot(leg)
        .expect("an answered leg's dialog");
    let call_id = trunk.call_id(leg).expect("live leg");
    assert_eq!(snapshot.call_id, call_id);
    assert_eq!(snapshot.proxy, PROXY_FQDN, "the proxy the INVITE went to");
    assert_eq!(snapshot.transport, SipTransport::Tls);
    assert_eq!(snapshot.next_local_cseq, 2, "the INVITE used CSeq 1");
    assert!(!snapshot.local_tag.is_empty());
    assert!(snapshot.remote_tag.is_some(), "the 200's To-tag");
    assert!(snapshot.local_uri.contains(SLACK_NUMBER), "{snapshot:?}");
    assert!(!snapshot.local_uri.contains("tag="), "{snapshot:?}");
    assert!(snapshot.remote_uri.contains(ALICE_NUMBER), "{snapshot:?}");
    assert!(
        snapshot.route_set.is_empty(),
        "the proxy sends no Record-Route"
    );
    wait_for("the ACK at the proxy", || {
        sandbox.state().call(&call_id)?.media.map(|_| ())
    })
    .await;

    crash(trunk, events);
    assert_eq!(
        sandbox.state().call(&call_id).expect("record").state,
        "answered",
        "the crash sent no BYE: the leg is orphaned at the proxy"
    );

    let (fresh, mut fresh_events) = restarted(&files, tls_proxies(&sandbox)).await;
    fresh
        .end_stale(&snapshot)
        .await
        .expect("stale dialog ended");
    assert_eq!(
        sandbox.state().call(&call_id).expect("record").state,
        "ended",
        "the proxy answered the BYE after ending its call"
    );
    assert_eq!(fresh.live_legs(), 0, "nothing of the old dialog is kept");
    assert!(
        fresh_events.try_recv().is_err(),
        "a stale dialog is no leg of this trunk"
    );

    // Once more: the proxy no longer knows the dialog (481), which is what was wanted.
    fresh
        .end_stale(&snapshot)
        .await
        .expect("already gone is ended");
    fresh.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_teams_left_by_a_crashed_trunk_is_ended_by_a_new_one() {
    let Rig {
        sandbox,
        trunk,
        mut events,
        files,
        ..
    } = Rig::start().await;
    let call_id = wait_for_dial(&sandbox).await;
    let TrunkEvent::Incoming { leg, sdp, .. } = next_event(&mut events, 5).await else {
        panic!("no Incoming");
    };
    assert_eq!(trunk.dialog_snapshot(leg), None, "not answered yet");
    let media = SbcMedia::bind().await;
    let (answer, _running) = media.answer(&sdp, 440.0);
    trunk.answer(leg, answer).expect("answer");
    // Available as soon as `answer` returns, before the 200 has necessarily left.
    let snapshot = trunk
        .dialog_snapshot(leg)
        .expect("an answered leg's dialog");
    assert_eq!(snapshot.call_id, call_id);
    assert_eq!(
        snapshot.proxy, PROXY_FQDN,
        "the host of the proxy's Contact"
    );
    assert_eq!(snapshot.transport, SipTransport::Tls);
    assert_eq!(
        snapshot.next_local_cseq, 1,
        "we sent nothing in the dialog yet"
    );
    assert!(snapshot.local_uri.contains(SLACK_NUMBER), "{snapshot:?}");
    assert!(snapshot.remote_uri.contains(ALICE_NUMBER), "{snapshot:?}");
    assert!(snapshot.remote_tag.is_some(), "the INVITE's From-tag");
    wait_for("the call answered at the proxy", || {
        let record = sandbox.state().call(&call_id)?;
        (record.state == "answered").then_some(())
    })
    .await;
    assert_eq!(
        trunk.dialog_snapshot(leg).as_ref(),
        Some(&snapshot),
        "the confirmed dialog is the one snapshotted early"
    );

    crash(trunk, events);
    let (fresh, _fresh_events) = restarted(&files, tls_proxies(&sandbox)).await;
    fresh
        .end_stale(&snapshot)
        .await
        .expect("stale dialog ended");
    assert_eq!(
        sandbox.state().call(&call_id).expect("record").state,
        "ended"
    );
    fresh.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_leg_has_no_snapshot() {
    let Rig {
        sandbox,
        trunk,
        mut events,
        ..
    } = Rig::start().await;
    sandbox
        .state()
        .set_phone_behaviour(
            ALICE,
            PhoneBehaviour {
                answer: Answer::AfterSecs { secs: 0.0 },
                ..PhoneBehaviour::default()
            },
        )
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
    until_settled(&mut events, leg, 10).await;
    assert!(trunk.dialog_snapshot(leg).is_some());
    trunk.hang_up(leg).await.expect("bye");
    assert_eq!(trunk.dialog_snapshot(leg), None);
}

/// Waits until a proxy considers the SBC healthy (its OPTIONS answered), then dials.
async fn wait_for_dial(sandbox: &callbridge_sandbox::microsoft::RunningMicrosoftSandbox) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match sandbox.state().dial(ALICE, SLACK_NUMBER).await {
            Ok(call_id) => return call_id,
            Err(error) => {
                assert!(tokio::time::Instant::now() < deadline, "dial: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

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
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// Receives requests on `socket` until a BYE, answering OPTIONS 200; answers the BYE with
/// `status` unless it is `None`, and returns it.
async fn bye_at(socket: &UdpSocket, status: Option<&str>) -> String {
    let mut buffer = vec![0u8; 8192];
    loop {
        let (read, from) =
            tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
                .await
                .expect("a request in time")
                .expect("recv");
        let text = String::from_utf8_lossy(&buffer[..read]).into_owned();
        if text.starts_with("OPTIONS") {
            let _ = socket
                .send_to(reply_to(&text, "200 OK").as_bytes(), from)
                .await;
        } else if text.starts_with("BYE") {
            if let Some(status) = status {
                let _ = socket
                    .send_to(reply_to(&text, status).as_bytes(), from)
                    .await;
            }
            return text;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stale_bye_follows_the_snapshot_and_only_2xx_or_481_succeed() {
    let proxy = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let ca = pki::TestCa::new();
    let leaf = ca.leaf(SBC_FQDN, 2040);
    let files = Files::write(&leaf.cert_pem, &leaf.key_pem, &ca.pem);
    let mut config = config(
        &files,
        vec![ProxyTarget {
            fqdn: PROXY_FQDN.to_owned(),
            addr: proxy.local_addr().expect("addr"),
            transport: SipTransport::Udp,
        }],
    );
    config.udp_listen = Some("127.0.0.1:0".parse().expect("addr"));
    config.request_timeout = Duration::from_secs(1);
    let (trunk, _events, addrs) = Trunk::start(config).await.expect("trunk");
    let udp_port = addrs.udp.expect("udp listener").port();
    let snapshot = DialogSnapshot {
        call_id: format!("0123456789abcdef01234567@{SBC_FQDN}"),
        local_uri: format!("\"Bob\" <sip:{SLACK_NUMBER}@{SBC_FQDN};user=phone>"),
        local_tag: "ours1".to_owned(),
        remote_uri: format!("<sip:{ALICE_NUMBER}@{PROXY_FQDN};user=phone>"),
        remote_tag: Some("theirs1".to_owned()),
        remote_target: format!("sip:{PROXY_FQDN}:5061;transport=udp"),
        route_set: vec![format!("<sip:edge.{PROXY_FQDN};lr>")],
        next_local_cseq: 7,
        proxy: PROXY_FQDN.to_owned(),
        transport: SipTransport::Udp,
    };

    let (ended, bye) = tokio::join!(
        trunk.end_stale(&snapshot),
        bye_at(&proxy, Some("481 Call/Transaction Does Not Exist"))
    );
    ended.expect("481: already gone");
    // The stack writes URI parameter values its own way (`transport=UDP`): compared as SIP
    // compares them, case-insensitively.
    let request_line = bye.lines().next().unwrap_or_default().to_ascii_lowercase();
    let expected = format!("BYE {} SIP/2.0", snapshot.remote_target).to_ascii_lowercase();
    assert_eq!(request_line, expected, "{bye}");
    assert_eq!(header(&bye, "Call-ID"), Some(snapshot.call_id.as_str()));
    assert_eq!(header(&bye, "CSeq"), Some("7 BYE"));
    assert_eq!(
        header(&bye, "From"),
        Some(format!("{};tag=ours1", snapshot.local_uri).as_str())
    );
    assert_eq!(
        header(&bye, "To"),
        Some(format!("{};tag=theirs1", snapshot.remote_uri).as_str())
    );
    assert_eq!(header(&bye, "Route"), Some(snapshot.route_set[0].as_str()));
    assert_eq!(
        header(&bye, "Contact"),
        Some(format!("<sip:{SLACK_NUMBER}@{SBC_FQDN}:{udp_port};transport=udp>").as_str()),
        "our FQDN and an explicit transport (§1.4)"
    );
    assert!(header(&bye, "X-MS-SBC").is_some(), "{bye}");

    let (refused, _) = tokio::join!(
        trunk.end_stale(&snapshot),
        bye_at(&proxy, Some("500 Server Internal Error"))
    );
    assert!(
        matches!(
            refused,
            Err(SipError::Refused {
                method: "BYE",
                status: 500
            })
        ),
        "{refused:?}"
    );

    let (silent, _) = tokio::join!(trunk.end_stale(&snapshot), bye_at(&proxy, None));
    assert!(
        matches!(silent, Err(SipError::NoResponse("BYE"))),
        "{silent:?}"
    );
    trunk.shutdown();
}
