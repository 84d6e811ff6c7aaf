//! The sandbox's whole world behind one lock, and the handle every route and act shares.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use url::Url;

use super::config::SlackSandboxConfig;
use super::error::SandboxError;
use super::events::EventQueue;
use super::ids::{self, TsMinter};
use super::model::{Channel, ShownMessage, SlackCall, User, Workspace};
use super::outbound::SigningKnobs;
use super::ratelimit::RateLimiter;
use super::seed::{SeedApp, SlackSeed};
use super::tokens::{TokenKind, TokenRecord, TokenStore};
use crate::control::{Faults, SandboxClock};

/// The fake Slackbot that shows client-side errors such as `operation_timeout`.
pub(crate) const SLACKBOT: &str = "USLACKBOT";

/// A `response_url` Slack handed to the app (§4).
#[derive(Clone, Debug)]
pub(crate) struct ResponseUrl {
    pub(crate) team_id: String,
    pub(crate) channel: String,
    pub(crate) user: String,
    /// The message a button was clicked on; `None` for slash commands.
    pub(crate) source: Option<(String, String)>,
    pub(crate) created_at: i64,
    pub(crate) uses: u32,
}

/// A `trigger_id`: valid for 3 seconds and once (§0.5, §11).
#[derive(Clone, Debug)]
pub(crate) struct Trigger {
    pub(crate) issued_at: i64,
    pub(crate) used: bool,
}

/// Where the app under test receives Slack's requests.
#[derive(Clone, Debug, Default)]
pub(crate) struct AppUrls {
    pub(crate) command: Option<Url>,
    pub(crate) interactivity: Option<Url>,
    pub(crate) events: Option<Url>,
}

impl AppUrls {
    pub(crate) fn from_base(base: &Url, app: &SeedApp) -> Self {
        Self {
            command: base.join(&app.command_path).ok(),
            interactivity: base.join(&app.interactivity_path).ok(),
            events: base.join(&app.events_path).ok(),
        }
    }
}

/// Everything the sandboxed Slack knows.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) app: SeedApp,
    pub(crate) workspaces: Vec<Workspace>,
    pub(crate) users: BTreeMap<String, User>,
    pub(crate) channels: BTreeMap<String, Channel>,
    pub(crate) messages: Vec<ShownMessage>,
    pub(crate) calls: BTreeMap<String, SlackCall>,
    pub(crate) tokens: TokenStore,
    pub(crate) limiter: RateLimiter,
    pub(crate) response_urls: HashMap<String, ResponseUrl>,
    pub(crate) app_urls: AppUrls,
    pub(crate) events: EventQueue,
    pub(crate) signing: SigningKnobs,
    /// Where this sandbox is reachable, for the `response_url`s it hands out.
    pub(crate) base_url: Url,
    pub(crate) ts: TsMinter,
    /// Trigger ids handed out with commands and clicks: when, and whether used (§11).
    pub(crate) triggers: HashMap<String, Trigger>,
    /// Modals opened with `views.open`, oldest first.
    pub(crate) views: Vec<Value>,
}

/// The shared state of one Slack sandbox: the world, its clock and its faults.
///
/// Cloning shares it; [`super::SlackSandbox::router`] serves it.
#[derive(Clone, Debug)]
pub struct SlackState {
    pub(crate) inner: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) world: Mutex<World>,
    pub(crate) clock: SandboxClock,
    pub(crate) faults: Faults,
    pub(crate) http: reqwest::Client,
}

impl SlackState {
    /// Builds the world from `config`'s seed, with a fresh clock and no faults.
    pub fn new(config: &SlackSandboxConfig) -> Result<Self, SandboxError> {
        config.seed.validate()?;
        let clock = SandboxClock::new();
        let now = clock.unix();
        let http = reqwest::Client::builder()
            .timeout(config.app_timeout)
            // Slack follows at most two redirects (§9.3).
            .redirect(reqwest::redirect::Policy::limited(2))
            .build()
            .map_err(SandboxError::Client)?;
        let base_url = Url::parse("http://127.0.0.1/").map_err(|e| {
            SandboxError::Misconfigured(format!("default base URL does not parse: {e}"))
        })?;
        let mut world = World::from_seed(&config.seed, base_url, now);
        if let Some(app_base) = &config.app_base_url {
            world.app_urls = AppUrls::from_base(app_base, &world.app);
        }
        Ok(Self {
            inner: Arc::new(Shared {
                world: Mutex::new(world),
                clock,
                faults: Faults::new(),
                http,
            }),
        })
    }

    /// The sandbox clock.
    pub fn clock(&self) -> &SandboxClock {
        &self.inner.clock
    }

    /// The sandbox's fault rules.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Locks the world, first applying what the clock made happen (expired statuses and
    /// snoozes), so that every reader sees the present even without the event pump.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        let now = self.now();
        let mut world = self
            .inner
            .world
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        world.sweep(now);
        world
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.unix()
    }
}

impl World {
    fn from_seed(seed: &SlackSeed, base_url: Url, now: i64) -> Self {
        let mut world = Self {
            app: seed.app.clone(),
            workspaces: Vec::new(),
            users: BTreeMap::new(),
            channels: BTreeMap::new(),
            messages: Vec::new(),
            calls: BTreeMap::new(),
            tokens: TokenStore::default(),
            limiter: RateLimiter::default(),
            response_urls: HashMap::new(),
            app_urls: AppUrls::default(),
            events: EventQueue::default(),
            signing: SigningKnobs::default(),
            base_url,
            ts: TsMinter::default(),
            triggers: HashMap::new(),
            views: Vec::new(),
        };
        for ws in &seed.workspaces {
            world.workspaces.push(Workspace {
                id: ws.id.clone(),
                name: ws.name.clone(),
                domain: ws.domain.clone(),
                enterprise: ws
                    .enterprise
                    .as_ref()
                    .map(|e| (e.id.clone(), e.name.clone())),
                bot_user_id: None,
            });
            for seed_user in &ws.users {
                let user = User {
                    id: seed_user.id.clone(),
                    team_id: ws.id.clone(),
                    name: seed_user.name.clone(),
                    real_name: seed_user.real_name.clone(),
                    email: seed_user.email.clone(),
                    tz: seed_user.tz.clone(),
                    tz_label: seed_user.tz_label.clone(),
                    tz_offset: seed_user.tz_offset,
                    is_admin: seed_user.is_admin,
                    is_bot: false,
                    bot_id: None,
                    display_name: seed_user.name.clone(),
                    status_text: seed_user.status_text.clone(),
                    status_emoji: seed_user.status_emoji.clone(),
                    status_expiration: seed_user.status_expiration,
                    huddle_call_id: None,
                    online: seed_user.presence == "active",
                    manual_away: false,
                    last_activity: now,
                    snooze_end: (seed_user.dnd_snooze_minutes > 0)
                        .then(|| now + i64::from(seed_user.dnd_snooze_minutes) * 60),
                    updated: now,
                };
                world.users.insert(user.id.clone(), user);
            }
            if let Some(install) = &ws.install {
                world.add_bot_user(&ws.id, &install.bot_user_id, now);
                world.tokens.access.insert(
                    install.bot_token.clone(),
                    TokenRecord {
                        kind: TokenKind::Bot,
                        team_id: ws.id.clone(),
                        user_id: install.bot_user_id.clone(),
                        scopes: install.bot_scopes.clone(),
                        expires_at: None,
                        revoked: false,
                    },
                );
                for grant in &install.user_tokens {
                    world.tokens.access.insert(
                        grant.token.clone(),
                        TokenRecord {
                            kind: TokenKind::User,
                            team_id: ws.id.clone(),
                            user_id: grant.user.clone(),
                            scopes: grant.scopes.clone(),
                            expires_at: None,
                            revoked: false,
                        },
                    );
                }
            }
            let mut members: Vec<String> = ws.users.iter().map(|u| u.id.clone()).collect();
            if let Some(install) = &ws.install {
                members.push(install.bot_user_id.clone());
            }
            let channels = if ws.channels.is_empty() {
                vec![Channel {
                    id: format!("C{}", ws.id.get(1..).unwrap_or_default()),
                    team_id: ws.id.clone(),
                    name: "general".to_owned(),
                    is_im: false,
                    is_mpim: false,
                    members,
                }]
            } else {
                ws.channels
                    .iter()
                    .map(|c| Channel {
                        id: c.id.clone(),
                        team_id: ws.id.clone(),
                        name: c.name.clone(),
                        is_im: false,
                        is_mpim: false,
                        members: c.members.clone(),
                    })
                    .collect()
            };
            for channel in channels {
                world.channels.insert(channel.id.clone(), channel);
            }
        }
        world
    }

    /// Creates the app's bot user in a workspace (on seed or install).
    pub(crate) fn add_bot_user(&mut self, team_id: &str, bot_user_id: &str, now: i64) {
        let name = self.app.name.clone();
        self.users.insert(
            bot_user_id.to_owned(),
            User {
                id: bot_user_id.to_owned(),
                team_id: team_id.to_owned(),
                name: name.clone(),
                real_name: name.clone(),
                email: String::new(),
                tz: "America/Los_Angeles".to_owned(),
                tz_label: "Pacific Standard Time".to_owned(),
                tz_offset: -28800,
                is_admin: false,
                is_bot: true,
                bot_id: Some(format!("B{}", bot_user_id.get(1..).unwrap_or_default())),
                display_name: name,
                status_text: String::new(),
                status_emoji: String::new(),
                status_expiration: 0,
                huddle_call_id: None,
                online: false,
                manual_away: false,
                last_activity: now,
                snooze_end: None,
                updated: now,
            },
        );
        if let Some(ws) = self.workspaces.iter_mut().find(|w| w.id == team_id) {
            ws.bot_user_id = Some(bot_user_id.to_owned());
        }
    }

    pub(crate) fn workspace(&self, team_id: &str) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.id == team_id)
    }

    /// The DM between two users, opened on first use as Slack does.
    pub(crate) fn open_dm(&mut self, team_id: &str, a: &str, b: &str) -> (String, bool) {
        let existing = self.channels.values().find(|c| {
            c.is_im && c.members.iter().any(|m| m == a) && c.members.iter().any(|m| m == b)
        });
        if let Some(channel) = existing {
            return (channel.id.clone(), true);
        }
        let id = ids::new_id("D");
        // For a bot's DM, `user` is the human: keep the human first.
        let members = if self.users.get(a).is_some_and(|u| u.is_bot) {
            vec![b.to_owned(), a.to_owned()]
        } else {
            vec![a.to_owned(), b.to_owned()]
        };
        self.channels.insert(
            id.clone(),
            Channel {
                id: id.clone(),
                team_id: team_id.to_owned(),
                name: String::new(),
                is_im: true,
                is_mpim: false,
                members,
            },
        );
        (id, false)
    }

    /// Adds a message and records call blocks in their calls' `channels` (§6.4).
    pub(crate) fn post(&mut self, message: ShownMessage) -> ShownMessage {
        for call_id in message.call_ids() {
            if let Some(call) = self.calls.get_mut(&call_id)
                && !call.channels.contains(&message.channel)
            {
                call.channels.push(message.channel.clone());
            }
        }
        self.messages.push(message.clone());
        message
    }

    /// A new message by `user` (bot id filled in for bots) at `now`.
    pub(crate) fn new_message(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        blocks: Option<Value>,
        now: i64,
    ) -> ShownMessage {
        ShownMessage {
            channel: channel.to_owned(),
            ts: self.ts.next(now),
            user: user.to_owned(),
            bot_id: self.users.get(user).and_then(|u| u.bot_id.clone()),
            text: text.to_owned(),
            blocks,
            thread_ts: None,
            ephemeral_to: None,
            edited: false,
        }
    }

    /// Mints a `trigger_id` valid from `now`.
    pub(crate) fn mint_trigger(&mut self, now: i64) -> String {
        let id = ids::trigger_id();
        self.triggers.insert(
            id.clone(),
            Trigger {
                issued_at: now,
                used: false,
            },
        );
        id
    }

    /// Mints a `response_url` on this sandbox for a command or an interaction.
    pub(crate) fn mint_response_url(&mut self, kind: &str, record: ResponseUrl) -> String {
        let key = ids::secret(24);
        let url = format!(
            "{}hooks/{kind}/{}/{}/{key}",
            self.base_url,
            record.team_id,
            ids::digits(12)
        );
        self.response_urls.insert(key, record);
        url
    }

    /// The part of `user_change`-style payloads shared by profile, status and huddle events.
    pub(crate) fn user_event(&self, kind: &str, user_id: &str, now: i64) -> Option<Value> {
        let user = self.users.get(user_id)?;
        Some(json!({
            "type": kind,
            "user": user.to_json(false),
            "cache_ts": now,
            "event_ts": self.ts.next(now),
        }))
    }
}
