//! Requests from the proxies (and SIPp): OPTIONS answered, calls from Teams offered to the
//! gateway as `Incoming`, in-dialog BYE and re-INVITE (hold via `a=inactive`, §1.4), 503 while
//! draining, 400 for requests that are not well formed and 488 for unusable SDP.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use callbridge_model::{LegId, Sdp, TerminationCause};
use rsipstack::sip::{Method, Request, SipMessage};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipConnection;
use tokio::sync::{mpsc, oneshot};

use crate::config::SipTransport;
use crate::dialog::Dialog;
use crate::event::{Caller, TrunkEvent};
use crate::headers::{all, display_name, first, history_info, param, uri_number, uri_of};
use crate::messages::{ALLOW, set_header, tag_to, token, with_sdp};
use crate::stack::{Route, TxHandle, response, serve};
use crate::trunk::{InboundControl, Incoming, LegEntry, LegState, REJECTED_METRIC, Shared, lock};

/// Hands every new server transaction to its handler.
pub(crate) async fn dispatch(shared: Arc<Shared>, mut incoming: Incoming) {
    while let Some(tx) = incoming.recv().await {
        tokio::spawn(handle(shared.clone(), tx));
    }
}

fn rejected(reason: &'static str) {
    metrics::counter!(REJECTED_METRIC, "reason" => reason).increment(1);
}

/// Sends a final response with our tag and identity.
fn reply(shared: &Shared, tx: &TxHandle, request: &Request, status: u16, extra: &[(&str, String)]) {
    let mut answer = response(&shared.endpoint, request, status);
    if status >= 200 {
        tag_to(&mut answer, &token());
    }
    set_header(&mut answer, "X-MS-SBC", shared.config.sbc_identity.clone());
    for (name, value) in extra {
        set_header(&mut answer, name, value.clone());
    }
    tx.respond(answer);
}

/// Why a request is not well formed (RFC 3261 §8.2: 400), if it is not.
fn malformed(request: &Request) -> Option<&'static str> {
    let cseq = first(&request.headers, "CSeq")?;
    let mut parts = cseq.split_whitespace();
    let number_ok = parts.next().is_some_and(|n| n.parse::<u32>().is_ok());
    let method = parts.next().unwrap_or_default();
    if !number_ok || !method.eq_ignore_ascii_case(&request.method.to_string()) {
        return Some("CSeq does not match the request");
    }
    if first(&request.headers, "Call-ID").is_none_or(str::is_empty) {
        return Some("Call-ID is missing");
    }
    let from = first(&request.headers, "From").unwrap_or_default();
    if param(from, "tag").is_none() {
        return Some("From has no tag");
    }
    if request.method == Method::Invite && first(&request.headers, "Contact").is_none() {
        return Some("INVITE without Contact");
    }
    let declared =
        first(&request.headers, "Content-Length").and_then(|l| l.trim().parse::<usize>().ok());
    if declared.is_some_and(|l| l != request.body.len()) {
        return Some("Content-Length does not match the body");
    }
    None
}

async fn handle(shared: Arc<Shared>, tx: Transaction) {
    let (request, connection, handle) = serve(tx);
    if let Some(problem) = malformed(&request) {
        rejected("malformed");
        let warning = format!("399 {} \"{problem}\"", shared.config.sbc_fqdn);
        return reply(&shared, &handle, &request, 400, &[("Warning", warning)]);
    }
    let call_id = first(&request.headers, "Call-ID")
        .unwrap_or_default()
        .to_owned();
    let in_dialog = first(&request.headers, "To").is_some_and(|to| param(to, "tag").is_some());
    let leg = lock(&shared.call_ids).get(&call_id).copied();
    match (&request.method, in_dialog, leg) {
        (Method::Options, _, _) => {
            let contact = shared.contact(None, transport_of(connection.as_ref()));
            reply(
                &shared,
                &handle,
                &request,
                200,
                &[
                    ("Allow", ALLOW.to_owned()),
                    ("Accept", "application/sdp".to_owned()),
                    ("Contact", contact),
                ],
            );
        }
        (Method::Invite, false, _) => offer(shared, request, connection, handle).await,
        (Method::Invite, true, Some(leg)) => reinvite(shared, leg, request, handle).await,
        (Method::Bye, true, Some(leg)) => {
            reply(&shared, &handle, &request, 200, &[]);
            shared.end(leg, TerminationCause::Normal, None);
        }
        (Method::Notify, _, _) => reply(&shared, &handle, &request, 200, &[]),
        (Method::Invite | Method::Bye, _, _) => {
            reply(&shared, &handle, &request, 481, &[]);
        }
        (Method::Ack, _, _) => {}
        _ => reply(
            &shared,
            &handle,
            &request,
            405,
            &[("Allow", ALLOW.to_owned())],
        ),
    }
}

fn transport_of(connection: Option<&SipConnection>) -> SipTransport {
    match connection.map(SipConnection::transport) {
        Some(rsipstack::sip::transport::Transport::Udp) => SipTransport::Udp,
        Some(rsipstack::sip::transport::Transport::Tcp) => SipTransport::Tcp,
        _ => SipTransport::Tls,
    }
}

/// A new call from Teams.
async fn offer(
    shared: Arc<Shared>,
    request: Request,
    connection: Option<SipConnection>,
    mut handle: TxHandle,
) {
    if shared.draining.load(Ordering::SeqCst) {
        rejected("draining");
        let retry = shared.config.drain_retry_after_secs.to_string();
        return reply(&shared, &handle, &request, 503, &[("Retry-After", retry)]);
    }
    let is_sdp = first(&request.headers, "Content-Type")
        .is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("application/sdp"));
    if !is_sdp || request.body.is_empty() {
        rejected("no_sdp");
        let warning = format!(
            "399 {} \"an SDP offer is required\"",
            shared.config.sbc_fqdn
        );
        return reply(&shared, &handle, &request, 488, &[("Warning", warning)]);
    }
    let checked = match crate::sdp::check(&request.body) {
        Ok(checked) => checked,
        Err(problem) => {
            rejected("bad_sdp");
            let warning = format!("399 {} \"{}\"", shared.config.sbc_fqdn, problem.0);
            return reply(&shared, &handle, &request, 488, &[("Warning", warning)]);
        }
    };
    let uri = request.uri.to_string();
    let to_header = first(&request.headers, "To").unwrap_or_default().to_owned();
    let Some(to) = uri_number(&uri).or_else(|| uri_number(uri_of(&to_header))) else {
        rejected("not_e164");
        return reply(&shared, &handle, &request, 404, &[]);
    };
    let Some(connection) = connection else {
        return reply(&shared, &handle, &request, 500, &[]);
    };
    let from = first(&request.headers, "From")
        .unwrap_or_default()
        .to_owned();
    let call_id = first(&request.headers, "Call-ID")
        .unwrap_or_default()
        .to_owned();
    let transport = transport_of(Some(&connection));
    let route = Route {
        destination: (transport == SipTransport::Udp)
            .then(|| connection.get_remote_addr().cloned())
            .flatten(),
        connection,
        transport,
        proxy: None,
    };
    let leg = LegId::generate();
    let local_tag = token();
    let contact_user = to.to_string();
    let contact = shared.contact(Some(&contact_user), transport);
    // Everything the dialog will hold is known now; keeping it lets the leg be snapshotted
    // as soon as its answer is requested.
    let dialog = Dialog {
        call_id: call_id.clone(),
        local: format!(
            "{};tag={local_tag}",
            to_header.split(";tag=").next().unwrap_or_default()
        ),
        remote: from.clone(),
        remote_target: first(&request.headers, "Contact")
            .map(|c| uri_of(c).to_owned())
            .unwrap_or_default(),
        // A UAS keeps the INVITE's Record-Route in order (RFC 3261 §12.1.1).
        route_set: all(&request.headers, "Record-Route"),
        next_cseq: 1,
        route,
        contact_user: Some(contact_user),
    };
    let (control, mut control_rx) = mpsc::unbounded_channel();
    {
        let mut legs = lock(&shared.legs);
        legs.insert(
            leg,
            LegEntry {
                call_id: call_id.clone(),
                state: LegState::Offered(control),
                held: checked.inactive,
                pending: Some(Box::new(dialog.clone())),
                answering: false,
            },
        );
    }
    lock(&shared.call_ids).insert(call_id.clone(), leg);

    let mut trying = response(&shared.endpoint, &request, 100);
    set_header(&mut trying, "X-MS-SBC", shared.config.sbc_identity.clone());
    handle.respond(trying);
    let mut ringing = response(&shared.endpoint, &request, 180);
    tag_to(&mut ringing, &local_tag);
    set_header(&mut ringing, "Contact", contact.clone());
    set_header(&mut ringing, "X-MS-SBC", shared.config.sbc_identity.clone());
    handle.respond(ringing);
    shared.emit(TrunkEvent::Incoming {
        leg,
        call_id: call_id.clone(),
        from: Caller {
            display_name: display_name(&from),
            number: uri_number(uri_of(&from)),
        },
        to,
        sdp: checked.sdp,
        history_info: history_info(&request.headers),
    });

    let decision = loop {
        tokio::select! {
            command = control_rx.recv() => break command,
            message = handle.received.recv() => match message {
                Some(SipMessage::Request(cancel)) if cancel.method == Method::Cancel => {
                    // The stack already answered the CANCEL with 200; the INVITE gets 487.
                    reply(&shared, &handle, &request, 487, &[]);
                    shared.end(leg, TerminationCause::Cancelled, Some(487));
                    return;
                }
                Some(_) => {}
                None => {
                    shared.end(leg, TerminationCause::Error, None);
                    return;
                }
            },
        }
    };
    match decision {
        Some(InboundControl::Answer(sdp)) => {
            let mut ok = response(&shared.endpoint, &request, 200);
            tag_to(&mut ok, &local_tag);
            set_header(&mut ok, "Contact", contact);
            set_header(&mut ok, "Allow", ALLOW.to_owned());
            set_header(&mut ok, "X-MS-SBC", shared.config.sbc_identity.clone());
            with_sdp(&mut ok, sdp.as_str());
            if let Some(entry) = lock(&shared.legs).get_mut(&leg) {
                entry.state = LegState::Confirmed(Box::new(dialog));
                entry.pending = None;
            }
            await_ack(&shared, handle, ok).await;
        }
        Some(InboundControl::Reject(status)) => {
            reply(&shared, &handle, &request, status, &[]);
            let cause = match status {
                486 | 600 => TerminationCause::Busy,
                603 => TerminationCause::Declined,
                480 | 408 => TerminationCause::NoAnswer,
                _ => TerminationCause::Error,
            };
            shared.end(leg, cause, Some(status));
        }
        None => shared.end(leg, TerminationCause::Error, None),
    }
}

/// Sends the 2xx and, on UDP, repeats it until the ACK (RFC 3261 §13.3.1.4: the 2xx is the
/// UA's to retransmit, not the transaction's).
async fn await_ack(shared: &Shared, mut handle: TxHandle, ok: rsipstack::sip::Response) {
    handle.respond(ok.clone());
    let mut interval = shared.endpoint.option.t1;
    let deadline = tokio::time::Instant::now() + shared.endpoint.option.t1x64;
    while tokio::time::Instant::now() < deadline {
        match handle.next(interval).await {
            Some(SipMessage::Request(ack)) if ack.method == Method::Ack => return,
            Some(_) => {}
            None if handle.received.is_closed() => return,
            None => {
                handle.respond(ok.clone());
                interval = (interval * 2).min(shared.endpoint.option.t2);
            }
        }
    }
}

/// A re-INVITE in a confirmed dialog: hold detection, then the media core's answer.
async fn reinvite(shared: Arc<Shared>, leg: LegId, request: Request, handle: TxHandle) {
    let checked = match crate::sdp::check(&request.body) {
        Ok(checked) => checked,
        Err(problem) => {
            rejected("bad_sdp");
            let warning = format!("399 {} \"{}\"", shared.config.sbc_fqdn, problem.0);
            return reply(&shared, &handle, &request, 488, &[("Warning", warning)]);
        }
    };
    let (was_held, contact) = {
        let mut legs = lock(&shared.legs);
        let Some(entry) = legs.get_mut(&leg) else {
            drop(legs);
            return reply(&shared, &handle, &request, 481, &[]);
        };
        let LegState::Confirmed(dialog) = &entry.state else {
            drop(legs);
            return reply(&shared, &handle, &request, 491, &[]);
        };
        let contact = shared.contact(dialog.contact_user.as_deref(), dialog.route.transport);
        let was = entry.held;
        entry.held = checked.inactive;
        (was, contact)
    };
    if was_held != checked.inactive {
        shared.emit(TrunkEvent::Hold {
            leg,
            held: checked.inactive,
        });
    }
    let (answer_tx, answer_rx) = oneshot::channel::<Option<Sdp>>();
    shared.emit(TrunkEvent::Reinvite {
        leg,
        sdp: checked.sdp,
        reply: answer_tx,
    });
    let wait = shared.config.reinvite_answer_timeout;
    match tokio::time::timeout(wait, answer_rx).await {
        Ok(Ok(Some(sdp))) => {
            let mut ok = response(&shared.endpoint, &request, 200);
            set_header(&mut ok, "Contact", contact);
            set_header(&mut ok, "X-MS-SBC", shared.config.sbc_identity.clone());
            with_sdp(&mut ok, sdp.as_str());
            await_ack(&shared, handle, ok).await;
        }
        _ => {
            rejected("reinvite_unanswered");
            reply(&shared, &handle, &request, 488, &[]);
        }
    }
}
