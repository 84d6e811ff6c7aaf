//! SDP carried between adapters, the engine and the media core, opaque to everyone but the
//! media core.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::text_serde::text_serde;

/// An SDP session description: text that starts with `v=0`, at most 64 KiB.
///
/// Only the first line is checked here; the media core parses the rest strictly.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Sdp(String);

impl Sdp {
    /// The largest SDP accepted; real audio offers are a few kilobytes.
    pub const MAX_LEN: usize = 64 * 1024;

    /// Parses SDP text.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        if text.len() > Self::MAX_LEN {
            return Err(ParseError::malformed("Sdp", "must be at most 64 KiB", text));
        }
        if !text.starts_with("v=0\r\n") && !text.starts_with("v=0\n") {
            return Err(ParseError::malformed(
                "Sdp",
                "must start with the line v=0",
                text,
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The SDP text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sdp {
    // SDP holds addresses and SRTP keys: never print it whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sdp({} bytes)", self.0.len())
    }
}

text_serde!(Sdp, Sdp::parse, as_str, { "type": "string", "pattern": "^v=0\\r?\\n", "maxLength": 65536 });

/// How a leg carries media, which decides how its SDP is produced and answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MediaTransport {
    /// Browser WebRTC: ICE, DTLS-SRTP.
    WebRtc,
    /// SIP-signalled RTP, SDES-SRTP or plain.
    SipRtp,
}

/// An SDP offer for one leg.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MediaOffer {
    /// What kind of peer made or will receive the offer.
    pub transport: MediaTransport,
    /// The offer.
    pub sdp: Sdp,
}

/// The SDP answer to a [`MediaOffer`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MediaAnswer {
    /// What kind of peer made or will receive the answer.
    pub transport: MediaTransport,
    /// The answer.
    pub sdp: Sdp,
}
