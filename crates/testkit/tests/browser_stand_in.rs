//! The browser stand-in against a tiny WHIP server that answers with the gateway's own WebRTC
//! leg (ICE-lite, DTLS-SRTP) and echoes every audio packet it receives: the stand-in connects,
//! hears its own tone back through the leg, hangs up with a `DELETE`, and reports a refused
//! offer's status.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use callbridge_media::codec::Codec;
use callbridge_media::webrtc::{WebRtcLeg, WebRtcLegConfig, WebRtcOutput};
use callbridge_testkit::{BrowserError, BrowserStandIn, Patience, eventually};
use url::Url;

/// What the WHIP server saw, and the switches of the echo threads it started.
#[derive(Default)]
struct Whip {
    sessions: Mutex<Vec<Arc<AtomicBool>>>,
    deleted: Mutex<Vec<String>>,
}

/// `POST /join/{token}/whip`: the token names the codecs the leg accepts (`opus` or `pcmu`);
/// `expired` is refused with 410, as the gateway refuses a used or expired link.
async fn offer(
    State(whip): State<Arc<Whip>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let codecs = match token.as_str() {
        "opus" => vec![Codec::Opus, Codec::G722, Codec::Pcmu],
        "pcmu" => vec![Codec::Pcmu],
        _ => return (StatusCode::GONE, "this link has expired").into_response(),
    };
    if headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()) != Some(b"application/sdp") {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("a UDP port");
    let public_addr = socket.local_addr().expect("its address");
    let mut leg = WebRtcLeg::new(
        &WebRtcLegConfig {
            public_addr,
            codecs,
        },
        Instant::now(),
    )
    .expect("the leg");
    let answer = match leg.accept_offer(&body) {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let id = {
        let mut sessions = whip.sessions.lock().expect("lock");
        sessions.push(Arc::clone(&stop));
        sessions.len()
    };
    std::thread::spawn(move || echo(leg, &socket, &stop));
    let location = format!("/join/session/{id}");
    (
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_owned()),
            (header::LOCATION, location),
        ],
        answer,
    )
        .into_response()
}

/// `DELETE /join/session/{id}`: records the hang-up and stops that session's echo.
async fn hang_up(State(whip): State<Arc<Whip>>, Path(id): Path<String>) -> StatusCode {
    let index = id.parse::<usize>().ok().and_then(|i| i.checked_sub(1));
    let sessions = whip.sessions.lock().expect("lock");
    let Some(stop) = index.and_then(|i| sessions.get(i)) else {
        return StatusCode::NOT_FOUND;
    };
    stop.store(true, Ordering::Release);
    whip.deleted.lock().expect("lock").push(id);
    StatusCode::NO_CONTENT
}

/// Drives the leg in real time on `socket`, sending every RTP packet it receives back.
fn echo(mut leg: WebRtcLeg, socket: &UdpSocket, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Acquire) {
        let deadline = loop {
            match leg.poll_output().expect("leg output") {
                WebRtcOutput::Timeout(t) => break t,
                WebRtcOutput::Transmit(t) => {
                    let _ = socket.send_to(&t.payload, t.to);
                }
                WebRtcOutput::Rtp(p) => leg
                    .send_rtp(p.pt, p.marker, p.seq, p.ts, p.payload(), Instant::now())
                    .expect("echo"),
                WebRtcOutput::Connected => {}
            }
        };
        let now = Instant::now();
        if now >= deadline {
            leg.handle_timeout(now).expect("leg timeout");
            continue;
        }
        let wait = (deadline - now).clamp(Duration::from_millis(1), Duration::from_millis(20));
        socket.set_read_timeout(Some(wait)).expect("timeout");
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            leg.receive(from, &buf[..n], Instant::now())
                .expect("leg input");
        }
    }
}

/// Serves the WHIP routes on a loopback port; returns its origin and what it records.
async fn serve() -> Result<(Url, Arc<Whip>)> {
    let whip = Arc::new(Whip::default());
    let app = Router::new()
        .route("/join/{token}/whip", post(offer))
        .route("/join/session/{id}", delete(hang_up))
        .with_state(Arc::clone(&whip));
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr: SocketAddr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((Url::parse(&format!("http://{addr}"))?, whip))
}

/// Joins `/join/{token}`, waits until the stand-in hears `tone_hz` back, hangs up.
async fn hears_its_tone_echoed(token: &str, codec: Codec, rate: u32, tone_hz: f64) -> Result<()> {
    let (origin, whip) = serve().await?;
    let join_url = origin.join(&format!("/join/{token}"))?;
    let browser = BrowserStandIn::join(&join_url, tone_hz).await?;
    assert_eq!(browser.codec(), codec, "the codec the leg chose");
    assert_eq!(browser.sample_rate(), rate);
    assert_eq!(browser.session_url().path(), "/join/session/1");

    let patience = Patience {
        within: Duration::from_secs(10),
        every: Duration::from_millis(100),
    };
    // A full second heard, so the analysis covers a second of continuous tone.
    let (_, samples, heard) = eventually(
        "the stand-in connects and hears a second of its tone echoed",
        patience,
        || async {
            let heard = browser.heard_samples();
            (browser.is_connected(), heard, browser.dominant_frequency())
        },
        |(connected, samples, heard)| {
            *connected
                && *samples >= rate as usize
                && heard.is_some_and(|f| (f - tone_hz).abs() < 5.0)
        },
    )
    .await;
    let heard = heard.context("a frequency")?;
    assert!(
        (heard - tone_hz).abs() < 5.0,
        "heard {heard} Hz after {samples} samples"
    );
    assert!(!browser.media_stopped());

    browser.hang_up().await?;
    assert_eq!(*whip.deleted.lock().expect("lock"), ["1"], "one DELETE");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_with_opus_hears_its_tone_echoed_and_hangs_up_with_a_delete() -> Result<()> {
    hears_its_tone_echoed("opus", Codec::Opus, 16_000, 523.0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_a_pcmu_only_leg_and_hears_its_tone_echoed() -> Result<()> {
    hears_its_tone_echoed("pcmu", Codec::Pcmu, 8_000, 697.0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_offer_reports_the_status_and_body() -> Result<()> {
    let (origin, whip) = serve().await?;
    let refused = BrowserStandIn::join(&origin.join("/join/expired")?, 440.0).await;
    match refused {
        Err(BrowserError::Http { status, body }) => {
            assert_eq!(status, 410);
            assert_eq!(body, "this link has expired");
        }
        other => panic!("expected a 410, got {other:?}"),
    }
    assert!(whip.sessions.lock().expect("lock").is_empty());
    Ok(())
}
