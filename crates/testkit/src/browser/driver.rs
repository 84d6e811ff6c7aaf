//! The stand-in's media thread: drives its str0m client in real time over a UDP socket on the
//! loopback, sends a continuous tone in 20 ms frames once ICE and DTLS are up, and decodes what
//! it hears into a shared buffer. This is a shell, not a sans-IO core: it reads the clock.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use callbridge_media::codec::Codec;
use callbridge_media::transcode::codecs::{Decoder, Encoder};
use str0m::media::Mid;
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Event, Input, Output, Rtc};

use super::BrowserError;
use super::offer::Chosen;

/// One packet of audio.
const FRAME: Duration = Duration::from_millis(20);
/// Longest sleep in the socket, so a stop request is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(20);
/// How far the sender may fall behind (a loaded machine) before it skips ahead instead of
/// bursting the frames it missed.
const MAX_LAG: Duration = Duration::from_millis(200);
/// Tone amplitude: about −12 dBFS, loud enough to analyse, far from clipping.
const AMPLITUDE: f64 = 8_000.0;
/// Opus complexity: the stand-in runs beside the gateway on few cores.
const OPUS_COMPLEXITY: i32 = 2;

/// The PCM rate the stand-in sends and hears for `codec`: wideband for Opus and G.722
/// (libopus encodes and decodes 16 kHz natively), narrowband for G.711.
pub(super) const fn pcm_rate(codec: Codec) -> u32 {
    match codec {
        Codec::Opus | Codec::G722 => 16_000,
        Codec::Pcmu | Codec::Pcma => 8_000,
    }
}

/// What the media thread shares with [`super::BrowserStandIn`].
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// ICE and DTLS completed.
    pub(super) connected: AtomicBool,
    /// Asks the thread to end.
    pub(super) stop: AtomicBool,
    /// Every sample decoded so far, at [`pcm_rate`] of the chosen codec.
    pub(super) heard: Mutex<Vec<i16>>,
    /// When the first audio packet was decoded (a latency measurement's end point).
    pub(super) first_heard: OnceLock<Instant>,
}

impl Shared {
    /// The heard samples; a panic elsewhere while holding the lock leaves them usable.
    pub(super) fn heard(&self) -> MutexGuard<'_, Vec<i16>> {
        self.heard.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The media thread's state.
pub(super) struct Driver {
    rtc: Rtc,
    mid: Mid,
    socket: UdpSocket,
    local: SocketAddr,
    chosen: Chosen,
    tone_hz: f64,
    encoder: Encoder,
    decoder: Decoder,
    payload: Vec<u8>,
    decoded: Vec<i16>,
    /// Frames sent so far; sets the sequence number, timestamp and tone phase.
    frame: u64,
    /// When the next frame is due, once connected.
    next_frame: Option<Instant>,
    shared: Arc<Shared>,
}

impl Driver {
    /// A driver for `rtc` (answer applied) on `socket`.
    pub(super) fn new(
        rtc: Rtc,
        mid: Mid,
        socket: UdpSocket,
        chosen: Chosen,
        tone_hz: f64,
        shared: Arc<Shared>,
    ) -> Result<Self, BrowserError> {
        let local = socket.local_addr()?;
        let rate = pcm_rate(chosen.codec);
        let codec = |e: callbridge_media::MediaError| BrowserError::Local(e.to_string());
        Ok(Self {
            encoder: Encoder::new(chosen.codec, rate, OPUS_COMPLEXITY).map_err(codec)?,
            decoder: Decoder::new(chosen.codec, rate).map_err(codec)?,
            rtc,
            mid,
            socket,
            local,
            chosen,
            tone_hz,
            payload: Vec::new(),
            decoded: Vec::new(),
            frame: 0,
            next_frame: None,
            shared,
        })
    }

    /// Runs until asked to stop or until str0m or the socket fails.
    pub(super) fn run(mut self) -> Result<(), BrowserError> {
        let mut buf = vec![0u8; 2_048];
        while !self.shared.stop.load(Ordering::Acquire) {
            let deadline = self.drain()?;
            let now = Instant::now();
            if now >= deadline {
                self.rtc.handle_input(Input::Timeout(now))?;
                continue;
            }
            if let Some(due) = self.next_frame
                && now >= due
            {
                self.send_frame(due, now)?;
                continue;
            }
            let wake = self.next_frame.map_or(deadline, |due| due.min(deadline));
            let wait = wake
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), MAX_WAIT);
            self.socket.set_read_timeout(Some(wait))?;
            match self.socket.recv_from(&mut buf) {
                Ok((n, source)) => self.receive(source, &buf[..n], Instant::now())?,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                // A port-unreachable from a peer that went away: keep going, as a browser does.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Performs everything str0m has to do now; returns when it next wants time.
    fn drain(&mut self) -> Result<Instant, BrowserError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    match self.socket.send_to(&t.contents, t.destination) {
                        Ok(_) => {}
                        // UDP may drop; a full buffer or an unreachable port is a lost packet.
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::WouldBlock | ErrorKind::ConnectionRefused
                            ) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Output::Event(Event::Connected) => {
                    self.shared.connected.store(true, Ordering::Release);
                    let now = Instant::now();
                    self.next_frame.get_or_insert(now);
                }
                Output::Event(Event::RtpPacket(p)) => {
                    // Only the chosen codec is audio we can decode; telephone-event and comfort
                    // noise are not sound to analyse.
                    if *p.header.payload_type == self.chosen.pt {
                        // Stamped before decoding: the decoder's cost is the stand-in's, not
                        // the gateway's.
                        let _ = self.shared.first_heard.set(Instant::now());
                        self.hear(&p.payload);
                    }
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Feeds one datagram to str0m (anything it would not take is ignored, as a browser does).
    fn receive(
        &mut self,
        source: SocketAddr,
        data: &[u8],
        now: Instant,
    ) -> Result<(), BrowserError> {
        let Ok(contents) = data.try_into() else {
            return Ok(());
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        if self.rtc.accepts(&input) {
            self.rtc.handle_input(input)?;
        }
        Ok(())
    }

    /// Decodes one payload of the chosen codec into the shared buffer.
    fn hear(&mut self, payload: &[u8]) {
        let samples = pcm_rate(self.chosen.codec) as usize / 50;
        self.decoded.clear();
        self.decoder.decode(payload, samples, &mut self.decoded);
        self.shared.heard().extend_from_slice(&self.decoded);
    }

    /// Sends the frame that was due at `due`, and schedules the next one.
    fn send_frame(&mut self, due: Instant, now: Instant) -> Result<(), BrowserError> {
        let rate = pcm_rate(self.chosen.codec);
        let n = u64::from(rate / 50);
        let start = self.frame * n;
        let pcm: Vec<i16> = (start..start + n)
            .map(|i| {
                let phase = std::f64::consts::TAU * self.tone_hz * i as f64 / f64::from(rate);
                (AMPLITUDE * phase.sin()) as i16
            })
            .collect();
        self.encoder
            .encode(&pcm, &mut self.payload)
            .map_err(|e| BrowserError::Local(e.to_string()))?;
        let clock = u64::from(self.chosen.codec.rtp_clock());
        // RTP timestamps wrap at 32 bits by definition.
        let ts = (self.frame * clock / 50) as u32;
        let seq = self.frame + 1;
        let mut api = self.rtc.direct_api();
        let stream = api
            .stream_tx_by_mid(self.mid, None)
            .ok_or_else(|| BrowserError::Local("no outbound audio stream".into()))?;
        let write = RtpWrite::new(
            self.chosen.pt.into(),
            seq.into(),
            ts,
            now,
            &self.payload[..],
        );
        stream.write_rtp(write.marker(self.frame == 0));
        self.frame += 1;
        let next = due + FRAME;
        self.next_frame = Some(if now.saturating_duration_since(next) > MAX_LAG {
            now
        } else {
            next
        });
        Ok(())
    }
}
