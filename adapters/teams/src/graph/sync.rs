//! The shell around the presence planners: performs the subscription planner's actions with
//! the subscriber accounts' tokens, re-reads presence (`getPresencesByUserId`, §3.3) to fill
//! gaps and correct drift, keeps app presence sessions from fading, and pushes the resulting
//! events to the host. Time comes in as `now`, so tests drive it with the sandbox clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use callbridge_adapter::{AdapterError, Secret};
use callbridge_model::{AadObjectId, EventId, PlatformEvent, Presence, UserRef};
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::json;
use tokio::sync::{Notify, mpsc};

use super::http::{GraphHttp, PRESENCE_BUDGET};
use super::notifications::Signal;
use super::planner::{
    Action, MAX_USERS_PER_SUBSCRIPTION, Outcome, PlannerConfig, SubscriptionPlanner,
};
use super::presence::{GraphPresence, PresenceList, SessionState};
use super::presence_write;
use super::sessions::SessionBook;
use super::subscriptions::{self, Target};
use crate::config::TeamsConfig;
use crate::entra::Entra;

/// How long the loop sleeps at most, so that a missed wake-up costs little.
const MAX_SLEEP_SECS: i64 = 60;

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Presence synchronisation for one tenant.
pub struct PresenceSync {
    config: Arc<TeamsConfig>,
    entra: Arc<Entra>,
    http: GraphHttp,
    client_state: Secret,
    planner: Mutex<SubscriptionPlanner>,
    sessions: Mutex<SessionBook>,
    last_seen: Mutex<HashMap<AadObjectId, (String, String)>>,
    events: mpsc::Sender<PlatformEvent>,
    wake: Notify,
}

impl std::fmt::Debug for PresenceSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceSync")
            .field("tenant", &self.config.tenant)
            .finish_non_exhaustive()
    }
}

impl PresenceSync {
    pub(crate) fn new(
        config: Arc<TeamsConfig>,
        entra: Arc<Entra>,
        http: GraphHttp,
        client_state: Secret,
        events: mpsc::Sender<PlatformEvent>,
    ) -> Self {
        let tuning = &config.presence;
        let to_chrono = |d: std::time::Duration| Duration::from_std(d).unwrap_or(Duration::MAX);
        let planner = SubscriptionPlanner::new(
            PlannerConfig {
                lifetime: to_chrono(tuning.subscription_lifetime),
                renew_when_left: to_chrono(tuning.renew_when_left),
                reread_every: to_chrono(tuning.reread_every),
                ..PlannerConfig::default()
            },
            config.subscribers.len(),
        );
        let sessions = SessionBook::new(
            to_chrono(tuning.session_lifetime),
            to_chrono(tuning.available_refresh),
        );
        Self {
            config,
            entra,
            http,
            client_state,
            planner: Mutex::new(planner),
            sessions: Mutex::new(sessions),
            last_seen: Mutex::new(HashMap::new()),
            events,
            wake: Notify::new(),
        }
    }

    /// The secret every subscription carries as `clientState`.
    pub(crate) const fn client_state(&self) -> &Secret {
        &self.client_state
    }

    /// Replaces the mirrored users.
    pub fn set_users(&self, users: impl IntoIterator<Item = AadObjectId>) {
        let uncovered = {
            let mut planner = locked(&self.planner);
            planner.set_users(users);
            planner.uncovered()
        };
        metrics::gauge!("callbridge_teams_presence_uncovered_users").set(uncovered as f64);
        if uncovered > 0 {
            tracing::warn!(
                platform = "teams",
                uncovered,
                "too few subscriber accounts: some mirrored users are only re-read periodically"
            );
        }
        self.wake.notify_one();
    }

    /// How many mirrored users no subscription can cover.
    pub fn uncovered(&self) -> usize {
        locked(&self.planner).uncovered()
    }

    /// The live subscriptions: (subscriber, id, expiry, number of users).
    pub fn subscriptions(&self) -> Vec<(String, String, DateTime<Utc>, usize)> {
        locked(&self.planner)
            .subscriptions()
            .map(|(slot, id, expires, users)| {
                let name = self
                    .config
                    .subscribers
                    .get(slot)
                    .map_or_else(String::new, |account| account.name.clone());
                (name, id.to_owned(), expires, users.len())
            })
            .collect()
    }

    /// Makes the loop look at its work now (an account signed in).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Work a notification asked for.
    pub(crate) fn signal(&self, signal: Signal) {
        {
            let mut planner = locked(&self.planner);
            match signal {
                Signal::Reread(user) => planner.reread(user),
                Signal::Reauthorize(subscription) => {
                    planner.reauthorization_required(&subscription)
                }
                Signal::Removed(subscription) => planner.removed(&subscription),
                Signal::Missed(subscription) => planner.missed(&subscription),
            }
        }
        self.wake.notify_one();
    }

    /// Records a state learnt from a notification, so re-reads report only real drift.
    pub(crate) fn observe(&self, user: AadObjectId, presence: &GraphPresence) {
        locked(&self.last_seen).insert(user, shown(presence));
    }

    /// Does everything due at `now`; returns when to come back.
    pub async fn step(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let later = now + Duration::seconds(MAX_SLEEP_SECS);
        if self.entra.reconnect().required() {
            // Mirroring stops until a person reconnects the installation.
            return later;
        }
        loop {
            let action = locked(&self.planner).poll(now);
            let Some(action) = action else { break };
            if let Err(error) = self.perform(action, now).await {
                self.stopped(&error);
                return later;
            }
        }
        self.refresh_sessions(now).await;
        let planner_next = locked(&self.planner).next_deadline(now);
        let sessions_next = locked(&self.sessions).next_deadline();
        [planner_next, sessions_next]
            .into_iter()
            .flatten()
            .min()
            .map_or(later, |next| next.min(later).max(now))
    }

    /// Runs [`step`](Self::step) on the system clock until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        loop {
            let now = Utc::now();
            let next = self.step(now).await;
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    fn stopped(&self, error: &AdapterError) {
        // Reconnect notices reach the host from Entra itself; everything else is logged.
        if !matches!(error, AdapterError::ReconnectRequired { .. }) {
            tracing::warn!(platform = "teams", reason = error.label(), %error, "presence sync step failed");
        }
    }

    async fn perform(&self, action: Action, now: DateTime<Utc>) -> Result<(), AdapterError> {
        let (id, slot) = match &action {
            Action::Reread { users } => {
                self.reread(users, now).await;
                return Ok(());
            }
            Action::Inventory { id, slot }
            | Action::Create { id, slot, .. }
            | Action::Renew { id, slot, .. }
            | Action::Reauthorize { id, slot, .. }
            | Action::Delete { id, slot, .. } => (*id, *slot),
        };
        let outcome = match self.subscription_call(action, slot, now).await {
            Ok(outcome) => outcome,
            // The installation needs a person, or the configuration is wrong: stop.
            Err(
                error @ (AdapterError::ReconnectRequired { .. }
                | AdapterError::Misconfigured(_)
                | AdapterError::Host(_)
                | AdapterError::Bug(_)),
            ) => {
                locked(&self.planner).on_outcome(id, Outcome::Failed { retry_after: None }, now);
                return Err(error);
            }
            // Refused (a 401 on a token Entra still considers valid) or misbehaved: fetch a
            // new token and retry after the back-off.
            Err(error) => {
                tracing::warn!(platform = "teams", reason = error.label(), %error, "subscription call failed");
                let name = self
                    .config
                    .subscribers
                    .get(slot)
                    .map(|account| account.name.as_str());
                self.entra.forget(name);
                Outcome::Failed { retry_after: None }
            }
        };
        count_outcome(&outcome);
        locked(&self.planner).on_outcome(id, outcome, now);
        Ok(())
    }

    async fn subscription_call(
        &self,
        action: Action,
        slot: usize,
        now: DateTime<Utc>,
    ) -> Result<Outcome, AdapterError> {
        let token = self.subscriber_token(slot, now).await?;
        match action {
            Action::Inventory { .. } => {
                subscriptions::inventory(&self.http, &self.config, &token).await
            }
            Action::Create {
                users, expires_at, ..
            } => {
                let target = Target {
                    config: &self.config,
                    client_state: &self.client_state,
                };
                subscriptions::create(&self.http, &target, &token, &users, expires_at).await
            }
            Action::Renew {
                subscription,
                expires_at,
                ..
            } => {
                subscriptions::renew(&self.http, &self.config, &token, &subscription, expires_at)
                    .await
            }
            Action::Reauthorize { subscription, .. } => {
                subscriptions::reauthorize(&self.http, &self.config, &token, &subscription).await
            }
            Action::Delete { subscription, .. } => {
                subscriptions::delete(&self.http, &self.config, &token, &subscription).await
            }
            Action::Reread { .. } => Err(AdapterError::Bug(
                "a re-read is not a subscription call".to_owned(),
            )),
        }
    }

    async fn subscriber_token(
        &self,
        slot: usize,
        now: DateTime<Utc>,
    ) -> Result<Secret, AdapterError> {
        let account = self
            .config
            .subscribers
            .get(slot)
            .ok_or_else(|| AdapterError::Bug(format!("subscriber slot {slot} out of range")))?;
        self.entra.delegated_token(&account.name, now).await
    }

    /// Reads the users' presence in batches of 650 and emits what changed.
    async fn reread(&self, users: &[AadObjectId], now: DateTime<Utc>) {
        for chunk in users.chunks(MAX_USERS_PER_SUBSCRIPTION) {
            match self.read_presences(chunk, now).await {
                Ok(presences) => {
                    for presence in presences {
                        self.emit_if_changed(&presence, now);
                    }
                }
                Err(error) => {
                    metrics::counter!("callbridge_teams_presence_reread_failed_total").increment(1);
                    tracing::warn!(platform = "teams", reason = error.label(), %error, "presence re-read failed");
                }
            }
        }
    }

    /// One user's presence as Graph shows it now (a `getPresencesByUserId` of one), for
    /// decisions that cannot wait for a notification: whether a callee is in Do Not Disturb.
    pub async fn read_presence(
        &self,
        user: AadObjectId,
        now: DateTime<Utc>,
    ) -> Result<Option<Presence>, AdapterError> {
        let read = self.read_presences(&[user], now).await?;
        Ok(read.first().map(GraphPresence::to_model))
    }

    async fn read_presences(
        &self,
        users: &[AadObjectId],
        now: DateTime<Utc>,
    ) -> Result<Vec<GraphPresence>, AdapterError> {
        let token = self.entra.app_token(now).await?;
        let ids: Vec<String> = users.iter().map(ToString::to_string).collect();
        let body = json!({ "ids": ids });
        let url = self
            .config
            .graph_url("/communications/getPresencesByUserId")?;
        let list: PresenceList = self
            .http
            .send(
                PRESENCE_BUDGET,
                Method::POST,
                url,
                token.expose(),
                Some(&body),
                true,
            )
            .await?
            .json("getPresencesByUserId")?;
        Ok(list.value)
    }

    fn emit_if_changed(&self, presence: &GraphPresence, now: DateTime<Utc>) {
        let Ok(user) = presence.id.parse::<AadObjectId>() else {
            return;
        };
        let now_shown = shown(presence);
        let changed = locked(&self.last_seen).insert(user, now_shown.clone()) != Some(now_shown);
        if !changed {
            return;
        }
        let stamp = presence
            .sequence_number
            .clone()
            .unwrap_or_else(|| now.timestamp_millis().to_string());
        let Ok(event_id) = format!("graph-reread:{user}:{stamp}").parse::<EventId>() else {
            return;
        };
        metrics::counter!("callbridge_teams_presence_drift_total").increment(1);
        let event = PlatformEvent::PresenceChanged {
            event_id,
            user: UserRef::Teams {
                tenant: self.config.tenant,
                user,
            },
            presence: presence.to_model(),
        };
        if self.events.try_send(event).is_err() {
            metrics::counter!("callbridge_teams_events_dropped_total").increment(1);
        }
    }

    /// Writes a mirrored presence: the app session and the status line.
    pub async fn set_presence(
        &self,
        user: AadObjectId,
        presence: &Presence,
        now: DateTime<Utc>,
    ) -> Result<(), AdapterError> {
        if self.entra.reconnect().required() {
            return Err(AdapterError::ReconnectRequired {
                installation: self.config.tenant.to_string(),
            });
        }
        let token = self.entra.app_token(now).await?;
        let expiration = locked(&self.sessions).expiration_duration();
        match SessionState::for_presence(presence) {
            Some(state) => {
                presence_write::set_session(
                    &self.http,
                    &self.config,
                    &token,
                    user,
                    state,
                    &expiration,
                )
                .await?;
                locked(&self.sessions).written(user, state, now);
            }
            None => {
                presence_write::clear_session(&self.http, &self.config, &token, user).await?;
                locked(&self.sessions).cleared(user);
            }
        }
        presence_write::set_status_message(
            &self.http,
            &self.config,
            &token,
            user,
            presence_write::status_text(presence),
            presence.expires_at,
        )
        .await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn refresh_sessions(&self, now: DateTime<Utc>) {
        let due = locked(&self.sessions).due(now);
        if due.is_empty() {
            return;
        }
        let token = match self.entra.app_token(now).await {
            Ok(token) => token,
            Err(error) => {
                self.stopped(&error);
                return;
            }
        };
        let expiration = locked(&self.sessions).expiration_duration();
        for (user, state) in due {
            let result = presence_write::set_session(
                &self.http,
                &self.config,
                &token,
                user,
                state,
                &expiration,
            )
            .await;
            match result {
                Ok(()) => locked(&self.sessions).written(user, state, now),
                Err(error) => {
                    tracing::warn!(platform = "teams", reason = error.label(), %error, "presence session refresh failed");
                    locked(&self.sessions).postpone(user, now + Duration::seconds(30));
                }
            }
        }
    }
}

fn shown(presence: &GraphPresence) -> (String, String) {
    (
        presence.availability.clone().unwrap_or_default(),
        presence.activity.clone().unwrap_or_default(),
    )
}

fn count_outcome(outcome: &Outcome) {
    let label = match outcome {
        Outcome::Inventoried(_) => "inventoried",
        Outcome::Created { .. } => "created",
        Outcome::Renewed { .. } => "renewed",
        Outcome::Reauthorized => "reauthorized",
        Outcome::Deleted => "deleted",
        Outcome::Gone => "gone",
        Outcome::Conflict => "conflict",
        Outcome::Failed { .. } => "failed",
    };
    metrics::counter!("callbridge_teams_subscription_actions_total", "outcome" => label)
        .increment(1);
}
