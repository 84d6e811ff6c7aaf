//! Shared set-up of the Teams adapter tests: the Microsoft sandbox on a socket, the adapter
//! mounted at `/teams` on a second socket (so the sandbox's validation handshakes and
//! notifications reach it over real HTTP), a rich-notification certificate, and the sign-in
//! of subscriber accounts through the sandbox's consent page.

#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod trunk;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use callbridge_adapter::client::{ApiClient, ClientConfig};
use callbridge_adapter::{InboundRequest, MemoryInbox, MemoryVault, Secret, TokenVault, accept};
use callbridge_model::{Platform, PlatformEvent};
use callbridge_sandbox::microsoft::{
    MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed, RunningMicrosoftSandbox, Tunables,
};
use callbridge_teams::{NotificationCertificate, SubscriberAccount, TeamsAdapter, TeamsConfig};
use chrono::{DateTime, Utc};
use url::Url;

pub const TENANT: &str = "8a4e9b62-3c1d-4f5e-9a7b-2c6d8e0f1a3b";
pub const CLIENT: &str = "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e";
pub const SECRET: &str = "sandbox-secret-change-me";
pub const ALICE: &str = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
pub const BOB: &str = "4a3b2c1d-6e5f-4a70-9b8c-1d0e2f3a4b5c";
pub const CAROL: &str = "5b4c3d2e-7f6a-4b80-8c9d-2e1f3a4b5c6d";

/// What the adapter's HTTP front saw.
#[derive(Clone, Default)]
pub struct Seen {
    pub events: Arc<Mutex<Vec<PlatformEvent>>>,
    pub statuses: Arc<Mutex<Vec<(String, u16)>>>,
    /// Notification batches as Graph sent them (handshakes excluded).
    pub batches: Arc<Mutex<Vec<InboundRequest>>>,
}

pub struct Harness {
    pub sandbox: RunningMicrosoftSandbox,
    pub adapter: Arc<TeamsAdapter>,
    pub vault: Arc<MemoryVault>,
    pub public_base: Url,
    pub seen: Seen,
    pub listener_addr: std::net::SocketAddr,
}

#[derive(Clone)]
struct Front {
    adapter: Arc<Mutex<Option<Arc<TeamsAdapter>>>>,
    /// Requests are received at the sandbox's time, which tests move.
    clock: callbridge_sandbox::control::SandboxClock,
    inbox: Arc<MemoryInbox>,
    seen: Seen,
}

async fn front(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(adapter) = front.adapter.lock().unwrap().clone() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let path = uri.path().strip_prefix("/teams").unwrap_or("").to_owned();
    let request = InboundRequest {
        method,
        path: path.clone(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
        received_at: front.clock.now_utc(),
    };
    if path == "/notifications" && request.query.is_none() {
        front.seen.batches.lock().unwrap().push(request.clone());
    }
    match accept(adapter.as_ref(), front.inbox.as_ref(), request).await {
        Ok(inbound) => {
            front.seen.events.lock().unwrap().extend(inbound.events);
            front
                .seen
                .statuses
                .lock()
                .unwrap()
                .push((path, inbound.reply.status.as_u16()));
            let mut response = (inbound.reply.status, inbound.reply.body).into_response();
            response.headers_mut().extend(inbound.reply.headers);
            response
        }
        Err(error) => {
            front.seen.statuses.lock().unwrap().push((path, 401));
            (StatusCode::UNAUTHORIZED, error.to_string()).into_response()
        }
    }
}

/// A self-signed RSA-2048 certificate for rich notifications.
pub fn notification_certificate() -> NotificationCertificate {
    notification_certificate_and_key().0
}

/// The certificate, and its public key (SubjectPublicKeyInfo DER) to encrypt to.
pub fn notification_certificate_and_key() -> (NotificationCertificate, Vec<u8>) {
    use base64::Engine;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    let certificate = rcgen::CertificateParams::new(vec!["callbridge.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (
        NotificationCertificate {
            id: "callbridge-notifications-1".to_owned(),
            certificate_base64: base64::engine::general_purpose::STANDARD.encode(certificate.der()),
            private_key_pkcs8: key.serialize_der(),
        },
        spki,
    )
}

pub struct Options {
    pub subscribers: Vec<&'static str>,
    pub rich: bool,
    pub seed: MicrosoftSeed,
    pub vault: Option<Arc<MemoryVault>>,
    /// The rich-notification certificate to use (else a fresh one).
    pub certificate: Option<NotificationCertificate>,
    /// Serve this JWKS as Entra's signing keys (a proxy in front of the sandbox's Entra),
    /// so tests can sign validation tokens of their own.
    pub entra_keys: Option<serde_json::Value>,
    /// The numbers Slack users are reachable on from Teams.
    pub slack_numbers: Option<callbridge_teams::NumberRange>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            subscribers: vec!["alice"],
            rich: true,
            seed: MicrosoftSeed::demo(),
            vault: None,
            certificate: None,
            entra_keys: None,
            slack_numbers: None,
        }
    }
}

pub fn client() -> ApiClient {
    ApiClient::new(
        Platform::Teams,
        ClientConfig {
            timeout: Duration::from_secs(5),
            max_retry_wait: Duration::from_secs(3),
            base_backoff: Duration::from_millis(20),
            ..ClientConfig::default()
        },
    )
}

pub async fn start(options: Options) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener_addr = listener.local_addr().unwrap();
    let public_base = Url::parse(&format!("http://{listener_addr}/teams")).unwrap();
    let mut seed = options.seed;
    seed.tenants[0].apps[0].redirect_uris.extend([
        format!("{public_base}/oauth/callback"),
        format!("{public_base}/consent/callback"),
    ]);
    let mut config = MicrosoftConfig::new(seed);
    config.tunables = Tunables {
        retry_base: Duration::from_millis(50),
        ..Tunables::default()
    };
    let sandbox = MicrosoftSandbox::start(config).await.unwrap();
    sandbox.clock().freeze();

    let front_state = Front {
        adapter: Arc::new(Mutex::new(None)),
        clock: sandbox.clock(),
        inbox: Arc::new(MemoryInbox::default()),
        seen: Seen::default(),
    };
    let app = Router::new()
        .fallback(front)
        .with_state(front_state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut teams = TeamsConfig::new(
        TENANT.parse().unwrap(),
        CLIENT,
        Secret::new(SECRET),
        public_base.clone(),
    )
    .unwrap();
    teams.login_base = match options.entra_keys {
        Some(keys) => entra_proxy(sandbox.base_url(), keys).await,
        None => Url::parse(&sandbox.base_url()).unwrap(),
    };
    teams.graph_base = Url::parse(&format!("{}/v1.0", sandbox.base_url())).unwrap();
    teams.bot_openid_metadata = Url::parse(&format!(
        "{}/v1/.well-known/openidconfiguration",
        sandbox.base_url()
    ))
    .unwrap();
    teams.subscribers = options
        .subscribers
        .iter()
        .map(|name| SubscriberAccount {
            name: (*name).to_owned(),
            login_hint: Some(format!("{name}@contoso.test")),
        })
        .collect();
    teams.slack_numbers = options.slack_numbers;
    if options.rich {
        teams.notification_certificate =
            Some(options.certificate.unwrap_or_else(notification_certificate));
    }
    let vault = options.vault.unwrap_or_default();
    let adapter = Arc::new(
        TeamsAdapter::with_client(teams, Arc::clone(&vault) as Arc<dyn TokenVault>, client())
            .await
            .unwrap(),
    );
    *front_state.adapter.lock().unwrap() = Some(Arc::clone(&adapter));
    Harness {
        sandbox,
        adapter,
        vault,
        public_base,
        seen: front_state.seen,
        listener_addr,
    }
}

/// Entra as the adapter sees it: `keys` at `/common/discovery/keys`, everything else passed
/// to the sandbox.
async fn entra_proxy(sandbox: String, keys: serde_json::Value) -> Url {
    async fn forward(
        State((sandbox, keys)): State<(String, serde_json::Value)>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        if uri.path() == "/common/discovery/keys" {
            return axum::Json(keys).into_response();
        }
        let target = format!(
            "{sandbox}{}",
            uri.path_and_query().map_or("/", |p| p.as_str())
        );
        let mut request = http().request(method, target).body(body);
        for (name, value) in &headers {
            if name != "host" && name != "content-length" {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        let mut reply = (status, body).into_response();
        for (name, value) in &headers {
            if name != "content-length" && name != "transfer-encoding" {
                reply.headers_mut().insert(name, value.clone());
            }
        }
        reply
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let app = Router::new().fallback(forward).with_state((sandbox, keys));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Harness {
    pub fn now(&self) -> DateTime<Utc> {
        self.sandbox.clock().now_utc()
    }

    pub fn advance(&self, secs: u64) {
        self.sandbox.clock().advance(Duration::from_secs(secs));
    }

    /// A subscriber account signs in: the adapter's link, the sandbox consent page accepted
    /// as `user`, the redirect followed to the adapter's callback. Returns the callback status.
    pub async fn sign_in(&self, subscriber: &str, user: &str) -> u16 {
        let account = SubscriberAccount {
            name: subscriber.to_owned(),
            login_hint: None,
        };
        let link = self
            .adapter
            .entra()
            .sign_in_url(&account, self.now())
            .unwrap();
        let mut form: Vec<(String, String)> = link.query_pairs().into_owned().collect();
        form.push(("sandbox_user".to_owned(), user.to_owned()));
        form.push(("sandbox_decision".to_owned(), "accept".to_owned()));
        let mut target = link.clone();
        target.set_query(None);
        let response = http().post(target).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        http().get(location).send().await.unwrap().status().as_u16()
    }

    /// Runs presence sync steps at the sandbox's time until nothing is due now.
    pub async fn settle(&self) {
        let sync = self.adapter.presence();
        for _ in 0..20 {
            let now = self.now();
            let next = sync.step(now).await;
            if next > now {
                return;
            }
        }
        panic!("presence sync never settled");
    }

    pub fn events(&self) -> Vec<PlatformEvent> {
        self.seen.events.lock().unwrap().clone()
    }

    /// Waits (bounded) for the front to have seen a condition; delivery is asynchronous.
    pub async fn eventually(&self, what: &str, mut check: impl FnMut(&Self) -> bool) {
        for _ in 0..200 {
            if check(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }
}
