//! The SBC side's RTP endpoint for tests: SDP offer and answer handling from the media core
//! (`callbridge_media::sdp`), SDES-SRTP from its `SrtpSession`, G.711 from its codec tables;
//! sends a tone in 20 ms frames and keeps what it hears.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callbridge_media::codec::Codec;
use callbridge_media::g711;
use callbridge_media::sdp::{LocalMedia, Negotiated, answer_offer, apply_answer, create_offer};
use callbridge_media::srtp::SrtpSession;
use callbridge_model::Sdp;
use callbridge_sandbox::microsoft::phone::audio;
use tokio::net::UdpSocket;

pub struct SbcMedia {
    socket: Arc<UdpSocket>,
    local: LocalMedia,
}

pub struct Running {
    pub heard: Arc<Mutex<Vec<i16>>>,
    pub auth_failures: Arc<Mutex<u32>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn dominant_frequency(&self) -> Option<f64> {
        let heard = self.heard.lock().expect("heard").clone();
        audio::dominant_frequency(&heard, 8_000)
    }

    pub fn samples(&self) -> usize {
        self.heard.lock().expect("heard").len()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl SbcMedia {
    pub async fn bind() -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("rtp socket");
        let port = socket.local_addr().expect("addr").port();
        let local = LocalMedia::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            vec![Codec::Pcmu, Codec::Pcma],
        )
        .with_fresh_srtp();
        Self {
            socket: Arc::new(socket),
            local,
        }
    }

    /// The offer: RTP/SAVP with SDES `_80` and `_32`, PCMU/PCMA, telephone-event, CN.
    pub fn offer(&self) -> Sdp {
        Sdp::parse(&create_offer(&self.local, 1)).expect("offer")
    }

    /// Starts media toward the answer's address, sending `tone_hz`.
    pub fn start(&self, answer: &Sdp, tone_hz: f64) -> Running {
        let negotiated = apply_answer(answer.as_str(), &self.local).expect("answer applies");
        self.run(&negotiated, tone_hz)
    }

    /// Answers a peer's offer and starts media, sending `tone_hz`.
    pub fn answer(&self, offer: &Sdp, tone_hz: f64) -> (Sdp, Running) {
        let (text, negotiated) =
            answer_offer(offer.as_str(), &self.local, 2).expect("offer answerable");
        (
            Sdp::parse(&text).expect("answer"),
            self.run(&negotiated, tone_hz),
        )
    }

    fn run(&self, negotiated: &Negotiated, tone_hz: f64) -> Running {
        let (ours, theirs) = negotiated.srtp.clone().expect("SRTP negotiated");
        let codec = negotiated.codec;
        let pt = negotiated.codec_pt;
        let remote = negotiated.remote;
        let heard = Arc::new(Mutex::new(Vec::new()));
        let auth_failures = Arc::new(Mutex::new(0));
        let mut send_session = SrtpSession::new(&ours, &theirs).expect("srtp");
        let mut recv_session = SrtpSession::new(&ours, &theirs).expect("srtp");
        let socket = self.socket.clone();
        let sender = tokio::spawn(async move {
            let ssrc: u32 = rand::random();
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            for frame in 0u32.. {
                tick.tick().await;
                let seq = (frame & 0xffff) as u16;
                let ts = frame.wrapping_mul(160);
                let mut packet = vec![0x80, pt];
                packet.extend_from_slice(&seq.to_be_bytes());
                packet.extend_from_slice(&ts.to_be_bytes());
                packet.extend_from_slice(&ssrc.to_be_bytes());
                for sample in audio::tone(tone_hz, -12.0, 8_000, u64::from(ts), 160) {
                    packet.push(match codec {
                        Codec::Pcma => g711::linear_to_alaw(sample),
                        _ => g711::linear_to_ulaw(sample),
                    });
                }
                let protected = send_session.protect_rtp(&packet).expect("protect");
                let _ = socket.send_to(&protected, remote).await;
            }
        });
        let socket = self.socket.clone();
        let (heard_in, failures_in) = (heard.clone(), auth_failures.clone());
        let receiver = tokio::spawn(async move {
            let mut buffer = vec![0u8; 2048];
            while let Ok((length, _)) = socket.recv_from(&mut buffer).await {
                // RTCP (PT 200–204 with the marker bit) is not audio.
                if length < 12 || (200..=204).contains(&buffer[1]) {
                    continue;
                }
                match recv_session.unprotect_rtp(&buffer[..length]) {
                    Ok(plain) if plain.len() > 12 && plain[1] & 0x7f == pt => {
                        let mut heard = heard_in.lock().expect("heard");
                        heard.extend(plain[12..].iter().map(|&b| match codec {
                            Codec::Pcma => g711::alaw_to_linear(b),
                            _ => g711::ulaw_to_linear(b),
                        }));
                    }
                    Ok(_) => {}
                    Err(_) => *failures_in.lock().expect("failures") += 1,
                }
            }
        });
        Running {
            heard,
            auth_failures,
            tasks: vec![sender, receiver],
        }
    }
}
