//! Calls from the gateway to Teams users (reference `sip-direct-routing.md` §1.4): the INVITE
//! with the media core's SDP, one `Ringing` per 180 To-tag, the 183's early SDP, the answer,
//! CANCEL, and failover to the next proxy on 503 + Retry-After or on silence — never after a
//! 603, which Teams shows as one more missed call per retry.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callbridge_model::{LegId, PhoneNumber, Sdp, TerminationCause};
use rsipstack::sip::{Response, SipMessage};
use tokio::sync::mpsc;

use crate::dialog::{Dialog, send_bye};
use crate::event::TrunkEvent;
use crate::headers::{all, first, param, uri_of};
use crate::messages::{ALLOW, RequestText, token};
use crate::stack::{Route, TxHandle, send_request};
use crate::trunk::{FAILOVER_METRIC, LegState, OutboundControl, Shared, lock};

/// What `Trunk::invite` hands the call task.
pub(crate) struct OutboundCall {
    pub(crate) leg: LegId,
    pub(crate) call_id: String,
    pub(crate) to: PhoneNumber,
    pub(crate) caller_name: String,
    pub(crate) caller: PhoneNumber,
    pub(crate) sdp: Sdp,
}

/// How one attempt on one proxy ended.
enum Attempt {
    /// Answered, cancelled, or refused for good: the call is settled.
    Settled,
    /// Try the next proxy.
    Failover(&'static str),
}

/// Proxies in configured order, those inside a 503 Retry-After window moved last.
fn proxy_order(shared: &Shared) -> Vec<usize> {
    let now = Instant::now();
    let (mut ready, mut resting): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    for (index, proxy) in shared.proxies.iter().enumerate() {
        match *lock(&proxy.unavailable_until) {
            Some(until) if until > now => resting.push(index),
            _ => ready.push(index),
        }
    }
    ready.extend(resting);
    ready
}

fn quote(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '"' | '\\' | '\r' | '\n'))
        .collect()
}

/// Runs one outbound call until it is answered or ends.
pub(crate) async fn run(
    shared: Arc<Shared>,
    call: OutboundCall,
    mut control: mpsc::UnboundedReceiver<OutboundControl>,
) {
    let from_tag = token();
    let mut cseq = 0u32;
    let mut last_status = None;
    for index in proxy_order(&shared) {
        cseq += 1;
        match attempt(&shared, &call, index, &from_tag, cseq, &mut control).await {
            Ok(Attempt::Settled) => return,
            Ok(Attempt::Failover(reason)) => {
                metrics::counter!(FAILOVER_METRIC, "reason" => reason).increment(1);
                tracing::info!(proxy = %shared.proxies[index].target.fqdn, reason, "INVITE failing over");
                if reason == "503" {
                    last_status = Some(503);
                }
            }
            Err(error) => {
                metrics::counter!(FAILOVER_METRIC, "reason" => "connect").increment(1);
                tracing::info!(%error, proxy = %shared.proxies[index].target.fqdn, "INVITE failing over");
                shared.drop_connection(index).await;
            }
        }
        // A CANCEL that arrived between attempts ends the call here.
        if let Ok(OutboundControl::Cancel) = control.try_recv() {
            shared.end(call.leg, TerminationCause::Cancelled, None);
            return;
        }
    }
    shared.end(call.leg, TerminationCause::Error, last_status);
}

async fn attempt(
    shared: &Arc<Shared>,
    call: &OutboundCall,
    index: usize,
    from_tag: &str,
    cseq: u32,
    control: &mut mpsc::UnboundedReceiver<OutboundControl>,
) -> Result<Attempt, crate::error::SipError> {
    let proxy = &shared.proxies[index].target;
    let route =
        match tokio::time::timeout(shared.config.invite_timeout, shared.proxy_route(index)).await {
            Ok(route) => route?,
            Err(_) => return Ok(Attempt::Failover("timeout")),
        };
    // E.164 with user=phone, on the proxy's host (§1.4).
    let uri = format!("sip:{}@{};user=phone", call.to, proxy.fqdn);
    let via = shared.via(&route);
    let from = format!(
        "\"{}\" <sip:{}@{};user=phone>;tag={from_tag}",
        quote(&call.caller_name),
        call.caller,
        shared.config.sbc_fqdn
    );
    let to = format!("<{uri}>");
    let caller = call.caller.to_string();
    let contact = shared.contact(Some(&caller), route.transport);
    let extra = [
        ("Allow", ALLOW.to_owned()),
        ("Supported", "histinfo".to_owned()),
    ];
    let invite = RequestText {
        method: "INVITE",
        uri: &uri,
        via: &via,
        from: &from,
        to: &to,
        call_id: &call.call_id,
        cseq,
        contact: Some(&contact),
        extra: &extra,
        sdp: Some(call.sdp.as_str()),
    };
    let request = invite.build(&shared.config.sbc_identity)?;
    let mut forks = shared.forks.watch(&call.call_id);
    let result = exchange(
        shared, call, index, &route, &invite, &via, &from, &caller, cseq, control, &mut forks,
        request,
    )
    .await;
    shared.forks.unwatch(&call.call_id);
    result
}

#[allow(clippy::too_many_arguments)] // One attempt's whole context.
async fn exchange(
    shared: &Arc<Shared>,
    call: &OutboundCall,
    index: usize,
    route: &Route,
    invite: &RequestText<'_>,
    via: &str,
    from: &str,
    caller: &str,
    cseq: u32,
    control: &mut mpsc::UnboundedReceiver<OutboundControl>,
    forks: &mut mpsc::UnboundedReceiver<Response>,
    request: rsipstack::sip::Request,
) -> Result<Attempt, crate::error::SipError> {
    let mut tx = send_request(&shared.endpoint, route, request).await?;
    let mut provisional = false;
    let mut cancel_wanted = false;
    let mut cancel_sent = false;
    let mut tags = HashSet::new();
    loop {
        // Silence until the first response fails over; after it, the stack's Timer C rules.
        let wait = if provisional {
            Duration::from_secs(180)
        } else {
            shared.config.invite_timeout
        };
        let message = tokio::select! {
            message = tx.next(wait) => message,
            Some(fork) = forks.recv() => Some(SipMessage::Response(fork)),
            command = control.recv(), if !cancel_wanted => {
                if let Some(OutboundControl::Cancel) = command {
                    cancel_wanted = true;
                }
                if cancel_wanted && provisional && !cancel_sent {
                    cancel_sent = true;
                    send_cancel(shared, route, invite, via).await;
                }
                continue;
            }
        };
        let Some(SipMessage::Response(response)) = message else {
            tx.terminate();
            if cancel_wanted {
                shared.end(call.leg, TerminationCause::Cancelled, None);
                return Ok(Attempt::Settled);
            }
            shared.drop_connection(index).await;
            return Ok(Attempt::Failover("timeout"));
        };
        let status = response.status_code.code();
        if status < 200 {
            provisional = true;
            if cancel_wanted && !cancel_sent {
                cancel_sent = true;
                send_cancel(shared, route, invite, via).await;
            }
            on_provisional(shared, call.leg, &response, &mut tags);
            continue;
        }
        if status < 300 {
            return Ok(on_answer(
                shared,
                call,
                route,
                from,
                caller,
                cseq,
                &response,
                cancel_wanted,
            )
            .await);
        }
        return Ok(on_failure(
            shared,
            call.leg,
            index,
            &response,
            cancel_wanted,
        ));
    }
}

fn on_provisional(shared: &Shared, leg: LegId, response: &Response, tags: &mut HashSet<String>) {
    let status = response.status_code.code();
    let tag = first(&response.headers, "To")
        .and_then(|to| param(to, "tag"))
        .map(str::to_owned);
    if (status == 180 || status == 183)
        && let Some(tag) = tag
        && tags.insert(tag.clone())
    {
        shared.emit(TrunkEvent::Ringing { leg, to_tag: tag });
    }
    if status == 183 && !response.body.is_empty() {
        match crate::sdp::check(&response.body) {
            Ok(checked) => shared.emit(TrunkEvent::EarlyMedia {
                leg,
                sdp: checked.sdp,
            }),
            Err(problem) => tracing::debug!(problem = problem.0, "183 with unusable SDP ignored"),
        }
    }
}

#[allow(clippy::too_many_arguments)] // One answered attempt's whole context.
async fn on_answer(
    shared: &Arc<Shared>,
    call: &OutboundCall,
    route: &Route,
    from: &str,
    caller: &str,
    cseq: u32,
    response: &Response,
    cancelled: bool,
) -> Attempt {
    let to = first(&response.headers, "To")
        .unwrap_or_default()
        .to_owned();
    let remote_target = first(&response.headers, "Contact")
        .map(|c| uri_of(c).to_owned())
        .unwrap_or_else(|| {
            let uri = uri_of(&to);
            uri.to_owned()
        });
    let dialog = Dialog {
        call_id: call.call_id.clone(),
        local: from.to_owned(),
        remote: to,
        remote_target,
        // A UAC lists the 2xx's Record-Route in reverse (RFC 3261 §12.1.2).
        route_set: all(&response.headers, "Record-Route")
            .into_iter()
            .rev()
            .collect(),
        next_cseq: cseq + 1,
        route: route.clone(),
        contact_user: Some(caller.to_owned()),
    };
    let checked = crate::sdp::check(&response.body);
    let still_wanted = {
        let mut legs = lock(&shared.legs);
        match legs.get_mut(&call.leg) {
            Some(entry) if !cancelled && checked.is_ok() => {
                entry.state = LegState::Confirmed(Box::new(dialog.clone()));
                true
            }
            _ => false,
        }
    };
    match checked {
        Ok(checked) if still_wanted => {
            shared.emit(TrunkEvent::Answered {
                leg: call.leg,
                sdp: checked.sdp,
            });
        }
        outcome => {
            // Answered after our CANCEL (a race RFC 3261 §9.1 allows), or with an unusable
            // answer: the dialog exists, so it ends with BYE.
            let cause = if outcome.is_ok() {
                TerminationCause::Cancelled
            } else {
                metrics::counter!(crate::trunk::REJECTED_METRIC, "reason" => "answer_sdp")
                    .increment(1);
                TerminationCause::Error
            };
            shared.end(call.leg, cause, None);
            let _ = send_bye(shared, dialog).await;
        }
    }
    Attempt::Settled
}

fn on_failure(
    shared: &Shared,
    leg: LegId,
    index: usize,
    response: &Response,
    cancelled: bool,
) -> Attempt {
    let status = response.status_code.code();
    if status == 503 && !cancelled {
        let retry_after = first(&response.headers, "Retry-After")
            .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(secs) = retry_after {
            *lock(&shared.proxies[index].unavailable_until) =
                Some(Instant::now() + Duration::from_secs(secs));
        }
        return Attempt::Failover("503");
    }
    if (status == 408 || status == 504 || status == 500) && !cancelled {
        return Attempt::Failover("timeout");
    }
    let cause = match status {
        487 => TerminationCause::Cancelled,
        _ if cancelled => TerminationCause::Cancelled,
        603 => TerminationCause::Declined,
        486 | 600 => TerminationCause::Busy,
        480 | 408 => TerminationCause::NoAnswer,
        _ => TerminationCause::Error,
    };
    shared.end(leg, cause, Some(status));
    Attempt::Settled
}

/// CANCEL for the pending INVITE: same Request-URI, Via branch, From, To and CSeq number
/// (RFC 3261 §9.1), in its own transaction.
async fn send_cancel(shared: &Arc<Shared>, route: &Route, invite: &RequestText<'_>, via: &str) {
    let cancel = RequestText {
        method: "CANCEL",
        contact: None,
        extra: &[],
        sdp: None,
        via,
        ..*invite
    };
    let request = match cancel.build(&shared.config.sbc_identity) {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(%error, "could not build CANCEL");
            return;
        }
    };
    match send_request(&shared.endpoint, route, request).await {
        Ok(handle) => {
            tokio::spawn(drain_tx(handle, shared.config.request_timeout));
        }
        Err(error) => tracing::warn!(%error, "CANCEL not sent"),
    }
}

/// Lets a fire-and-forget transaction run to its final response, then drops it.
async fn drain_tx(mut handle: TxHandle, wait: Duration) {
    while let Some(message) = handle.next(wait).await {
        if let SipMessage::Response(response) = message
            && response.status_code.code() >= 200
        {
            break;
        }
    }
}
