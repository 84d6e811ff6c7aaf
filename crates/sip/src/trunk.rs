//! The trunk: one rsipstack endpoint with its listeners, connections to the Teams SIP proxies,
//! the live legs, and the API the Teams adapter drives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use callbridge_model::{LegId, PhoneNumber, Sdp, TerminationCause};
use rsipstack::EndpointBuilder;
use rsipstack::transaction::endpoint::{EndpointInnerRef, EndpointOption};
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::tls::TlsConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipConnection, TransportLayer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{ProxyTarget, SipTransport, TrunkConfig};
use crate::dialog::Dialog;
use crate::error::SipError;
use crate::event::TrunkEvent;
use crate::stack::{ForkTap, Route, TapInspector, sip_addr};
use crate::tls::CertStore;

/// The receiving end of the trunk's events.
pub type TrunkEvents = mpsc::UnboundedReceiver<TrunkEvent>;

/// Metric: 1 while a proxy answers our OPTIONS with 200, else 0 (label `proxy`).
pub const PROXY_HEALTH_METRIC: &str = "callbridge_sip_proxy_healthy";
/// Metric: SIP requests refused for bad input, by `reason`.
pub const REJECTED_METRIC: &str = "callbridge_sip_rejected_total";
/// Metric: INVITEs moved to the next proxy, by `reason` (`503`, `timeout`, `connect`).
pub const FAILOVER_METRIC: &str = "callbridge_sip_failovers_total";

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a pending outbound leg's task can be told.
#[derive(Debug)]
pub(crate) enum OutboundControl {
    Cancel,
}

/// What a pending inbound leg's task can be told.
#[derive(Debug)]
pub(crate) enum InboundControl {
    Answer(Sdp),
    Reject(u16),
}

#[derive(Debug)]
pub(crate) enum LegState {
    Calling(mpsc::UnboundedSender<OutboundControl>),
    Offered(mpsc::UnboundedSender<InboundControl>),
    Confirmed(Box<Dialog>),
}

#[derive(Debug)]
pub(crate) struct LegEntry {
    pub(crate) call_id: String,
    pub(crate) state: LegState,
    pub(crate) held: bool,
    /// An incoming leg's dialog as it will be once answered (known from the INVITE).
    pub(crate) pending: Option<Box<Dialog>>,
    /// Whether `Trunk::answer` was called: from then on the leg has a dialog to snapshot,
    /// even before its own task has sent the 200.
    pub(crate) answering: bool,
}

/// One proxy and what the trunk knows about it.
pub(crate) struct ProxyState {
    pub(crate) target: ProxyTarget,
    connection: tokio::sync::Mutex<Option<SipConnection>>,
    pub(crate) healthy: AtomicBool,
    /// Set by a 503 with Retry-After: not tried first until then.
    pub(crate) unavailable_until: Mutex<Option<Instant>>,
}

pub(crate) struct Shared {
    pub(crate) config: TrunkConfig,
    pub(crate) endpoint: EndpointInnerRef,
    pub(crate) events: mpsc::UnboundedSender<TrunkEvent>,
    pub(crate) legs: Mutex<HashMap<LegId, LegEntry>>,
    pub(crate) call_ids: Mutex<HashMap<String, LegId>>,
    pub(crate) proxies: Vec<ProxyState>,
    pub(crate) draining: AtomicBool,
    pub(crate) certs: Arc<CertStore>,
    tls: TlsConnector,
    pub(crate) udp: Option<UdpConnection>,
    pub(crate) tcp_port: Option<u16>,
    pub(crate) forks: Arc<ForkTap>,
}

impl Shared {
    /// Emits `Ended` once for a leg and forgets it.
    pub(crate) fn end(&self, leg: LegId, cause: TerminationCause, status: Option<u16>) {
        let removed = lock(&self.legs).remove(&leg);
        if let Some(entry) = removed {
            lock(&self.call_ids).remove(&entry.call_id);
            metrics::counter!("callbridge_sip_legs_ended_total", "cause" => cause.as_str())
                .increment(1);
            let _ = self.events.send(TrunkEvent::Ended { leg, cause, status });
        }
    }

    pub(crate) fn emit(&self, event: TrunkEvent) {
        let _ = self.events.send(event);
    }

    /// The local port advertised in Contact for a transport.
    pub(crate) fn contact_port(&self, transport: SipTransport) -> u16 {
        match transport {
            SipTransport::Tls => self.config.contact_port,
            SipTransport::Udp => self
                .udp
                .as_ref()
                .and_then(|u| u.get_addr().get_socketaddr().ok())
                .map_or(5060, |a| a.port()),
            SipTransport::Tcp => self.tcp_port.unwrap_or(5060),
        }
    }

    /// Our Contact: always the SBC FQDN, `sip:` and an explicit transport (§1.4).
    pub(crate) fn contact(&self, user: Option<&str>, transport: SipTransport) -> String {
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        format!(
            "<sip:{user}{}:{};transport={}>",
            self.config.sbc_fqdn,
            self.contact_port(transport),
            transport.uri_param()
        )
    }

    /// A fresh Via for a request on `route`.
    pub(crate) fn via(&self, route: &Route) -> String {
        let sent_by = match route.transport {
            SipTransport::Tls => format!("{}:{}", self.config.sbc_fqdn, self.config.contact_port),
            _ => route
                .connection
                .get_addr()
                .get_socketaddr()
                .map_or_else(|_| self.config.sbc_fqdn.clone(), |a| a.to_string()),
        };
        format!(
            "SIP/2.0/{} {sent_by};branch=z9hG4bK{};rport",
            route.transport.via_name(),
            crate::messages::token()
        )
    }

    /// A route to proxy `index`, connecting (TLS/TCP) when no live connection exists.
    pub(crate) async fn proxy_route(&self, index: usize) -> Result<Route, SipError> {
        let proxy = self
            .proxies
            .get(index)
            .ok_or_else(|| SipError::Misconfigured(format!("no proxy #{index}")))?;
        let target = &proxy.target;
        if target.transport == SipTransport::Udp {
            let udp = self.udp.clone().ok_or_else(|| {
                SipError::Misconfigured("a UDP proxy needs udp_listen".to_owned())
            })?;
            return Ok(Route {
                connection: SipConnection::Udp(udp),
                destination: Some(sip_addr(SipTransport::Udp, target.addr)),
                transport: SipTransport::Udp,
                proxy: Some(index),
            });
        }
        let mut cached = proxy.connection.lock().await;
        if let Some(connection) = cached.as_ref()
            && !connection.cancel_token().is_some_and(|t| t.is_cancelled())
        {
            return Ok(Route {
                connection: connection.clone(),
                destination: None,
                transport: target.transport,
                proxy: Some(index),
            });
        }
        let connection = self.connect(target).await?;
        *cached = Some(connection.clone());
        Ok(Route {
            connection,
            destination: None,
            transport: target.transport,
            proxy: Some(index),
        })
    }

    /// A new TCP or TLS connection to `target`, served by the stack.
    pub(crate) async fn connect(&self, target: &ProxyTarget) -> Result<SipConnection, SipError> {
        let stream = TcpStream::connect(target.addr).await?;
        let token = rsipstack::platform::CancellationToken::new();
        let remote = sip_addr(target.transport, target.addr);
        let connection = if target.transport == SipTransport::Tls {
            let name = ServerName::try_from(target.fqdn.clone())
                .map_err(|e| SipError::Misconfigured(format!("proxy name: {e}")))?;
            let stream = self.tls.connect(name, stream).await?;
            SipConnection::Tls(
                TlsConnection::from_client_stream(stream, remote, Some(token)).await?,
            )
        } else {
            let local = sip_addr(SipTransport::Tcp, stream.local_addr()?);
            SipConnection::Tcp(TcpConnection::from_stream(stream, local, Some(token))?)
        };
        self.endpoint
            .transport_layer
            .inner
            .serve_connection(connection.clone());
        Ok(connection)
    }

    /// Forgets proxy `index`'s connection (after a timeout or a transport failure).
    pub(crate) async fn drop_connection(&self, index: usize) {
        if let Some(proxy) = self.proxies.get(index)
            && let Some(connection) = proxy.connection.lock().await.take()
        {
            let _ = connection.close().await;
        }
    }
}

/// The Direct Routing trunk.
#[derive(Clone)]
pub struct Trunk {
    pub(crate) shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Trunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trunk")
            .field("sbc_fqdn", &self.shared.config.sbc_fqdn)
            .finish_non_exhaustive()
    }
}

/// Where the trunk's listeners ended up (ports chosen by the OS when 0 was configured).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenAddrs {
    /// TLS listener.
    pub tls: Option<SocketAddr>,
    /// UDP listener.
    pub udp: Option<SocketAddr>,
    /// TCP listener.
    pub tcp: Option<SocketAddr>,
}

impl Trunk {
    /// Loads the certificate, binds the listeners, starts OPTIONS toward every proxy.
    pub async fn start(config: TrunkConfig) -> Result<(Self, TrunkEvents, ListenAddrs), SipError> {
        if config.sbc_fqdn.parse::<std::net::IpAddr>().is_ok() || !config.sbc_fqdn.contains('.') {
            return Err(SipError::Misconfigured(
                "sbc_fqdn must be a fully qualified domain name, not an IP address".to_owned(),
            ));
        }
        let certs = Arc::new(CertStore::load(&config.cert_file, &config.key_file)?);
        let tls = TlsConnector::from(Arc::new(certs.client_config(&config.ca_file)?));
        let acceptor = TlsAcceptor::from(Arc::new(certs.server_config()?));

        let transport_layer = TransportLayer::new(rsipstack::platform::CancellationToken::new());
        transport_layer.set_stream_idle_timeout(config.options_interval * 3);
        let mut addrs = ListenAddrs::default();
        let udp = match config.udp_listen {
            Some(addr) => {
                let udp = UdpConnection::create_connection(addr, None, None).await?;
                addrs.udp = udp.get_addr().get_socketaddr().ok();
                transport_layer.add_transport(SipConnection::Udp(udp.clone()));
                Some(udp)
            }
            None => None,
        };
        let tcp = match config.tcp_listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        addrs.tcp = tcp.as_ref().and_then(|l| l.local_addr().ok());
        let tls_listener = match config.tls_listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        addrs.tls = tls_listener.as_ref().and_then(|l| l.local_addr().ok());

        let forks = Arc::new(ForkTap::default());
        let endpoint = EndpointBuilder::new()
            .with_user_agent(&config.sbc_identity)
            .with_inspector(Box::new(TapInspector(forks.clone())))
            .with_transport_layer(transport_layer)
            .with_option(EndpointOption::default())
            .build();
        let incoming = endpoint.incoming_transactions()?;
        let inner = endpoint.inner.clone();
        let (events, events_rx) = mpsc::unbounded_channel();
        let proxies = config
            .proxies
            .iter()
            .map(|target| ProxyState {
                target: target.clone(),
                connection: tokio::sync::Mutex::new(None),
                healthy: AtomicBool::new(false),
                unavailable_until: Mutex::new(None),
            })
            .collect();
        let shared = Arc::new(Shared {
            config,
            endpoint: inner,
            events,
            legs: Mutex::default(),
            call_ids: Mutex::default(),
            proxies,
            draining: AtomicBool::new(false),
            certs,
            tls,
            udp,
            tcp_port: addrs.tcp.map(|a| a.port()),
            forks,
        });
        let mut tasks = vec![tokio::spawn(async move { endpoint.serve().await })];
        tasks.push(tokio::spawn(crate::inbound::dispatch(
            shared.clone(),
            incoming,
        )));
        if let Some(listener) = tcp {
            tasks.push(tokio::spawn(accept_tcp(shared.clone(), listener)));
        }
        if let Some(listener) = tls_listener {
            tasks.push(tokio::spawn(accept_tls(shared.clone(), listener, acceptor)));
        }
        for index in 0..shared.proxies.len() {
            tasks.push(tokio::spawn(crate::options::keepalive(
                shared.clone(),
                index,
            )));
        }
        let trunk = Self {
            shared,
            tasks: Arc::new(Mutex::new(tasks)),
        };
        Ok((trunk, events_rx, addrs))
    }

    /// Calls `to` on Teams (`sip:+E164@proxy;user=phone`, §1.4) with the media core's SDP
    /// offer, failing over across the proxies. Progress arrives as events on `leg`.
    pub fn invite(
        &self,
        leg: LegId,
        to: &PhoneNumber,
        caller: (&str, &PhoneNumber),
        sdp: &Sdp,
    ) -> Result<(), SipError> {
        if self.shared.draining.load(Ordering::SeqCst) {
            return Err(SipError::Draining);
        }
        crate::sdp::check(sdp.as_str().as_bytes())
            .map_err(|p| SipError::InvalidSdp(p.0.to_owned()))?;
        if self.shared.proxies.is_empty() {
            return Err(SipError::Misconfigured("no proxies configured".to_owned()));
        }
        let call_id = crate::messages::call_id(&self.shared.config.sbc_fqdn);
        let (control, control_rx) = mpsc::unbounded_channel();
        {
            let mut legs = lock(&self.shared.legs);
            if legs.contains_key(&leg) {
                return Err(SipError::DuplicateLeg(leg.to_string()));
            }
            legs.insert(
                leg,
                LegEntry {
                    call_id: call_id.clone(),
                    state: LegState::Calling(control),
                    held: false,
                    pending: None,
                    answering: false,
                },
            );
        }
        lock(&self.shared.call_ids).insert(call_id.clone(), leg);
        let call = crate::outbound::OutboundCall {
            leg,
            call_id,
            to: to.clone(),
            caller_name: caller.0.to_owned(),
            caller: caller.1.clone(),
            sdp: sdp.clone(),
        };
        tokio::spawn(crate::outbound::run(self.shared.clone(), call, control_rx));
        Ok(())
    }

    /// Answers an incoming call with the media core's SDP answer. From the moment this
    /// returns, [`dialog_snapshot`](Self::dialog_snapshot) has the leg's dialog.
    pub fn answer(&self, leg: LegId, sdp: Sdp) -> Result<(), SipError> {
        crate::sdp::check(sdp.as_str().as_bytes())
            .map_err(|p| SipError::InvalidSdp(p.0.to_owned()))?;
        self.inbound_control(leg, "answer", InboundControl::Answer(sdp))?;
        // The 200 leaves from the leg's own task a moment later; the owner records the
        // dialog now, so marking it here closes the window in which no snapshot exists.
        if let Some(entry) = lock(&self.shared.legs).get_mut(&leg) {
            entry.answering = true;
        }
        Ok(())
    }

    /// Refuses an incoming call with a final status (e.g. 486 busy, 480 unavailable, 603).
    pub fn reject(&self, leg: LegId, status: u16) -> Result<(), SipError> {
        if !(300..700).contains(&status) {
            return Err(SipError::InvalidStatus(status));
        }
        self.inbound_control(leg, "reject", InboundControl::Reject(status))
    }

    fn inbound_control(
        &self,
        leg: LegId,
        action: &'static str,
        message: InboundControl,
    ) -> Result<(), SipError> {
        let legs = lock(&self.shared.legs);
        match legs.get(&leg).map(|e| &e.state) {
            Some(LegState::Offered(control)) => control
                .send(message)
                .map_err(|_| SipError::UnknownLeg(leg.to_string())),
            Some(_) => Err(SipError::WrongState {
                leg: leg.to_string(),
                action,
            }),
            None => Err(SipError::UnknownLeg(leg.to_string())),
        }
    }

    /// Ends a leg: CANCEL while an outbound call rings, 480 for an unanswered incoming call,
    /// BYE once answered. `Ended` follows as an event.
    pub async fn hang_up(&self, leg: LegId) -> Result<(), SipError> {
        let dialog = {
            let mut legs = lock(&self.shared.legs);
            let entry = legs
                .get_mut(&leg)
                .ok_or_else(|| SipError::UnknownLeg(leg.to_string()))?;
            match &entry.state {
                LegState::Calling(control) => {
                    let _ = control.send(OutboundControl::Cancel);
                    return Ok(());
                }
                LegState::Offered(control) => {
                    let _ = control.send(InboundControl::Reject(480));
                    return Ok(());
                }
                LegState::Confirmed(dialog) => (**dialog).clone(),
            }
        };
        self.shared.end(leg, TerminationCause::Normal, None);
        crate::dialog::send_bye(&self.shared, dialog).await
    }

    /// Stops taking new calls: INVITEs get 503 with Retry-After and `invite` refuses. Live
    /// calls carry on.
    pub fn drain(&self) {
        self.shared.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the trunk is draining.
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::SeqCst)
    }

    /// Legs not yet ended.
    pub fn live_legs(&self) -> usize {
        lock(&self.shared.legs).len()
    }

    /// The SIP Call-ID of a live leg.
    pub fn call_id(&self, leg: LegId) -> Option<String> {
        lock(&self.shared.legs).get(&leg).map(|e| e.call_id.clone())
    }

    /// Per proxy FQDN: whether its last OPTIONS got 200.
    pub fn proxy_health(&self) -> Vec<(String, bool)> {
        self.shared
            .proxies
            .iter()
            .map(|p| (p.target.fqdn.clone(), p.healthy.load(Ordering::SeqCst)))
            .collect()
    }

    /// The served certificate's `notAfter` (Unix seconds), as exported in
    /// [`CERT_EXPIRY_METRIC`](crate::tls::CERT_EXPIRY_METRIC).
    pub fn certificate_not_after(&self) -> i64 {
        self.shared.certs.refresh();
        self.shared.certs.not_after()
    }

    /// Stops every task and listener.
    pub fn shutdown(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// Accepts SIP over TCP (for SIPp), handing each connection to the stack.
async fn accept_tcp(shared: Arc<Shared>, listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        match TcpConnection::from_stream(stream, sip_addr(SipTransport::Tcp, local), None) {
            Ok(connection) => shared
                .endpoint
                .transport_layer
                .inner
                .serve_connection(SipConnection::Tcp(connection)),
            Err(error) => tracing::debug!(%error, "tcp connection refused"),
        }
    }
}

/// Accepts Microsoft's TLS connections. The certificate files are checked before every
/// handshake, so a rotated certificate is served from the next connection on.
async fn accept_tls(shared: Arc<Shared>, listener: TcpListener, acceptor: TlsAcceptor) {
    while let Ok((stream, remote)) = listener.accept().await {
        shared.certs.refresh();
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(async move {
            let Ok(local) = stream.local_addr() else {
                return;
            };
            let stream = match acceptor.accept(stream).await {
                Ok(stream) => stream,
                Err(error) => {
                    metrics::counter!(REJECTED_METRIC, "reason" => "tls_handshake").increment(1);
                    tracing::debug!(%error, "TLS handshake failed");
                    return;
                }
            };
            match TlsConnection::from_server_stream(
                stream,
                sip_addr(SipTransport::Tls, local),
                sip_addr(SipTransport::Tls, remote),
                None,
            )
            .await
            {
                Ok(connection) => shared
                    .endpoint
                    .transport_layer
                    .inner
                    .serve_connection(SipConnection::Tls(connection)),
                Err(error) => tracing::debug!(%error, "TLS connection refused"),
            }
        });
    }
}

/// Incoming transactions not yet claimed by a leg.
pub(crate) type Incoming = rsipstack::transaction::TransactionReceiver;
