//! One phone's media stream: SDES-keyed SRTP over UDP carrying G.722 or G.711, 20 ms frames,
//! RFC 4733 DTMF; it records what it receives for analysis.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc_srtp::context::Context;
use rtc_srtp::crypto::providers::RingCrypto;
use rtc_srtp::protection_profile::ProtectionProfile;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::audio;
use super::codec::{Codec, CodecState};
use super::echo::EchoBuffer;
use crate::microsoft::state::lock;

/// Most received audio kept for analysis (30 s at 16 kHz).
const MAX_RECORDED: usize = 16_000 * 30;
const TELEPHONE_EVENT: u8 = 101;

/// What a phone plays into the call.
#[derive(Clone, Debug, PartialEq)]
pub enum AudioSource {
    /// A sine tone.
    Tone {
        /// Frequency in Hz.
        frequency: f64,
        /// RMS level in dBFS.
        level_dbfs: f64,
    },
    /// PCM samples at the codec's rate, looped (a speech fixture).
    Samples(Arc<Vec<i16>>),
    /// Nothing but silence.
    Silence,
    /// What the phone hears, played back `delay` later (after `prompt`, played once, if any):
    /// a person calling in hears themselves.
    Echo {
        /// How long after arrival a frame is played back.
        delay: Duration,
        /// PCM at the codec's rate played once before the echo starts (a spoken prompt).
        prompt: Option<Arc<Vec<i16>>>,
    },
}

/// What a phone received, for tests to analyse.
#[derive(Clone, Debug, Default)]
pub struct MediaReport {
    /// The negotiated codec.
    pub codec: Option<Codec>,
    /// Decoded audio received, in order of arrival.
    pub samples: Vec<i16>,
    /// Sample rate of `samples`.
    pub sample_rate: u32,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// Audio and DTMF packets received and authenticated.
    pub packets_received: u64,
    /// Packets missing from the received sequence-number range.
    pub packets_lost: u64,
    /// Packets that failed SRTP authentication.
    pub auth_failures: u64,
    /// RFC 4733 digits received.
    pub dtmf_events: String,
    /// Time from the stream's start to the first received audio packet.
    pub first_audio_after: Option<Duration>,
}

impl MediaReport {
    /// The dominant frequency of what was received.
    pub fn dominant_frequency(&self) -> Option<f64> {
        audio::dominant_frequency(&self.samples, self.sample_rate)
    }

    /// RMS level of what was received, in dBFS.
    pub fn level_dbfs(&self) -> f64 {
        audio::level_dbfs(&self.samples)
    }

    /// SNR of a received tone at `frequency`.
    pub fn tone_snr_db(&self, frequency: f64) -> f64 {
        audio::tone_snr_db(&self.samples, self.sample_rate, frequency)
    }

    /// Delay and SNR of the received audio against what the far end `sent` (e.g. the speech
    /// fixture), searching delays up to `max_delay`.
    pub fn compare_with(&self, sent: &[i16], max_delay: Duration) -> Option<(Duration, f64)> {
        let max_lag = (max_delay.as_secs_f64() * f64::from(self.sample_rate)) as usize;
        let (lag, snr) = audio::align(sent, &self.samples, max_lag)?;
        let delay = Duration::from_secs_f64(lag as f64 / f64::from(self.sample_rate.max(1)));
        Some((delay, snr))
    }

    /// DTMF digits heard in the audio itself (in-band).
    pub fn inband_dtmf(&self) -> String {
        audio::detect_dtmf(&self.samples, self.sample_rate)
    }
}

/// SDES keying of one direction.
#[derive(Clone, Debug)]
pub(crate) struct SrtpKey {
    pub(crate) suite: String,
    pub(crate) key_salt: Vec<u8>,
}

fn context(key: &SrtpKey) -> Option<Context> {
    let profile = match key.suite.as_str() {
        "AES_CM_128_HMAC_SHA1_32" => ProtectionProfile::Aes128CmHmacSha1_32,
        "AES_CM_128_HMAC_SHA1_80" => ProtectionProfile::Aes128CmHmacSha1_80,
        _ => return None,
    };
    if key.key_salt.len() != 30 {
        return None;
    }
    Context::new(
        &key.key_salt[..16],
        &key.key_salt[16..],
        profile,
        None,
        None,
        &RingCrypto,
    )
    .ok()
}

/// Commands to a running stream.
#[derive(Clone, Debug, Default)]
struct Control {
    held: bool,
    stopped: bool,
    dtmf: String,
}

/// A bound, not yet started media port.
#[derive(Debug)]
pub(crate) struct MediaPort {
    socket: Arc<UdpSocket>,
    /// The local SDES key+salt this side sends with.
    pub(crate) key_salt: Vec<u8>,
}

impl MediaPort {
    pub(crate) async fn bind(ip: std::net::IpAddr) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        Ok(Self {
            socket: Arc::new(socket),
            key_salt: rand::random::<[u8; 30]>().to_vec(),
        })
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Starts sending to `remote` and receiving, until the handle stops it.
    pub(crate) fn start(
        self,
        remote: SocketAddr,
        codec: Codec,
        suite: &str,
        remote_key: Vec<u8>,
        source: AudioSource,
    ) -> MediaHandle {
        let report = Arc::new(Mutex::new(MediaReport {
            codec: Some(codec),
            sample_rate: codec.sample_rate(),
            ..MediaReport::default()
        }));
        let (control, watch_control) = watch::channel(Control::default());
        let send_key = SrtpKey {
            suite: suite.to_owned(),
            key_salt: self.key_salt.clone(),
        };
        let receive_key = SrtpKey {
            suite: suite.to_owned(),
            key_salt: remote_key,
        };
        // Only an echoing phone keeps received frames for playback.
        let echo = matches!(source, AudioSource::Echo { .. })
            .then(|| Arc::new(Mutex::new(EchoBuffer::default())));
        tokio::spawn(send_loop(
            self.socket.clone(),
            remote,
            codec,
            send_key,
            (source, echo.clone()),
            watch_control.clone(),
            report.clone(),
        ));
        tokio::spawn(receive_loop(
            self.socket,
            codec,
            receive_key,
            (watch_control, echo),
            report.clone(),
        ));
        MediaHandle { control, report }
    }
}

/// Controls a running stream and reads its report.
#[derive(Clone, Debug)]
pub struct MediaHandle {
    control: watch::Sender<Control>,
    report: Arc<Mutex<MediaReport>>,
}

impl MediaHandle {
    /// Puts the stream on hold (`a=inactive`: nothing is sent) or resumes it.
    pub fn set_held(&self, held: bool) {
        self.control.send_modify(|c| c.held = held);
    }

    /// Sends RFC 4733 digits.
    pub fn send_dtmf(&self, digits: &str) {
        self.control.send_modify(|c| c.dtmf.push_str(digits));
    }

    /// Stops sending and receiving.
    pub fn stop(&self) {
        self.control.send_modify(|c| c.stopped = true);
    }

    /// What was received so far.
    pub fn report(&self) -> MediaReport {
        lock(&self.report).clone()
    }
}

async fn send_loop(
    socket: Arc<UdpSocket>,
    remote: SocketAddr,
    codec: Codec,
    key: SrtpKey,
    (source, echo): (AudioSource, Option<Arc<Mutex<EchoBuffer>>>),
    control: watch::Receiver<Control>,
    report: Arc<Mutex<MediaReport>>,
) {
    let Some(mut srtp) = context(&key) else {
        tracing::warn!("unusable local SRTP key");
        return;
    };
    let mut state = CodecState::new(codec);
    let frame = (codec.sample_rate() / 50) as usize;
    let ssrc: u32 = rand::random();
    let mut sequence: u16 = rand::random();
    let mut timestamp: u32 = rand::random();
    let mut offset: u64 = 0;
    let mut sent_digits = 0;
    let mut interval = tokio::time::interval(Duration::from_millis(20));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut marker = true;
    loop {
        interval.tick().await;
        let now = control.borrow().clone();
        if now.stopped {
            return;
        }
        // RTP timestamps run on an 8 kHz clock for every codec here (G.722's RFC 3551 quirk).
        let step = 160;
        if now.held {
            timestamp = timestamp.wrapping_add(step);
            continue;
        }
        if let Some(digit) = now.dtmf.chars().nth(sent_digits) {
            sent_digits += 1;
            for packet in dtmf_packets(digit, ssrc, &mut sequence, timestamp) {
                if let Ok(protected) = srtp.encrypt_rtp(&packet) {
                    let _ = socket.send_to(&protected, remote).await;
                    lock(&report).packets_sent += 1;
                }
            }
            timestamp = timestamp.wrapping_add(step * 5);
            continue;
        }
        let pcm = match &source {
            AudioSource::Tone {
                frequency,
                level_dbfs,
            } => audio::tone(*frequency, *level_dbfs, codec.sample_rate(), offset, frame),
            AudioSource::Samples(samples) if !samples.is_empty() => (0..frame as u64)
                .map(|i| samples[((offset + i) % samples.len() as u64) as usize])
                .collect(),
            AudioSource::Echo { delay, prompt } => {
                echo_frame(echo.as_deref(), *delay, prompt.as_deref(), offset, frame)
            }
            _ => vec![0; frame],
        };
        offset += frame as u64;
        let payload = state.encode(&pcm);
        let packet = rtp_packet(
            codec.payload_type(),
            marker,
            sequence,
            timestamp,
            ssrc,
            &payload,
        );
        marker = false;
        sequence = sequence.wrapping_add(1);
        timestamp = timestamp.wrapping_add(step);
        if let Ok(protected) = srtp.encrypt_rtp(&packet) {
            let _ = socket.send_to(&protected, remote).await;
            lock(&report).packets_sent += 1;
        }
    }
}

/// The next frame of an echoing phone: the prompt while it lasts, then the echo.
fn echo_frame(
    echo: Option<&Mutex<EchoBuffer>>,
    delay: Duration,
    prompt: Option<&Vec<i16>>,
    offset: u64,
    frame: usize,
) -> Vec<i16> {
    let now = Instant::now();
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    if let Some(prompt) = prompt.filter(|p| start < p.len()) {
        // What the caller says during the prompt is not echoed after it.
        if let Some(echo) = echo {
            lock(echo).discard_stale(now, delay);
        }
        let mut pcm = prompt[start..]
            .iter()
            .take(frame)
            .copied()
            .collect::<Vec<_>>();
        pcm.resize(frame, 0);
        return pcm;
    }
    echo.map_or_else(|| vec![0; frame], |e| lock(e).next(now, delay, frame))
}

fn rtp_packet(
    pt: u8,
    marker: bool,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut packet = Vec::with_capacity(12 + payload.len());
    packet.push(0x80);
    packet.push(pt | if marker { 0x80 } else { 0 });
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// One RFC 4733 event: three updates, then the end packet sent three times.
fn dtmf_packets(digit: char, ssrc: u32, sequence: &mut u16, timestamp: u32) -> Vec<Vec<u8>> {
    let event = match digit {
        '0'..='9' => digit as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => digit as u8 - b'A' + 12,
        _ => return Vec::new(),
    };
    let mut packets = Vec::new();
    for (i, end) in [false, false, false, true, true, true]
        .into_iter()
        .enumerate()
    {
        let duration = (160 * (i.min(3) + 1)) as u16;
        let flags = if end { 0x80 } else { 0 } | 10;
        let mut payload = vec![event, flags];
        payload.extend_from_slice(&duration.to_be_bytes());
        packets.push(rtp_packet(
            TELEPHONE_EVENT,
            i == 0,
            *sequence,
            timestamp,
            ssrc,
            &payload,
        ));
        *sequence = sequence.wrapping_add(1);
    }
    packets
}

async fn receive_loop(
    socket: Arc<UdpSocket>,
    codec: Codec,
    key: SrtpKey,
    (mut control, echo): (watch::Receiver<Control>, Option<Arc<Mutex<EchoBuffer>>>),
    report: Arc<Mutex<MediaReport>>,
) {
    let Some(mut srtp) = context(&key) else {
        tracing::warn!("unusable remote SRTP key");
        return;
    };
    let started = Instant::now();
    let mut state = CodecState::new(codec);
    let mut buffer = vec![0u8; 2048];
    let mut lowest: Option<u16> = None;
    let mut highest: Option<u16> = None;
    let mut ended_event_ts: Option<u32> = None;
    loop {
        let received = tokio::select! {
            received = socket.recv_from(&mut buffer) => received,
            _ = control.wait_for(|c| c.stopped) => return,
        };
        let Ok((length, _)) = received else { return };
        let Ok(plain) = srtp.decrypt_rtp(&buffer[..length]) else {
            lock(&report).auth_failures += 1;
            continue;
        };
        let Some((pt, sequence, timestamp, payload)) = parse_rtp(&plain) else {
            continue;
        };
        let mut report = lock(&report);
        report.packets_received += 1;
        lowest = Some(lowest.map_or(sequence, |l| l.min(sequence)));
        highest = Some(highest.map_or(sequence, |h| h.max(sequence)));
        if let (Some(l), Some(h)) = (lowest, highest) {
            let expected = u64::from(h.wrapping_sub(l)) + 1;
            report.packets_lost = expected.saturating_sub(report.packets_received);
        }
        if pt == codec.payload_type() {
            report
                .first_audio_after
                .get_or_insert_with(|| started.elapsed());
            let pcm = state.decode(payload);
            if let Some(echo) = &echo {
                lock(echo).push(Instant::now(), pcm.clone());
            }
            if report.samples.len() + pcm.len() <= MAX_RECORDED {
                report.samples.extend(pcm);
            }
        } else if pt == TELEPHONE_EVENT
            && payload.len() >= 4
            && payload[1] & 0x80 != 0
            && ended_event_ts != Some(timestamp)
        {
            // The end packet is sent three times; count the event once per timestamp.
            ended_event_ts = Some(timestamp);
            let digit = match payload[0] {
                n @ 0..=9 => char::from(b'0' + n),
                10 => '*',
                11 => '#',
                n @ 12..=15 => char::from(b'A' + n - 12),
                _ => '?',
            };
            report.dtmf_events.push(digit);
        }
    }
}

/// Payload type, sequence number, timestamp and payload of an RTP packet.
fn parse_rtp(packet: &[u8]) -> Option<(u8, u16, u32, &[u8])> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let csrc = usize::from(packet[0] & 0x0F);
    let mut start = 12 + 4 * csrc;
    if packet[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([*packet.get(start + 2)?, *packet.get(start + 3)?]);
        start += 4 + 4 * usize::from(words);
    }
    let payload = packet.get(start..)?;
    let sequence = u16::from_be_bytes([packet[2], packet[3]]);
    let timestamp = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
    Some((packet[1] & 0x7F, sequence, timestamp, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_phones_exchange_srtp_g722_tones_and_dtmf() {
        let ip = "127.0.0.1".parse().unwrap();
        let a = MediaPort::bind(ip).await.unwrap();
        let b = MediaPort::bind(ip).await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let (a_key, b_key) = (a.key_salt.clone(), b.key_salt.clone());
        let suite = "AES_CM_128_HMAC_SHA1_32";
        let tone = |frequency| AudioSource::Tone {
            frequency,
            level_dbfs: -12.0,
        };
        let a = a.start(b_addr, Codec::G722, suite, b_key, tone(1000.0));
        let b = b.start(a_addr, Codec::G722, suite, a_key, tone(440.0));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        b.send_dtmf("42#");
        tokio::time::sleep(Duration::from_millis(400)).await;
        a.stop();
        b.stop();
        let (at_a, at_b) = (a.report(), b.report());
        let heard_by_b = at_b.dominant_frequency().unwrap();
        assert!((heard_by_b - 1000.0).abs() <= 5.0, "{heard_by_b}");
        let heard_by_a = at_a.dominant_frequency().unwrap();
        assert!((heard_by_a - 440.0).abs() <= 5.0, "{heard_by_a}");
        assert!(at_b.tone_snr_db(1000.0) > 20.0);
        assert!(at_b.level_dbfs() > -20.0);
        assert_eq!(at_a.dtmf_events, "42#");
        assert_eq!((at_a.auth_failures, at_b.packets_lost), (0, 0));
    }

    #[tokio::test]
    async fn speech_fixture_arrives_with_low_delay_and_good_snr() {
        let ip = "127.0.0.1".parse().unwrap();
        let a = MediaPort::bind(ip).await.unwrap();
        let b = MediaPort::bind(ip).await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let (a_key, b_key) = (a.key_salt.clone(), b.key_salt.clone());
        let suite = "AES_CM_128_HMAC_SHA1_80";
        let speech = Arc::new(audio::speech_fixture(16_000));
        let a = a.start(
            b_addr,
            Codec::G722,
            suite,
            b_key,
            AudioSource::Samples(speech.clone()),
        );
        let b = b.start(a_addr, Codec::G722, suite, a_key, AudioSource::Silence);
        tokio::time::sleep(Duration::from_millis(900)).await;
        a.stop();
        b.stop();
        let (delay, snr) = b
            .report()
            .compare_with(&speech, Duration::from_millis(20))
            .unwrap();
        assert!(delay < Duration::from_millis(5), "{delay:?}");
        assert!(snr > 10.0, "{snr}");
    }

    #[tokio::test]
    async fn wrong_key_fails_authentication() {
        let ip = "127.0.0.1".parse().unwrap();
        let a = MediaPort::bind(ip).await.unwrap();
        let b = MediaPort::bind(ip).await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let suite = "AES_CM_128_HMAC_SHA1_80";
        let a = a.start(
            b_addr,
            Codec::Pcmu,
            suite,
            vec![1; 30],
            AudioSource::Silence,
        );
        let b = b.start(
            a_addr,
            Codec::Pcmu,
            suite,
            vec![2; 30],
            AudioSource::Silence,
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        a.stop();
        b.stop();
        assert!(b.report().auth_failures > 0);
        assert_eq!(b.report().packets_received, 0);
    }
}
