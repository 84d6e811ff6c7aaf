//! Inbound Bot Framework authentication (reference `teams-graph.md` §5.2) against an issuer
//! whose RSA keys are generated here: a well-formed token passes, and each way a token can be
//! wrong is refused as `Unauthenticated` — wrong audience or issuer, expired, `alg: none`,
//! HMAC with the public key, an unknown `kid`, a bad signature, a `serviceurl` that is not the
//! activity's, a channel the key is not endorsed for. The key set is refetched for an unknown
//! `kid` at most once per interval, measured on injected time.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use callbridge_adapter::AdapterError;
use callbridge_adapter::client::{ApiClient, ClientConfig};
use callbridge_model::Platform;
use callbridge_teams::bot::{BotVerifier, BotVerifierConfig};
use chrono::{DateTime, TimeZone, Utc};
use http::HeaderMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use url::Url;

const APP: &str = "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e";
const SERVICE_URL: &str = "https://smba.trafficmanager.net/amer/";

/// An RSA key generated for the test: its JWK and a jsonwebtoken signing key.
struct TestKey {
    kid: String,
    jwk: Value,
    signing: EncodingKey,
}

/// Reads one DER element: (tag, content, rest).
fn der(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        short if short < 0x80 => (usize::from(short), 2),
        long => {
            let n = usize::from(long & 0x7f);
            let len = input[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + n)
        }
    };
    (tag, &input[header..header + len], &input[header + len..])
}

impl TestKey {
    fn generate(kid: &str, endorsements: &[&str]) -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&pair).unwrap();
        // PrivateKeyInfo { version, algorithm, privateKey OCTET STRING { RSAPrivateKey } }:
        // jsonwebtoken takes the inner PKCS#1 key.
        let (_, info, _) = der(pkcs8.as_ref());
        let (_, _, rest) = der(info);
        let (_, _, rest) = der(rest);
        let (tag, pkcs1, _) = der(rest);
        assert_eq!(tag, 0x04);
        let public = pair.public_key();
        let jwk = json!({
            "kty": "RSA", "use": "sig", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            "endorsements": endorsements,
        });
        Self {
            kid: kid.to_owned(),
            jwk,
            signing: EncodingKey::from_rsa_der(pkcs1),
        }
    }

    /// The same private key under another key id (generating RSA keys is the slow part).
    fn with_kid(&self, kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            jwk: self.jwk.clone(),
            signing: self.signing.clone(),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.signing).unwrap()
    }
}

#[derive(Clone, Default)]
struct Issuer {
    keys: Arc<Mutex<Vec<Value>>>,
    key_fetches: Arc<AtomicUsize>,
    base: Arc<Mutex<String>>,
    down: Arc<AtomicBool>,
}

async fn metadata(State(issuer): State<Issuer>) -> axum::Json<Value> {
    let base = issuer.base.lock().unwrap().clone();
    axum::Json(json!({
        "issuer": "https://api.botframework.com",
        "jwks_uri": format!("{base}/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn keys(State(issuer): State<Issuer>) -> axum::response::Response {
    use axum::response::IntoResponse;
    issuer.key_fetches.fetch_add(1, Ordering::SeqCst);
    if issuer.down.load(Ordering::SeqCst) {
        return http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    axum::Json(json!({"keys": issuer.keys.lock().unwrap().clone()})).into_response()
}

struct Rig {
    issuer: Issuer,
    verifier: BotVerifier,
    key: TestKey,
}

async fn rig() -> Rig {
    let issuer = Issuer::default();
    let key = TestKey::generate("key-1", &["msteams"]);
    issuer.keys.lock().unwrap().push(key.jwk.clone());
    let app = Router::new()
        .route("/openid", get(metadata))
        .route("/keys", get(keys))
        .with_state(issuer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *issuer.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = BotVerifierConfig::new(APP).unwrap();
    config.openid_metadata = Url::parse(&format!("{base}/openid")).unwrap();
    let client = ApiClient::new(Platform::Teams, ClientConfig::default());
    Rig {
        issuer,
        verifier: BotVerifier::new(config, client),
        key,
    }
}

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

fn claims(now: DateTime<Utc>) -> Value {
    let now = now.timestamp();
    json!({
        "iss": "https://api.botframework.com", "aud": APP,
        "iat": now, "nbf": now, "exp": now + 3600, "serviceurl": SERVICE_URL,
    })
}

fn activity() -> Vec<u8> {
    json!({
        "type": "message", "id": "1485983408511", "serviceUrl": SERVICE_URL, "channelId": "msteams",
        "from": {"id": "29:1abc", "aadObjectId": "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"},
        "conversation": {"id": "a:1xyz", "conversationType": "personal"},
        "recipient": {"id": format!("28:{APP}")},
        "text": "help", "channelData": {"tenant": {"id": "8a4e9b62-3c1d-4f5e-9a7b-2c6d8e0f1a3b"}},
    })
    .to_string()
    .into_bytes()
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    headers
}

async fn verdict(
    rig: &Rig,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), &'static str> {
    match rig.verifier.verify(headers, body, now).await {
        Ok(activity) => {
            assert_eq!(activity.service_url, SERVICE_URL);
            Ok(())
        }
        Err(AdapterError::Unauthenticated(reason)) => Err(reason),
        Err(other) => panic!("expected Unauthenticated, got {other:?}"),
    }
}

#[tokio::test]
async fn a_well_formed_token_is_accepted_and_bound_to_its_activity() {
    let rig = rig().await;
    let token = rig.key.sign(&claims(t0()));
    assert_eq!(
        verdict(&rig, &bearer(&token), &activity(), t0()).await,
        Ok(())
    );
    // Within the 5-minute skew on both ends.
    let early = t0() - chrono::Duration::seconds(240);
    assert_eq!(
        verdict(&rig, &bearer(&token), &activity(), early).await,
        Ok(())
    );
    let late = t0() + chrono::Duration::seconds(3600 + 240);
    assert_eq!(
        verdict(&rig, &bearer(&token), &activity(), late).await,
        Ok(())
    );
}

#[tokio::test]
async fn every_bad_token_is_unauthenticated() {
    let rig = rig().await;
    let now = t0();
    let body = activity();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims(now);
        edit(&mut c);
        rig.key.sign(&c)
    };

    let wrong_audience = with(&|c| c["aud"] = json!("00000000-0000-0000-0000-000000000001"));
    assert_eq!(
        verdict(&rig, &bearer(&wrong_audience), &body, now).await,
        Err("audience")
    );

    let wrong_issuer = with(&|c| c["iss"] = json!("https://sts.windows.net/evil/"));
    assert_eq!(
        verdict(&rig, &bearer(&wrong_issuer), &body, now).await,
        Err("issuer")
    );

    let expired = with(&|c| c["exp"] = json!(now.timestamp() - 301));
    assert_eq!(
        verdict(&rig, &bearer(&expired), &body, now).await,
        Err("expired")
    );

    let no_expiry = with(&|c| {
        c.as_object_mut().unwrap().remove("exp");
    });
    assert_eq!(
        verdict(&rig, &bearer(&no_expiry), &body, now).await,
        Err("no expiry")
    );

    let future = with(&|c| c["nbf"] = json!(now.timestamp() + 301));
    assert_eq!(
        verdict(&rig, &bearer(&future), &body, now).await,
        Err("not yet valid")
    );

    let other_service = with(&|c| c["serviceurl"] = json!("https://evil.example/amer/"));
    assert_eq!(
        verdict(&rig, &bearer(&other_service), &body, now).await,
        Err("service url")
    );

    let no_service = with(&|c| {
        c.as_object_mut().unwrap().remove("serviceurl");
    });
    assert_eq!(
        verdict(&rig, &bearer(&no_service), &body, now).await,
        Err("service url")
    );

    // `alg: none` with the key id of a real key and no signature.
    let valid = rig.key.sign(&claims(now));
    let payload = valid.split('.').nth(1).unwrap();
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"key-1"}"#);
    let unsigned = format!("{none_header}.{payload}.");
    assert!(verdict(&rig, &bearer(&unsigned), &body, now).await.is_err());

    // HS256 keyed with the public modulus: the classic algorithm confusion.
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("key-1".to_owned());
    let modulus = rig.key.jwk["n"].as_str().unwrap().as_bytes().to_vec();
    let confused = jsonwebtoken::encode(
        &hs_header,
        &claims(now),
        &EncodingKey::from_secret(&modulus),
    )
    .unwrap();
    assert_eq!(
        verdict(&rig, &bearer(&confused), &body, now).await,
        Err("algorithm")
    );

    // A flipped bit in the signature, and claims swapped under a valid signature.
    let parts: Vec<&str> = valid.split('.').collect();
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[7] ^= 0x01;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(&signature)
    );
    assert_eq!(
        verdict(&rig, &bearer(&flipped), &body, now).await,
        Err("signature")
    );
    let mut forged = claims(now);
    forged["aud"] = json!(APP);
    forged["serviceurl"] = json!("https://evil.example/amer/");
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    assert_eq!(
        verdict(&rig, &bearer(&swapped), &body, now).await,
        Err("signature")
    );

    // Signed by a key the issuer never published.
    let stranger = TestKey::generate("key-unknown", &["msteams"]);
    assert_eq!(
        verdict(&rig, &bearer(&stranger.sign(&claims(now))), &body, now).await,
        Err("unknown key")
    );
    // Signed by a stranger's key under a published key id.
    let impostor = stranger.with_kid("key-1");
    assert_eq!(
        verdict(&rig, &bearer(&impostor.sign(&claims(now))), &body, now).await,
        Err("signature")
    );

    // The header itself.
    assert_eq!(
        verdict(&rig, &HeaderMap::new(), &body, now).await,
        Err("no authorization")
    );
    let mut lowercase = HeaderMap::new();
    lowercase.insert("authorization", format!("bearer {valid}").parse().unwrap());
    assert_eq!(
        verdict(&rig, &lowercase, &body, now).await,
        Err("not a bearer token")
    );
    assert_eq!(
        verdict(&rig, &bearer("not.a.jwt"), &body, now).await,
        Err("token header")
    );

    // And the good token still passes: the refusals above are about the tokens.
    assert_eq!(verdict(&rig, &bearer(&valid), &body, now).await, Ok(()));
}

#[tokio::test]
async fn a_key_not_endorsed_for_the_channel_is_refused() {
    let rig = rig().await;
    let now = t0();
    let mut body: Value = serde_json::from_slice(&activity()).unwrap();
    body["channelId"] = json!("webchat");
    let token = rig.key.sign(&claims(now));
    let body = body.to_string().into_bytes();
    assert_eq!(
        verdict(&rig, &bearer(&token), &body, now).await,
        Err("channel not endorsed")
    );
}

#[tokio::test]
async fn a_valid_token_with_an_unparsable_body_is_malformed() {
    let rig = rig().await;
    let token = rig.key.sign(&claims(t0()));
    let result = rig
        .verifier
        .verify(&bearer(&token), b"{not json", t0())
        .await;
    assert!(
        matches!(result, Err(AdapterError::Malformed(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn unknown_key_ids_refetch_the_keys_at_most_once_per_interval() {
    let rig = rig().await;
    let body = activity();
    let fetches = || rig.issuer.key_fetches.load(Ordering::SeqCst);
    let now = t0();
    assert_eq!(
        verdict(&rig, &bearer(&rig.key.sign(&claims(now))), &body, now).await,
        Ok(())
    );
    assert_eq!(fetches(), 1, "first use fetches the key set");

    // A flood of unknown key ids within the interval of that fetch: no refetch at all.
    let stranger_key = TestKey::generate("x", &[]);
    for i in 0..20 {
        let at = now + chrono::Duration::seconds(i);
        let stranger = stranger_key.with_kid(&format!("forged-{i}"));
        assert_eq!(
            verdict(&rig, &bearer(&stranger.sign(&claims(at))), &body, at).await,
            Err("unknown key")
        );
    }
    assert_eq!(
        fetches(),
        1,
        "unknown kids do not refetch within the interval"
    );

    // The issuer rotates in a new key; inside the interval it is not seen yet …
    let rotated = TestKey::generate("key-2", &["msteams"]);
    rig.issuer.keys.lock().unwrap().push(rotated.jwk.clone());
    let soon = now + chrono::Duration::seconds(60);
    assert_eq!(
        verdict(&rig, &bearer(&rotated.sign(&claims(soon))), &body, soon).await,
        Err("unknown key")
    );
    assert_eq!(fetches(), 1);
    // … and once the interval has passed, its first use refetches and succeeds.
    let later = now + chrono::Duration::from_std(Duration::from_secs(5 * 60 + 1)).unwrap();
    assert_eq!(
        verdict(&rig, &bearer(&rotated.sign(&claims(later))), &body, later).await,
        Ok(())
    );
    assert_eq!(fetches(), 2);
    // Known keys never cause a fetch, and a new flood waits for the next interval.
    assert_eq!(
        verdict(&rig, &bearer(&rig.key.sign(&claims(later))), &body, later).await,
        Ok(())
    );
    for i in 0..5 {
        let at = later + chrono::Duration::seconds(i);
        let stranger = stranger_key.with_kid(&format!("again-{i}"));
        assert!(
            verdict(&rig, &bearer(&stranger.sign(&claims(at))), &body, at)
                .await
                .is_err()
        );
    }
    assert_eq!(fetches(), 2);
    let next = later + chrono::Duration::seconds(5 * 60);
    let stranger = stranger_key.with_kid("again-late");
    assert!(
        verdict(&rig, &bearer(&stranger.sign(&claims(next))), &body, next)
            .await
            .is_err()
    );
    assert_eq!(
        fetches(),
        3,
        "one refetch per interval, however many unknown kids"
    );
}

#[tokio::test]
async fn keys_older_than_their_max_age_are_refetched() {
    let rig = rig().await;
    let body = activity();
    let now = t0();
    assert_eq!(
        verdict(&rig, &bearer(&rig.key.sign(&claims(now))), &body, now).await,
        Ok(())
    );
    // The issuer retires key-1: it keeps verifying from cache until the cache ages out.
    rig.issuer.keys.lock().unwrap()[0] = TestKey::generate("key-3", &["msteams"]).jwk;
    let hour = now + chrono::Duration::hours(1);
    assert_eq!(
        verdict(&rig, &bearer(&rig.key.sign(&claims(hour))), &body, hour).await,
        Ok(())
    );
    let next_day = now + chrono::Duration::hours(25);
    assert_eq!(
        verdict(
            &rig,
            &bearer(&rig.key.sign(&claims(next_day))),
            &body,
            next_day
        )
        .await,
        Err("unknown key")
    );
    assert_eq!(rig.issuer.key_fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unreachable_key_endpoint_is_unavailable_not_a_forgery_and_old_keys_keep_working() {
    let rig = rig().await;
    let body = activity();
    let now = t0();
    rig.issuer.down.store(true, Ordering::SeqCst);
    let token = rig.key.sign(&claims(now));
    let result = rig.verifier.verify(&bearer(&token), &body, now).await;
    assert!(
        matches!(result, Err(AdapterError::PlatformUnavailable { .. })),
        "nothing to verify against yet: the connector should retry, {result:?}"
    );
    // A burst right after the failure does not hammer the endpoint (the one failed fetch was
    // itself retried by the shared client).
    let after_failure = rig.issuer.key_fetches.load(Ordering::SeqCst);
    let soon = now + chrono::Duration::seconds(3);
    let result = rig.verifier.verify(&bearer(&token), &body, soon).await;
    assert!(matches!(
        result,
        Err(AdapterError::PlatformUnavailable { .. })
    ));
    assert_eq!(rig.issuer.key_fetches.load(Ordering::SeqCst), after_failure);
    rig.issuer.down.store(false, Ordering::SeqCst);
    let later = now + chrono::Duration::minutes(6);
    assert_eq!(
        verdict(&rig, &bearer(&rig.key.sign(&claims(later))), &body, later).await,
        Ok(())
    );
    // Down again when the cache ages out: the cached keys still verify.
    rig.issuer.down.store(true, Ordering::SeqCst);
    let next_day = later + chrono::Duration::hours(25);
    assert_eq!(
        verdict(
            &rig,
            &bearer(&rig.key.sign(&claims(next_day))),
            &body,
            next_day
        )
        .await,
        Ok(())
    );
}
