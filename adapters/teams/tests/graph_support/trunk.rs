//! A Direct Routing trunk to the sandbox's SIP proxies over TLS, with the SBC certificate
//! issued by the sandbox's CA and written to disk as the trunk reads it, started only once
//! every proxy answers OPTIONS.

use std::time::Duration;

use callbridge_sandbox::microsoft::RunningMicrosoftSandbox;
use callbridge_sip::{ProxyTarget, SipTransport, Trunk, TrunkConfig, TrunkEvents};

/// The SBC name the trunk presents.
pub const SBC_FQDN: &str = "sbc.gateway.test";
/// The first number of the range assigned to Slack users.
pub const SLACK_FIRST: &str = "+15550001000";

/// A started trunk; the directory holds its certificate files.
pub struct SandboxTrunk {
    pub trunk: Trunk,
    pub events: TrunkEvents,
    pub _dir: tempfile::TempDir,
}

pub async fn start_trunk(sandbox: &RunningMicrosoftSandbox) -> SandboxTrunk {
    let issued = sandbox.issue_certificate(&[SBC_FQDN.to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca) = (
        dir.path().join("sbc.pem"),
        dir.path().join("sbc.key"),
        dir.path().join("ca.pem"),
    );
    std::fs::write(&cert, &issued.certificate_pem).unwrap();
    std::fs::write(&key, &issued.private_key_pem).unwrap();
    std::fs::write(&ca, sandbox.ca_certificate_pem()).unwrap();
    let proxies = sandbox
        .sip_addrs()
        .into_iter()
        .map(|addr| ProxyTarget {
            fqdn: addr.fqdn,
            addr: addr.tls,
            transport: SipTransport::Tls,
        })
        .collect();
    let mut config = TrunkConfig::new(SBC_FQDN, proxies, cert, key, ca);
    config.invite_timeout = Duration::from_secs(2);
    config.request_timeout = Duration::from_secs(3);
    let (trunk, events, _) = Trunk::start(config).await.unwrap();
    for _ in 0..500 {
        if trunk.proxy_health().iter().all(|(_, healthy)| *healthy) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    SandboxTrunk {
        trunk,
        events,
        _dir: dir,
    }
}
