//! What the operator configures for the trunk: the SBC's FQDN and listeners, the Teams SIP
//! proxies in failover order, the certificate files and the timers of reference
//! `sip-direct-routing.md` §1.2–§1.4.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The transport of one signalling path. Direct Routing is TLS only (§1.2); UDP and TCP exist
/// for SIPp, which Debian builds without TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SipTransport {
    /// SIP over UDP.
    Udp,
    /// SIP over TCP.
    Tcp,
    /// SIP over TLS 1.2 or later.
    Tls,
}

impl SipTransport {
    /// The name in a Via header (`SIP/2.0/TLS`).
    pub const fn via_name(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }

    /// The `transport=` URI parameter.
    pub const fn uri_param(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }
}

/// One Teams SIP proxy (`sip`, `sip2`, `sip3.pstnhub.microsoft.com`, §1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyTarget {
    /// The proxy's FQDN: the TLS server name and the host of Request-URIs sent to it.
    pub fqdn: String,
    /// Where to connect (resolved by the operator or the caller; 5061 for TLS).
    pub addr: SocketAddr,
    /// How to reach it.
    pub transport: SipTransport,
}

/// The trunk's configuration.
#[derive(Clone, Debug)]
pub struct TrunkConfig {
    /// The SBC's public FQDN, paired in the tenant: the host of every Contact (§1.4).
    pub sbc_fqdn: String,
    /// The port advertised in Contact for TLS (the tenant's `SipSignalingPort`).
    pub contact_port: u16,
    /// TLS listener for Microsoft's own connections (`None`: no inbound TLS).
    pub tls_listen: Option<SocketAddr>,
    /// UDP listener (tests with SIPp; also the socket for UDP proxies).
    pub udp_listen: Option<SocketAddr>,
    /// TCP listener (tests with SIPp).
    pub tcp_listen: Option<SocketAddr>,
    /// The proxies, tried in this order (§1.2: `sip` first, then `sip2`, then `sip3`).
    pub proxies: Vec<ProxyTarget>,
    /// The SBC certificate chain (PEM). Re-read when the file changes.
    pub cert_file: PathBuf,
    /// The SBC private key (PEM, PKCS#8 or PKCS#1). Re-read when the file changes.
    pub key_file: PathBuf,
    /// Trust anchors for the proxies' certificates (PEM bundle).
    pub ca_file: PathBuf,
    /// How often OPTIONS go to each proxy (§1.4: every minute).
    pub options_interval: Duration,
    /// How long an INVITE may go without any response before the next proxy is tried.
    pub invite_timeout: Duration,
    /// How long a non-INVITE request (OPTIONS, BYE, CANCEL) may take.
    pub request_timeout: Duration,
    /// How long the media side may take to answer a re-INVITE.
    pub reinvite_answer_timeout: Duration,
    /// Retry-After sent with 503 while draining.
    pub drain_retry_after_secs: u32,
    /// The `X-MS-SBC` value, `Vendor/Model/Firmware` (§1.4).
    pub sbc_identity: String,
}

impl TrunkConfig {
    /// A configuration with the documented defaults: Contact port 5061, OPTIONS every 60 s,
    /// 10 s before an unanswered INVITE fails over (`FailoverTimeSeconds`, §1.6).
    pub fn new(
        sbc_fqdn: impl Into<String>,
        proxies: Vec<ProxyTarget>,
        cert_file: PathBuf,
        key_file: PathBuf,
        ca_file: PathBuf,
    ) -> Self {
        Self {
            sbc_fqdn: sbc_fqdn.into(),
            contact_port: 5061,
            tls_listen: None,
            udp_listen: None,
            tcp_listen: None,
            proxies,
            cert_file,
            key_file,
            ca_file,
            options_interval: Duration::from_secs(60),
            invite_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(8),
            reinvite_answer_timeout: Duration::from_secs(5),
            drain_retry_after_secs: 60,
            sbc_identity: format!("callbridge/trunk/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}
