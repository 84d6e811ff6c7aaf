//! SIPp (Debian `sip-tester`, a third-party SIP stack) as Teams calling the trunk over UDP and
//! TCP: an answered call with History-Info, a CANCEL while ringing, a 486, and hold/resume
//! re-INVITEs. The scenarios are in `tests/sipp/`. These tests fail, not skip, when SIPp is
//! missing (`scripts/install-deps.sh` installs it).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use callbridge_model::{Sdp, TerminationCause};
use callbridge_sip::{Trunk, TrunkEvent, TrunkEvents};
use common::*;

const SIPP: &str = "/usr/bin/sipp";

#[derive(Clone, Copy, Debug)]
enum Scenario {
    Call,
    Cancel,
    Busy,
    Reinvite,
}

impl Scenario {
    fn file(self) -> PathBuf {
        let name = match self {
            Self::Call => "uac_call.xml",
            Self::Cancel => "uac_cancel.xml",
            Self::Busy => "uac_busy.xml",
            Self::Reinvite => "uac_reinvite.xml",
        };
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(name)
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Plays the gateway's part: answers, rejects or waits, depending on the scenario.
async fn gateway(trunk: Trunk, mut events: TrunkEvents, scenario: Scenario) -> Vec<String> {
    let answer = || {
        let text = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/SAVP 9\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk|2^31\r\n\
a=rtpmap:9 G722/8000\r\na=rtcp-mux\r\na=sendrecv\r\n";
        Sdp::parse(text).expect("sdp")
    };
    let mut log = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(20), events.recv()).await {
        match event {
            TrunkEvent::Incoming {
                leg,
                to,
                from,
                history_info,
                ..
            } => {
                log.push(format!(
                    "incoming to {to} from {:?}",
                    from.number.map(|n| n.to_string())
                ));
                for entry in history_info {
                    log.push(format!(
                        "history {} {:?} {:?}",
                        entry.index,
                        entry.number.map(|n| n.to_string()),
                        entry.cause
                    ));
                }
                match scenario {
                    Scenario::Call | Scenario::Reinvite => {
                        trunk.answer(leg, answer()).expect("answer")
                    }
                    Scenario::Busy => trunk.reject(leg, 486).expect("reject"),
                    Scenario::Cancel => {}
                }
            }
            TrunkEvent::Hold { held, .. } => log.push(format!("hold {held}")),
            TrunkEvent::Reinvite { reply, sdp, .. } => {
                let held = sdp.as_str().contains("a=inactive");
                let text = answer()
                    .as_str()
                    .replace("a=sendrecv", if held { "a=inactive" } else { "a=sendrecv" });
                let _ = reply.send(Some(Sdp::parse(&text).expect("sdp")));
                log.push("reinvite answered".to_owned());
            }
            TrunkEvent::Ended { cause, status, .. } => {
                log.push(format!("ended {} {status:?}", cause.as_str()));
                break;
            }
            other => log.push(format!("{other:?}")),
        }
    }
    log
}

async fn run(transport: &str, scenario: Scenario) -> Vec<String> {
    assert!(
        std::path::Path::new(SIPP).exists(),
        "SIPp missing: install Debian's sip-tester"
    );
    let files = {
        let ca = pki::TestCa::new();
        let leaf = ca.leaf(SBC_FQDN, 2040);
        Files::write(&leaf.cert_pem, &leaf.key_pem, &ca.pem)
    };
    let mut config = config(&files, Vec::new());
    config.udp_listen = Some("127.0.0.1:0".parse().expect("addr"));
    config.tcp_listen = Some("127.0.0.1:0".parse().expect("addr"));
    let (trunk, events, addrs) = Trunk::start(config).await.expect("trunk");
    let target = if transport == "u1" {
        addrs.udp
    } else {
        addrs.tcp
    }
    .expect("listener");
    let driver = tokio::spawn(gateway(trunk.clone(), events, scenario));
    let errors = files.dir.path().join("sipp-errors.log");
    let (port, media_port) = (free_udp_port(), free_udp_port());
    let mut command = Command::new(SIPP);
    command
        .arg(target.to_string())
        .args(["-sf"])
        .arg(scenario.file())
        .args([
            "-t",
            transport,
            "-i",
            "127.0.0.1",
            "-s",
            SLACK_NUMBER,
            "-m",
            "1",
            "-l",
            "1",
        ])
        .args(["-p", &port.to_string(), "-mp", &media_port.to_string()])
        .args([
            "-timeout",
            "20s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
            "-error_file",
        ])
        .arg(&errors);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("sipp runs");
    let log = driver.await.expect("gateway");
    let error_log = std::fs::read_to_string(&errors).unwrap_or_default();
    assert!(
        output.status.success(),
        "SIPp {scenario:?} over {transport} failed ({:?}):\n{}\n{error_log}\ntrunk saw: {log:?}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(trunk.live_legs(), 0, "{log:?}");
    trunk.shutdown();
    log
}

fn ended(log: &[String], cause: TerminationCause, status: Option<u16>) -> bool {
    log.last() == Some(&format!("ended {} {status:?}", cause.as_str()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_call_with_history_info_over_udp_and_tcp() {
    for transport in ["u1", "t1"] {
        let log = run(transport, Scenario::Call).await;
        assert_eq!(
            log[0],
            format!("incoming to {SLACK_NUMBER} from Some(\"{ALICE_NUMBER}\")"),
            "{log:?}"
        );
        assert!(
            log.contains(&"history 1 Some(\"+14255550199\") None".to_owned()),
            "{log:?}"
        );
        assert!(
            log.contains(&format!("history 1.1 Some(\"{SLACK_NUMBER}\") Some(302)")),
            "{log:?}"
        );
        assert!(ended(&log, TerminationCause::Normal, None), "{log:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_cancel_while_ringing_over_udp_and_tcp() {
    for transport in ["u1", "t1"] {
        let log = run(transport, Scenario::Cancel).await;
        assert!(
            ended(&log, TerminationCause::Cancelled, Some(487)),
            "{log:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_busy_486_over_udp_and_tcp() {
    for transport in ["u1", "t1"] {
        let log = run(transport, Scenario::Busy).await;
        assert!(ended(&log, TerminationCause::Busy, Some(486)), "{log:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_hold_and_resume_reinvites_over_udp_and_tcp() {
    for transport in ["u1", "t1"] {
        let log = run(transport, Scenario::Reinvite).await;
        let expected = [
            "hold true",
            "reinvite answered",
            "hold false",
            "reinvite answered",
        ];
        let seen: Vec<&str> = log.iter().skip(1).take(4).map(String::as_str).collect();
        assert_eq!(seen, expected, "{log:?}");
        assert!(ended(&log, TerminationCause::Normal, None), "{log:?}");
    }
}
