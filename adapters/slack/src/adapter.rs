//! [`SlackAdapter`]: the Slack side of callbridge behind the `PlatformAdapter` trait. Routes
//! inbound requests below the gateway's mount point, verifies each signed one on its raw bytes
//! before anything parses it, and executes the engine's commands through the shared client.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use callbridge_adapter::client::{ApiClient, ClientConfig};
use callbridge_adapter::{
    AdapterError, AdapterHealth, BoxFuture, CommandOutcome, HealthState, Inbound, InboundReply,
    InboundRequest, PlatformAdapter, TokenVault,
};
use callbridge_model::{Platform, PlatformCommand, SlackTeamId, SlackUserId};
use chrono::{DateTime, Utc};
use http::Method;
use serde_json::Value;

use crate::cards::Cards;
use crate::config::SlackConfig;
use crate::directory::{self, People, SlackPerson};
use crate::form::{Form, check_size, media_type};
use crate::install::InstallStates;
use crate::oauth_client::OAuth;
use crate::poll::PollOutcome;
use crate::replies::ResponseUrls;
use crate::status::StatusMemory;
use crate::tokens::{Clock, Tokens, bot_key, user_key};
use crate::web::{self, CallError};
use crate::{cards, commands, events, install, interactivity, notices, poll, signature, status};

/// Options beyond the configuration: the clock (the sandbox's in tests) and the HTTP client's
/// timeouts and retry limits.
#[derive(Clone, Default)]
pub struct SlackOptions {
    /// The adapter's clock for token expiry, call durations and reply windows; system time
    /// when absent. Signature windows use each request's `received_at` instead.
    pub clock: Option<Clock>,
    /// Outbound client settings.
    pub client: ClientConfig,
}

impl std::fmt::Debug for SlackOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackOptions")
            .field("clock", &self.clock.as_ref().map(|_| "custom"))
            .field("client", &self.client)
            .finish()
    }
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SlackConfig,
    pub(crate) api: ApiClient,
    pub(crate) tokens: Tokens,
    pub(crate) replies: ResponseUrls,
    pub(crate) install_states: InstallStates,
    pub(crate) cards: Cards,
    pub(crate) status: StatusMemory,
    /// Directory lookups answered lately (`directory`).
    pub(crate) people: People,
    last_success: AtomicI64,
    reconnect: Mutex<Vec<String>>,
}

impl Shared {
    /// Acks and counts something Slack sent that callbridge does not act on.
    pub(crate) fn ignored(&self, what: &'static str, kind: &str) {
        metrics::counter!("callbridge_slack_ignored_total", "what" => what).increment(1);
        tracing::info!(what, kind, "slack delivery acked and ignored");
    }

    fn succeeded(&self) {
        self.last_success
            .store(self.tokens.now().timestamp(), Ordering::Relaxed);
    }

    fn needs_reconnect(&self, installation: &str) {
        let mut list = self
            .reconnect
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !list.iter().any(|i| i == installation) && list.len() < 1000 {
            list.push(installation.to_owned());
        }
    }

    /// A fresh install clears the installation's "must be reconnected".
    pub(crate) fn reconnected(&self, installation: &str) {
        self.reconnect
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|i| i != installation);
    }

    /// A method with the workspace's bot token; a `token_expired` answer forces one refresh
    /// and one more try.
    pub(crate) async fn bot_call(
        &self,
        method: &'static str,
        team: &str,
        idempotent: bool,
        args: &Value,
    ) -> Result<Value, AdapterError> {
        for attempt in 0..2 {
            let token = self
                .tokens
                .bot(team)
                .await
                .inspect_err(|e| self.note(e, team))?;
            match web::call(
                &self.api,
                &self.config,
                method,
                team,
                idempotent,
                &token,
                args,
            )
            .await
            {
                Ok(answer) => {
                    self.succeeded();
                    return Ok(answer);
                }
                Err(CallError::TokenExpired) if attempt == 0 => {
                    self.tokens.invalidate(&bot_key(team))
                }
                Err(CallError::TokenExpired) => break,
                Err(CallError::Other(error)) => {
                    self.note(&error, team);
                    return Err(error);
                }
            }
        }
        let error = AdapterError::ReconnectRequired {
            installation: team.to_owned(),
        };
        self.note(&error, team);
        Err(error)
    }

    /// A method with a person's own user token (status, DND, away; §7).
    pub(crate) async fn user_call(
        &self,
        method: &'static str,
        team: &str,
        user: &str,
        budget_key: &str,
        idempotent: bool,
        args: &Value,
    ) -> Result<Value, AdapterError> {
        for attempt in 0..2 {
            let Some(token) = self.tokens.user(team, user).await? else {
                return Err(AdapterError::PlatformRejected {
                    method: method.to_owned(),
                    error: "user_not_authorized".to_owned(),
                });
            };
            match web::call(
                &self.api,
                &self.config,
                method,
                budget_key,
                idempotent,
                &token,
                args,
            )
            .await
            {
                Ok(answer) => {
                    self.succeeded();
                    return Ok(answer);
                }
                Err(CallError::TokenExpired) if attempt == 0 => {
                    self.tokens.invalidate(&user_key(team, user))
                }
                Err(CallError::TokenExpired) => break,
                Err(CallError::Other(error)) => return Err(error),
            }
        }
        Err(AdapterError::ReconnectRequired {
            installation: team.to_owned(),
        })
    }

    fn note(&self, error: &AdapterError, team: &str) {
        if matches!(error, AdapterError::ReconnectRequired { .. }) {
            self.needs_reconnect(team);
        }
    }
}

/// The Slack adapter.
#[derive(Clone, Debug)]
pub struct SlackAdapter {
    shared: Arc<Shared>,
}

impl SlackAdapter {
    /// An adapter for one Slack app; tokens live in `vault`.
    pub fn new(
        config: SlackConfig,
        vault: Arc<dyn TokenVault>,
        options: SlackOptions,
    ) -> Result<Self, AdapterError> {
        let api = web::client(options.client);
        let clock: Clock = options.clock.unwrap_or_else(|| Arc::new(Utc::now));
        let oauth = OAuth::new(&config, api.clone())?;
        Ok(Self {
            shared: Arc::new(Shared {
                tokens: Tokens::new(vault, oauth, clock),
                config,
                api,
                replies: ResponseUrls::default(),
                install_states: InstallStates::default(),
                cards: Cards::default(),
                status: StatusMemory::default(),
                people: People::default(),
                last_success: AtomicI64::new(i64::MIN),
                reconnect: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &SlackConfig {
        &self.shared.config
    }

    /// Reads the presence dot of `users` in `team` with `users.getPresence`, within the
    /// workspace's Tier 3 budget; for the gateway to schedule (§0.3). Put the people with live
    /// cross-platform interest first: a sweep stops when the budget is spent.
    pub async fn poll_presence(
        &self,
        team: &SlackTeamId,
        users: &[SlackUserId],
    ) -> Result<PollOutcome, AdapterError> {
        poll::poll(&self.shared, team, users).await
    }

    /// Who `user` of `team` is (`users.info` with the workspace's bot token); `None` when Slack
    /// says `user_not_found`. Answers are cached for a few minutes.
    pub async fn person(
        &self,
        team: &SlackTeamId,
        user: &SlackUserId,
    ) -> Result<Option<SlackPerson>, AdapterError> {
        directory::person(&self.shared, team, user)
            .await
            .inspect_err(|e| self.shared.note(e, team.as_str()))
    }

    /// Who owns `email` in `team` (`users.lookupByEmail`, bot token); `None` when Slack says
    /// `users_not_found`. Answers are cached for a few minutes.
    pub async fn person_by_email(
        &self,
        team: &SlackTeamId,
        email: &callbridge_model::Email,
    ) -> Result<Option<SlackPerson>, AdapterError> {
        directory::person_by_email(&self.shared, team, email)
            .await
            .inspect_err(|e| self.shared.note(e, team.as_str()))
    }

    /// Whether `user`'s notifications are paused right now (`dnd.info`): inside their
    /// scheduled DND window, or snoozing. Read with the person's own token when they granted
    /// one (only it shows a snooze), else the bot's. Errors are errors: the caller decides.
    pub async fn in_dnd(
        &self,
        team: &SlackTeamId,
        user: &SlackUserId,
    ) -> Result<bool, AdapterError> {
        directory::in_dnd(&self.shared, team, user).await
    }

    /// The Slack call id (`R…`) registered for a leg's card, while the card is live.
    pub fn slack_call_id(
        &self,
        call: callbridge_model::CallId,
        leg: callbridge_model::LegId,
    ) -> Option<String> {
        self.shared.cards.slack_call(call, leg)
    }

    async fn inbound(&self, request: InboundRequest) -> Result<Inbound, AdapterError> {
        let shared = &*self.shared;
        let path = request.path.as_str();
        match (request.method.clone(), path) {
            (Method::GET, "/install") => return install::install(shared, &request),
            (Method::GET, "/oauth/callback") => return install::callback(shared, &request).await,
            (Method::POST, "/commands" | "/interactivity" | "/events") => {}
            (_, "/commands" | "/interactivity" | "/events" | "/install" | "/oauth/callback") => {
                return Err(AdapterError::Malformed(format!(
                    "{} not allowed on {path}",
                    request.method
                )));
            }
            _ => return Err(AdapterError::Malformed("no such Slack route".to_owned())),
        }
        check_size(&request.body)?;
        if path == "/commands" && !signature::is_signed(&request.headers) && is_ssl_check(&request)
        {
            // Unsigned by design (§2): answered, and nothing else read from it.
            return Ok(Inbound::reply_only(InboundReply::ok()));
        }
        signature::verify(
            &shared.config.signing,
            &request.headers,
            &request.body,
            request.received_at,
        )?;
        match path {
            "/commands" => commands::handle(shared, &request),
            "/interactivity" => interactivity::handle(shared, &request),
            _ => events::handle(shared, &request).await,
        }
    }

    async fn run(&self, command: PlatformCommand) -> Result<CommandOutcome, AdapterError> {
        let shared = &*self.shared;
        match &command {
            PlatformCommand::PostCallCard {
                call,
                leg,
                to,
                join_url,
                title,
            } => cards::post(shared, *call, *leg, to, join_url, title).await,
            PlatformCommand::UpdateCallCard { call, leg, state } => {
                cards::update(shared, *call, *leg, *state).await
            }
            PlatformCommand::HangUp { call, leg, cause } => {
                cards::hang_up(shared, *call, *leg, *cause).await
            }
            PlatformCommand::SetPresence { user, presence } => {
                status::set_presence(shared, user, presence).await
            }
            PlatformCommand::Reply { to_event, text } => {
                notices::reply(shared, to_event, text).await
            }
            PlatformCommand::SendNotice { to, notice } => notices::send(shared, to, notice).await,
            PlatformCommand::PlaceCall { .. } | PlatformCommand::AnswerCall { .. } => {
                Err(AdapterError::Bug(
                    "Slack carries no call media: legs are placed and answered on the join page"
                        .to_owned(),
                ))
            }
            _ => Err(AdapterError::Bug(
                "command unknown to the Slack adapter".to_owned(),
            )),
        }
    }
}

/// `ssl_check=1` form pings (§2): recognised without trusting anything else in them.
fn is_ssl_check(request: &InboundRequest) -> bool {
    media_type(&request.headers) == "application/x-www-form-urlencoded"
        && Form::parse(&request.body).is_ok_and(|form| form.optional("ssl_check") == Some("1"))
}

impl PlatformAdapter for SlackAdapter {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    fn handle_inbound(
        &self,
        request: InboundRequest,
    ) -> BoxFuture<'_, Result<Inbound, AdapterError>> {
        Box::pin(self.inbound(request))
    }

    fn execute(
        &self,
        command: PlatformCommand,
    ) -> BoxFuture<'_, Result<CommandOutcome, AdapterError>> {
        Box::pin(async move {
            let kind = command_kind(&command);
            let result = self.run(command).await;
            let outcome = match &result {
                Ok(_) => "ok",
                Err(error) => error.label(),
            };
            metrics::counter!("callbridge_slack_commands_executed_total", "command" => kind, "outcome" => outcome)
                .increment(1);
            result
        })
    }

    fn health(&self) -> AdapterHealth {
        let last = self.shared.last_success.load(Ordering::Relaxed);
        let last_success = (last != i64::MIN)
            .then(|| DateTime::from_timestamp(last, 0))
            .flatten();
        let reconnect = self
            .shared
            .reconnect
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if reconnect.is_empty() {
            return AdapterHealth::healthy(last_success);
        }
        AdapterHealth {
            state: HealthState::Degraded,
            problems: reconnect
                .iter()
                .map(|team| format!("Slack workspace {team} must be reconnected"))
                .collect(),
            last_success,
        }
    }
}

fn command_kind(command: &PlatformCommand) -> &'static str {
    match command {
        PlatformCommand::PostCallCard { .. } => "post_call_card",
        PlatformCommand::UpdateCallCard { .. } => "update_call_card",
        PlatformCommand::PlaceCall { .. } => "place_call",
        PlatformCommand::AnswerCall { .. } => "answer_call",
        PlatformCommand::HangUp { .. } => "hang_up",
        PlatformCommand::SetPresence { .. } => "set_presence",
        PlatformCommand::Reply { .. } => "reply",
        PlatformCommand::SendNotice { .. } => "send_notice",
        _ => "other",
    }
}
