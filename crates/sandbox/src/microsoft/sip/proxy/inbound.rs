//! Calls from the SBC to Teams users: checks, ringing, answer, CANCEL, BYE (§1.4–§1.5).

use super::*;

impl SipProxy {
    pub(super) async fn handle_invite(&self, peer: Peer, request: SipMessage) {
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
        let Some(offer) = self.offer_or_488(peer, &request).await else {
            return;
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
            remote_tag: crate::microsoft::sip::message::param(&from, "tag")
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
            remote_name: display_name(&from),
            state: "ringing".to_owned(),
            ringing_tags: Vec::new(),
            answered_at: None,
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
    pub(super) async fn ring(
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
            Answer::NoAnswer | Answer::Manual => Ok((
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
        // Ringing and answering run on the sandbox clock, so ring timeouts pass in virtual time.
        let clock = self.state.clock();
        // A person may answer or decline while it rings, whatever the scripted behaviour.
        let (cancelled, decision) = tokio::select! {
            () = timer::sleep(&clock, timer::secs(ring_secs)) => (false, None),
            seen = events.wait_for(|e| e.cancelled || e.decision.is_some()) => {
                seen.map_or((true, None), |e| (e.cancelled, e.decision))
            }
        };
        // Close the door to late presses: from here on `decide` refuses. A press accepted just
        // as the ring timer fired still counts, since `decide` already said yes to it.
        let decision = self.claim_decision(&call_id).or(decision);
        let (failure, behaviour) = match decision {
            Some(Decision::Answer) => (None, self.behaviour_at_answer(&call_id, behaviour)),
            Some(Decision::Decline) => (Some(final_failure(603, "Decline", "declined")), behaviour),
            Some(Decision::Phone) | None => (failure, behaviour),
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
        let now = self.state.clock().now_utc();
        self.state.update_call(&call_id, |c| {
            c.state = "answered".to_owned();
            c.answered_at = Some(now);
            c.media = Some(media.clone());
        });
        self.after_answer(&call_id, &behaviour, media, events).await;
    }

    /// A person answering picks up with what the phone is set to play now (the Teams client
    /// lets them choose while it rings); the ringing plan stays as it was.
    fn behaviour_at_answer(&self, call_id: &str, ringing: PhoneBehaviour) -> PhoneBehaviour {
        let Some(user_id) = self.state.call(call_id).map(|c| c.user_id) else {
            return ringing;
        };
        let now = self.state.phone_behaviour(&user_id);
        PhoneBehaviour {
            echo: now.echo,
            speech: now.speech,
            tone_hz: now.tone_hz,
            tone_dbfs: now.tone_dbfs,
            ..ringing
        }
    }

    /// Marks the ringing as decided by the phone unless a person already decided; returns the
    /// decision that stands.
    fn claim_decision(&self, call_id: &str) -> Option<Decision> {
        let book = lock(&self.book);
        let dialog = book.dialogs.get(call_id)?;
        let mut standing = None;
        dialog.events.send_if_modified(|e| {
            standing = Some(*e.decision.get_or_insert(Decision::Phone));
            false
        });
        standing
    }

    /// Records a person's answer to ringing call `call_id`; an error if it is not ringing here
    /// any more (answered, declined, cancelled, ended) or already has an answer.
    pub(crate) fn decide(&self, call_id: &str, decision: Decision) -> Result<(), String> {
        let book = lock(&self.book);
        let Some(dialog) = book.dialogs.get(call_id) else {
            return Err(format!("call {call_id:?} is not ringing"));
        };
        let mut accepted = false;
        if dialog.media.is_none() {
            dialog.events.send_if_modified(|e| {
                accepted = e.decision.is_none() && !e.cancelled && !e.acked && !e.ended;
                if accepted {
                    e.decision = Some(decision);
                }
                accepted
            });
        }
        if accepted {
            Ok(())
        } else {
            Err(format!("call {call_id:?} was already answered or declined"))
        }
    }

    pub(super) fn handle_ack(&self, request: &SipMessage) {
        if let Some(dialog) = lock(&self.book).dialogs.get(request.call_id()) {
            dialog.events.send_modify(|e| e.acked = true);
        }
    }

    pub(super) async fn handle_cancel(&self, peer: Peer, request: &SipMessage) {
        let dialog = lock(&self.book).dialogs.get(request.call_id()).cloned();
        match dialog {
            Some(dialog) if !dialog.events.borrow().acked && dialog.media.is_none() => {
                self.reply(peer, request, request.response(200, "OK")).await;
                dialog.events.send_modify(|e| e.cancelled = true);
            }
            // The INVITE was already answered: the CANCEL is accepted but changes nothing
            // (RFC 3261 §9.2).
            Some(_) => self.reply(peer, request, request.response(200, "OK")).await,
            None => {
                self.reply(
                    peer,
                    request,
                    request.response(481, "Call/Transaction Does Not Exist"),
                )
                .await;
            }
        }
    }

    pub(super) async fn handle_bye(&self, peer: Peer, request: &SipMessage) {
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
}

/// The display name of a From header (`"Name" <sip:…>` or `Name <sip:…>`), if any.
fn display_name(from: &str) -> Option<String> {
    let from = from.trim_start();
    if let Some(quoted) = from.strip_prefix('"') {
        // A quoted string may hold `<` and escaped quotes (RFC 3261 §25.1).
        let mut name = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => name.extend(chars.next()),
                '"' => return (!name.is_empty()).then_some(name),
                c => name.push(c),
            }
        }
        return None;
    }
    let (name, _) = from.split_once('<')?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}
