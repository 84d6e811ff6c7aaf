//! In-call actions: scripted phone behaviour, hang-up, hold and re-INVITEs (§1.4 hold rules).

use super::*;

impl SipProxy {
    /// Scripted in-call actions: DTMF, hold, hang-up.
    pub(super) async fn after_answer(
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
        // Hold and hang-up times are sandbox time, like every timer a person would drive.
        let clock = self.state.clock();
        let mut elapsed = 0.0;
        for (at, action) in plan {
            let wait = timer::secs(at - elapsed);
            elapsed = at;
            let ended = tokio::select! {
                () = timer::sleep(&clock, wait) => false,
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
    pub(super) fn in_dialog_request(&self, dialog: &mut Dialog, method: &str) -> SipMessage {
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

    /// Re-INVITE from the SBC: hold is understood only as `a=inactive`; media re-targeting is
    /// ignored (§1.4).
    pub(super) async fn handle_reinvite(&self, peer: Peer, request: SipMessage) {
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
        let Some(offer) = self.offer_or_488(peer, &request).await else {
            return;
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
}
