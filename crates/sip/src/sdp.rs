//! The SDP checks the trunk makes itself: an offer or answer must parse and carry an audio
//! m-line (otherwise 488, §1.4), and `a=inactive` is the hold Teams understands. Negotiation
//! proper (codecs, SDES keys) belongs to the media core.

use std::io::Cursor;

use callbridge_model::Sdp;
use rtc_sdp::description::session::SessionDescription;

/// Why an SDP body was refused (the text goes into a `Warning`, never the SDP itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SdpProblem(pub(crate) &'static str);

/// A checked SDP body and whether it puts the call on hold.
#[derive(Debug, Clone)]
pub(crate) struct CheckedSdp {
    pub(crate) sdp: Sdp,
    pub(crate) inactive: bool,
}

/// Checks an SDP body from the wire.
pub(crate) fn check(body: &[u8]) -> Result<CheckedSdp, SdpProblem> {
    let text = std::str::from_utf8(body).map_err(|_| SdpProblem("SDP is not UTF-8"))?;
    let sdp = Sdp::parse(text).map_err(|_| SdpProblem("SDP must start with v=0"))?;
    let session = SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
        .map_err(|_| SdpProblem("SDP does not parse"))?;
    let audio = session
        .media_descriptions
        .iter()
        .find(|m| m.media_name.media == "audio" && m.media_name.port.value != 0)
        .ok_or(SdpProblem("SDP has no active audio stream"))?;
    if audio.media_name.formats.is_empty() {
        return Err(SdpProblem("audio stream lists no formats"));
    }
    let media_inactive = audio.attributes.iter().any(|a| a.key == "inactive");
    let session_inactive = session.attributes.iter().any(|a| a.key == "inactive")
        && !audio
            .attributes
            .iter()
            .any(|a| matches!(a.key.as_str(), "sendrecv" | "sendonly" | "recvonly"));
    Ok(CheckedSdp {
        sdp,
        inactive: media_inactive || session_inactive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/SAVP 9 0 8 101 13\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

    #[test]
    fn accepts_audio_and_sees_hold() {
        let checked = check(OFFER.as_bytes()).expect("valid");
        assert!(!checked.inactive);
        let held = OFFER.replace("a=sendrecv", "a=inactive");
        assert!(check(held.as_bytes()).expect("valid").inactive);
        // sendonly is not hold for Teams (§1.4).
        let sendonly = OFFER.replace("a=sendrecv", "a=sendonly");
        assert!(!check(sendonly.as_bytes()).expect("valid").inactive);
    }

    #[test]
    fn refuses_garbage_and_video_only() {
        assert!(check(b"hello").is_err());
        assert!(check(&[0xff, 0xfe]).is_err());
        assert!(check(b"v=0\r\nthis is not sdp\r\n").is_err());
        let video = OFFER.replace("m=audio", "m=video");
        assert!(check(video.as_bytes()).is_err());
    }
}
