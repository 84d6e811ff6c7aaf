//! What the browser's offer and our answer settled on, read back from str0m: the audio codec,
//! the telephone-event payload type and clock, and our direction.
//!
//! str0m keeps every locally configured payload type in its codec table after negotiation,
//! negotiated or not, so every lookup here is restricted to the payload types the browser
//! actually put on the m-line.

use str0m::format::{Codec as RtcCodec, FormatParams};
use str0m::media::{Direction as RtcDirection, Frequency, Mid};
use str0m::{Rtc, RtcConfig};

use crate::codec::Codec;
use crate::sdp::Direction;

/// Local payload types for telephone-event at 48 kHz and 8 kHz (Chrome's numbers). They are
/// only placeholders (the answer takes the browser's numbers), but they must be unique in
/// str0m's table: two local entries on one number (say telephone-event on Opus's 111) make its
/// payload-type lookups resolve to the wrong entry and keep that event out of the answer.
const DTMF_PT_48K: u8 = 110;
const DTMF_PT_8K: u8 = 126;

/// The negotiated audio media of a WebRTC leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioNegotiation {
    /// The audio codec.
    pub codec: Codec,
    /// Payload type of the codec.
    pub codec_pt: u8,
    /// Telephone-event payload type and its RTP clock: the one at the codec's clock when the
    /// browser offered it (what browsers send with that codec), else any other negotiated one.
    pub dtmf: Option<(u8, u32)>,
    /// Our direction on the m-line.
    pub direction: Direction,
}

/// Enables `codecs` (in preference order) and telephone-event at each of their clocks.
pub(crate) fn configure(mut b: RtcConfig, codecs: &[Codec]) -> RtcConfig {
    b = b.clear_codecs();
    for c in codecs {
        b = match c {
            Codec::Opus => b.enable_opus(true, false),
            Codec::G722 => b.enable_g722(true, false),
            Codec::Pcmu => b.enable_pcmu(true, false),
            Codec::Pcma => b.enable_pcma(true, false),
        };
    }
    let wants = |clock: u32| codecs.iter().any(|c| c.rtp_clock() == clock);
    for (clock, pt, rate) in [
        (48_000, DTMF_PT_48K, Frequency::FORTY_EIGHT_KHZ),
        (8_000, DTMF_PT_8K, Frequency::EIGHT_KHZ),
    ] {
        if wants(clock) {
            b.codec_config().add_config(
                pt.into(),
                None,
                RtcCodec::Tele,
                rate,
                None,
                FormatParams::parse_line("0-16"),
            );
        }
    }
    b
}

/// Reads back the negotiation of `mid`; `None` until an offer was accepted or when the
/// browser offered no codec we enabled.
pub(crate) fn read(rtc: &Rtc, mid: Mid) -> Option<AudioNegotiation> {
    let media = rtc.media(mid)?;
    let remote = media.remote_pts();
    let negotiated = || {
        rtc.codec_config()
            .iter()
            .filter(|p| remote.contains(&p.pt()))
    };
    let (codec, codec_pt) = negotiated().find_map(|p| {
        let codec = match p.spec().codec {
            RtcCodec::Opus => Codec::Opus,
            RtcCodec::G722 => Codec::G722,
            RtcCodec::PCMU => Codec::Pcmu,
            RtcCodec::PCMA => Codec::Pcma,
            _ => return None,
        };
        Some((codec, *p.pt()))
    })?;
    let events: Vec<(u8, u32)> = negotiated()
        .filter(|p| p.spec().codec == RtcCodec::Tele)
        .map(|p| (*p.pt(), p.spec().clock_rate.get()))
        .collect();
    let dtmf = events
        .iter()
        .find(|(_, clock)| *clock == codec.rtp_clock())
        .or(events.first())
        .copied();
    Some(AudioNegotiation {
        codec,
        codec_pt,
        dtmf,
        direction: direction(media.direction()),
    })
}

/// The id of the first audio m-line of an SDP we produced. str0m announces it (`MediaAdded`)
/// only once DTLS completes, but the bridge needs the negotiation right after the answer.
pub(crate) fn audio_mid(sdp: &str) -> Option<Mid> {
    let audio = sdp
        .split("\nm=")
        .find(|section| section.starts_with("audio "))?;
    audio
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .map(Mid::from)
}

fn direction(d: RtcDirection) -> Direction {
    match d {
        RtcDirection::SendRecv => Direction::SendRecv,
        RtcDirection::SendOnly => Direction::SendOnly,
        RtcDirection::RecvOnly => Direction::RecvOnly,
        RtcDirection::Inactive => Direction::Inactive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_mid_is_read_from_the_audio_section_only() {
        let sdp = "v=0\r\ns=-\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
                   a=mid:data\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\n\
                   a=mid:x6m\r\n";
        assert_eq!(audio_mid(sdp), Some(Mid::from("x6m")));
        assert_eq!(
            audio_mid("v=0\r\nm=video 9 RTP/AVP 96\r\na=mid:v\r\n"),
            None
        );
        assert_eq!(audio_mid(""), None);
    }
}
