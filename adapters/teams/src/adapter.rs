//! [`TeamsAdapter`]: the Teams side of callbridge as the gateway sees it. Inbound paths below
//! the mount: `/notifications` and `/lifecycle` (Graph change and lifecycle notifications and
//! their validation handshakes), `/oauth/callback` (a subscriber account signed in),
//! `/consent/callback` (an admin consented) and `/messages` (the bot). Commands write
//! presence through Graph; work that happens later (re-reads, lifecycle recovery, reconnect
//! notices) reaches the host through [`TeamsAdapter::events`].

use std::sync::{Arc, Mutex, PoisonError};

use callbridge_adapter::client::{ApiClient, ClientConfig};
use callbridge_adapter::{
    AdapterError, AdapterHealth, BoxFuture, CommandOutcome, HealthState, Inbound, InboundReply,
    InboundRequest, PlatformAdapter, Secret, TokenKey, TokenSet, TokenVault,
};
use callbridge_model::{
    CallTarget, LegId, PhoneNumber, Platform, PlatformCommand, PlatformEvent, UserRef,
};
use callbridge_sip::{Trunk, TrunkEvents};
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use tokio::sync::mpsc;

use crate::bot::{Bot, BotClient, BotClientConfig, BotVerifier, BotVerifierConfig};
use crate::config::TeamsConfig;
use crate::directory::{Directory, DirectoryUser, Lookup};
use crate::entra::{CONSENT_CALLBACK, Completed, Entra, SIGN_IN_CALLBACK};
use crate::graph::PresenceSync;
use crate::graph::http::{GraphHttp, PRESENCE_BUDGET, PRESENCE_PER_MINUTE};
use crate::graph::notifications::{self, Checks};
use crate::graph::rich::Decryptor;
use crate::graph::validation_tokens::ValidationKeys;
use crate::trunk::{LegBook, Pump, dialog_from_json, dialog_json, sip_error, stale_error};

/// How many events may wait for the host before new ones are dropped (and counted).
const EVENT_QUEUE: usize = 4096;

/// The Teams platform adapter for one tenant.
pub struct TeamsAdapter {
    config: Arc<TeamsConfig>,
    client: ApiClient,
    entra: Arc<Entra>,
    sync: Arc<PresenceSync>,
    bot: Bot,
    directory: Directory,
    decryptor: Option<Decryptor>,
    keys: ValidationKeys,
    events: Mutex<Option<mpsc::Receiver<PlatformEvent>>>,
    sender: mpsc::Sender<PlatformEvent>,
    trunk: Mutex<Option<Trunk>>,
    legs: Arc<LegBook>,
    last_success: Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for TeamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsAdapter")
            .field("tenant", &self.config.tenant)
            .finish_non_exhaustive()
    }
}

impl TeamsAdapter {
    /// An adapter with the default client settings and Graph's presence budget.
    pub async fn new(
        config: TeamsConfig,
        vault: Arc<dyn TokenVault>,
    ) -> Result<Self, AdapterError> {
        let client = ApiClient::new(Platform::Teams, ClientConfig::default());
        Self::with_client(config, vault, client).await
    }

    /// An adapter sending through `client` (tests shorten its timeouts); the presence budget
    /// is added to it.
    pub async fn with_client(
        config: TeamsConfig,
        vault: Arc<dyn TokenVault>,
        client: ApiClient,
    ) -> Result<Self, AdapterError> {
        let client = client.with_budget(PRESENCE_BUDGET, PRESENCE_PER_MINUTE);
        let decryptor = config
            .notification_certificate
            .as_ref()
            .map(Decryptor::new)
            .transpose()
            .map_err(AdapterError::Misconfigured)?;
        let keys = ValidationKeys::new(
            config_url(&config, "/common/discovery/keys")?,
            &config.client_id,
            &config.tenant.to_string(),
        );
        let client_state = client_state(vault.as_ref(), &config).await?;
        let bot = bot(&config, &client)?;
        let config = Arc::new(config);
        let http = GraphHttp::new(client.clone(), config.tenant.to_string());
        let (sender, receiver) = mpsc::channel(EVENT_QUEUE);
        let entra = Arc::new(Entra::new(
            Arc::clone(&config),
            client.clone(),
            vault,
            sender.clone(),
        ));
        let sync = Arc::new(PresenceSync::new(
            Arc::clone(&config),
            Arc::clone(&entra),
            http.clone(),
            client_state,
            sender.clone(),
        ));
        Ok(Self {
            config,
            client,
            entra,
            sync,
            bot,
            directory: Directory::new(http),
            decryptor,
            keys,
            events: Mutex::new(Some(receiver)),
            sender,
            trunk: Mutex::new(None),
            legs: Arc::new(LegBook::default()),
            last_success: Mutex::new(None),
        })
    }

    /// The events produced outside any inbound request (presence re-reads, reconnect
    /// notices). Given out once: the host's event pump owns it.
    pub fn events(&self) -> Option<mpsc::Receiver<PlatformEvent>> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Entra: sign-in and admin-consent links, tokens.
    pub fn entra(&self) -> &Entra {
        &self.entra
    }

    /// Presence synchronisation: the mirrored users, and the loop to spawn
    /// (`tokio::spawn(adapter.presence().clone().run())`).
    pub const fn presence(&self) -> &Arc<PresenceSync> {
        &self.sync
    }

    /// The bot: conversations to persist, the connector client.
    pub const fn bot(&self) -> &Bot {
        &self.bot
    }

    /// The configuration in force.
    pub fn config(&self) -> &TeamsConfig {
        &self.config
    }

    /// Looks a Teams user up by id, UPN or mail. Their number is remembered, so a call from
    /// it is known to come from them.
    pub async fn resolve_user(
        &self,
        lookup: &Lookup,
        now: DateTime<Utc>,
    ) -> Result<Option<DirectoryUser>, AdapterError> {
        let token = self.entra.app_token(now).await?;
        let user = self.directory.resolve(&self.config, &token, lookup).await?;
        if let Some(found) = &user
            && let Some(phone) = &found.phone
        {
            self.legs.learn_number(phone.clone(), found.id);
        }
        Ok(user)
    }

    /// Wires the Direct Routing trunk in: Teams legs of calls go through it, and its events
    /// reach the host on [`events`](Self::events). Returns the task translating them.
    pub fn attach_trunk(&self, trunk: Trunk, events: TrunkEvents) -> tokio::task::JoinHandle<()> {
        *self.trunk.lock().unwrap_or_else(PoisonError::into_inner) = Some(trunk.clone());
        let pump = Pump {
            trunk,
            legs: Arc::clone(&self.legs),
            tenant: self.config.tenant,
            slack_numbers: self.config.slack_numbers.clone(),
            events: self.sender.clone(),
        };
        tokio::spawn(pump.run(events))
    }

    /// The SIP dialog of an answered Teams leg, as JSON for the host to keep with the call:
    /// for a call to Teams once `LegAnswered` arrived, for a call from Teams once `AnswerCall`
    /// succeeded. `None` for legs not (or no longer) answered, or without a trunk. It holds
    /// the parties' numbers: stored, never logged.
    pub fn dialog_of(&self, leg: LegId) -> Option<String> {
        let trunk = self.trunk().ok()?;
        dialog_json(trunk.dialog_snapshot(leg)?)
    }

    /// Ends a Teams leg that a previous process left up (crash recovery), from the JSON
    /// [`dialog_of`](Self::dialog_of) gave: a BYE through the trunk, a leg already gone counting
    /// as ended. `PlatformUnavailable` when the proxy could not be reached or did not answer
    /// (worth a later try), `PlatformRejected` when it refused, `Malformed` for JSON that is
    /// not a dialog.
    pub async fn end_stale_leg(&self, snapshot_json: &str) -> Result<(), AdapterError> {
        let snapshot = dialog_from_json(snapshot_json)?;
        self.trunk()?
            .end_stale(&snapshot)
            .await
            .map_err(stale_error)
    }

    fn trunk(&self) -> Result<Trunk, AdapterError> {
        self.trunk
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                AdapterError::Misconfigured("no Direct Routing trunk attached".to_owned())
            })
    }

    /// The Direct Routing number that reaches `target`.
    async fn number_of(
        &self,
        target: &CallTarget,
        now: DateTime<Utc>,
    ) -> Result<PhoneNumber, AdapterError> {
        let lookup = match target {
            CallTarget::Phone(number) => return Ok(number.clone()),
            CallTarget::User(UserRef::Teams { user, .. }) => Lookup::Id(*user),
            CallTarget::Email(address) => Lookup::Address(address.clone()),
            _ => {
                return Err(AdapterError::Bug(
                    "a Slack user cannot be placed on the Teams trunk".to_owned(),
                ));
            }
        };
        let user = self.resolve_user(&lookup, now).await?.ok_or_else(|| {
            AdapterError::PlatformRejected {
                method: "users.get".to_owned(),
                error: "no such Teams user".to_owned(),
            }
        })?;
        user.phone.ok_or_else(|| AdapterError::PlatformRejected {
            method: "trunk.invite".to_owned(),
            error: "the Teams user has no Direct Routing number".to_owned(),
        })
    }

    /// Fetches Entra's signing keys ahead of the first rich notification, so that the ack
    /// path does not wait for them.
    pub async fn prefetch_keys(&self, now: DateTime<Utc>) -> Result<(), AdapterError> {
        self.keys.ensure(&self.client, None, now).await
    }

    fn succeeded(&self, at: DateTime<Utc>) {
        *self
            .last_success
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(at);
    }

    async fn notification(&self, request: InboundRequest) -> Result<Inbound, AdapterError> {
        if request.method != Method::POST {
            return Err(AdapterError::Malformed(
                "notifications are POSTed".to_owned(),
            ));
        }
        if let Some(reply) = notifications::handshake(request.query.as_deref()) {
            return Ok(Inbound::reply_only(reply));
        }
        for kid in notifications::validation_kids(&request.body) {
            // Only fetches when the key is unknown and the last fetch is old enough.
            self.keys
                .ensure(&self.client, Some(&kid), request.received_at)
                .await?;
        }
        let checks = Checks {
            tenant: self.config.tenant,
            client_state: self.sync.client_state(),
            decryptor: self.decryptor.as_ref(),
            keys: &self.keys,
        };
        let parsed = notifications::parse(&request.body, &checks, request.received_at)?;
        for (user, presence) in &parsed.observed {
            self.sync.observe(*user, presence);
        }
        for signal in parsed.signals {
            self.sync.signal(signal);
        }
        metrics::counter!("callbridge_teams_notifications_accepted_total").increment(1);
        Ok(Inbound {
            reply: InboundReply::empty(StatusCode::ACCEPTED),
            events: parsed.events,
        })
    }

    async fn callback(&self, request: InboundRequest) -> Result<Inbound, AdapterError> {
        if request.method != Method::GET && request.method != Method::POST {
            return Err(AdapterError::Malformed("callbacks are GET".to_owned()));
        }
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(request.query.as_deref().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let completed = if request.path == SIGN_IN_CALLBACK {
            self.entra
                .complete_sign_in(&query, request.received_at)
                .await?
        } else {
            self.entra
                .complete_admin_consent(&query, request.received_at)
                .await?
        };
        self.succeeded(request.received_at);
        let text = match completed {
            Completed::SignedIn { .. } => {
                // Subscriptions waiting for this account can be made now.
                self.sync.wake();
                "Signed in: callbridge keeps Teams presence subscriptions with this account."
            }
            Completed::AdminConsented => {
                "Consent recorded: callbridge can use Microsoft Graph for this tenant."
            }
        };
        Ok(Inbound::reply_only(InboundReply::with_body(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            text,
        )))
    }

    async fn command(
        &self,
        command: PlatformCommand,
        now: DateTime<Utc>,
    ) -> Result<CommandOutcome, AdapterError> {
        match command {
            PlatformCommand::SetPresence {
                user: UserRef::Teams { tenant, user },
                presence,
            } => {
                if tenant != self.config.tenant {
                    return Err(AdapterError::Bug(format!(
                        "presence for tenant {tenant} sent to the adapter of {}",
                        self.config.tenant
                    )));
                }
                self.sync.set_presence(user, &presence, now).await?;
                self.succeeded(now);
                Ok(CommandOutcome::default())
            }
            PlatformCommand::SetPresence { .. } => Err(AdapterError::Bug(
                "presence for a Slack user sent to the Teams adapter".to_owned(),
            )),
            PlatformCommand::PlaceCall {
                call,
                leg,
                to,
                caller_display,
                offer,
            } => {
                let trunk = self.trunk()?;
                let number = self.number_of(&to, now).await?;
                // The calling line shown in Teams: the first number of the Slack range.
                let caller = self
                    .config
                    .slack_numbers
                    .as_ref()
                    .and_then(|range| range.nth(0))
                    .ok_or_else(|| {
                        AdapterError::Misconfigured("no Slack number range configured".to_owned())
                    })?;
                self.legs.bind(leg, call);
                trunk
                    .invite(leg, &number, (&caller_display, &caller), &offer.sdp)
                    .map_err(|error| sip_error("trunk.invite", error))?;
                Ok(trunk
                    .call_id(leg)
                    .map(CommandOutcome::with_ref)
                    .unwrap_or_default())
            }
            PlatformCommand::AnswerCall { call, leg, answer } => {
                let trunk = self.trunk()?;
                self.legs.bind(leg, call);
                trunk
                    .answer(leg, answer.sdp)
                    .map_err(|error| sip_error("trunk.answer", error))?;
                Ok(CommandOutcome::default())
            }
            PlatformCommand::AnswerReoffer { call, leg, answer } => {
                // Without a trunk no re-INVITE can be waiting: say why rather than "none pending".
                self.trunk()?;
                self.legs
                    .answer_reoffer(call, leg, answer.map(|answer| answer.sdp))?;
                Ok(CommandOutcome::default())
            }
            PlatformCommand::HangUp { leg, .. } => {
                self.trunk()?
                    .hang_up(leg)
                    .await
                    .map_err(|error| sip_error("trunk.hang_up", error))?;
                Ok(CommandOutcome::default())
            }
            other => match self.bot.execute(&other, now).await {
                Some(result) => {
                    if result.is_ok() {
                        self.succeeded(now);
                    }
                    result
                }
                None => Err(AdapterError::Bug(
                    "a command for another platform reached the Teams adapter".to_owned(),
                )),
            },
        }
    }
}

impl PlatformAdapter for TeamsAdapter {
    fn platform(&self) -> Platform {
        Platform::Teams
    }

    fn handle_inbound(
        &self,
        request: InboundRequest,
    ) -> BoxFuture<'_, Result<Inbound, AdapterError>> {
        Box::pin(async move {
            match request.path.as_str() {
                "/notifications" | "/lifecycle" => self.notification(request).await,
                SIGN_IN_CALLBACK | CONSENT_CALLBACK => self.callback(request).await,
                "/messages" => {
                    if request.method != Method::POST {
                        return Err(AdapterError::Malformed("activities are POSTed".to_owned()));
                    }
                    let inbound = self.bot.handle(&request).await?;
                    self.succeeded(request.received_at);
                    Ok(inbound)
                }
                _ => Err(AdapterError::Malformed("unknown Teams path".to_owned())),
            }
        })
    }

    fn execute(
        &self,
        command: PlatformCommand,
    ) -> BoxFuture<'_, Result<CommandOutcome, AdapterError>> {
        Box::pin(async move { self.command(command, Utc::now()).await })
    }

    fn health(&self) -> AdapterHealth {
        let last_success = *self
            .last_success
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut health = AdapterHealth::healthy(last_success);
        let refused = self.entra.reconnect().owners();
        if !refused.is_empty() {
            health.state = HealthState::Down;
            health.problems.push(format!(
                "Entra refused the grant of {}: reconnect required",
                refused.join(", ")
            ));
        }
        let uncovered = self.sync.uncovered();
        if uncovered > 0 {
            if health.state == HealthState::Healthy {
                health.state = HealthState::Degraded;
            }
            health.problems.push(format!(
                "{uncovered} mirrored users exceed the subscriber accounts' capacity"
            ));
        }
        health
    }
}

/// The bot speaks for the same app registration, with a single-tenant connector token (§0.7).
fn bot(config: &TeamsConfig, client: &ApiClient) -> Result<Bot, AdapterError> {
    let mut verifier = BotVerifierConfig::new(config.client_id.clone())?;
    verifier.openid_metadata = config.bot_openid_metadata.clone();
    let connector = BotClientConfig::single_tenant(
        &config.login_base,
        &config.tenant.to_string(),
        config.client_id.clone(),
        config.client_secret.clone(),
    )?;
    Ok(Bot::new(
        BotVerifier::new(verifier, client.clone()),
        BotClient::new(connector, client),
    ))
}

fn config_url(config: &TeamsConfig, path: &str) -> Result<url::Url, AdapterError> {
    let text = format!("{}{path}", config.login_base.as_str().trim_end_matches('/'));
    url::Url::parse(&text).map_err(|_| AdapterError::Misconfigured("Entra base URL".to_owned()))
}

/// The `clientState` every subscription carries: 256 random bits, kept in the vault so that
/// subscriptions adopted after a restart still match.
async fn client_state(
    vault: &dyn TokenVault,
    config: &TeamsConfig,
) -> Result<Secret, AdapterError> {
    let key = TokenKey::new(Platform::Teams, format!("client-state:{}", config.tenant));
    if let Some(stored) = vault.load(&key).await? {
        return Ok(stored.access_token);
    }
    let secret = Secret::new(crate::entra::random_secret()?);
    vault
        .store(
            &key,
            &TokenSet {
                access_token: secret.clone(),
                refresh_token: None,
                expires_at: None,
                scopes: Vec::new(),
            },
        )
        .await?;
    Ok(secret)
}
