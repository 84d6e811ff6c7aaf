//! `auth.test`, `auth.revoke`, `apps.uninstall` and `oauth.v2.access` with token rotation
//! (slack-api.md §5.2–§5.4).

use axum::http::{HeaderMap, header};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::{ApiError, ApiResult, Args, Caller};
use crate::slack::events::Authorization;
use crate::slack::ids;
use crate::slack::state::World;
use crate::slack::tokens::{OAUTH_CODE_LIFETIME_SECS, ROTATING_TOKEN_LIFETIME_SECS, TokenKind};

fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub(super) fn auth_test(world: &World, caller: &Caller) -> ApiResult {
    let team_id = &caller.record.team_id;
    let ws = world
        .workspace(team_id)
        .ok_or_else(|| ApiError::new("account_inactive"))?;
    let user = world.users.get(&caller.record.user_id);
    let mut out = json!({
        "url": format!("https://{}.slack.com/", ws.domain),
        "team": ws.name,
        "user": user.map(|u| u.name.clone()).unwrap_or_default(),
        "team_id": team_id,
        "user_id": caller.record.user_id,
        "is_enterprise_install": false,
    });
    if let Some((id, _)) = &ws.enterprise {
        out["enterprise_id"] = json!(id);
    }
    if let Some(bot_id) = user.and_then(|u| u.bot_id.clone())
        && caller.is_bot()
    {
        out["bot_id"] = json!(bot_id);
    }
    Ok(fields(out))
}

pub(super) fn auth_revoke(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    if args.flag("test") {
        // A dry run: the token stays valid.
        return Ok(fields(json!({"revoked": false})));
    }
    if let Some(record) = world.tokens.access.get_mut(&caller.token) {
        record.revoked = true;
    }
    let (oauth, bot) = match caller.record.kind {
        TokenKind::User => (vec![caller.record.user_id.clone()], Vec::new()),
        TokenKind::Bot => (Vec::new(), vec![caller.record.user_id.clone()]),
    };
    world.emit_tokens_revoked(&caller.record.team_id, &oauth, &bot, caller.now);
    Ok(fields(json!({"revoked": true})))
}

pub(super) fn apps_uninstall(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    let client_id = args.nonempty("client_id");
    let client_secret = args.nonempty("client_secret");
    match (client_id, client_secret) {
        (Some(id), _) if id != world.app.client_id => Err(ApiError::new("invalid_client_id")),
        (Some(_), Some(secret)) if secret == world.app.client_secret => {
            world.uninstall(&caller.record.team_id, caller.now);
            Ok(Map::new())
        }
        (Some(_), Some(_)) => Err(ApiError::new("bad_client_secret")),
        (None, _) => Err(ApiError::new("invalid_client_id")),
        (Some(_), None) => Err(ApiError::new("bad_client_secret")),
    }
}

impl World {
    /// Removes the app from a workspace: every token dies, then `tokens_revoked` and
    /// `app_uninstalled` go out (§5.4).
    pub(crate) fn uninstall(&mut self, team_id: &str, now: i64) -> bool {
        let bot_user = self.workspace(team_id).and_then(|w| w.bot_user_id.clone());
        let (oauth, bots) = self.tokens.revoke_team(team_id);
        if bot_user.is_none() && oauth.is_empty() && bots.is_empty() {
            return false;
        }
        let bots = if bots.is_empty() {
            bot_user.iter().cloned().collect()
        } else {
            bots
        };
        self.emit_tokens_revoked(team_id, &oauth, &bots, now);
        let auth_user = bot_user.unwrap_or_default();
        let auth = Authorization {
            user_id: &auth_user,
            is_bot: true,
        };
        let event = json!({"type": "app_uninstalled", "event_ts": self.ts.next(now)});
        self.enqueue_event(team_id, event, &auth, now);
        if let Some(ws) = self.workspaces.iter_mut().find(|w| w.id == team_id) {
            ws.bot_user_id = None;
        }
        true
    }

    /// `tokens_revoked` lists user ids, not token strings (§5.4).
    pub(crate) fn emit_tokens_revoked(
        &mut self,
        team_id: &str,
        oauth: &[String],
        bot: &[String],
        now: i64,
    ) {
        let auth_user = self
            .workspace(team_id)
            .and_then(|w| w.bot_user_id.clone())
            .unwrap_or_default();
        let event = json!({
            "type": "tokens_revoked",
            "tokens": {"oauth": oauth, "bot": bot},
            "event_ts": self.ts.next(now),
        });
        let auth = Authorization {
            user_id: &auth_user,
            is_bot: true,
        };
        self.enqueue_event(team_id, event, &auth, now);
    }
}

/// Client credentials from HTTP Basic (preferred) or the body (§1, §5.2).
fn client_credentials(headers: &HeaderMap, args: &Args) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
        });
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (args.nonempty("client_id"), args.nonempty("client_secret")),
    }
}

pub(super) fn oauth_v2_access(
    world: &mut World,
    headers: &HeaderMap,
    args: &Args,
    now: i64,
) -> ApiResult {
    let (client_id, client_secret) = client_credentials(headers, args);
    if client_id.as_deref() != Some(world.app.client_id.as_str()) {
        return Err(ApiError::new("invalid_client_id"));
    }
    if client_secret.as_deref() != Some(world.app.client_secret.as_str()) {
        return Err(ApiError::new("bad_client_secret"));
    }
    match args.nonempty("grant_type").as_deref() {
        None | Some("authorization_code") => exchange_code(world, args, now),
        Some("refresh_token") => refresh(world, args, now),
        Some(_) => Err(ApiError::new("invalid_grant_type")),
    }
}

fn exchange_code(world: &mut World, args: &Args, now: i64) -> ApiResult {
    let code = args
        .nonempty("code")
        .ok_or_else(|| ApiError::new("invalid_code"))?;
    let record = world
        .tokens
        .codes
        .get_mut(&code)
        .ok_or_else(|| ApiError::new("invalid_code"))?;
    if record.used || now - record.issued_at > OAUTH_CODE_LIFETIME_SECS {
        return Err(ApiError::new("invalid_code"));
    }
    if let Some(redirect) = args.nonempty("redirect_uri")
        && redirect != record.redirect_uri
    {
        return Err(ApiError::new("bad_redirect_uri"));
    }
    record.used = true;
    let record = record.clone();
    let rotation = world.app.token_rotation;
    let team_id = record.team_id.clone();
    let bot_user_id = match world
        .workspace(&team_id)
        .and_then(|w| w.bot_user_id.clone())
    {
        Some(id) => id,
        None => {
            let id = ids::new_id("U");
            world.add_bot_user(&team_id, &id, now);
            id
        }
    };
    let ws = world
        .workspace(&team_id)
        .cloned()
        .ok_or_else(|| ApiError::new("invalid_code"))?;
    let bot = world.tokens.mint(
        TokenKind::Bot,
        &team_id,
        &bot_user_id,
        &record.bot_scopes,
        rotation,
        now,
    );
    let mut out = json!({
        "app_id": world.app.app_id,
        "access_token": bot.access_token,
        "token_type": "bot",
        "scope": bot.scopes.join(","),
        "bot_user_id": bot_user_id,
        "team": {"id": ws.id, "name": ws.name},
        "enterprise": ws.enterprise.as_ref().map(|(id, name)| json!({"id": id, "name": name})),
        "is_enterprise_install": false,
        "authed_user": {"id": record.installer},
    });
    if let Some(refresh) = bot.refresh_token {
        out["expires_in"] = json!(ROTATING_TOKEN_LIFETIME_SECS);
        out["refresh_token"] = json!(refresh);
    }
    if !record.user_scopes.is_empty() {
        let user = world.tokens.mint(
            TokenKind::User,
            &team_id,
            &record.installer,
            &record.user_scopes,
            rotation,
            now,
        );
        let authed = &mut out["authed_user"];
        authed["scope"] = json!(user.scopes.join(","));
        authed["access_token"] = json!(user.access_token);
        authed["token_type"] = json!("user");
        if let Some(refresh) = user.refresh_token {
            authed["expires_in"] = json!(ROTATING_TOKEN_LIFETIME_SECS);
            authed["refresh_token"] = json!(refresh);
        }
    }
    Ok(fields(out))
}

/// A refresh token works once: it is spent, and a new pair comes back (§0.6, §5.2).
fn refresh(world: &mut World, args: &Args, now: i64) -> ApiResult {
    let token = args
        .nonempty("refresh_token")
        .ok_or_else(|| ApiError::new("invalid_refresh_token"))?;
    let record = world
        .tokens
        .refresh
        .get_mut(&token)
        .ok_or_else(|| ApiError::new("invalid_refresh_token"))?;
    if record.used {
        return Err(ApiError::new("invalid_refresh_token"));
    }
    record.used = true;
    let record = record.clone();
    world.tokens.refreshes += 1;
    let minted = world.tokens.mint(
        record.kind,
        &record.team_id,
        &record.user_id,
        &record.scopes,
        true,
        now,
    );
    let ws = world.workspace(&record.team_id).cloned();
    let mut out = json!({
        "app_id": world.app.app_id,
        "access_token": minted.access_token,
        "token_type": record.kind.as_str(),
        "scope": minted.scopes.join(","),
        "expires_in": ROTATING_TOKEN_LIFETIME_SECS,
        "refresh_token": minted.refresh_token,
        "team": ws.as_ref().map(|w| json!({"id": w.id, "name": w.name})),
        "enterprise": ws
            .as_ref()
            .and_then(|w| w.enterprise.as_ref())
            .map(|(id, name)| json!({"id": id, "name": name})),
        "is_enterprise_install": false,
    });
    match record.kind {
        TokenKind::Bot => out["bot_user_id"] = json!(record.user_id),
        TokenKind::User => out["authed_user"] = json!({"id": record.user_id}),
    }
    Ok(fields(out))
}
