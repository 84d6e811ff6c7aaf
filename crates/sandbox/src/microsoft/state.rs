//! The shared state behind every Microsoft sandbox route and the SIP proxies.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::bot::BotBook;
use super::directory::Directory;
use super::entra::EntraBook;
use super::graph::presence_model::PresenceBook;
use super::graph::subscriptions::SubscriptionBook;
use super::graph::throttle::Throttle;
use super::jwt::SigningKey;
use super::sip::tls::SandboxCa;
use super::telephony::TelephonyBook;
use super::{MicrosoftSeed, SandboxError};
use crate::control::{Faults, SandboxClock};

/// Knobs tests turn to make documented long waits short.
#[derive(Clone, Debug)]
pub struct Tunables {
    /// A notification publish slower than this counts as slow (documented: 2900 ms).
    pub slow_publish: Duration,
    /// First retry delay of a failed notification delivery; doubles each time.
    pub retry_base: Duration,
    /// How long the notification URL has to echo the validation token (documented: 10 s).
    pub validation_timeout: Duration,
    /// Presence requests allowed per tenant and app in 30 s (documented: 1500).
    pub presence_budget: u32,
}

impl Default for Tunables {
    fn default() -> Self {
        Self {
            slow_publish: Duration::from_millis(2900),
            retry_base: Duration::from_secs(1),
            validation_timeout: Duration::from_secs(10),
            presence_budget: 1500,
        }
    }
}

/// Cloneable handle to one Microsoft sandbox's state; build a router over it with
/// [`router`](super::router).
#[derive(Clone, Debug)]
pub struct MicrosoftState {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) directory: Directory,
    pub(crate) clock: SandboxClock,
    pub(crate) faults: Faults,
    pub(crate) tunables: Tunables,
    /// Signs Entra tokens (Graph and Bot Connector access tokens, id tokens, validationTokens).
    pub(crate) entra_key: SigningKey,
    /// Signs Bot Connector → bot activities (a separate issuer with its own JWKS, §5.2).
    pub(crate) bot_key: SigningKey,
    /// Signs the SIP proxies' TLS certificates.
    pub(crate) ca: SandboxCa,
    /// Where this sandbox is reachable, for URLs it hands out (`jwks_uri`, `serviceUrl`).
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) entra: Mutex<EntraBook>,
    pub(crate) presence: Mutex<PresenceBook>,
    pub(crate) subscriptions: Mutex<SubscriptionBook>,
    pub(crate) throttle: Mutex<Throttle>,
    pub(crate) telephony: Mutex<TelephonyBook>,
    pub(crate) bot: Mutex<BotBook>,
}

impl MicrosoftState {
    /// State for `seed`, handing out URLs under `base_url` (e.g. `http://127.0.0.1:4100`).
    pub fn new(seed: MicrosoftSeed, base_url: &str) -> Result<Self, SandboxError> {
        Self::with_tunables(seed, base_url, Tunables::default())
    }

    /// Like [`new`](Self::new), with shortened documented delays for tests.
    pub fn with_tunables(
        seed: MicrosoftSeed,
        base_url: &str,
        tunables: Tunables,
    ) -> Result<Self, SandboxError> {
        let clock = SandboxClock::new();
        let presence = PresenceBook::from_seed(&seed, clock.now_utc());
        let entra = EntraBook::from_seed(&seed);
        let bot = BotBook::from_seed(&seed);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SandboxError::Misconfigured(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                directory: Directory::new(seed),
                clock: clock.clone(),
                faults: Faults::with_renderer(super::faults::renderer(clock)),
                tunables,
                entra_key: SigningKey::generate()?,
                bot_key: SigningKey::generate()?,
                ca: SandboxCa::generate()?,
                base_url: base_url.trim_end_matches('/').to_owned(),
                http,
                entra: Mutex::new(entra),
                presence: Mutex::new(presence),
                subscriptions: Mutex::new(SubscriptionBook::default()),
                throttle: Mutex::new(Throttle::default()),
                telephony: Mutex::new(TelephonyBook::default()),
                bot: Mutex::new(bot),
            }),
        })
    }

    /// The virtual clock every expiry in this sandbox is measured on.
    pub fn clock(&self) -> SandboxClock {
        self.inner.clock.clone()
    }

    /// The fault rules applied to this sandbox's HTTP routes.
    pub fn faults(&self) -> Faults {
        self.inner.faults.clone()
    }

    /// The base URL this state hands out.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }
}

/// Locks a mutex, carrying on after a panic elsewhere (the data is plain bookkeeping).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
