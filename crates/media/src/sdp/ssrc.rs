//! The SSRCs a peer declares for its audio stream (RFC 5576 `a=ssrc`), which the SIP leg's
//! strict source checks accept besides the one it has latched onto.

use rtc_sdp::description::media::MediaDescription;

use super::{audio_section, parse};
use crate::error::{MediaError, Result};

/// More distinct SSRCs than any audio sender needs; a longer list is refused rather than kept.
const MAX_DECLARED: usize = 16;

/// The SSRCs declared on the remote audio m-line; empty when the peer declared none, in which
/// case any SSRC is acceptable (symmetric-RTP latching alone decides).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredSsrcs(Vec<u32>);

impl DeclaredSsrcs {
    /// A set from explicit values (duplicates collapse).
    pub fn new(ssrcs: impl IntoIterator<Item = u32>) -> Self {
        let mut list: Vec<u32> = ssrcs.into_iter().collect();
        list.sort_unstable();
        list.dedup();
        Self(list)
    }

    /// Whether the peer declared nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ssrc` was declared.
    pub fn contains(&self, ssrc: u32) -> bool {
        self.0.binary_search(&ssrc).is_ok()
    }

    /// The declared values, ascending.
    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }
}

/// Reads the `a=ssrc` lines of the active audio m-line of a remote offer or answer.
///
/// A line whose id is not a 32-bit decimal number, or more than 16 distinct ids, make the SDP
/// unusable: guessing which streams the peer meant would defeat the check.
pub fn remote_ssrcs(sdp: &str) -> Result<DeclaredSsrcs> {
    let remote = parse(sdp)?;
    declared(audio_section(&remote)?)
}

fn declared(media: &MediaDescription) -> Result<DeclaredSsrcs> {
    let mut ids = Vec::new();
    for attr in media.attributes.iter().filter(|a| a.key == "ssrc") {
        // `a=ssrc:<id> <attribute>[:<value>]`: the id is everything before the first space.
        let id = attr
            .value
            .as_deref()
            .and_then(|v| v.split_ascii_whitespace().next())
            .and_then(|id| id.parse::<u32>().ok())
            .ok_or_else(|| MediaError::PeerSdp("a=ssrc without a 32-bit SSRC".into()))?;
        ids.push(id);
    }
    let set = DeclaredSsrcs::new(ids);
    if set.0.len() > MAX_DECLARED {
        return Err(MediaError::PeerSdp("too many a=ssrc values".into()));
    }
    Ok(set)
}
