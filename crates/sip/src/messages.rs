//! Building the trunk's SIP messages. Requests are written as text exactly as Direct Routing
//! wants them (reference `sip-direct-routing.md` §1.4: an FQDN Contact with `transport=`, never
//! an IP and never `sips:`; our own Call-ID; `X-MS-SBC` on everything) and then parsed by
//! rsipstack, so no layer below can rewrite Contact or Call-ID.

use rsipstack::sip::headers::make_header;
use rsipstack::sip::{Request, Response};

use crate::error::SipError;

/// Methods the trunk handles. REFER is left out on purpose, so Microsoft performs transfers
/// itself and sends a fresh INVITE (§1.4).
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY";

/// A random token for tags and branches.
pub(crate) fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A Call-ID on the SBC's own domain (rsipstack's default suffix is not ours, §2.2).
pub(crate) fn call_id(sbc_fqdn: &str) -> String {
    format!(
        "{:016x}{:08x}@{sbc_fqdn}",
        rand::random::<u64>(),
        rand::random::<u32>()
    )
}

/// A request about to be written.
pub(crate) struct RequestText<'a> {
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
    pub(crate) via: &'a str,
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
    pub(crate) call_id: &'a str,
    pub(crate) cseq: u32,
    pub(crate) contact: Option<&'a str>,
    pub(crate) extra: &'a [(&'a str, String)],
    pub(crate) sdp: Option<&'a str>,
}

impl RequestText<'_> {
    pub(crate) fn build(&self, sbc_identity: &str) -> Result<Request, SipError> {
        let mut text = format!(
            "{method} {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n",
            method = self.method,
            uri = self.uri,
            via = self.via,
            from = self.from,
            to = self.to,
            call_id = self.call_id,
            cseq = self.cseq,
        );
        if let Some(contact) = self.contact {
            text.push_str(&format!("Contact: {contact}\r\n"));
        }
        for (name, value) in self.extra {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str(&format!("X-MS-SBC: {sbc_identity}\r\n"));
        match self.sdp {
            Some(sdp) => text.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            )),
            None => text.push_str("Content-Length: 0\r\n\r\n"),
        }
        Request::try_from(text).map_err(|e| SipError::Stack(e.to_string()))
    }
}

/// Adds or replaces a header on a response.
pub(crate) fn set_header(response: &mut Response, name: &str, value: String) {
    response
        .headers
        .retain(|h| !h.name().eq_ignore_ascii_case(name));
    response.headers.push(make_header(name, value));
}

/// Adds our To-tag unless the To header already has one.
pub(crate) fn tag_to(response: &mut Response, tag: &str) {
    let to = crate::headers::first(&response.headers, "To").map(str::to_owned);
    if let Some(to) = to
        && crate::headers::param(&to, "tag").is_none()
    {
        set_header(response, "To", format!("{to};tag={tag}"));
    }
}

/// Sets an SDP body (and its headers) on a response.
pub(crate) fn with_sdp(response: &mut Response, sdp: &str) {
    response.body = sdp.as_bytes().to_vec();
    set_header(response, "Content-Type", "application/sdp".to_owned());
    set_header(response, "Content-Length", sdp.len().to_string());
}
