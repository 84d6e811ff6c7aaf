//! A small, strict SIP message parser and writer (RFC 3261 §7): start line, headers (compact
//! forms expanded), body framed by Content-Length. Malformed input is an error, never a panic.

use std::fmt::Write as _;

/// A request's method and Request-URI, or a response's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

/// One SIP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SipMessage {
    pub(crate) start: StartLine,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// Why bytes are not a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    /// More bytes are needed (stream transports).
    #[error("incomplete message")]
    Incomplete,
    /// The bytes can never become a valid message.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
}

/// Header names and their compact forms (RFC 3261 §7.3.3).
const COMPACT: [(&str, &str); 10] = [
    ("v", "Via"),
    ("f", "From"),
    ("t", "To"),
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("k", "Supported"),
    ("s", "Subject"),
    ("e", "Content-Encoding"),
];

fn canonical(name: &str) -> String {
    COMPACT
        .iter()
        .find(|(short, _)| short.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_owned(), |(_, long)| (*long).to_owned())
}

impl SipMessage {
    /// Parses one message from the start of `bytes`; returns it and the bytes it used.
    pub(crate) fn parse(bytes: &[u8]) -> Result<(Self, usize), ParseError> {
        // Stream transports may carry CRLF keep-alives between messages.
        let skipped = bytes
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let bytes = &bytes[skipped..];
        let head_end = find(bytes, b"\r\n\r\n").ok_or(ParseError::Incomplete)?;
        let head = std::str::from_utf8(&bytes[..head_end])
            .map_err(|_| ParseError::Malformed("header section is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let start = parse_start(lines.next().unwrap_or_default())?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // Header folding: continuation of the previous value.
                let last = headers
                    .last_mut()
                    .ok_or(ParseError::Malformed("folded first header"))?;
                last.1.push(' ');
                last.1.push_str(line.trim());
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or(ParseError::Malformed("header without a colon"))?;
            let name = name.trim();
            if name.is_empty() || name.contains(' ') {
                return Err(ParseError::Malformed("bad header name"));
            }
            headers.push((canonical(name), value.trim().to_owned()));
        }
        let mut message = Self {
            start,
            headers,
            body: Vec::new(),
        };
        for required in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if message.header(required).is_none() {
                return Err(ParseError::Malformed("missing a mandatory header"));
            }
        }
        message.cseq().ok_or(ParseError::Malformed("bad CSeq"))?;
        let length = match message.header("Content-Length") {
            Some(value) => value
                .parse::<usize>()
                .map_err(|_| ParseError::Malformed("bad Content-Length"))?,
            None => 0,
        };
        let body_start = head_end + 4;
        let body_end = body_start
            .checked_add(length)
            .ok_or(ParseError::Malformed("bad Content-Length"))?;
        if bytes.len() < body_end {
            return Err(ParseError::Incomplete);
        }
        message.body = bytes[body_start..body_end].to_vec();
        Ok((message, skipped + body_end))
    }

    /// The first value of a header (case-insensitive, compact forms understood).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let name = canonical(name);
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces (or adds) a header.
    pub(crate) fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(entry) => entry.1 = value,
            None => self.headers.push((name.to_owned(), value)),
        }
    }

    /// Adds a header after the existing ones.
    pub(crate) fn push_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_owned(), value.into()));
    }

    /// CSeq number and method.
    pub(crate) fn cseq(&self) -> Option<(u32, String)> {
        let (number, method) = self.header("CSeq")?.split_once(' ')?;
        Some((number.trim().parse().ok()?, method.trim().to_owned()))
    }

    pub(crate) fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or_default()
    }

    pub(crate) fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The top Via's branch parameter.
    pub(crate) fn branch(&self) -> Option<&str> {
        param(self.header("Via")?, "branch")
    }

    /// A response to this request, copying Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6).
    pub(crate) fn response(&self, code: u16, reason: &str) -> Self {
        let headers = self
            .headers
            .iter()
            .filter(|(n, _)| {
                ["Via", "From", "To", "Call-ID", "CSeq", "Record-Route"]
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(n))
            })
            .cloned()
            .collect();
        Self {
            start: StartLine::Response {
                code,
                reason: reason.to_owned(),
            },
            headers,
            body: Vec::new(),
        }
    }

    /// Serialises with a correct Content-Length.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(out, "{method} {uri} SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
            }
        }
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case("Content-Length") {
                let _ = write!(out, "{name}: {value}\r\n");
            }
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn parse_start(line: &str) -> Result<StartLine, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code
            .parse()
            .map_err(|_| ParseError::Malformed("bad status code"))?;
        if !(100..700).contains(&code) {
            return Err(ParseError::Malformed("status code out of range"));
        }
        return Ok(StartLine::Response {
            code,
            reason: reason.to_owned(),
        });
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some("SIP/2.0"), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::Malformed("bad request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || uri.is_empty() {
        return Err(ParseError::Malformed("bad request line"));
    }
    Ok(StartLine::Request {
        method: method.to_owned(),
        uri: uri.to_owned(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A `;name=value` parameter of a header value.
pub(crate) fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(';').skip(1).find_map(|p| {
        let (key, val) = p.split_once('=').unwrap_or((p, ""));
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| val.trim().trim_end_matches('>'))
    })
}

/// The URI inside a name-addr (`"Name" <sip:x@y>;tag=1` → `sip:x@y`), or the bare URI.
pub(crate) fn uri_of(name_addr: &str) -> &str {
    match (name_addr.find('<'), name_addr.find('>')) {
        (Some(open), Some(close)) if open < close => &name_addr[open + 1..close],
        _ => name_addr.split(';').next().unwrap_or_default().trim(),
    }
}

/// The scheme, user and host of a SIP URI (`sip:+1425@host:5061;transport=tls`).
pub(crate) fn uri_parts(uri: &str) -> Option<(&str, Option<&str>, &str)> {
    let (scheme, rest) = uri.split_once(':')?;
    let rest = rest.split([';', '?']).next()?;
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, rest),
    };
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        hostport.split(':').next()?
    };
    (!host.is_empty()).then_some((scheme, user, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:+14255550101@sip.pstnhub.microsoft.com;user=phone SIP/2.0\r\n\
v: SIP/2.0/UDP sbc.example.com:5060;branch=z9hG4bK1\r\n\
f: <sip:+15550001@sbc.example.com>;tag=a\r\n\
t: <sip:+14255550101@sip.pstnhub.microsoft.com>\r\n\
i: call-1\r\nCSeq: 1 INVITE\r\n\
m: <sip:+15550001@sbc.example.com:5060;transport=udp>\r\n\
X-MS-SBC: Example/1\r\nc: application/sdp\r\nl: 4\r\n\r\nv=0\r\n";

    #[test]
    fn parses_compact_headers_and_body() {
        let (message, used) = SipMessage::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(used, INVITE.len() - 1);
        assert_eq!(message.cseq(), Some((1, "INVITE".to_owned())));
        assert_eq!(message.call_id(), "call-1");
        assert_eq!(message.body, b"v=0\r");
        assert_eq!(message.branch(), Some("z9hG4bK1"));
        let contact = uri_of(message.header("Contact").unwrap());
        assert_eq!(
            uri_parts(contact),
            Some(("sip", Some("+15550001"), "sbc.example.com"))
        );
        let reply = message.response(180, "Ringing").to_bytes();
        let (parsed, _) = SipMessage::parse(&reply).unwrap();
        assert_eq!(parsed.status(), Some(180));
        assert_eq!(parsed.header("From"), message.header("From"));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(
            SipMessage::parse(b"INVITE sip:x SIP/2.0\r\n"),
            Err(ParseError::Incomplete)
        );
        for bad in [
            &b"garbage\r\n\r\n"[..],
            b"INVITE sip:x SIP/2.0\r\nVia: x\r\n\r\n",
            b"SIP/2.0 99 Odd\r\nVia: a\r\nFrom: a\r\nTo: a\r\nCall-ID: a\r\nCSeq: 1 X\r\n\r\n",
            b"INVITE sip:x SIP/2.0\r\nVia: a\r\nFrom: a\r\nTo: a\r\nCall-ID: a\r\nCSeq: one INVITE\r\n\r\n",
            b"INVITE sip:x SIP/2.0\r\nVia: a\r\nFrom: a\r\nTo: a\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\nContent-Length: -1\r\n\r\n",
            &[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n'],
        ] {
            assert!(matches!(SipMessage::parse(bad), Err(ParseError::Malformed(_))), "{bad:?}");
        }
        assert_eq!(uri_parts("sip:"), None);
        assert_eq!(uri_parts("sips:[::1]:5061"), Some(("sips", None, "::1")));
    }
}
