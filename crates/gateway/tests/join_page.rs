//! The join page over its HTTP routes, with a fake call side: tokens, the page and its error
//! pages, WHIP signalling, single use, hang-up and the state event stream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use callbridge::join::{
    self, CSP, JoinBackend, JoinPage, JoinRefusal, JoinState, JoinTokens, JoinView, TokenError,
};
use callbridge_adapter::BoxFuture;
use callbridge_model::{CallId, LegId, MediaAnswer, MediaOffer, MediaTransport, Sdp};
use chrono::{DateTime, TimeDelta, Utc};
use http_body_util::BodyExt as _;
use tokio::sync::watch;
use tower::ServiceExt as _;

const KEY: [u8; 32] = [42; 32];
const OFFER: &str =
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
const ANSWER: &str = "v=0\r\no=callbridge 2 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 UDP/TLS/RTP/SAVPF 111\r\n";

/// A call side that records what the page asks of it.
struct FakeCall {
    view: watch::Sender<JoinView>,
    refusals: Mutex<Vec<JoinRefusal>>,
    offers: Mutex<Vec<(CallId, LegId, MediaOffer)>>,
    left: Mutex<Vec<(CallId, LegId)>>,
}

impl FakeCall {
    fn new(title: &str) -> Arc<Self> {
        Arc::new(Self {
            view: watch::Sender::new(JoinView {
                title: title.to_owned(),
                state: JoinState::Ringing,
            }),
            refusals: Mutex::default(),
            offers: Mutex::default(),
            left: Mutex::default(),
        })
    }

    fn set_state(&self, state: JoinState) {
        self.view.send_modify(|view| view.state = state);
    }
}

impl JoinBackend for FakeCall {
    fn view(&self, _call: CallId, _leg: LegId) -> BoxFuture<'_, Option<JoinView>> {
        let view = self.view.borrow().clone();
        Box::pin(async move { Some(view) })
    }

    fn join(
        &self,
        call: CallId,
        leg: LegId,
        offer: MediaOffer,
    ) -> BoxFuture<'_, Result<MediaAnswer, JoinRefusal>> {
        self.offers.lock().unwrap().push((call, leg, offer));
        let refusal = self.refusals.lock().unwrap().pop();
        Box::pin(async move {
            match refusal {
                Some(refusal) => Err(refusal),
                None => Ok(MediaAnswer {
                    transport: MediaTransport::WebRtc,
                    sdp: Sdp::parse(ANSWER).unwrap(),
                }),
            }
        })
    }

    fn leave(&self, call: CallId, leg: LegId) -> BoxFuture<'_, ()> {
        self.left.lock().unwrap().push((call, leg));
        Box::pin(async {})
    }

    fn watch(&self, _call: CallId) -> Option<watch::Receiver<JoinView>> {
        Some(self.view.subscribe())
    }
}

struct World {
    app: Router,
    backend: Arc<FakeCall>,
    tokens: JoinTokens,
    call: CallId,
    leg: LegId,
}

impl World {
    fn new(title: &str) -> Self {
        let backend = FakeCall::new(title);
        let tokens = JoinTokens::new(&KEY);
        let app = join::routes(JoinPage::new(tokens.clone(), backend.clone()));
        Self {
            app,
            backend,
            tokens,
            call: CallId::generate(),
            leg: LegId::generate(),
        }
    }

    fn token(&self, expires_at: DateTime<Utc>) -> String {
        let nonce = *uuid::Uuid::new_v4().as_bytes();
        self.tokens.issue(self.call, self.leg, expires_at, nonce)
    }

    fn live_token(&self) -> String {
        self.token(Utc::now() + TimeDelta::minutes(10))
    }

    async fn send(&self, method: Method, uri: &str, body: Option<(&str, &str)>) -> Response<Body> {
        let mut request = Request::builder().method(method).uri(uri);
        let body = match body {
            Some((content_type, text)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                Body::from(text.to_owned())
            }
            None => Body::empty(),
        };
        self.app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap()
    }

    async fn get(&self, uri: &str) -> Response<Body> {
        self.send(Method::GET, uri, None).await
    }

    async fn offer(&self, token: &str, sdp: &str) -> Response<Body> {
        self.send(
            Method::POST,
            &format!("/join/{token}/whip"),
            Some(("application/sdp", sdp)),
        )
        .await
    }
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn header_of(response: &Response<Body>, name: &header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

fn assert_protected(response: &Response<Body>) {
    assert_eq!(header_of(response, &header::CONTENT_SECURITY_POLICY), CSP);
    assert!(CSP.contains("script-src 'self'") && CSP.contains("frame-ancestors 'none'"));
    assert_eq!(header_of(response, &header::REFERRER_POLICY), "no-referrer");
    assert_eq!(
        header_of(response, &header::X_CONTENT_TYPE_OPTIONS),
        "nosniff"
    );
}

#[test]
fn tokens_round_trip_and_refuse_tampering_expiry_and_garbage() {
    let tokens = JoinTokens::new(&KEY);
    let (call, leg) = (CallId::generate(), LegId::generate());
    let expires_at = DateTime::from_timestamp(2_000_000_000, 0).unwrap();
    let token = tokens.issue(call, leg, expires_at, [3; 16]);
    let now = expires_at - TimeDelta::minutes(5);

    let claim = tokens.verify(&token, now).unwrap();
    assert_eq!(
        (claim.call, claim.leg, claim.expires_at, claim.nonce),
        (call, leg, expires_at, [3; 16])
    );

    let mut tampered = token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(tokens.verify(&tampered, now), Err(TokenError::BadSignature));
    assert_eq!(
        JoinTokens::new(&[1; 32]).verify(&token, now),
        Err(TokenError::BadSignature)
    );
    assert_eq!(tokens.verify(&token, expires_at), Err(TokenError::Expired));
    assert_eq!(
        tokens.verify("hello%20world", now),
        Err(TokenError::Malformed)
    );
    assert_eq!(tokens.verify(&token[..40], now), Err(TokenError::Malformed));
}

#[tokio::test]
async fn the_page_renders_the_title_inert_under_a_strict_policy() {
    let payload = r#"<script>alert(1)</script><img src=x onerror="alert(2)"> & Eve's"#;
    let world = World::new(payload);
    let response = world.get(&format!("/join/{}", world.live_token())).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_protected(&response);
    assert_eq!(header_of(&response, &header::CACHE_CONTROL), "no-store");
    assert!(header_of(&response, &header::CONTENT_TYPE).starts_with("text/html"));
    let html = text(response).await;

    assert!(html.contains(
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp; Eve&#39;s"
    ));
    assert!(!html.contains("<script>alert") && !html.contains("<img"));
    // Nothing inline: every script is a file, no style element or attribute, no handlers.
    let scripts: Vec<_> = html.match_indices("<script").collect();
    assert_eq!(scripts.len(), 1);
    for (at, _) in scripts {
        assert!(
            html[at..].starts_with("<script src=\"/join/assets/join.js"),
            "{html}"
        );
        assert!(
            html[at..]
                .split_once('>')
                .unwrap()
                .1
                .starts_with("</script>")
        );
    }
    assert!(!html.contains("style=") && !html.contains("<style"));
    assert!(!html.contains("onerror=\"") && !html.contains("onclick="));
    // The controls a person (or a browser test) drives.
    for id in [
        "id=\"join\"",
        "id=\"mute\"",
        "id=\"hangup\"",
        "id=\"state\"",
        "<audio",
    ] {
        assert!(html.contains(id), "{id} missing");
    }
    assert!(html.contains(r#"aria-pressed="false""#));
    assert!(html.contains(r#"aria-live="polite""#));
    assert!(html.contains("microphone"));
}

#[tokio::test]
async fn the_page_assets_are_served_from_the_urls_it_links() {
    let world = World::new("Calling Alice Adams (Teams)");
    let html = text(world.get(&format!("/join/{}", world.live_token())).await).await;
    for (needle, kind) in [
        ("/join/assets/join.js", "text/javascript"),
        ("/join/assets/join.css", "text/css"),
    ] {
        let start = html.find(needle).unwrap();
        let url = &html[start..start + html[start..].find('"').unwrap()];
        let response = world.get(url).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert!(header_of(&response, &header::CONTENT_TYPE).starts_with(kind));
        assert!(header_of(&response, &header::CACHE_CONTROL).contains("max-age=31536000"));
        assert_protected(&response);
        assert!(!text(response).await.is_empty());
    }
    assert_eq!(
        world.get("/join/assets/secret.txt").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn dead_links_get_clear_pages() {
    let world = World::new("Calling Alice Adams (Teams)");
    let expired = world.token(Utc::now() - TimeDelta::seconds(1));
    let forged = JoinTokens::new(&[0; 32]).issue(
        world.call,
        world.leg,
        Utc::now() + TimeDelta::minutes(5),
        [0; 16],
    );

    for (token, status, sentence) in [
        (expired.as_str(), StatusCode::GONE, "This link has expired"),
        (
            forged.as_str(),
            StatusCode::NOT_FOUND,
            "This link is not valid",
        ),
        ("garbage", StatusCode::NOT_FOUND, "This link is not valid"),
    ] {
        let response = world.get(&format!("/join/{token}")).await;
        assert_eq!(response.status(), status, "{sentence}");
        assert_protected(&response);
        assert!(header_of(&response, &header::CONTENT_TYPE).starts_with("text/html"));
        let html = text(response).await;
        assert!(html.contains(&format!("<h1>{sentence}</h1>")), "{html}");
        assert!(!html.contains("<script"), "error pages need no script");
    }

    world.backend.set_state(JoinState::Ended);
    let response = world.get(&format!("/join/{}", world.live_token())).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(text(response).await.contains("This call has ended"));
}

#[tokio::test]
async fn an_offer_is_answered_once_per_link() {
    let world = World::new("Calling Alice Adams (Teams)");
    let token = world.live_token();

    let response = world.offer(&token, OFFER).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        header_of(&response, &header::CONTENT_TYPE),
        "application/sdp"
    );
    let location = header_of(&response, &header::LOCATION);
    let session = location.strip_prefix("/join/session/").unwrap();
    assert_eq!(session.len(), 22, "128 random bits, base64url");
    assert_eq!(text(response).await, ANSWER);
    {
        let offers = world.backend.offers.lock().unwrap();
        let (call, leg, offer) = &offers[0];
        assert_eq!((*call, *leg), (world.call, world.leg));
        assert_eq!(offer.transport, MediaTransport::WebRtc);
        assert_eq!(offer.sdp.as_str(), OFFER);
    }

    let again = world.offer(&token, OFFER).await;
    assert_eq!(again.status(), StatusCode::GONE);
    assert_protected(&again);
    assert_eq!(text(again).await, "This link was already used");
    assert_eq!(
        world.backend.offers.lock().unwrap().len(),
        1,
        "the second offer never reaches the call"
    );

    let page = world.get(&format!("/join/{token}")).await;
    assert_eq!(page.status(), StatusCode::GONE);
    assert!(text(page).await.contains("This link was already used"));

    // Another link to the same leg gets its own session.
    let other = world.offer(&world.live_token(), OFFER).await;
    assert_eq!(other.status(), StatusCode::CREATED);
    assert_ne!(header_of(&other, &header::LOCATION), location);
}

#[tokio::test]
async fn a_malformed_offer_is_refused_without_spending_the_link() {
    let world = World::new("Calling Alice Adams (Teams)");
    let token = world.live_token();

    let response = world.offer(&token, "hello, not sdp").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(header_of(&response, &header::CONTENT_TYPE).starts_with("text/plain"));
    assert_eq!(text(response).await, "The offer is not a valid SDP offer");

    let wrong_type = world
        .send(
            Method::POST,
            &format!("/join/{token}/whip"),
            Some(("text/plain", OFFER)),
        )
        .await;
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(world.backend.offers.lock().unwrap().is_empty());

    assert_eq!(
        world.offer(&token, OFFER).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn offers_with_dead_links_are_refused_in_plain_text() {
    let world = World::new("Calling Alice Adams (Teams)");
    let expired = world.token(Utc::now() - TimeDelta::seconds(1));
    let response = world.offer(&expired, OFFER).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert_eq!(text(response).await, "This link has expired");
    let response = world.offer("garbage", OFFER).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(text(response).await, "This link is not valid");
    assert!(world.backend.offers.lock().unwrap().is_empty());
}

#[tokio::test]
async fn refusals_map_to_statuses_and_retryable_ones_keep_the_link() {
    let world = World::new("Calling Alice Adams (Teams)");
    let token = world.live_token();

    world
        .backend
        .refusals
        .lock()
        .unwrap()
        .push(JoinRefusal::Busy);
    let busy = world.offer(&token, OFFER).await;
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header_of(&busy, &header::RETRY_AFTER), "5");

    world
        .backend
        .refusals
        .lock()
        .unwrap()
        .push(JoinRefusal::BadOffer);
    assert_eq!(
        world.offer(&token, OFFER).await.status(),
        StatusCode::BAD_REQUEST
    );

    world
        .backend
        .refusals
        .lock()
        .unwrap()
        .push(JoinRefusal::CallOver);
    assert_eq!(world.offer(&token, OFFER).await.status(), StatusCode::GONE);
    assert_eq!(
        world.offer(&token, OFFER).await.status(),
        StatusCode::GONE,
        "spent by the final refusal"
    );

    world
        .backend
        .refusals
        .lock()
        .unwrap()
        .push(JoinRefusal::NotYourLeg);
    assert_eq!(
        world.offer(&world.live_token(), OFFER).await.status(),
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn hanging_up_leaves_the_call_once() {
    let world = World::new("Calling Alice Adams (Teams)");
    let response = world.offer(&world.live_token(), OFFER).await;
    let location = header_of(&response, &header::LOCATION);

    let response = world.send(Method::DELETE, &location, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        *world.backend.left.lock().unwrap(),
        [(world.call, world.leg)]
    );

    let again = world.send(Method::DELETE, &location, None).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let unknown = world
        .send(Method::DELETE, "/join/session/AAAAAAAAAAAAAAAAAAAAAA", None)
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(world.backend.left.lock().unwrap().len(), 1);
}

/// The next SSE event's `data` line, skipping keep-alive comments; `None` when the stream ends.
async fn next_event(body: &mut Body) -> Option<String> {
    loop {
        // A guard against a hang, not a timing assertion: events here are immediate.
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an event or the end of the stream")?
            .unwrap();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let text = String::from_utf8(data.to_vec()).unwrap();
        if let Some(line) = text.lines().find_map(|line| line.strip_prefix("data: ")) {
            return Some(line.to_owned());
        }
    }
}

#[tokio::test]
async fn the_event_stream_follows_the_call_until_it_ends() {
    let world = World::new("Calling Alice Adams (Teams)");
    let response = world.offer(&world.live_token(), OFFER).await;
    let location = header_of(&response, &header::LOCATION);

    let response = world.get(&format!("{location}/events")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_of(&response, &header::CONTENT_TYPE),
        "text/event-stream"
    );
    assert_protected(&response);
    let mut body = response.into_body();

    let first: serde_json::Value =
        serde_json::from_str(&next_event(&mut body).await.unwrap()).unwrap();
    assert_eq!(
        first,
        serde_json::json!({"title": "Calling Alice Adams (Teams)", "state": "ringing"})
    );

    world.backend.set_state(JoinState::Connected);
    let connected: serde_json::Value =
        serde_json::from_str(&next_event(&mut body).await.unwrap()).unwrap();
    assert_eq!(connected["state"], "connected");

    world.backend.set_state(JoinState::Ended);
    let ended: serde_json::Value =
        serde_json::from_str(&next_event(&mut body).await.unwrap()).unwrap();
    assert_eq!(ended["state"], "ended");
    assert_eq!(
        next_event(&mut body).await,
        None,
        "the stream ends with the call"
    );

    let gone = world.get(&format!("{location}/events")).await;
    assert_eq!(
        gone.status(),
        StatusCode::NOT_FOUND,
        "the session ended with the call"
    );
}
