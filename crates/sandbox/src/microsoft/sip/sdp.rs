//! The SDP the Direct Routing proxy offers, answers and accepts (reference
//! `sip-direct-routing.md` §1.4 hold rules, §1.5 codecs and SDES): RTP/SAVP with `a=crypto`,
//! G.722/PCMU/PCMA plus CN 13 and telephone-event 101, `_32` offered before `_80`.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::microsoft::phone::codec::Codec;

/// SDES suites the proxy understands, in the order it offers them.
pub(crate) const SUITES: [&str; 2] = ["AES_CM_128_HMAC_SHA1_32", "AES_CM_128_HMAC_SHA1_80"];

/// Media direction attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }
}

/// One `a=crypto` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Crypto {
    pub(crate) tag: u32,
    pub(crate) suite: String,
    /// 16-byte master key followed by the 14-byte salt.
    pub(crate) key_salt: Vec<u8>,
}

/// The audio stream of a session description.
#[derive(Clone, Debug)]
pub(crate) struct AudioOffer {
    pub(crate) address: SocketAddr,
    pub(crate) proto: String,
    pub(crate) formats: Vec<u8>,
    pub(crate) cryptos: Vec<Crypto>,
    pub(crate) direction: Direction,
}

impl AudioOffer {
    /// The first codec in the peer's order that the proxy supports.
    pub(crate) fn codec(&self) -> Option<Codec> {
        self.formats
            .iter()
            .find_map(|&pt| Codec::from_payload_type(pt))
    }

    /// The first crypto line in the peer's order with a suite the proxy supports.
    pub(crate) fn crypto(&self) -> Option<&Crypto> {
        self.cryptos
            .iter()
            .find(|c| SUITES.contains(&c.suite.as_str()))
    }

    /// Whether the stream is SRTP (`RTP/SAVP` family).
    pub(crate) fn is_secure(&self) -> bool {
        self.proto.ends_with("RTP/SAVP") || self.proto.ends_with("RTP/SAVPF")
    }
}

/// Parses the first audio stream of `text`.
pub(crate) fn parse(text: &str) -> Result<AudioOffer, String> {
    let mut session_address: Option<IpAddr> = None;
    let mut media_address: Option<IpAddr> = None;
    let mut audio: Option<(u16, String, Vec<u8>)> = None;
    let mut in_audio = false;
    let mut cryptos = Vec::new();
    let mut direction = Direction::SendRecv;
    for line in text.lines().map(str::trim_end) {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "c" => {
                let address = value
                    .split_whitespace()
                    .nth(2)
                    .ok_or("malformed c= line")?
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .parse::<IpAddr>()
                    .map_err(|_| "c= must carry an IP address")?;
                if in_audio {
                    media_address = Some(address);
                } else if audio.is_none() {
                    session_address = Some(address);
                }
            }
            "m" => {
                if audio.is_some() {
                    in_audio = false;
                    continue;
                }
                let mut parts = value.split_whitespace();
                if parts.next() != Some("audio") {
                    in_audio = false;
                    continue;
                }
                let port = parts
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse().ok())
                    .ok_or("malformed m= port")?;
                let proto = parts.next().ok_or("m= line without a protocol")?.to_owned();
                let formats = parts.filter_map(|f| f.parse().ok()).collect();
                audio = Some((port, proto, formats));
                in_audio = true;
            }
            "a" if in_audio => {
                if let Some(crypto) = value.strip_prefix("crypto:") {
                    if let Some(parsed) = parse_crypto(crypto) {
                        cryptos.push(parsed);
                    }
                } else {
                    direction = match value {
                        "sendonly" => Direction::SendOnly,
                        "recvonly" => Direction::RecvOnly,
                        "inactive" => Direction::Inactive,
                        "sendrecv" => Direction::SendRecv,
                        _ => direction,
                    };
                }
            }
            _ => {}
        }
    }
    let (port, proto, formats) = audio.ok_or("no audio stream")?;
    let ip = media_address
        .or(session_address)
        .ok_or("no connection address")?;
    Ok(AudioOffer {
        address: SocketAddr::new(ip, port),
        proto,
        formats,
        cryptos,
        direction,
    })
}

/// `1 AES_CM_128_HMAC_SHA1_80 inline:<base64>|2^31`.
fn parse_crypto(value: &str) -> Option<Crypto> {
    let mut parts = value.split_whitespace();
    let tag = parts.next()?.parse().ok()?;
    let suite = parts.next()?.to_owned();
    let inline = parts.next()?.strip_prefix("inline:")?;
    let key = inline.split('|').next()?;
    let key_salt = STANDARD.decode(key).ok()?;
    (key_salt.len() == 30).then_some(Crypto {
        tag,
        suite,
        key_salt,
    })
}

fn header(out: &mut String, local: SocketAddr, session_id: u64) {
    let ip = local.ip();
    let _ = write!(
        out,
        "v=0\r\no=- {session_id} 1 IN IP4 {ip}\r\ns=session\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    );
}

fn trailer(out: &mut String, codecs: &[Codec], direction: Direction) {
    for codec in codecs {
        let _ = write!(
            out,
            "a=rtpmap:{} {}\r\n",
            codec.payload_type(),
            codec.rtpmap()
        );
    }
    out.push_str("a=rtpmap:13 CN/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n");
    let _ = write!(out, "a=ptime:20\r\na={}\r\n", direction.attribute());
}

/// The proxy's offer: every codec, both suites (`_32` first) with the same local key.
pub(crate) fn offer(
    local: SocketAddr,
    key_salt: &[u8],
    session_id: u64,
    direction: Direction,
) -> String {
    let codecs = [Codec::G722, Codec::Pcmu, Codec::Pcma];
    let mut out = String::new();
    header(&mut out, local, session_id);
    let formats: Vec<String> = codecs
        .iter()
        .map(|c| c.payload_type().to_string())
        .collect();
    let _ = write!(
        out,
        "m=audio {} RTP/SAVP {} 13 101\r\na=rtcp-mux\r\n",
        local.port(),
        formats.join(" ")
    );
    let key = STANDARD.encode(key_salt);
    for (tag, suite) in SUITES.iter().enumerate() {
        let _ = write!(out, "a=crypto:{} {suite} inline:{key}|2^31\r\n", tag + 1);
    }
    trailer(&mut out, &codecs, direction);
    out
}

/// The proxy's answer: one codec and the peer's chosen crypto tag/suite with the local key.
pub(crate) fn answer(
    local: SocketAddr,
    codec: Codec,
    crypto: &Crypto,
    key_salt: &[u8],
    session_id: u64,
    direction: Direction,
) -> String {
    let mut out = String::new();
    header(&mut out, local, session_id);
    let _ = write!(
        out,
        "m=audio {} RTP/SAVP {} 13 101\r\na=rtcp-mux\r\na=crypto:{} {} inline:{}|2^31\r\n",
        local.port(),
        codec.payload_type(),
        crypto.tag,
        crypto.suite,
        STANDARD.encode(key_salt)
    );
    trailer(&mut out, &[codec], direction);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_parses_back_with_32_before_80() {
        let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let text = offer(local, &[7; 30], 1, Direction::SendRecv);
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.address, local);
        assert_eq!(parsed.formats, vec![9, 0, 8, 13, 101]);
        assert_eq!(parsed.cryptos[0].suite, "AES_CM_128_HMAC_SHA1_32");
        assert_eq!(parsed.cryptos[1].suite, "AES_CM_128_HMAC_SHA1_80");
        assert!(parsed.is_secure());
        assert_eq!(parsed.codec(), Some(Codec::G722));
    }

    #[test]
    fn hold_and_bad_input() {
        let held = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5004 RTP/SAVP 0\r\na=inactive\r\n";
        assert_eq!(parse(held).unwrap().direction, Direction::Inactive);
        assert!(parse("v=0\r\n").is_err());
        assert!(parse("c=IN IP4 sbc.example.com\r\nm=audio 1 RTP/AVP 0\r\n").is_err());
        assert!(parse("m=audio x RTP/AVP 0\r\n").is_err());
        let plain = parse("c=IN IP4 10.0.0.1\r\nm=audio 5004 RTP/AVP 18\r\n").unwrap();
        assert!(!plain.is_secure());
        assert_eq!(plain.codec(), None);
    }
}
