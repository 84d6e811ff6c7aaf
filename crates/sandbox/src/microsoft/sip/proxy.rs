//! One Direct Routing SIP proxy instance (`sip`, `sip2` or `sip3`.pstnhub), behaving toward the
//! SBC as reference `sip-direct-routing.md` §1.4–§1.5 describes: OPTIONS first, FQDN Contact,
//! SDP-bearing INVITEs with SDES-SRTP, one 180 per ringing device, at most one 183, hold with
//! `a=inactive` only, 503 + Retry-After on demand, and outbound calls from Teams users.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

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

    async fn handle_invite(&self, peer: Peer, request: SipMessage) {
        let call_id = request.call_id().to_owned();
        let to_tagged = request.header("To").is_some_and(|t| t.contains(";tag="));
        if to_tagged {
            return self.handle_reinvite(peer, request).await;
        }
        if let Some(problem) = contact_problem(&request) {
            return self
                .reject(peer, &request, 403, "Forbidden", Some(problem))
                .await;
        }
        let (known_sbc, unavailable) = {
            let book = lock(&self.book);
            (
                book.sbc.is_some_and(|sbc| sbc.addr.ip() == peer.addr.ip()),
                book.unavailable,
            )
        };
        if let Some(retry_after) = unavailable {
            let mut response = request.response(503, "Service Unavailable");
            response.push_header("Retry-After", retry_after.to_string());
            return self.reply(peer, &request, response).await;
        }
        if !known_sbc {
            return self
                .reject(
                    peer,
                    &request,
                    403,
                    "Forbidden",
                    Some("no OPTIONS received from this SBC"),
                )
                .await;
        }
        if request.header("Replaces").is_some() {
            return self
                .reject(
                    peer,
                    &request,
                    403,
                    "Forbidden",
                    Some("Replaces is not accepted"),
                )
                .await;
        }
        let uri = match &request.start {
            StartLine::Request { uri, .. } => uri.clone(),
            StartLine::Response { .. } => return,
        };
        let Some((scheme, user, _)) = uri_parts(&uri) else {
            return self
                .reject(peer, &request, 400, "Bad Request", Some("bad Request-URI"))
                .await;
        };
        if scheme.eq_ignore_ascii_case("sips") {
            return self
                .reject(
                    peer,
                    &request,
                    403,
                    "Forbidden",
                    Some("sips: URIs are not supported"),
                )
                .await;
        }
        let is_sdp = request
            .header("Content-Type")
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/sdp"));
        if request.body.is_empty() || !is_sdp {
            return self
                .reject(
                    peer,
                    &request,
                    488,
                    "Not Acceptable Here",
                    Some("delayed offer is not supported"),
                )
                .await;
        }
        let offer = match sdp::parse(&String::from_utf8_lossy(&request.body)) {
            Ok(offer) => offer,
            Err(problem) => {
                return self
                    .reject(
                        peer,
                        &request,
                        488,
                        "Not Acceptable Here",
                        Some(problem.as_str()),
                    )
                    .await;
            }
        };
        let (Some(codec), true, Some(crypto)) =
            (offer.codec(), offer.is_secure(), offer.crypto().cloned())
        else {
            let warning = if offer.is_secure() && offer.crypto().is_some() {
                "CannotSupportAnyMedia"
            } else {
                "SrtpEncryptionRequired"
            };
            return self
                .reject(peer, &request, 488, "Not Acceptable Here", Some(warning))
                .await;
        };
        let number = user.unwrap_or_default().to_owned();
        let Some(callee) = self
            .state
            .inner
            .directory
            .user(&number)
            .map(|(_, u)| u.clone())
            .or_else(|| self.state.user_by_phone(&number))
        else {
            return self
                .reject(
                    peer,
                    &request,
                    404,
                    "Not Found",
                    Some("no Teams user has this number"),
                )
                .await;
        };
        let mut trying = request.response(100, "Trying");
        Self::stamp(&mut trying);
        self.sender.send(peer, &trying).await;

        let behaviour = self.state.phone_behaviour(&callee.id);
        let Ok(port) = MediaPort::bind(self.ip).await else {
            return self
                .reject(peer, &request, 500, "Server Internal Error", None)
                .await;
        };
        let (events, events_rx) = watch::channel(DialogEvents::default());
        let local_tag = tag();
        let from = request.header("From").unwrap_or_default().to_owned();
        let dialog = Dialog {
            peer,
            local_tag: local_tag.clone(),
            remote_tag: super::message::param(&from, "tag")
                .unwrap_or_default()
                .to_owned(),
            local_uri: request.header("To").unwrap_or_default().to_owned(),
            remote_uri: from.split(";tag=").next().unwrap_or_default().to_owned(),
            remote_target: request
                .header("Contact")
                .map(|c| uri_of(c).to_owned())
                .unwrap_or_default(),
            local_cseq: 1,
            events,
            media: None,
            media_addr: Some(offer.address),
            local_key: port.key_salt.clone(),
            local_media: port.local_addr().ok(),
            suite: crypto.suite.clone(),
            codec_pt: codec.payload_type(),
            held: false,
        };
        lock(&self.book).dialogs.insert(call_id.clone(), dialog);
        let caller_number = uri_parts(uri_of(&from))
            .and_then(|(_, u, _)| u)
            .unwrap_or_default()
            .to_owned();
        self.state.record_call(CallRecord {
            call_id: call_id.clone(),
            proxy: self.name.clone(),
            user_id: callee.id.clone(),
            direction: CallDirection::Inbound,
            remote_number: caller_number,
            state: "ringing".to_owned(),
            ringing_tags: Vec::new(),
            media: None,
        });
        let proxy = self.clone();
        tokio::spawn(async move {
            proxy
                .ring(
                    peer, request, behaviour, port, codec, crypto, local_tag, events_rx,
                )
                .await;
        });
    }

    #[allow(clippy::too_many_arguments)] // One call's whole context, handed to its task once.
    async fn ring(
        &self,
        peer: Peer,
        request: SipMessage,
        behaviour: PhoneBehaviour,
        port: MediaPort,
        codec: crate::microsoft::phone::codec::Codec,
        crypto: sdp::Crypto,
        local_tag: String,
        mut events: watch::Receiver<DialogEvents>,
    ) {
        let call_id = request.call_id().to_owned();
        let with_tag = |response: &mut SipMessage, tag: &str| {
            if let Some(to) = response.header("To").map(str::to_owned) {
                response.set_header("To", format!("{to};tag={tag}"));
            }
        };
        let final_failure =
            |code: u16, reason: &'static str, outcome: &'static str| (code, reason, outcome);
        let ring_for = match &behaviour.answer {
            Answer::Busy => Err(final_failure(486, "Busy Here", "busy")),
            Answer::DoNotDisturb => Err(final_failure(480, "Temporarily Unavailable", "dnd")),
            Answer::AfterSecs { secs } => Ok((*secs, None)),
            Answer::Decline { secs } => {
                Ok((*secs, Some(final_failure(603, "Decline", "declined"))))
            }
            Answer::NoAnswer => Ok((
                behaviour.ring_timeout_secs,
                Some(final_failure(480, "Temporarily Unavailable", "no_answer")),
            )),
        };
        let local_addr = port.local_addr().ok();
        let session_id = rand::random::<u32>().into();
        let answer_sdp = local_addr.map(|addr| {
            sdp::answer(
                addr,
                codec,
                &crypto,
                &port.key_salt,
                session_id,
                Direction::SendRecv,
            )
        });
        let (ring_secs, failure) = match ring_for {
            Err(failure) => (0.0, Some(failure)),
            Ok(plan) => plan,
        };
        if ring_secs > 0.0 || failure.is_none() {
            let mut tags = vec![local_tag.clone()];
            tags.extend((1..behaviour.ringing_devices.max(1)).map(|_| tag()));
            for device_tag in &tags {
                let mut ringing = request.response(180, "Ringing");
                with_tag(&mut ringing, device_tag);
                ringing.push_header(
                    "Contact",
                    format!(
                        "<sip:{}:{};transport={}>",
                        self.fqdn,
                        self.port(peer.transport),
                        peer.transport.via_name().to_ascii_lowercase()
                    ),
                );
                Self::stamp(&mut ringing);
                self.sender.send(peer, &ringing).await;
            }
            self.state
                .update_call(&call_id, |c| c.ringing_tags.clone_from(&tags));
            if behaviour.early_media
                && let Some(body) = &answer_sdp
            {
                let mut progress = request.response(183, "Session Progress");
                with_tag(&mut progress, &local_tag);
                progress.push_header("Content-Type", "application/sdp");
                progress.body = body.clone().into_bytes();
                Self::stamp(&mut progress);
                self.sender.send(peer, &progress).await;
            }
        }
        let cancelled = tokio::select! {
            () = tokio::time::sleep(Duration::from_secs_f64(ring_secs.max(0.0))) => false,
            _ = events.wait_for(|e| e.cancelled) => true,
        };
        if cancelled {
            let mut terminated = request.response(487, "Request Terminated");
            with_tag(&mut terminated, &local_tag);
            self.reply(peer, &request, terminated).await;
            self.state
                .update_call(&call_id, |c| c.state = "cancelled".to_owned());
            lock(&self.book).dialogs.remove(&call_id);
            return;
        }
        if let Some((code, reason, outcome)) = failure {
            let mut response = request.response(code, reason);
            with_tag(&mut response, &local_tag);
            self.reply(peer, &request, response).await;
            self.state
                .update_call(&call_id, |c| c.state = outcome.to_owned());
            lock(&self.book).dialogs.remove(&call_id);
            return;
        }
        let Some(body) = answer_sdp else { return };
        let mut ok = request.response(200, "OK");
        with_tag(&mut ok, &local_tag);
        ok.push_header(
            "Contact",
            format!(
                "<sip:{}:{};transport={}>",
                self.fqdn,
                self.port(peer.transport),
                peer.transport.via_name().to_ascii_lowercase()
            ),
        );
        ok.push_header("Allow", ALLOW);
        ok.push_header("Content-Type", "application/sdp");
        ok.body = body.into_bytes();
        self.reply(peer, &request, ok.clone()).await;
        // Retransmit the 200 until the ACK arrives (RFC 3261 §13.3.1.4), UDP only.
        let mut interval = T1;
        for _ in 0..7 {
            let acked = tokio::time::timeout(interval, events.wait_for(|e| e.acked || e.ended))
                .await
                .is_ok();
            if acked || peer.transport != Transport::Udp {
                break;
            }
            self.sender.send(peer, &ok).await;
            interval = (interval * 2).min(Duration::from_secs(4));
        }
        let Some(remote) = lock(&self.book)
            .dialogs
            .get(&call_id)
            .and_then(|d| d.media_addr)
        else {
            return;
        };
        let media = port.start(
            remote,
            codec,
            &crypto.suite,
            crypto.key_salt.clone(),
            behaviour.audio(codec.sample_rate()),
        );
        if let Some(dialog) = lock(&self.book).dialogs.get_mut(&call_id) {
            dialog.media = Some(media.clone());
        }
        self.state.update_call(&call_id, |c| {
            c.state = "answered".to_owned();
            c.media = Some(media.clone());
        });
        self.after_answer(&call_id, &behaviour, media, events).await;
    }

    /// Scripted in-call actions: DTMF, hold, hang-up.
    async fn after_answer(
        &self,
        call_id: &str,
        behaviour: &PhoneBehaviour,
        media: MediaHandle,
        mut events: watch::Receiver<DialogEvents>,
    ) {
        let mut plan: Vec<(f64, &str)> = Vec::new();
        if behaviour.dtmf.is_some() {
            plan.push((1.0, "dtmf"));
        }
        if let Some(secs) = behaviour.hold_after_secs {
            plan.push((secs, "hold"));
        }
        if let Some(secs) = behaviour.hang_up_after_secs {
            plan.push((secs, "bye"));
        }
        plan.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut elapsed = 0.0;
        for (at, action) in plan {
            let wait = Duration::from_secs_f64((at - elapsed).max(0.0));
            elapsed = at;
            let ended = tokio::select! {
                () = tokio::time::sleep(wait) => false,
                _ = events.wait_for(|e| e.ended) => true,
            };
            if ended {
                return;
            }
            match action {
                "dtmf" => media.send_dtmf(behaviour.dtmf.as_deref().unwrap_or_default()),
                "hold" => self.hold(call_id).await,
                _ => {
                    self.hang_up(call_id).await;
                    return;
                }
            }
        }
    }

    /// An in-dialog request from the proxy toward the SBC.
    fn in_dialog_request(&self, dialog: &mut Dialog, method: &str) -> SipMessage {
        dialog.local_cseq += 1;
        let mut request = SipMessage {
            start: StartLine::Request {
                method: method.to_owned(),
                uri: dialog.remote_target.clone(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        request.push_header("Via", self.via(dialog.peer.transport));
        request.push_header("Max-Forwards", "70");
        let local = dialog.local_uri.split(";tag=").next().unwrap_or_default();
        request.push_header("From", format!("{local};tag={}", dialog.local_tag));
        request.push_header(
            "To",
            format!("{};tag={}", dialog.remote_uri, dialog.remote_tag),
        );
        let call_id = lock(&self.book)
            .dialogs
            .iter()
            .find(|(_, d)| d.local_tag == dialog.local_tag)
            .map(|(id, _)| id.clone())
            .unwrap_or_default();
        request.push_header("Call-ID", call_id);
        request.push_header("CSeq", format!("{} {method}", dialog.local_cseq));
        Self::stamp(&mut request);
        request
    }

    /// The Teams user hangs up: BYE toward the SBC.
    pub(crate) async fn hang_up(&self, call_id: &str) {
        let Some(mut dialog) = lock(&self.book).dialogs.get(call_id).cloned() else {
            return;
        };
        let bye = self.in_dialog_request(&mut dialog, "BYE");
        if let Some(media) = &dialog.media {
            media.stop();
        }
        dialog.events.send_modify(|e| e.ended = true);
        lock(&self.book).dialogs.remove(call_id);
        self.state
            .update_call(call_id, |c| c.state = "ended".to_owned());
        let cseq = dialog.local_cseq;
        // The BYE's transaction completes on its own; the caller does not wait for the 200.
        let proxy = self.clone();
        tokio::spawn(async move { proxy.transact(dialog.peer, bye, cseq).await });
    }

    /// The Teams user holds the call: re-INVITE with `a=inactive` (§1.4).
    pub(crate) async fn hold(&self, call_id: &str) {
        let Some(mut dialog) = lock(&self.book).dialogs.get(call_id).cloned() else {
            return;
        };
        let mut reinvite = self.in_dialog_request(&mut dialog, "INVITE");
        reinvite.push_header(
            "Contact",
            format!(
                "<sip:{}:{};transport={}>",
                self.fqdn,
                self.port(dialog.peer.transport),
                dialog.peer.transport.via_name().to_ascii_lowercase()
            ),
        );
        let local = dialog
            .local_media
            .unwrap_or_else(|| SocketAddr::new(self.ip, 0));
        let codec = crate::microsoft::phone::codec::Codec::from_payload_type(dialog.codec_pt)
            .unwrap_or(crate::microsoft::phone::codec::Codec::Pcmu);
        let crypto = sdp::Crypto {
            tag: 1,
            suite: dialog.suite.clone(),
            key_salt: dialog.local_key.clone(),
        };
        reinvite.push_header("Content-Type", "application/sdp");
        reinvite.body = sdp::answer(
            local,
            codec,
            &crypto,
            &dialog.local_key,
            1,
            Direction::Inactive,
        )
        .into_bytes();
        if let Some(media) = &dialog.media {
            media.set_held(true);
        }
        if let Some(stored) = lock(&self.book).dialogs.get_mut(call_id) {
            stored.local_cseq = dialog.local_cseq;
            stored.held = true;
        }
        self.state
            .update_call(call_id, |c| c.state = "held".to_owned());
        let cseq = dialog.local_cseq;
        let proxy = self.clone();
        tokio::spawn(async move {
            let responses = proxy.transact(dialog.peer, reinvite, cseq).await;
            if responses.iter().any(|r| r.status() == Some(200)) {
                let mut ack = proxy.in_dialog_request(&mut dialog, "ACK");
                ack.set_header("CSeq", format!("{cseq} ACK"));
                proxy.sender.send(dialog.peer, &ack).await;
            }
        });
    }

    fn handle_ack(&self, request: &SipMessage) {
        if let Some(dialog) = lock(&self.book).dialogs.get(request.call_id()) {
            dialog.events.send_modify(|e| e.acked = true);
        }
    }

    async fn handle_cancel(&self, peer: Peer, request: &SipMessage) {
        let dialog = lock(&self.book).dialogs.get(request.call_id()).cloned();
        match dialog {
            Some(dialog) if !dialog.events.borrow().acked && dialog.media.is_none() => {
                self.reply(peer, request, request.response(200, "OK")).await;
                dialog.events.send_modify(|e| e.cancelled = true);
            }
            _ => {
                self.reply(
                    peer,
                    request,
                    request.response(481, "Call/Transaction Does Not Exist"),
                )
                .await;
            }
        }
    }

    async fn handle_bye(&self, peer: Peer, request: &SipMessage) {
        let dialog = lock(&self.book).dialogs.remove(request.call_id());
        let Some(dialog) = dialog else {
            return self
                .reply(
                    peer,
                    request,
                    request.response(481, "Call/Transaction Does Not Exist"),
                )
                .await;
        };
        if let Some(media) = &dialog.media {
            media.stop();
        }
        dialog.events.send_modify(|e| e.ended = true);
        self.state
            .update_call(request.call_id(), |c| c.state = "ended".to_owned());
        self.reply(peer, request, request.response(200, "OK")).await;
    }

    /// Re-INVITE from the SBC: hold is understood only as `a=inactive`; media re-targeting is
    /// ignored (§1.4).
    async fn handle_reinvite(&self, peer: Peer, request: SipMessage) {
        let call_id = request.call_id().to_owned();
        let Some(dialog) = lock(&self.book).dialogs.get(&call_id).cloned() else {
            return self
                .reply(
                    peer,
                    &request,
                    request.response(481, "Call/Transaction Does Not Exist"),
                )
                .await;
        };
        let offer = match sdp::parse(&String::from_utf8_lossy(&request.body)) {
            Ok(offer) => offer,
            Err(problem) => {
                return self
                    .reject(
                        peer,
                        &request,
                        488,
                        "Not Acceptable Here",
                        Some(problem.as_str()),
                    )
                    .await;
            }
        };
        let held = offer.direction == Direction::Inactive;
        if let Some(media) = &dialog.media {
            media.set_held(held);
        }
        if let Some(stored) = lock(&self.book).dialogs.get_mut(&call_id) {
            stored.held = held;
        }
        self.state.update_call(&call_id, |c| {
            c.state = if held { "held" } else { "answered" }.to_owned();
        });
        let codec = crate::microsoft::phone::codec::Codec::from_payload_type(dialog.codec_pt)
            .unwrap_or(crate::microsoft::phone::codec::Codec::Pcmu);
        let crypto = offer.crypto().cloned().unwrap_or(sdp::Crypto {
            tag: 1,
            suite: dialog.suite.clone(),
            key_salt: Vec::new(),
        });
        let local = dialog
            .local_media
            .unwrap_or_else(|| SocketAddr::new(self.ip, 0));
        let direction = if held {
            Direction::Inactive
        } else {
            Direction::SendRecv
        };
        let mut ok = request.response(200, "OK");
        ok.push_header(
            "Contact",
            format!(
                "<sip:{}:{};transport={}>",
                self.fqdn,
                self.port(peer.transport),
                peer.transport.via_name().to_ascii_lowercase()
            ),
        );
        ok.push_header("Content-Type", "application/sdp");
        ok.body = sdp::answer(local, codec, &crypto, &dialog.local_key, 1, direction).into_bytes();
        self.reply(peer, &request, ok).await;
    }

    /// A Teams user dials `number`: INVITE toward the SBC.
    pub(crate) async fn dial(
        &self,
        user_id: &str,
        from_number: &str,
        number: &str,
    ) -> Result<String, String> {
        let (peer, sbc_fqdn) = {
            let book = lock(&self.book);
            match (book.sbc, book.sbc_fqdn.clone()) {
                (Some(peer), Some(fqdn)) => (peer, fqdn),
                _ => return Err("the SBC has not sent OPTIONS to this proxy".to_owned()),
            }
        };
        let port = MediaPort::bind(self.ip).await.map_err(|e| e.to_string())?;
        let local = port.local_addr().map_err(|e| e.to_string())?;
        let call_id = format!(
            "{:x}{:x}@{}",
            rand::random::<u64>(),
            rand::random::<u32>(),
            self.fqdn
        );
        let local_tag = tag();
        let transport = peer.transport;
        let target = format!("sip:{number}@{sbc_fqdn};user=phone");
        let mut invite = SipMessage {
            start: StartLine::Request {
                method: "INVITE".to_owned(),
                uri: target.clone(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        let local_uri = format!("<sip:{from_number}@{};user=phone>", self.fqdn);
        invite.push_header("Via", self.via(transport));
        invite.push_header("Max-Forwards", "70");
        invite.push_header("From", format!("{local_uri};tag={local_tag}"));
        invite.push_header("To", format!("<{target}>"));
        invite.push_header("Call-ID", call_id.clone());
        invite.push_header("CSeq", "1 INVITE");
        invite.push_header(
            "Contact",
            format!(
                "<sip:{from_number}@{}:{};transport={}>",
                self.fqdn,
                self.port(transport),
                transport.via_name().to_ascii_lowercase()
            ),
        );
        invite.push_header("Allow", ALLOW);
        invite.push_header("Supported", "timer");
        invite.push_header("Content-Type", "application/sdp");
        invite.body = sdp::offer(
            local,
            &port.key_salt,
            rand::random::<u32>().into(),
            Direction::SendRecv,
        )
        .into_bytes();
        Self::stamp(&mut invite);
        self.state.record_call(CallRecord {
            call_id: call_id.clone(),
            proxy: self.name.clone(),
            user_id: user_id.to_owned(),
            direction: CallDirection::Outbound,
            remote_number: number.to_owned(),
            state: "ringing".to_owned(),
            ringing_tags: Vec::new(),
            media: None,
        });
        let proxy = self.clone();
        let behaviour = self.state.phone_behaviour(user_id);
        tokio::spawn(async move {
            proxy
                .outbound(peer, invite, port, local_tag, local_uri, behaviour)
                .await;
        });
        Ok(call_id)
    }

    async fn outbound(
        &self,
        peer: Peer,
        invite: SipMessage,
        port: MediaPort,
        local_tag: String,
        local_uri: String,
        behaviour: PhoneBehaviour,
    ) {
        let call_id = invite.call_id().to_owned();
        let responses = self.transact(peer, invite.clone(), 1).await;
        let tags: Vec<String> = responses
            .iter()
            .filter(|r| r.status() == Some(180))
            .filter_map(|r| {
                r.header("To")
                    .and_then(|t| super::message::param(t, "tag"))
                    .map(str::to_owned)
            })
            .collect();
        self.state
            .update_call(&call_id, |c| c.ringing_tags.clone_from(&tags));
        let Some(last) = responses.last().cloned() else {
            self.state
                .update_call(&call_id, |c| c.state = "failed_timeout".to_owned());
            return;
        };
        let status = last.status().unwrap_or(0);
        let to = last.header("To").unwrap_or_default().to_owned();
        let remote_tag = super::message::param(&to, "tag")
            .unwrap_or_default()
            .to_owned();
        let mut ack = SipMessage {
            start: StartLine::Request {
                method: "ACK".to_owned(),
                uri: match &invite.start {
                    StartLine::Request { uri, .. } => uri.clone(),
                    StartLine::Response { .. } => String::new(),
                },
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        if status >= 300 {
            // ACK for a non-2xx final response reuses the INVITE's branch (RFC 3261 §17.1.1.3).
            ack.push_header("Via", invite.header("Via").unwrap_or_default());
        } else {
            ack.push_header("Via", self.via(peer.transport));
        }
        ack.push_header("Max-Forwards", "70");
        ack.push_header("From", invite.header("From").unwrap_or_default());
        ack.push_header("To", to.clone());
        ack.push_header("Call-ID", call_id.clone());
        ack.push_header("CSeq", "1 ACK");
        self.sender.send(peer, &ack).await;
        if status >= 300 {
            self.state
                .update_call(&call_id, |c| c.state = format!("failed_{status}"));
            return;
        }
        let Ok(answer) = sdp::parse(&String::from_utf8_lossy(&last.body)) else {
            self.state
                .update_call(&call_id, |c| c.state = "failed_bad_answer".to_owned());
            return;
        };
        let (Some(codec), Some(crypto)) = (answer.codec(), answer.crypto().cloned()) else {
            self.state
                .update_call(&call_id, |c| c.state = "failed_bad_answer".to_owned());
            return;
        };
        let (local_key, local_media) = (port.key_salt.clone(), port.local_addr().ok());
        let media = port.start(
            answer.address,
            codec,
            &crypto.suite,
            crypto.key_salt.clone(),
            behaviour.audio(codec.sample_rate()),
        );
        let (events, events_rx) = watch::channel(DialogEvents {
            acked: true,
            ..DialogEvents::default()
        });
        let dialog = Dialog {
            peer,
            local_tag,
            remote_tag,
            local_uri,
            remote_uri: to.split(";tag=").next().unwrap_or_default().to_owned(),
            remote_target: last
                .header("Contact")
                .map(|c| uri_of(c).to_owned())
                .unwrap_or_default(),
            local_cseq: 1,
            events,
            media: Some(media.clone()),
            media_addr: Some(answer.address),
            local_key,
            local_media,
            suite: crypto.suite.clone(),
            codec_pt: codec.payload_type(),
            held: false,
        };
        lock(&self.book).dialogs.insert(call_id.clone(), dialog);
        self.state.update_call(&call_id, |c| {
            c.state = "answered".to_owned();
            c.media = Some(media.clone());
        });
        self.after_answer(&call_id, &behaviour, media, events_rx)
            .await;
    }
}
