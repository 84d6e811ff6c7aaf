// A minimal scripted SBC over SIP/TCP for the sandbox's phone tests: parsed messages, replies,
// requests and an SRTP offer. Included (`include!`) by the test files that drive calls into the
// proxies, so each keeps its own imports and names.

const BOB_URI: &str = "<sip:+14255550102@sip.pstnhub.microsoft.com;user=phone>";
const BOB_RURI: &str = "sip:+14255550102@sip.pstnhub.microsoft.com;user=phone";

/// A parsed SIP message: start line, headers, body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Message {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }

    fn to_tag(&self) -> String {
        self.header("To")
            .split("tag=")
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    }

    /// A response copying the dialog headers, optionally with a To-tag and an SDP body.
    fn reply(&self, status: &str, to_tag: Option<&str>, sdp: Option<&str>) -> String {
        let mut out = format!("SIP/2.0 {status}\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            let mut value = self.header(name).to_owned();
            if name == "To"
                && let Some(tag) = to_tag
            {
                value = format!("{value};tag={tag}");
            }
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("Contact: <sip:sbc.gateway.test:5061;transport=tcp>\r\n");
        match sdp {
            Some(body) => out.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )),
            None => out.push_str("Content-Length: 0\r\n\r\n"),
        }
        out
    }
}

/// The SBC end of one SIP/TCP connection to a proxy.
struct Sbc {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Sbc {
    /// Connects to the first proxy and exchanges OPTIONS both ways, so calls route.
    async fn connect(sandbox: &RunningMicrosoftSandbox) -> Self {
        let mut sbc = Self {
            stream: TcpStream::connect(sandbox.sip_addrs()[0].tcp)
                .await
                .unwrap(),
            buffer: Vec::new(),
        };
        sbc.send(&request(
            "OPTIONS",
            "sip:sip.pstnhub.microsoft.com",
            "keepalive-echo",
            1,
            "<sip:sip.pstnhub.microsoft.com>",
            None,
        ))
        .await;
        assert!(
            sbc.expect("SIP/2.0 ")
                .await
                .start
                .starts_with("SIP/2.0 200")
        );
        let options = sbc.expect("OPTIONS").await;
        let reply = options.reply("200 OK", Some("sbc-options"), None);
        sbc.send(&reply).await;
        sbc
    }

    async fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).await.unwrap();
    }

    async fn receive(&mut self) -> Message {
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                let mut lines = head.split("\r\n");
                let start = lines.next().unwrap().to_owned();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
                    .map_or(0, |(_, v)| v.parse().unwrap());
                if self.buffer.len() >= end + 4 + length {
                    let body = String::from_utf8_lossy(&self.buffer[end + 4..end + 4 + length])
                        .into_owned();
                    self.buffer.drain(..end + 4 + length);
                    return Message {
                        start,
                        headers,
                        body,
                    };
                }
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
                .await
                .expect("the proxy went silent")
                .unwrap();
            assert!(read > 0, "connection closed");
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    /// Receives until a message whose start line begins with `prefix`, answering the proxy's
    /// OPTIONS keep-alives on the way.
    async fn expect(&mut self, prefix: &str) -> Message {
        loop {
            let message = self.receive().await;
            if message.start.starts_with(prefix) {
                return message;
            }
            if message.start.starts_with("OPTIONS") {
                let reply = message.reply("200 OK", None, None);
                self.send(&reply).await;
            }
        }
    }
}

fn request(
    method: &str,
    uri: &str,
    call_id: &str,
    cseq: u32,
    to: &str,
    sdp: Option<&str>,
) -> String {
    let mut out = format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/TCP sbc.gateway.test:5061;branch=z9hG4bK{:x}\r\n\
From: \"Slack Sam\" <sip:+15550001000@sbc.gateway.test;user=phone>;tag=sbc1\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\nContact: <sip:+15550001000@sbc.gateway.test:5061;transport=tcp>\r\nMax-Forwards: 70\r\n",
        rand::random::<u32>()
    );
    match sdp {
        Some(body) => out.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => out.push_str("Content-Length: 0\r\n\r\n"),
    }
    out
}

/// An SDES-SRTP G.722 offer with a fresh key toward `port` (nothing listens: signalling only).
fn srtp_offer(port: u16) -> String {
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 30]>());
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio {port} RTP/SAVP 9 0 101 13\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^31\r\n\
a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp-mux\r\na=sendrecv\r\n"
    )
}
