//! Whose token a Web API call uses, and keeping it fresh (slack-api.md §5.2, §5.4).
//!
//! Tokens are keyed by installation so workspaces never share one: `bot:<T…>` for a workspace
//! install, `bot:<E…>` for an org-wide Grid install, `user:<T…>:<U…>` for a person who opted in
//! to mirroring. With rotation on, a token within [`REFRESH_MARGIN`] of expiry is refreshed
//! before use, once however many callers find it expiring (the shared [`RefreshGate`]), and the
//! new pair is stored in one vault write so a spent refresh token is never kept.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use callbridge_adapter::client::RefreshGate;
use callbridge_adapter::{AdapterError, Secret, TokenKey, TokenSet, TokenVault};
use callbridge_model::Platform;
use chrono::{DateTime, Utc};

use crate::oauth_client::{OAuth, SlackTokenResponse};

/// How long before expiry a rotating token is refreshed: the Python SDK's token rotator uses
/// two hours (§5.2), well clear of the 12-hour lifetime.
pub const REFRESH_MARGIN: chrono::Duration = chrono::Duration::hours(2);

/// The adapter's notion of now; the sandbox clock in tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The vault key of a workspace's (or Grid org's) bot token.
pub fn bot_key(installation: &str) -> TokenKey {
    TokenKey::new(Platform::Slack, format!("bot:{installation}"))
}

/// The vault key of one person's user token in one workspace.
pub fn user_key(team: &str, user: &str) -> TokenKey {
    TokenKey::new(Platform::Slack, format!("{}{user}", user_prefix(team)))
}

/// The common start of every user-token key of one workspace: the separator after the team
/// keeps `T1` from reaching `T10`'s people.
pub(crate) fn user_prefix(team: &str) -> String {
    format!("user:{team}:")
}

/// The tokens of one installation, with what the adapter has learnt about where they live.
pub(crate) struct Tokens {
    vault: Arc<dyn TokenVault>,
    oauth: OAuth,
    gate: RefreshGate<TokenKey, TokenSet>,
    clock: Clock,
    /// Grid workspaces seen, so a workspace of an org-wide install finds the org's bot token.
    enterprise_of: Mutex<HashMap<String, String>>,
    /// People whose user tokens the refresh gate may hold, per workspace, so an uninstall
    /// drops them from the gate as well as from the vault.
    users_of: Mutex<HashMap<String, HashSet<String>>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

impl Tokens {
    pub(crate) fn new(vault: Arc<dyn TokenVault>, oauth: OAuth, clock: Clock) -> Self {
        Self {
            vault,
            oauth,
            gate: RefreshGate::default(),
            clock,
            enterprise_of: Mutex::new(HashMap::new()),
            users_of: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub(crate) fn oauth(&self) -> &OAuth {
        &self.oauth
    }

    /// Remembers that a workspace belongs to a Grid org.
    pub(crate) fn note_enterprise(&self, team: &str, enterprise: Option<&str>) {
        if let Some(enterprise) = enterprise.filter(|e| !e.is_empty()) {
            self.enterprise_of
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(team.to_owned(), enterprise.to_owned());
        }
    }

    fn note_user(&self, team: &str, user: &str) {
        self.users_of
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(team.to_owned())
            .or_default()
            .insert(user.to_owned());
    }

    /// The bot token serving `team`, fresh: the workspace's own, else its Grid org's.
    pub(crate) async fn bot(&self, team: &str) -> Result<Secret, AdapterError> {
        if let Some(tokens) = self.fresh(&bot_key(team)).await? {
            return Ok(tokens.access_token);
        }
        let enterprise = self
            .enterprise_of
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(team)
            .cloned();
        if let Some(enterprise) = enterprise
            && let Some(tokens) = self.fresh(&bot_key(&enterprise)).await?
        {
            return Ok(tokens.access_token);
        }
        Err(AdapterError::ReconnectRequired {
            installation: team.to_owned(),
        })
    }

    /// A person's user token, fresh, if they granted one.
    pub(crate) async fn user(
        &self,
        team: &str,
        user: &str,
    ) -> Result<Option<Secret>, AdapterError> {
        let found = self.fresh(&user_key(team, user)).await?;
        if found.is_some() {
            self.note_user(team, user);
        }
        Ok(found.map(|t| t.access_token))
    }

    /// Forces the next use of `key` to reload and, if needed, refresh (after `token_expired`).
    pub(crate) fn invalidate(&self, key: &TokenKey) {
        self.gate.invalidate(key);
    }

    /// Loads a token set, refreshing it first when it is about to expire. `None` when the vault
    /// has nothing for the key.
    async fn fresh(&self, key: &TokenKey) -> Result<Option<TokenSet>, AdapterError> {
        let now = self.now();
        let result = self
            .gate
            .get_or_refresh(
                key,
                |tokens| !tokens.expires_within(now, REFRESH_MARGIN),
                || self.load_or_refresh(key, now),
            )
            .await;
        match result {
            Ok(tokens) => Ok(Some(tokens)),
            Err(AdapterError::Host(reason)) if reason == NOT_FOUND => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn load_or_refresh(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, AdapterError> {
        let Some(tokens) = self.vault.load(key).await? else {
            return Err(AdapterError::Host(NOT_FOUND.to_owned()));
        };
        if !tokens.expires_within(now, REFRESH_MARGIN) {
            return Ok(tokens);
        }
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            // Expiring without a refresh token: nothing to do but use it while it lasts.
            return Ok(tokens);
        };
        metrics::counter!("callbridge_slack_token_refreshes_total").increment(1);
        let answer = match self.oauth.refresh(&refresh_token).await {
            Ok(answer) => answer,
            Err(AdapterError::PlatformRejected { error, .. })
                if matches!(
                    error.as_str(),
                    "invalid_refresh_token" | "invalid_grant" | "token_revoked"
                ) =>
            {
                return Err(AdapterError::ReconnectRequired {
                    installation: installation_of(key),
                });
            }
            Err(error) => return Err(error),
        };
        let renewed = token_set(&answer, now, &tokens.scopes)?;
        self.vault.store(key, &renewed).await?;
        tracing::info!(owner_kind = answer.kind(), "slack token rotated");
        Ok(renewed)
    }

    /// Stores what an install returned: the bot token under its installation, the installing
    /// person's user token under them.
    pub(crate) async fn store_install(
        &self,
        answer: &SlackTokenResponse,
    ) -> Result<Installed, AdapterError> {
        let now = self.now();
        let team = answer.team.as_ref().map(|t| t.id.clone());
        let enterprise = answer.enterprise.as_ref().map(|e| e.id.clone());
        let installation = if answer.is_enterprise_install {
            enterprise.clone()
        } else {
            team.clone()
        }
        .ok_or_else(|| AdapterError::PlatformMisbehaved {
            method: "oauth.v2.access".to_owned(),
            detail: "answer names no team or enterprise".to_owned(),
        })?;
        if let (Some(team), enterprise) = (&team, &enterprise) {
            self.note_enterprise(team, enterprise.as_deref());
        }
        let bot = token_set(answer, now, &answer.scope_list())?;
        let bot_key = bot_key(&installation);
        self.vault.store(&bot_key, &bot).await?;
        self.gate.invalidate(&bot_key);
        let mut user = None;
        if let Some(authed) = &answer.authed_user
            && let Some(access) = &authed.access_token
            && let Some(team) = &team
        {
            let set = TokenSet {
                access_token: Secret::new(access.secret().clone()),
                refresh_token: authed
                    .refresh_token
                    .as_ref()
                    .map(|t| Secret::new(t.secret().clone())),
                expires_at: expiry(now, authed.expires_in)?,
                scopes: crate::oauth_client::split_scopes(authed.scope.as_deref()),
            };
            let key = user_key(team, &authed.id);
            self.vault.store(&key, &set).await?;
            self.gate.invalidate(&key);
            self.note_user(team, &authed.id);
            user = Some(authed.id.clone());
        }
        Ok(Installed {
            installation,
            team_name: answer.team.as_ref().and_then(|t| t.name.clone()),
            user,
        })
    }

    /// Deletes the listed people's user tokens, and the bot token when `bot` (§5.4).
    pub(crate) async fn revoke(
        &self,
        team: &str,
        users: &[String],
        bot: bool,
    ) -> Result<(), AdapterError> {
        for user in users {
            let key = user_key(team, user);
            self.vault.delete(&key).await?;
            self.gate.invalidate(&key);
            if let Some(known) = self
                .users_of
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_mut(team)
            {
                known.remove(user);
            }
        }
        if bot {
            let key = bot_key(team);
            self.vault.delete(&key).await?;
            self.gate.invalidate(&key);
        }
        Ok(())
    }

    /// Deletes every token of a workspace (`app_uninstalled`, §5.4): its bot token and all its
    /// people's user tokens, those stored by an earlier process included, which is why the
    /// vault deletes by key prefix rather than by the people this process has seen.
    pub(crate) async fn revoke_all(&self, team: &str) -> Result<(), AdapterError> {
        let deleted = self
            .vault
            .delete_prefix(Platform::Slack, &user_prefix(team))
            .await?;
        // The gate may still hold the user tokens this process used: drop those too.
        let cached: Vec<String> = self
            .users_of
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(team)
            .map(|set| set.into_iter().collect())
            .unwrap_or_default();
        for user in &cached {
            self.gate.invalidate(&user_key(team, user));
        }
        let key = bot_key(team);
        self.vault.delete(&key).await?;
        self.gate.invalidate(&key);
        tracing::debug!(user_tokens = deleted, "slack workspace tokens deleted");
        Ok(())
    }
}

/// What an install stored.
#[derive(Clone, Debug)]
pub(crate) struct Installed {
    pub(crate) installation: String,
    pub(crate) team_name: Option<String>,
    pub(crate) user: Option<String>,
}

/// The vault's "no such key", carried through the gate (which only passes errors).
const NOT_FOUND: &str = "slack token not in the vault";

fn installation_of(key: &TokenKey) -> String {
    key.owner
        .split(':')
        .nth(1)
        .unwrap_or(key.owner.as_str())
        .to_owned()
}

fn expiry(
    now: DateTime<Utc>,
    expires_in: Option<u64>,
) -> Result<Option<DateTime<Utc>>, AdapterError> {
    expires_in
        .map(|secs| {
            i64::try_from(secs)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .and_then(|d| now.checked_add_signed(d))
                .ok_or_else(|| AdapterError::PlatformMisbehaved {
                    method: "oauth.v2.access".to_owned(),
                    detail: "expires_in out of range".to_owned(),
                })
        })
        .transpose()
}

/// The top-level token of an answer as a [`TokenSet`], keeping `scopes` when a refresh answer
/// does not repeat them.
fn token_set(
    answer: &SlackTokenResponse,
    now: DateTime<Utc>,
    scopes: &[String],
) -> Result<TokenSet, AdapterError> {
    use oauth2::TokenResponse;
    let listed = answer.scope_list();
    Ok(TokenSet {
        access_token: Secret::new(answer.access_token().secret().clone()),
        refresh_token: answer
            .refresh_token()
            .map(|t| Secret::new(t.secret().clone())),
        expires_at: expiry(now, answer.expires_in().map(|d| d.as_secs()))?,
        scopes: if listed.is_empty() {
            scopes.to_vec()
        } else {
            listed
        },
    })
}
