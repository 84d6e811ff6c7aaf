//! Calls from Teams users to the SBC (§1.7).

use super::*;

impl SipProxy {
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
        // Microsoft always offers a session timer on non-bypass calls; the SBC need not use it.
        invite.push_header("Session-Expires", "1800");
        invite.push_header("Min-SE", "90");
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
            remote_name: None,
            state: "ringing".to_owned(),
            ringing_tags: Vec::new(),
            answered_at: None,
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

    pub(super) async fn outbound(
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
                    .and_then(|t| crate::microsoft::sip::message::param(t, "tag"))
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
        let remote_tag = crate::microsoft::sip::message::param(&to, "tag")
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
        let now = self.state.clock().now_utc();
        self.state.update_call(&call_id, |c| {
            c.state = "answered".to_owned();
            c.answered_at = Some(now);
            c.media = Some(media.clone());
        });
        self.after_answer(&call_id, &behaviour, media, events_rx)
            .await;
    }
}
