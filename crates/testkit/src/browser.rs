//! A stand-in for the Slack user's browser on the join page, for end-to-end tests: it offers
//! audio to the join URL's WHIP endpoint as Chrome does, connects with full ICE (controlling)
//! and DTLS-SRTP over a real UDP socket on the loopback, sends a continuous tone and keeps
//! everything it hears, decoded, for the test to analyse. `DELETE` on the session hangs up.

mod driver;
mod offer;

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use callbridge_media::codec::Codec;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use url::Url;

use self::driver::{Driver, Shared, pcm_rate};

/// How long one WHIP request may take, generous for a loaded machine.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why joining or hanging up failed, sorted by whose fault it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// The gateway refused the request (410 for a used or expired link, 409, 503, …).
    #[error("the gateway answered {status}: {body}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The response body.
        body: String,
    },
    /// The gateway accepted the offer but its answer is unusable (not SDP, no audio we offered,
    /// no `Location`).
    #[error("unusable answer: {0}")]
    BadAnswer(String),
    /// The HTTP request or the UDP socket failed.
    #[error("transport: {0}")]
    Transport(String),
    /// str0m failed while connected (ICE, DTLS, SRTP).
    #[error("webrtc: {0}")]
    WebRtc(String),
    /// The stand-in itself could not be set up (a codec, its offer, its media thread).
    #[error("stand-in: {0}")]
    Local(String),
}

impl From<std::io::Error> for BrowserError {
    /// The stand-in's only I/O is its UDP socket: an I/O error is a transport error.
    fn from(e: std::io::Error) -> Self {
        Self::Transport(e.to_string())
    }
}

impl From<str0m::RtcError> for BrowserError {
    /// str0m fails only on ICE, DTLS or SRTP trouble once set up.
    fn from(e: str0m::RtcError) -> Self {
        Self::WebRtc(e.to_string())
    }
}

/// A browser in a call through the gateway's join page; see the module documentation.
/// Dropping it without [`BrowserStandIn::hang_up`] stops its media without telling the gateway.
pub struct BrowserStandIn {
    session: Url,
    codec: Codec,
    sample_rate: u32,
    shared: Arc<Shared>,
    media: Option<JoinHandle<Result<(), BrowserError>>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for BrowserStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the heard samples: a test failure message would drown in them.
        f.debug_struct("BrowserStandIn")
            .field("session", &self.session.path())
            .field("codec", &self.codec)
            .field("connected", &self.is_connected())
            .field("heard_samples", &self.heard_samples())
            .finish_non_exhaustive()
    }
}

impl BrowserStandIn {
    /// Offers audio (Opus, G.722, PCMU, PCMA, telephone-event at 48 and 8 kHz) to
    /// `{join_url}/whip`, applies the answer, and starts the media thread: it connects, then
    /// sends a continuous sine tone of `tone_hz` in the codec the gateway chose and decodes
    /// everything it hears. Returns once the answer is applied; [`Self::is_connected`] tells
    /// when ICE and DTLS are up.
    ///
    /// # Errors
    /// [`BrowserError::Http`] with the status when the gateway refuses the offer, the other
    /// variants when the answer is unusable or the socket, HTTP or str0m fail.
    pub async fn join(join_url: &Url, tone_hz: f64) -> Result<Self, BrowserError> {
        Self::join_with_codecs(join_url, tone_hz, &offer::CHROME_AUDIO).await
    }

    /// [`Self::join`], offering only `codecs` (each of Opus, G.722, PCMU, PCMA at most once)
    /// with telephone-event at the rates they need: a browser that speaks only Opus makes the
    /// gateway transcode, one that speaks G.722 or G.711 lets it pass packets through.
    ///
    /// # Errors
    /// As [`Self::join`]; [`BrowserError::Local`] when `codecs` is empty.
    pub async fn join_with_codecs(
        join_url: &Url,
        tone_hz: f64,
        codecs: &[Codec],
    ) -> Result<Self, BrowserError> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let local = socket.local_addr()?;
        let mut offered = offer::offer(local, Instant::now(), codecs)?;

        let whip = Url::parse(&format!("{}/whip", join_url.as_str().trim_end_matches('/')))
            .map_err(|e| BrowserError::Local(format!("join URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| BrowserError::Local(format!("HTTP client: {e}")))?;
        let response = http
            .post(whip.clone())
            .header(CONTENT_TYPE, "application/sdp")
            .body(std::mem::take(&mut offered.sdp))
            .send()
            .await
            .map_err(|e| BrowserError::Transport(e.to_string()))?;
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| BrowserError::Transport(e.to_string()))?;
        if status != reqwest::StatusCode::CREATED {
            return Err(BrowserError::Http {
                status: status.as_u16(),
                body,
            });
        }
        let location =
            location.ok_or_else(|| BrowserError::BadAnswer("201 without a Location".into()))?;
        // The Location is relative to the gateway's origin (`/join/session/{id}`).
        let session = whip
            .join(&location)
            .map_err(|e| BrowserError::BadAnswer(format!("Location: {e}")))?;
        let chosen = offer::accept(&mut offered.rtc, offered.mid, offered.pending, &body)?;

        let shared = Arc::new(Shared::default());
        let driver = Driver::new(
            offered.rtc,
            offered.mid,
            socket,
            chosen,
            tone_hz,
            Arc::clone(&shared),
        )?;
        let media = std::thread::Builder::new()
            .name("browser-stand-in".into())
            .spawn(move || driver.run())
            .map_err(|e| BrowserError::Local(format!("media thread: {e}")))?;
        Ok(Self {
            session,
            codec: chosen.codec,
            sample_rate: pcm_rate(chosen.codec),
            shared,
            media: Some(media),
            http,
        })
    }

    /// The session URL the gateway gave (`{origin}/join/session/{id}`).
    pub fn session_url(&self) -> &Url {
        &self.session
    }

    /// The audio codec the gateway's answer chose; both directions use it.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The rate of the heard samples: 16 kHz for Opus and G.722, 8 kHz for G.711.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// How many samples (at [`Self::sample_rate`]) it has decoded so far.
    pub fn heard_samples(&self) -> usize {
        self.shared.heard().len()
    }

    /// When the first packet of audio in the chosen codec arrived and was decoded; `None`
    /// before any did.
    pub fn first_heard_at(&self) -> Option<Instant> {
        self.shared.first_heard.get().copied()
    }

    /// A copy of everything heard so far, at [`Self::sample_rate`].
    pub fn heard(&self) -> Vec<i16> {
        self.shared.heard().clone()
    }

    /// The strongest frequency in the last second heard (or all of it when shorter), to about
    /// 0.1 Hz; `None` before enough audio (32 ms) arrived or when all of it is silence.
    pub fn dominant_frequency(&self) -> Option<f64> {
        let last = {
            let heard = self.shared.heard();
            let from = heard.len().saturating_sub(self.sample_rate as usize);
            heard[from..].to_vec()
        };
        callbridge_sandbox::microsoft::phone::audio::dominant_frequency(&last, self.sample_rate)
    }

    /// Whether ICE and DTLS completed (it stays true after the media thread stops).
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// Whether the media thread has ended (hung up, or failed: [`Self::hang_up`] says why).
    pub fn media_stopped(&self) -> bool {
        self.media.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Hangs up: `DELETE` on the session, then stops the media thread.
    ///
    /// # Errors
    /// [`BrowserError::Http`] when the gateway did not answer the `DELETE` with a success,
    /// [`BrowserError::Transport`] when it could not be sent; otherwise the error that had
    /// stopped the media thread, if any.
    pub async fn hang_up(mut self) -> Result<(), BrowserError> {
        let deleted = self.delete().await;
        let media = self.stop_media().await;
        deleted.and(media)
    }

    async fn delete(&self) -> Result<(), BrowserError> {
        let response = self
            .http
            .delete(self.session.clone())
            .send()
            .await
            .map_err(|e| BrowserError::Transport(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(BrowserError::Http {
            status: status.as_u16(),
            body,
        })
    }

    /// Stops the media thread and waits for it off the async runtime (it ends within one
    /// socket wait).
    async fn stop_media(&mut self) -> Result<(), BrowserError> {
        self.shared.stop.store(true, Ordering::Release);
        let Some(media) = self.media.take() else {
            return Ok(());
        };
        match tokio::task::spawn_blocking(move || media.join()).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(BrowserError::Local("the media thread panicked".into())),
            Err(e) => Err(BrowserError::Local(format!(
                "joining the media thread: {e}"
            ))),
        }
    }
}

impl Drop for BrowserStandIn {
    fn drop(&mut self) {
        // The thread sees the flag within one socket wait and ends on its own.
        self.shared.stop.store(true, Ordering::Release);
    }
}
