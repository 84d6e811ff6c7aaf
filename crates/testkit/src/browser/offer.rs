//! The stand-in's side of the offer/answer: a str0m client configured as Chrome offers audio
//! (Opus, G.722, PCMU, PCMA and telephone-event at 48 and 8 kHz, or a chosen subset) with one
//! host candidate, and what the gateway's answer settled on, read back from str0m.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use callbridge_media::codec::Codec;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::{Codec as RtcCodec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, Mid};
use str0m::{Candidate, Rtc};

use super::BrowserError;

/// Chrome's telephone-event payload types at 48 kHz (beside Opus) and 8 kHz (beside G.711).
const DTMF_PT_48K: u8 = 110;
const DTMF_PT_8K: u8 = 126;

/// A client that has offered audio and waits for the answer.
pub(super) struct Offered {
    /// The client (full ICE; it offered first, so it is the controlling agent).
    pub(super) rtc: Rtc,
    /// The audio m-line.
    pub(super) mid: Mid,
    /// The offer to send.
    pub(super) sdp: String,
    /// What str0m needs to apply the answer.
    pub(super) pending: SdpPendingOffer,
}

/// The audio codec the answer chose and its payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chosen {
    /// The codec both ends send.
    pub(super) codec: Codec,
    /// Its payload type.
    pub(super) pt: u8,
}

/// The audio codecs Chrome offers, in its order.
pub(super) const CHROME_AUDIO: [Codec; 4] = [Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Pcma];

/// Builds the client on `local` and its offer of `codecs`, with telephone-event at 48 kHz
/// beside Opus and at 8 kHz beside G.722 and G.711 (whose RTP clock is 8 kHz).
pub(super) fn offer(
    local: SocketAddr,
    now: Instant,
    codecs: &[Codec],
) -> Result<Offered, BrowserError> {
    if codecs.is_empty() {
        return Err(BrowserError::Local("no audio codec to offer".into()));
    }
    let has = |c: Codec| codecs.contains(&c);
    let mut config = Rtc::builder()
        .set_rtp_mode(true)
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs()
        .enable_opus(has(Codec::Opus), false)
        .enable_g722(has(Codec::G722), false)
        .enable_pcmu(has(Codec::Pcmu), false)
        .enable_pcma(has(Codec::Pcma), false);
    let narrowband = codecs.iter().any(|c| *c != Codec::Opus);
    let tele = [
        (has(Codec::Opus), DTMF_PT_48K, Frequency::FORTY_EIGHT_KHZ),
        (narrowband, DTMF_PT_8K, Frequency::EIGHT_KHZ),
    ];
    for (pt, rate) in tele
        .into_iter()
        .filter_map(|(wanted, pt, rate)| wanted.then_some((pt, rate)))
    {
        config.codec_config().add_config(
            pt.into(),
            None,
            RtcCodec::Tele,
            rate,
            None,
            FormatParams::parse_line("0-16"),
        );
    }
    let mut rtc = config.build(now);
    let candidate = Candidate::host(local, "udp")
        .map_err(|e| BrowserError::Local(format!("candidate: {e}")))?;
    rtc.add_local_candidate(candidate);
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = api
        .apply()
        .ok_or_else(|| BrowserError::Local("str0m made no offer".into()))?;
    Ok(Offered {
        sdp: offer.to_sdp_string(),
        rtc,
        mid,
        pending,
    })
}

/// Applies the gateway's `answer` and returns the audio codec it chose: the first audio codec
/// on its m-line, as a browser would send.
pub(super) fn accept(
    rtc: &mut Rtc,
    mid: Mid,
    pending: SdpPendingOffer,
    answer: &str,
) -> Result<Chosen, BrowserError> {
    let answer =
        SdpAnswer::from_sdp_string(answer).map_err(|e| BrowserError::BadAnswer(e.to_string()))?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| BrowserError::BadAnswer(e.to_string()))?;
    let media = rtc
        .media(mid)
        .ok_or_else(|| BrowserError::BadAnswer("no audio m-line in the answer".into()))?;
    media
        .remote_pts()
        .iter()
        .find_map(|pt| {
            let params = rtc.codec_config().iter().find(|p| p.pt() == *pt)?;
            let codec = match params.spec().codec {
                RtcCodec::Opus => Codec::Opus,
                RtcCodec::G722 => Codec::G722,
                RtcCodec::PCMU => Codec::Pcmu,
                RtcCodec::PCMA => Codec::Pcma,
                _ => return None,
            };
            Some(Chosen { codec, pt: **pt })
        })
        .ok_or_else(|| BrowserError::BadAnswer("the answer has no audio codec we offered".into()))
}
