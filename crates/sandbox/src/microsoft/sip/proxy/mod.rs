//! One Direct Routing SIP proxy instance (`sip`, `sip2` or `sip3`.pstnhub), behaving toward the
//! SBC as reference `sip-direct-routing.md` §1.4–§1.5 describes: OPTIONS first, FQDN Contact,
//! SDP-bearing INVITEs with SDES-SRTP, one 180 per ringing device, at most one 183, hold with
//! `a=inactive` only, 503 + Retry-After on demand, and outbound calls from Teams users.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

mod in_call;
mod inbound;
mod outbound;
mod timer;

use super::message::{SipMessage, StartLine, uri_of, uri_parts};
use super::sdp::{self, Direction};
use super::transport::{Peer, Sender, Transport};
use crate::microsoft::phone::behaviour::{Answer, CallDirection, CallRecord, PhoneBehaviour};
use crate::microsoft::phone::media::{MediaHandle, MediaPort};
use crate::microsoft::state::{MicrosoftState, lock};

/// RFC 3261 T1, the base retransmission interval on UDP.
const T1: Duration = Duration::from_millis(500);
/// How often the proxy repeats its own OPTIONS toward a healthy SBC (§1.4: every minute).
const OPTIONS_INTERVAL: Duration = Duration::from_secs(60);
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY";
const SERVER: &str = "Microsoft.PSTNHub.SIPProxy v.2026.11.1.1 i.sandbox";

/// Mutable proxy state.
#[derive(Debug, Default)]
struct ProxyBook {
    /// The SBC, once its OPTIONS was accepted.
    sbc: Option<Peer>,
    /// The host of the SBC's Contact (its FQDN).
    sbc_fqdn: Option<String>,
    /// Whether the SBC answered the proxy's own OPTIONS with 200.
    sbc_answers_options: bool,
    /// `Some(retry_after)`: every new INVITE gets 503 with this Retry-After.
    unavailable: Option<u32>,
    /// Last response per (branch, method), resent when a request is retransmitted.
    responses: HashMap<(String, String), (Peer, SipMessage)>,
    /// Live dialogs by Call-ID.
    dialogs: HashMap<String, Dialog>,
    /// Waiters for responses to the proxy's own requests, by (Call-ID, CSeq number).
    waiting: HashMap<(String, u32), mpsc::UnboundedSender<SipMessage>>,
}

/// A call's SIP dialog as the proxy holds it.
#[derive(Debug, Clone)]
struct Dialog {
    peer: Peer,
    /// Our tag and theirs.
    local_tag: String,
    remote_tag: String,
    /// Our From/To name-addrs (without tags) as the dialog uses them.
    local_uri: String,
    remote_uri: String,
    remote_target: String,
    local_cseq: u32,
    /// Signals the call task: ACK seen, CANCEL seen, BYE seen.
    events: watch::Sender<DialogEvents>,
    media: Option<MediaHandle>,
    media_addr: Option<SocketAddr>,
    /// Our SDES key and media address (for re-INVITE SDP).
    local_key: Vec<u8>,
    local_media: Option<SocketAddr>,
    suite: String,
    codec_pt: u8,
    held: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct DialogEvents {
    acked: bool,
    cancelled: bool,
    ended: bool,
    /// What the person did while it rang (set once).
    decision: Option<Decision>,
}

/// A person's answer to a ringing call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Pick up: 200 OK.
    Answer,
    /// Reject: 603 Decline.
    Decline,
    /// Nobody pressed anything in time: the phone's own script (or the ring timeout) decides.
    Phone,
}

/// One proxy instance.
#[derive(Clone, Debug)]
pub(crate) struct SipProxy {
    pub(crate) name: String,
    pub(crate) fqdn: String,
    pub(crate) ip: IpAddr,
    sender: Sender,
    book: Arc<Mutex<ProxyBook>>,
    state: MicrosoftState,
    /// Ports of the listeners, for Via and Contact.
    pub(crate) ports: Arc<Mutex<HashMap<&'static str, u16>>>,
}

fn tag() -> String {
    format!("{:x}", rand::random::<u64>())
}

fn branch() -> String {
    format!("z9hG4bK{:x}", rand::random::<u64>())
}

/// The Contact rule (§1.4): an FQDN host, never an IP address, and never `sips:`.
fn contact_problem(message: &SipMessage) -> Option<&'static str> {
    let Some(contact) = message.header("Contact") else {
        return Some("Contact header is required");
    };
    let uri = uri_of(contact.split(',').next().unwrap_or_default());
    match uri_parts(uri) {
        None => Some("Contact URI is malformed"),
        Some((scheme, _, _)) if scheme.eq_ignore_ascii_case("sips") => {
            Some("sips: URIs are not supported")
        }
        Some((_, _, host)) if host.parse::<IpAddr>().is_ok() => {
            Some("Contact must carry the SBC FQDN, not an IP address")
        }
        Some(_) => None,
    }
}

impl SipProxy {
    pub(crate) fn new(
        name: &str,
        fqdn: &str,
        ip: IpAddr,
        sender: Sender,
        state: MicrosoftState,
    ) -> Self {
        Self {
            name: name.to_owned(),
            fqdn: fqdn.to_owned(),
            ip,
            sender,
            book: Arc::default(),
            state,
            ports: Arc::default(),
        }
    }

    /// Makes every new INVITE fail with 503 + Retry-After (`None` restores service).
    pub(crate) fn set_unavailable(&self, retry_after: Option<u32>) {
        lock(&self.book).unavailable = retry_after;
    }

    /// Whether the SBC has sent OPTIONS and answered ours.
    pub(crate) fn sbc_healthy(&self) -> bool {
        let book = lock(&self.book);
        book.sbc.is_some() && book.sbc_answers_options
    }

    fn port(&self, transport: Transport) -> u16 {
        let key = match transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        };
        lock(&self.ports).get(key).copied().unwrap_or(5061)
    }

    fn via(&self, transport: Transport) -> String {
        format!(
            "SIP/2.0/{} {}:{};branch={}",
            transport.via_name(),
            self.fqdn,
            self.port(transport),
            branch()
        )
    }

    fn stamp(message: &mut SipMessage) {
        message.push_header("Server", SERVER);
    }

    async fn reply(&self, peer: Peer, request: &SipMessage, mut response: SipMessage) {
        Self::stamp(&mut response);
        if let (Some(branch), StartLine::Request { method, .. }) =
            (request.branch(), &request.start)
        {
            lock(&self.book).responses.insert(
                (branch.to_owned(), method.clone()),
                (peer, response.clone()),
            );
        }
        self.sender.send(peer, &response).await;
    }

    /// The request's SDP offer, or `None` once it has been answered 488 with the parse problem
    /// in a `Warning`.
    async fn offer_or_488(&self, peer: Peer, request: &SipMessage) -> Option<sdp::AudioOffer> {
        match sdp::parse(&String::from_utf8_lossy(&request.body)) {
            Ok(offer) => Some(offer),
            Err(problem) => {
                self.reject(
                    peer,
                    request,
                    488,
                    "Not Acceptable Here",
                    Some(problem.as_str()),
                )
                .await;
                None
            }
        }
    }

    async fn reject(
        &self,
        peer: Peer,
        request: &SipMessage,
        code: u16,
        reason: &str,
        warning: Option<&str>,
    ) {
        let mut response = request.response(code, reason);
        if let Some(to) = response.header("To").map(str::to_owned)
            && !to.contains(";tag=")
        {
            response.set_header("To", format!("{to};tag={}", tag()));
        }
        if let Some(text) = warning {
            response.push_header("Warning", format!("399 {} \"{text}\"", self.fqdn));
        }
        self.reply(peer, request, response).await;
    }

    /// Entry point for every received message.
    pub(crate) async fn handle(&self, peer: Peer, message: SipMessage) {
        match &message.start {
            StartLine::Response { .. } => self.handle_response(message),
            StartLine::Request { method, .. } => {
                let method = method.clone();
                // A retransmitted request gets the same answer again.
                let cached = message.branch().and_then(|b| {
                    lock(&self.book)
                        .responses
                        .get(&(b.to_owned(), method.clone()))
                        .cloned()
                });
                if let Some((to, response)) = cached
                    && method != "ACK"
                {
                    self.sender.send(to, &response).await;
                    return;
                }
                match method.as_str() {
                    "OPTIONS" => self.handle_options(peer, &message).await,
                    "INVITE" => self.handle_invite(peer, message).await,
                    "ACK" => self.handle_ack(&message),
                    "CANCEL" => self.handle_cancel(peer, &message).await,
                    "BYE" => self.handle_bye(peer, &message).await,
                    _ => {
                        let mut response = message.response(405, "Method Not Allowed");
                        response.push_header("Allow", ALLOW);
                        self.reply(peer, &message, response).await;
                    }
                }
            }
        }
    }

    fn handle_response(&self, response: SipMessage) {
        let Some((number, _)) = response.cseq() else {
            return;
        };
        let key = (response.call_id().to_owned(), number);
        let waiter = lock(&self.book).waiting.get(&key).cloned();
        if let Some(waiter) = waiter {
            let _ = waiter.send(response);
        }
    }

    async fn handle_options(&self, peer: Peer, request: &SipMessage) {
        if let Some(problem) = contact_problem(request) {
            return self
                .reject(peer, request, 403, "Forbidden", Some(problem))
                .await;
        }
        let first = {
            let mut book = lock(&self.book);
            let first = book.sbc.is_none();
            book.sbc = Some(peer);
            book.sbc_fqdn = request
                .header("Contact")
                .and_then(|c| uri_parts(uri_of(c)).map(|(_, _, host)| host.to_owned()));
            first
        };
        let mut response = request.response(200, "OK");
        response.push_header("Allow", ALLOW);
        response.push_header("Accept", "application/sdp");
        response.push_header("Supported", "timer");
        self.reply(peer, request, response).await;
        if first {
            // Seeing the SBC's OPTIONS, Microsoft starts its own toward the SBC (§1.4).
            let proxy = self.clone();
            tokio::spawn(async move { proxy.options_loop().await });
        }
    }

    async fn options_loop(&self) {
        loop {
            let Some(peer) = lock(&self.book).sbc else {
                return;
            };
            let target = lock(&self.book)
                .sbc_fqdn
                .clone()
                .unwrap_or_else(|| peer.addr.to_string());
            let call_id = format!("{:x}@{}", rand::random::<u64>(), self.fqdn);
            let mut options = SipMessage {
                start: StartLine::Request {
                    method: "OPTIONS".to_owned(),
                    uri: format!("sip:{target}"),
                },
                headers: Vec::new(),
                body: Vec::new(),
            };
            options.push_header("Via", self.via(peer.transport));
            options.push_header("Max-Forwards", "70");
            options.push_header("From", format!("<sip:{}>;tag={}", self.fqdn, tag()));
            options.push_header("To", format!("<sip:{target}>"));
            options.push_header("Call-ID", call_id.clone());
            options.push_header("CSeq", "1 OPTIONS");
            options.push_header(
                "Contact",
                format!(
                    "<sip:{}:{};transport={}>",
                    self.fqdn,
                    self.port(peer.transport),
                    peer.transport.via_name().to_ascii_lowercase()
                ),
            );
            Self::stamp(&mut options);
            let answer = self.transact(peer, options, 1).await;
            let healthy = answer.iter().any(|r| r.status() == Some(200));
            lock(&self.book).sbc_answers_options = healthy;
            tokio::time::sleep(OPTIONS_INTERVAL).await;
        }
    }

    /// Sends a request and collects responses until a final one (retransmitting on UDP).
    async fn transact(&self, peer: Peer, request: SipMessage, cseq: u32) -> Vec<SipMessage> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let key = (request.call_id().to_owned(), cseq);
        lock(&self.book).waiting.insert(key.clone(), tx);
        let mut responses = Vec::new();
        let mut interval = T1;
        let mut provisional = false;
        let deadline = tokio::time::Instant::now() + T1 * 64;
        self.sender.send(peer, &request).await;
        loop {
            let wait = if provisional {
                deadline - tokio::time::Instant::now()
            } else {
                interval
            };
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(response)) => {
                    let status = response.status().unwrap_or(0);
                    responses.push(response);
                    if status >= 200 {
                        break;
                    }
                    provisional = true;
                }
                Ok(None) => break,
                Err(_) if tokio::time::Instant::now() >= deadline => break,
                Err(_) => {
                    if peer.transport == Transport::Udp && !provisional {
                        self.sender.send(peer, &request).await;
                        interval = (interval * 2).min(Duration::from_secs(4));
                    }
                }
            }
        }
        lock(&self.book).waiting.remove(&key);
        responses
    }
}
