//! Shared test rig: the Microsoft sandbox's SIP proxies, a trunk wired to them over TLS with
//! an SBC certificate from the sandbox CA, an SRTP media endpoint built from the media core's
//! SDP and SRTP pieces, and an event reader with a deadline.

#![allow(dead_code, unreachable_pub)]

pub mod media;
pub mod pki;

use std::path::PathBuf;
use std::time::Duration;

use callbridge_model::{LegId, PhoneNumber};
use callbridge_sandbox::microsoft::{
    MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed, RunningMicrosoftSandbox,
};
use callbridge_sip::{
    ListenAddrs, ProxyTarget, SipTransport, Trunk, TrunkConfig, TrunkEvent, TrunkEvents,
};
use tempfile::TempDir;

pub const SBC_FQDN: &str = "sbc.gateway.test";
pub const ALICE: &str = "alice@contoso.test";
pub const ALICE_NUMBER: &str = "+14255550101";
pub const SLACK_NUMBER: &str = "+15550001000";

pub fn number(text: &str) -> PhoneNumber {
    text.parse().expect("E.164")
}

/// Certificate, key and CA files in a temporary directory.
pub struct Files {
    pub dir: TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl Files {
    pub fn write(cert_pem: &str, key_pem: &str, ca_pem: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key, ca) = (
            dir.path().join("sbc.pem"),
            dir.path().join("sbc.key"),
            dir.path().join("ca.pem"),
        );
        std::fs::write(&cert, cert_pem).expect("write cert");
        std::fs::write(&key, key_pem).expect("write key");
        std::fs::write(&ca, ca_pem).expect("write ca");
        Self { dir, cert, key, ca }
    }
}

pub struct Rig {
    pub sandbox: RunningMicrosoftSandbox,
    pub trunk: Trunk,
    pub events: TrunkEvents,
    pub files: Files,
    pub addrs: ListenAddrs,
}

/// The sandbox's three proxies over TLS, in order.
pub fn tls_proxies(sandbox: &RunningMicrosoftSandbox) -> Vec<ProxyTarget> {
    sandbox
        .sip_addrs()
        .into_iter()
        .map(|a| ProxyTarget {
            fqdn: a.fqdn,
            addr: a.tls,
            transport: SipTransport::Tls,
        })
        .collect()
}

pub fn sandbox_files(sandbox: &RunningMicrosoftSandbox) -> Files {
    let issued = sandbox
        .issue_certificate(&[SBC_FQDN.to_owned()])
        .expect("SBC certificate");
    Files::write(
        &issued.certificate_pem,
        &issued.private_key_pem,
        &sandbox.ca_certificate_pem(),
    )
}

pub fn config(files: &Files, proxies: Vec<ProxyTarget>) -> TrunkConfig {
    let mut config = TrunkConfig::new(
        SBC_FQDN,
        proxies,
        files.cert.clone(),
        files.key.clone(),
        files.ca.clone(),
    );
    config.invite_timeout = Duration::from_secs(2);
    config.request_timeout = Duration::from_secs(3);
    config
}

impl Rig {
    /// Sandbox + trunk over TLS, OPTIONS answered by every proxy.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut TrunkConfig)) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let sandbox = MicrosoftSandbox::start(MicrosoftConfig::new(MicrosoftSeed::demo()))
            .await
            .expect("sandbox");
        let files = sandbox_files(&sandbox);
        let mut config = config(&files, tls_proxies(&sandbox));
        adjust(&mut config);
        let (trunk, events, addrs) = Trunk::start(config).await.expect("trunk");
        wait_healthy(&trunk).await;
        Self {
            sandbox,
            trunk,
            events,
            files,
            addrs,
        }
    }
}

/// Waits until every proxy answered OPTIONS with 200.
pub async fn wait_healthy(trunk: &Trunk) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !trunk.proxy_health().iter().all(|(_, healthy)| *healthy) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "proxies not healthy: {:?}",
            trunk.proxy_health()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next event, or a panic after `secs`.
pub async fn next_event(events: &mut TrunkEvents, secs: u64) -> TrunkEvent {
    tokio::time::timeout(Duration::from_secs(secs), events.recv())
        .await
        .expect("event in time")
        .expect("trunk running")
}

/// Events for `leg` until `Answered` or `Ended`, everything seen returned.
pub async fn until_settled(events: &mut TrunkEvents, leg: LegId, secs: u64) -> Vec<TrunkEvent> {
    let mut seen = Vec::new();
    loop {
        let event = next_event(events, secs).await;
        let settled = matches!(&event, TrunkEvent::Answered { leg: l, .. } | TrunkEvent::Ended { leg: l, .. } if *l == leg);
        seen.push(event);
        if settled {
            return seen;
        }
    }
}
