//! SIP trunk for Teams Direct Routing (reference `sip-direct-routing.md`): callbridge acting as
//! a session border controller toward the Teams SIP proxies.
//!
//! Built on rsipstack's transports and transactions; the trunk writes its own requests so the
//! Direct Routing rules hold by construction (§1.4, §2.2): the SBC FQDN in every Contact with
//! an explicit `transport=` (never an IP, never `sips:`), Call-IDs on the SBC's domain,
//! `X-MS-SBC` everywhere, E.164 numbers with `user=phone`. On top it adds what rsipstack does
//! not have: the OPTIONS keepalive, failover across the three proxies, `a=inactive` hold,
//! drain, and a certificate reloaded from disk.
//!
//! The gateway drives a [`Trunk`] and reads [`TrunkEvent`]s; SDP is opaque here beyond
//! its own checks (an audio m-line, `a=inactive` for hold); the media core negotiates.
//! An answered leg's dialog can be written down ([`DialogSnapshot`]) so that, after a crash,
//! a new trunk ends it with a BYE ([`Trunk::end_stale`]).
//!
//! Metrics: [`PROXY_HEALTH_METRIC`] (per proxy, 1 while OPTIONS get 200),
//! [`CERT_EXPIRY_METRIC`] (the served certificate's `notAfter`, Unix seconds),
//! [`CERT_RELOAD_METRIC`], [`FAILOVER_METRIC`], [`REJECTED_METRIC`] (bad input by reason),
//! [`STALE_ENDED_METRIC`] (dialogs ended after a crash, by outcome) and
//! `callbridge_sip_legs_ended_total` by cause.
//!
//! rsipstack caveats worked around here, each with a test: Contact rewriting over TLS and the
//! default Call-ID domain (requests are written whole, `tests/wire.rs`); forked 180s with the
//! same body dropped as duplicates by its client transaction (a receive hook sees every 1xx,
//! `tests/sandbox_calls.rs`); bytes that do not parse as SIP are dropped by its transport
//! before the trunk sees them, so only parseable-but-wrong requests can be answered 400.
//!
//! Logging: rsipstack logs whole messages (SDP included) at `info`; the gateway's filter keeps
//! `rsipstack` at `warn` so SDP never reaches logs.
//!
//! May depend on: `callbridge-model` and SIP/TLS libraries. Never on the gateway, the store or
//! an adapter.

mod config;
mod dialog;
mod error;
mod event;
mod headers;
mod inbound;
mod messages;
mod options;
mod outbound;
mod sdp;
mod snapshot;
mod stack;
mod tls;
mod trunk;

pub use config::{ProxyTarget, SipTransport, TrunkConfig};
pub use error::SipError;
pub use event::{Caller, HistoryEntry, TrunkEvent};
pub use snapshot::{DialogSnapshot, STALE_ENDED_METRIC};
pub use tls::{CERT_EXPIRY_METRIC, CERT_RELOAD_METRIC, CertStore};
pub use trunk::{
    FAILOVER_METRIC, ListenAddrs, PROXY_HEALTH_METRIC, REJECTED_METRIC, Trunk, TrunkEvents,
};
