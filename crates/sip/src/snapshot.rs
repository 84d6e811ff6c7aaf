//! A confirmed dialog written down, so that a process started after a crash can still end it.
//!
//! A crashed trunk takes its dialogs with it, while the Teams SIP proxy keeps the call up: the
//! owner stores a [`DialogSnapshot`] with the call once the leg is answered, and on restart a
//! new trunk with the same SBC identity sends the BYE the crashed one never sent
//! ([`Trunk::end_stale`]). The BYE is the trunk's ordinary one (`dialog::bye`), so it follows
//! the same Direct Routing rules as any hang-up (§1.4).

use callbridge_model::LegId;
use rsipstack::transport::SipConnection;

use crate::config::{ProxyTarget, SipTransport};
use crate::dialog::{Dialog, bye};
use crate::error::SipError;
use crate::headers::{param, uri_host_port, uri_of, uri_user, without_param};
use crate::stack::{Route, sip_addr};
use crate::trunk::{LegState, Shared, Trunk, lock};

/// Metric: stale dialogs ended from a snapshot, by `outcome` (`ended`: the peer still had
/// it; `gone`: it answered 481).
pub const STALE_ENDED_METRIC: &str = "callbridge_sip_stale_dialogs_ended_total";

/// What another trunk needs to send an in-dialog request in a confirmed dialog (RFC 3261
/// §12.1): the dialog's identity, its remote target and route set, the next CSeq, and the
/// proxy it runs through. Plain data; the owner chooses how to store it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogSnapshot {
    /// The SIP Call-ID.
    pub call_id: String,
    /// Our name-addr as the dialog's From carries it, without the tag.
    pub local_uri: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's name-addr as the dialog's To carries it, without the tag.
    pub remote_uri: String,
    /// The peer's tag (`None` only for peers that set none).
    pub remote_tag: Option<String>,
    /// Where in-dialog requests go: the peer's Contact URI.
    pub remote_target: String,
    /// Route headers for in-dialog requests, in order (empty when the peer sent no
    /// Record-Route, as Direct Routing recommends, §1.4).
    pub route_set: Vec<String>,
    /// The CSeq number of our next request in the dialog.
    pub next_local_cseq: u32,
    /// The FQDN of the Teams SIP proxy the dialog runs through: the configured proxy a call
    /// to Teams went to, or the host of Microsoft's Contact on a call from Teams.
    pub proxy: String,
    /// The dialog's transport.
    pub transport: SipTransport,
}

impl DialogSnapshot {
    fn of(dialog: &Dialog, shared: &Shared) -> Self {
        let configured = dialog
            .route
            .proxy
            .and_then(|index| shared.proxies.get(index))
            .map(|proxy| proxy.target.fqdn.clone());
        let proxy = configured.unwrap_or_else(|| {
            uri_host_port(&dialog.remote_target)
                .map(|(host, _)| host.to_owned())
                .unwrap_or_default()
        });
        Self {
            call_id: dialog.call_id.clone(),
            local_uri: without_param(&dialog.local, "tag"),
            local_tag: param(&dialog.local, "tag").unwrap_or_default().to_owned(),
            remote_uri: without_param(&dialog.remote, "tag"),
            remote_tag: param(&dialog.remote, "tag").map(str::to_owned),
            remote_target: dialog.remote_target.clone(),
            route_set: dialog.route_set.clone(),
            next_local_cseq: dialog.next_cseq,
            proxy,
            transport: dialog.route.transport,
        }
    }

    /// The dialog again, running on `route`.
    fn dialog(&self, route: Route) -> Dialog {
        Dialog {
            call_id: self.call_id.clone(),
            local: format!("{};tag={}", self.local_uri, self.local_tag),
            remote: match &self.remote_tag {
                Some(tag) => format!("{};tag={tag}", self.remote_uri),
                None => self.remote_uri.clone(),
            },
            remote_target: self.remote_target.clone(),
            route_set: self.route_set.clone(),
            next_cseq: self.next_local_cseq,
            route,
            // Our Contact user is the number our own URI carries, on either side of a call.
            contact_user: uri_user(uri_of(&self.local_uri)).map(str::to_owned),
        }
    }
}

impl Trunk {
    /// The dialog of an answered leg: a call to Teams once `Answered` is emitted, a call from
    /// Teams once [`answer`](Self::answer) returned. `None` for unknown, ringing or ended legs.
    pub fn dialog_snapshot(&self, leg: LegId) -> Option<DialogSnapshot> {
        let legs = lock(&self.shared.legs);
        let entry = legs.get(&leg)?;
        let dialog = match &entry.state {
            LegState::Confirmed(dialog) => dialog,
            LegState::Offered(_) if entry.answering => entry.pending.as_ref()?,
            _ => return None,
        };
        Some(DialogSnapshot::of(dialog, &self.shared))
    }

    /// Ends a dialog this trunk does not hold (one a crashed process left behind) with a BYE
    /// built from its snapshot, through the configured proxy of that name (its connection,
    /// opened when none is live) or, for a proxy not configured, a connection of its own.
    /// A 481 means the dialog is already gone, which is success too.
    pub async fn end_stale(&self, snapshot: &DialogSnapshot) -> Result<(), SipError> {
        let (route, own) = stale_route(&self.shared, snapshot).await?;
        let dialog = snapshot.dialog(route);
        let answer = bye(&self.shared, &dialog).await;
        if own && !matches!(dialog.route.connection, SipConnection::Udp(_)) {
            let _ = dialog.route.connection.close().await;
        }
        let outcome = match answer? {
            Some(200..=299) => "ended",
            Some(481) => "gone",
            Some(status) => {
                return Err(SipError::Refused {
                    method: "BYE",
                    status,
                });
            }
            None => return Err(SipError::NoResponse("BYE")),
        };
        metrics::counter!(STALE_ENDED_METRIC, "outcome" => outcome).increment(1);
        Ok(())
    }
}

/// Where a stale dialog's BYE goes, and whether the connection is the BYE's own (to close).
async fn stale_route(
    shared: &Shared,
    snapshot: &DialogSnapshot,
) -> Result<(Route, bool), SipError> {
    if let Some(index) = shared
        .proxies
        .iter()
        .position(|p| p.target.fqdn.eq_ignore_ascii_case(&snapshot.proxy))
    {
        return Ok((shared.proxy_route(index).await?, false));
    }
    // A proxy the configuration does not list (Microsoft's Contact named another host):
    // reached by name, at the Contact's port when the Contact names that host.
    let default_port = match snapshot.transport {
        SipTransport::Tls => 5061,
        SipTransport::Udp | SipTransport::Tcp => 5060,
    };
    let port = uri_host_port(&snapshot.remote_target)
        .filter(|(host, _)| host.eq_ignore_ascii_case(&snapshot.proxy))
        .and_then(|(_, port)| port)
        .unwrap_or(default_port);
    let addr = tokio::net::lookup_host((snapshot.proxy.as_str(), port))
        .await?
        .next()
        .ok_or_else(|| SipError::Transport(format!("{} has no address", snapshot.proxy)))?;
    let target = ProxyTarget {
        fqdn: snapshot.proxy.clone(),
        addr,
        transport: snapshot.transport,
    };
    let route = match target.transport {
        SipTransport::Udp => Route {
            connection: SipConnection::Udp(shared.udp.clone().ok_or_else(|| {
                SipError::Misconfigured("a UDP dialog needs udp_listen".to_owned())
            })?),
            destination: Some(sip_addr(SipTransport::Udp, addr)),
            transport: SipTransport::Udp,
            proxy: None,
        },
        transport => Route {
            connection: shared.connect(&target).await?,
            destination: None,
            transport,
            proxy: None,
        },
    };
    Ok((route, true))
}
