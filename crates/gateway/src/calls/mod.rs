//! Calls: the gateway's shell around the call engine.
//!
//! Platform events arrive through [`CallService::on_event`]; call requests are resolved into
//! parties first ([`resolve`]), then fed to the engine, whose single task ([`engine_loop`])
//! hands each call's effects to that call's driver ([`driver`]): store writes, adapter
//! commands, media commands. The join page reaches the engine through the
//! [`JoinBackend`](crate::join::JoinBackend) this service implements.

mod driver;
mod engine_loop;
mod joins;
mod links;
mod presence_book;
mod recover;
pub mod resolve;
mod views;

use std::sync::Arc;
use std::time::Duration;

use callbridge_adapter::BoxFuture;
use callbridge_engine::CallEngine;
use callbridge_engine::call::{CallConfig, Input, MediaReply, NewCall};
use callbridge_model::{
    CallId, LegId, MediaAnswer, MediaOffer, Platform, PlatformCommand, PlatformEvent, TenantId,
    TerminationCause, UserRef,
};
use callbridge_slack::SlackAdapter;
use callbridge_store::{CallStore, SqlStore, UserLinkStore};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

pub use presence_book::PresenceBook;

use crate::join::{JoinBackend, JoinPage, JoinRefusal, JoinTokens, JoinView};
use crate::media::{MediaNotice, MediaService};
use crate::mirror::MirrorService;
use crate::platforms::Platforms;
use driver::DriverDeps;
use joins::JoinWaiters;
use resolve::Resolver;
use views::ViewBoard;

/// How many inputs may wait for the engine before their senders wait.
const INPUT_DEPTH: usize = 4096;
/// Longest a browser waits for the media core's answer to its offer.
const JOIN_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the call service is built from.
pub struct CallDeps {
    /// The store calls and CDRs are written to.
    pub store: SqlStore,
    /// The mounted adapters.
    pub platforms: Platforms,
    /// The Slack adapter as itself (directory reads), when Slack is enabled.
    pub slack: Option<Arc<SlackAdapter>>,
    /// The media core.
    pub media: MediaService,
    /// Events from the media core.
    pub media_notices: mpsc::Receiver<MediaNotice>,
    /// Signs join links.
    pub tokens: JoinTokens,
    /// Where the gateway is reached (join links).
    pub public_url: url::Url,
    /// The organisation calls belong to.
    pub tenant: TenantId,
    /// Ring timeout and the like.
    pub config: CallConfig,
    /// The presence mirror, told who is on a call and of new links.
    pub mirror: Option<MirrorService>,
}

/// The gateway's calls. Cheap to clone.
#[derive(Clone)]
pub struct CallService {
    inputs: mpsc::Sender<Input>,
    drivers: watch::Receiver<usize>,
    joins: JoinWaiters,
    views: ViewBoard,
    resolver: Resolver,
    platforms: Platforms,
    store: SqlStore,
}

impl CallService {
    /// Closes the calls a previous run left live (see [`recover`]), then starts the engine's
    /// task and the media notice pump.
    pub async fn start(deps: CallDeps) -> Result<Self, callbridge_store::StoreError> {
        recover::recover(&deps.store, &deps.platforms, Utc::now()).await?;
        let (inputs, rx) = mpsc::channel(INPUT_DEPTH);
        let (running, drivers) = watch::channel(0);
        let joins = JoinWaiters::default();
        let views = ViewBoard::default();
        // A join link stays valid for as long as the call can ring, and a little longer.
        let join_validity = chrono::TimeDelta::from_std(deps.config.ring_timeout)
            .unwrap_or(chrono::TimeDelta::zero())
            + chrono::TimeDelta::minutes(5);
        let resolver = Resolver {
            store: deps.store.clone(),
            slack: deps.slack.clone(),
            teams: deps.platforms.teams().cloned(),
            presence: PresenceBook::default(),
            tokens: deps.tokens.clone(),
            public_url: deps.public_url.clone(),
            tenant: deps.tenant,
            join_validity,
            mirror: deps.mirror.clone(),
        };
        let engine = engine_loop::EngineLoop {
            engine: CallEngine::new(deps.config),
            inputs: rx,
            deps: DriverDeps {
                store: deps.store.clone(),
                platforms: deps.platforms.clone(),
                media: deps.media.clone(),
                inputs: inputs.clone(),
                running,
            },
            joins: joins.clone(),
            views: views.clone(),
            mirror: deps.mirror,
            on_call: std::collections::HashSet::new(),
        };
        tokio::spawn(engine.run());
        tokio::spawn(pump_media(deps.media_notices, inputs.clone()));
        tokio::spawn(learn_linked_numbers(resolver.clone()));
        Ok(Self {
            inputs,
            drivers,
            joins,
            views,
            resolver,
            platforms: deps.platforms,
            store: deps.store,
        })
    }

    /// The join page, joining calls through this service.
    pub fn join_page(&self) -> JoinPage {
        JoinPage::new(self.resolver.tokens.clone(), Arc::new(self.clone()))
    }

    /// What callbridge knows of users' presence on their own platforms.
    pub fn presence(&self) -> &PresenceBook {
        &self.resolver.presence
    }

    /// Acts on a platform event that concerns calls (others are ignored here).
    pub async fn on_event(&self, platform: Platform, event: PlatformEvent) {
        match event {
            PlatformEvent::CallRequested {
                event_id,
                caller,
                target,
            } => match self.resolver.request(&caller, &target, Utc::now()).await {
                Ok(call) => {
                    self.open_view(&call);
                    self.feed(Input::Requested {
                        request: event_id,
                        call,
                    })
                    .await;
                }
                Err(unresolved) => {
                    metrics::counter!("callbridge_calls_refused_total", "reason" => "unresolved")
                        .increment(1);
                    let reply = PlatformCommand::Reply {
                        to_event: event_id,
                        text: unresolved.to_string(),
                    };
                    self.execute(platform, reply).await;
                }
            },
            PlatformEvent::IncomingCall {
                call,
                leg,
                caller,
                target,
                offer,
                ..
            } => match self
                .resolver
                .incoming(call, leg, &caller, &target, Utc::now())
                .await
            {
                Ok(resolved) => {
                    self.open_view(&resolved);
                    self.feed(Input::Incoming {
                        call: resolved,
                        offer,
                    })
                    .await;
                }
                Err(_) => {
                    metrics::counter!("callbridge_calls_refused_total", "reason" => "unresolved")
                        .increment(1);
                    let cause = TerminationCause::Error;
                    self.execute(platform, PlatformCommand::HangUp { call, leg, cause })
                        .await;
                }
            },
            PlatformEvent::PresenceChanged { user, presence, .. } => {
                self.resolver.presence.note(&user, &presence);
            }
            PlatformEvent::InstallationRevoked { external_id, .. } => {
                self.end_calls_of(platform, &external_id).await;
            }
            other => self.feed(Input::Platform(other)).await,
        }
    }

    /// Starts draining: new calls are refused, calls still up at `deadline` are ended.
    pub async fn drain(&self, deadline: DateTime<Utc>) {
        self.feed(Input::Drain { deadline }).await;
    }

    /// Resolves once no call is being driven (every call ended and recorded).
    pub async fn until_idle(&self) {
        let mut drivers = self.drivers.clone();
        let _ = drivers.wait_for(|running| *running == 0).await;
    }

    fn open_view(&self, call: &NewCall) {
        let (slack_leg, title) = if call.caller.user.platform() == Platform::Slack {
            (
                call.caller_leg,
                format!("Calling {} on Teams", call.callee.name),
            )
        } else {
            (
                call.callee_leg,
                format!("{} is calling from Teams", call.caller.name),
            )
        };
        self.views.open(call.call, slack_leg, title);
    }

    /// Ends every live call with a leg in the revoked workspace or tenant.
    async fn end_calls_of(&self, platform: Platform, external_id: &str) {
        let calls = match self.store.live_calls().await {
            Ok(calls) => calls,
            Err(error) => {
                tracing::error!(%error, "could not list live calls of a revoked installation");
                return;
            }
        };
        for call in calls {
            let affected = call
                .legs
                .iter()
                .any(|leg| installation_of(&leg.user) == (platform, external_id.to_owned()));
            if affected {
                self.feed(Input::HangUp {
                    call: call.id,
                    cause: TerminationCause::Error,
                })
                .await;
            }
        }
    }

    async fn execute(&self, platform: Platform, command: PlatformCommand) {
        if let Some(adapter) = self.platforms.for_platform(platform)
            && let Err(error) = adapter.execute(command).await
        {
            tracing::warn!(%error, platform = platform.as_str(), "could not answer a call request");
        }
    }

    async fn feed(&self, input: Input) {
        if self.inputs.send(input).await.is_err() {
            tracing::error!("the call engine stopped; an input was lost");
        }
    }
}

/// The workspace or tenant a user belongs to, as installations name it.
fn installation_of(user: &UserRef) -> (Platform, String) {
    match user {
        UserRef::Slack { team, .. } => (Platform::Slack, team.as_str().to_owned()),
        UserRef::Teams { tenant, .. } => (Platform::Teams, tenant.to_string()),
        _ => (user.platform(), String::new()),
    }
}

/// Looks every linked Teams user up once, so the trunk knows their numbers and recognises
/// them when they dial a Slack user.
async fn learn_linked_numbers(resolver: Resolver) {
    let Some(teams) = resolver.teams.clone() else {
        return;
    };
    let links = match resolver.store.links().await {
        Ok(links) => links,
        Err(error) => {
            tracing::warn!(%error, "could not read links to learn Teams numbers");
            return;
        }
    };
    for link in links {
        let lookup = callbridge_teams::directory::Lookup::Id(link.teams_user);
        if let Err(error) = teams.resolve_user(&lookup, Utc::now()).await {
            tracing::debug!(%error, "a linked Teams user could not be looked up");
        }
    }
}

/// Media core events the engine acts on.
async fn pump_media(mut notices: mpsc::Receiver<MediaNotice>, inputs: mpsc::Sender<Input>) {
    while let Some(notice) = notices.recv().await {
        let input = match notice {
            MediaNotice::Timeout { call } => Input::Media(MediaReply::MediaTimeout { call }),
            _ => continue,
        };
        if inputs.send(input).await.is_err() {
            return;
        }
    }
}

impl JoinBackend for CallService {
    fn view(&self, call: CallId, leg: LegId) -> BoxFuture<'_, Option<JoinView>> {
        Box::pin(async move { self.views.view(call, leg) })
    }

    fn join(
        &self,
        call: CallId,
        leg: LegId,
        offer: MediaOffer,
    ) -> BoxFuture<'_, Result<MediaAnswer, JoinRefusal>> {
        Box::pin(async move {
            if self.views.view(call, leg).is_none() {
                return Err(JoinRefusal::CallOver);
            }
            let answer = self.joins.wait(call, leg);
            self.feed(Input::Platform(PlatformEvent::JoinRequested {
                call,
                leg,
                offer,
            }))
            .await;
            match tokio::time::timeout(JOIN_ANSWER_TIMEOUT, answer).await {
                Ok(Ok(Some(answer))) => Ok(answer),
                _ => Err(JoinRefusal::CallOver),
            }
        })
    }

    fn leave(&self, call: CallId, leg: LegId) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let cause = TerminationCause::Normal;
            self.feed(Input::Platform(PlatformEvent::LegEnded {
                call,
                leg,
                cause,
            }))
            .await;
        })
    }

    fn watch(&self, call: CallId) -> Option<watch::Receiver<JoinView>> {
        self.views.watch(call)
    }
}
