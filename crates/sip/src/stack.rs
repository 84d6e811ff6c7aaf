//! The thin layer over rsipstack: transactions run in their own task (rsipstack's
//! `Transaction::receive` must not be dropped mid-way), and the trunk talks to them through
//! channels: messages out of a transaction, responses and termination into it.

use std::net::SocketAddr;
use std::time::Duration;

use rsipstack::sip::{Request, Response, SipMessage, StatusCode};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::transaction::{Transaction, TransactionEvent};
use rsipstack::transport::{SipAddr, SipConnection};
use tokio::sync::mpsc;

use crate::config::SipTransport;
use crate::error::SipError;

/// Where a request goes: a connection and, for UDP, the peer's address.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) connection: SipConnection,
    pub(crate) destination: Option<SipAddr>,
    pub(crate) transport: SipTransport,
    /// The configured proxy (its index) this route leads to; `None` for a connection the
    /// peer opened, or one opened to a proxy the configuration does not list.
    pub(crate) proxy: Option<usize>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Route({:?} {:?} proxy {:?})",
            self.transport, self.destination, self.proxy
        )
    }
}

pub(crate) fn sip_addr(transport: SipTransport, addr: SocketAddr) -> SipAddr {
    let kind = match transport {
        SipTransport::Udp => rsipstack::sip::transport::Transport::Udp,
        SipTransport::Tcp => rsipstack::sip::transport::Transport::Tcp,
        SipTransport::Tls => rsipstack::sip::transport::Transport::Tls,
    };
    SipAddr {
        r#type: Some(kind),
        addr: addr.into(),
    }
}

/// A running transaction: what it received, and a handle to respond or stop it.
pub(crate) struct TxHandle {
    pub(crate) received: mpsc::UnboundedReceiver<SipMessage>,
    control: mpsc::UnboundedSender<TransactionEvent>,
    key: TransactionKey,
}

impl TxHandle {
    fn run(mut tx: Transaction) -> Self {
        let (forward, received) = mpsc::unbounded_channel();
        let control = tx.tu_sender.clone();
        let key = tx.key.clone();
        tokio::spawn(async move {
            while let Some(message) = tx.receive().await {
                if forward.send(message).is_err() {
                    break;
                }
            }
        });
        Self {
            received,
            control,
            key,
        }
    }

    /// Sends a response through the (server) transaction.
    pub(crate) fn respond(&self, response: Response) {
        let _ = self.control.send(TransactionEvent::Respond(response));
    }

    /// Ends the transaction now (no more retransmissions or timers).
    pub(crate) fn terminate(&self) {
        let _ = self
            .control
            .send(TransactionEvent::Terminate(self.key.clone()));
    }

    /// The next message, or `None` after `wait` or once the transaction ended.
    pub(crate) async fn next(&mut self, wait: Duration) -> Option<SipMessage> {
        tokio::time::timeout(wait, self.received.recv())
            .await
            .ok()
            .flatten()
    }
}

/// Starts a client transaction for `request` on `route`.
pub(crate) async fn send_request(
    endpoint: &EndpointInnerRef,
    route: &Route,
    request: Request,
) -> Result<TxHandle, SipError> {
    let key = TransactionKey::from_request(&request, TransactionRole::Client)?;
    let mut tx = Transaction::new_client(
        key,
        request,
        endpoint.clone(),
        Some(route.connection.clone()),
    );
    tx.destination.clone_from(&route.destination);
    tx.send().await?;
    Ok(TxHandle::run(tx))
}

/// Sends a request and waits for its final response (non-INVITE requests).
pub(crate) async fn request_final(
    endpoint: &EndpointInnerRef,
    route: &Route,
    request: Request,
    wait: Duration,
) -> Result<Option<Response>, SipError> {
    let mut handle = send_request(endpoint, route, request).await?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match handle.next(left).await {
            Some(SipMessage::Response(response)) if response.status_code.code() >= 200 => {
                return Ok(Some(response));
            }
            Some(_) => {}
            None => {
                handle.terminate();
                return Ok(None);
            }
        }
    }
}

/// Wraps an incoming server transaction, returning its original request and a handle.
pub(crate) fn serve(tx: Transaction) -> (Request, Option<SipConnection>, TxHandle) {
    let request = tx.original.clone();
    let connection = tx.connection.clone();
    (request, connection, TxHandle::run(tx))
}

/// A response to `request` with the mandatory headers copied (RFC 3261 §8.2.6.2).
pub(crate) fn response(endpoint: &EndpointInnerRef, request: &Request, status: u16) -> Response {
    endpoint.make_response(request, StatusCode::from(status), None)
}

/// Sees every provisional response to our INVITEs before the transaction layer does.
///
/// rsipstack's client transaction drops a 1xx whose status and body equal the previous one,
/// To-tag notwithstanding, so the second of two forked 180s (one per ringing Teams endpoint,
/// reference §1.4) would never reach us. The tap hands each one to the call waiting on that
/// Call-ID; the call de-duplicates by To-tag.
#[derive(Default)]
pub(crate) struct ForkTap {
    watchers: std::sync::Mutex<std::collections::HashMap<String, mpsc::UnboundedSender<Response>>>,
}

impl ForkTap {
    pub(crate) fn watch(&self, call_id: &str) -> mpsc::UnboundedReceiver<Response> {
        let (sender, receiver) = mpsc::unbounded_channel();
        crate::trunk::lock(&self.watchers).insert(call_id.to_owned(), sender);
        receiver
    }

    pub(crate) fn unwatch(&self, call_id: &str) {
        crate::trunk::lock(&self.watchers).remove(call_id);
    }
}

/// The rsipstack hook feeding a [`ForkTap`].
pub(crate) struct TapInspector(pub(crate) std::sync::Arc<ForkTap>);

impl rsipstack::transaction::endpoint::MessageInspector for TapInspector {
    fn before_send(&self, message: SipMessage, _destination: Option<&SipAddr>) -> SipMessage {
        message
    }

    fn after_received(&self, message: SipMessage, _from: Option<&SipAddr>) -> SipMessage {
        if let SipMessage::Response(response) = &message
            && (101..200).contains(&response.status_code.code())
            && crate::headers::first(&response.headers, "CSeq")
                .is_some_and(|c| c.trim_end().ends_with("INVITE"))
            && let Some(call_id) = crate::headers::first(&response.headers, "Call-ID")
            && let Some(watcher) = crate::trunk::lock(&self.0.watchers).get(call_id)
        {
            let _ = watcher.send(response.clone());
        }
        message
    }
}
