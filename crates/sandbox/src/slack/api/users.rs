//! `users.info`, `users.list`, `users.lookupByEmail`, `users.profile.get` and
//! `users.profile.set` (slack-api.md §7.4–§7.6, §8).

use base64::Engine;
use serde_json::{Map, Value, json};

use super::{ApiError, ApiResult, Args, Caller};
use crate::slack::state::World;

/// Status text is capped at 100 characters (§7.4).
const STATUS_TEXT_MAX: usize = 100;
/// Display names are capped at 80 characters (§7.6).
const DISPLAY_NAME_MAX: usize = 80;
/// Profile writes per minute per user per token (§0.4, §13).
const PROFILE_WRITES_PER_USER: u32 = 10;
/// Different profiles one token may write per minute (§0.4, §13).
const PROFILES_PER_TOKEN: usize = 30;
/// `users.list` page size bounds (§8.2).
const LIST_MAX: usize = 1000;

fn visible_user<'w>(
    world: &'w World,
    caller: &Caller,
    id: &str,
) -> Result<&'w crate::slack::model::User, ApiError> {
    world
        .users
        .get(id)
        .filter(|u| u.team_id == caller.record.team_id)
        .ok_or_else(|| ApiError::new("user_not_found"))
}

pub(super) fn info(world: &World, caller: &Caller, args: &Args) -> ApiResult {
    let id = args.required("user")?;
    let user = visible_user(world, caller, &id)?;
    let show_email = caller.record.has_scope("users:read.email");
    Ok(Map::from_iter([(
        "user".to_owned(),
        user.to_json(show_email),
    )]))
}

pub(super) fn list(world: &World, caller: &Caller, args: &Args) -> ApiResult {
    let limit = match args.int("limit") {
        Ok(None | Some(0)) => LIST_MAX,
        Ok(Some(n)) if n > 0 => usize::try_from(n).unwrap_or(LIST_MAX).min(LIST_MAX),
        _ => {
            return Err(ApiError::invalid_arguments(
                "limit must be a positive integer",
            ));
        }
    };
    // Cursors are base64 of `user:<id of the next user>`, the shape Slack's cursors decode to.
    let start = match args.nonempty("cursor") {
        None => None,
        Some(cursor) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(cursor.as_bytes())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|text| text.strip_prefix("user:").map(str::to_owned))
                .filter(|id| world.users.contains_key(id))
                .ok_or_else(|| ApiError::new("invalid_cursor"))?;
            Some(decoded)
        }
    };
    let show_email = caller.record.has_scope("users:read.email");
    let mut team_users = world
        .users
        .values()
        .filter(|u| u.team_id == caller.record.team_id)
        .skip_while(|u| start.as_ref().is_some_and(|s| &u.id < s));
    let members: Vec<Value> = team_users
        .by_ref()
        .take(limit)
        .map(|u| u.to_json(show_email))
        .collect();
    let next_cursor = team_users
        .next()
        .map(|u| base64::engine::general_purpose::STANDARD.encode(format!("user:{}", u.id)))
        .unwrap_or_default();
    let out = json!({
        "members": members,
        "cache_ts": caller.now,
        "response_metadata": {"next_cursor": next_cursor},
    });
    Ok(out.as_object().cloned().unwrap_or_default())
}

pub(super) fn lookup_by_email(world: &World, caller: &Caller, args: &Args) -> ApiResult {
    let email = args.required("email")?;
    let user = world
        .users
        .values()
        .find(|u| {
            u.team_id == caller.record.team_id && !u.is_bot && u.email.eq_ignore_ascii_case(&email)
        })
        // Plural, unlike users.info (§15 item 7).
        .ok_or_else(|| ApiError::new("users_not_found"))?;
    Ok(Map::from_iter([("user".to_owned(), user.to_json(true))]))
}

pub(super) fn profile_get(world: &World, caller: &Caller, args: &Args) -> ApiResult {
    let id = args
        .nonempty("user")
        .unwrap_or_else(|| caller.record.user_id.clone());
    let user = visible_user(world, caller, &id)?;
    let show_email = caller.record.has_scope("users:read.email") || id == caller.record.user_id;
    Ok(Map::from_iter([(
        "profile".to_owned(),
        user.profile_json(show_email),
    )]))
}

pub(super) fn profile_set(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    let owner = caller.record.user_id.clone();
    let target = args.nonempty("user").unwrap_or_else(|| owner.clone());
    let target_user = visible_user(world, caller, &target)?;
    if target_user.is_bot {
        return Err(ApiError::new("user_is_bot"));
    }
    if target != owner && !world.users.get(&owner).is_some_and(|u| u.is_admin) {
        return Err(ApiError::new("not_admin"));
    }
    let changes = requested_changes(args)?;
    // The special profile limits count per target user and across profiles, per token.
    let now = caller.now;
    let per_user = format!("profile:{}:{target}", caller.token);
    let token_prefix = format!("profile:{}:", caller.token);
    let recent = world.limiter.distinct_recent(&token_prefix, now);
    if !recent.contains(&target) && recent.len() >= PROFILES_PER_TOKEN {
        return Err(ApiError::ratelimited(60));
    }
    world
        .limiter
        .check(&per_user, PROFILE_WRITES_PER_USER, now)
        .map_err(ApiError::ratelimited)?;
    let status_before = world.users.get(&target).map(|u| {
        (
            u.status_text.clone(),
            u.status_emoji.clone(),
            u.status_expiration,
        )
    });
    let user = world
        .users
        .get_mut(&target)
        .ok_or_else(|| ApiError::new("user_not_found"))?;
    let text = changes
        .status_text
        .clone()
        .unwrap_or_else(|| user.status_text.clone());
    let mut emoji = changes
        .status_emoji
        .clone()
        .unwrap_or_else(|| user.status_emoji.clone());
    // Clearing takes both fields: emptying one while the other stays set is refused (§7.4).
    let half_cleared = (changes.status_text.as_deref() == Some("")
        && changes.status_emoji.is_none()
        && !emoji.is_empty())
        || (changes.status_emoji.as_deref() == Some("")
            && changes.status_text.is_none()
            && !text.is_empty());
    if half_cleared {
        return Err(ApiError::new(
            "must_clear_both_status_text_and_status_emoji",
        ));
    }
    // Text without an emoji gets the default one (§7.4).
    if !text.is_empty() && emoji.is_empty() {
        emoji = ":speech_balloon:".to_owned();
    }
    user.status_text = text;
    user.status_emoji = emoji;
    if let Some(expiration) = changes.status_expiration {
        user.status_expiration = expiration;
    }
    if user.status_text.is_empty() && user.status_emoji.is_empty() {
        user.status_expiration = 0;
    }
    if let Some(display_name) = changes.display_name {
        user.display_name = display_name;
    }
    user.updated = now;
    let status_after = (
        user.status_text.clone(),
        user.status_emoji.clone(),
        user.status_expiration,
    );
    let profile = user.profile_json(true);
    let username = user.name.clone();
    world.enqueue_user_event("user_change", &target, now);
    if status_before.as_ref() != Some(&status_after) {
        world.enqueue_user_event("user_status_changed", &target, now);
    }
    Ok(Map::from_iter([
        ("profile".to_owned(), profile),
        ("username".to_owned(), json!(username)),
    ]))
}

#[derive(Default)]
struct ProfileChanges {
    status_text: Option<String>,
    status_emoji: Option<String>,
    status_expiration: Option<i64>,
    display_name: Option<String>,
}

/// Reads `profile` (JSON object or URL-encoded JSON string) or `name` + `value`.
fn requested_changes(args: &Args) -> Result<ProfileChanges, ApiError> {
    let mut fields = Map::new();
    if args.has("profile") {
        match args.json("profile") {
            Ok(Some(Value::Object(map))) => fields = map,
            Ok(None) => {}
            _ => return Err(ApiError::new("invalid_profile")),
        }
    } else if let Some(name) = args.nonempty("name") {
        fields.insert(name, json!(args.str("value").unwrap_or_default()));
    } else {
        return Err(ApiError::new("invalid_profile"));
    }
    if fields.len() > 50 || fields.keys().any(|k| k.len() > 255) {
        return Err(ApiError::new("invalid_profile"));
    }
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        match fields.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Null) => Ok(Some(String::new())),
            Some(_) => Err(ApiError::new("invalid_profile")),
        }
    };
    let changes = ProfileChanges {
        status_text: text("status_text")?,
        status_emoji: text("status_emoji")?,
        status_expiration: match fields.get("status_expiration") {
            None => None,
            Some(Value::Number(n)) => {
                Some(n.as_i64().ok_or_else(|| ApiError::new("invalid_profile"))?)
            }
            Some(Value::String(s)) if s.is_empty() => Some(0),
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse()
                    .map_err(|_| ApiError::new("invalid_profile"))?,
            ),
            Some(_) => return Err(ApiError::new("invalid_profile")),
        },
        display_name: text("display_name")?,
    };
    if changes.status_expiration.is_some_and(|t| t < 0) {
        return Err(ApiError::new("invalid_profile"));
    }
    if changes
        .status_text
        .as_ref()
        .is_some_and(|t| t.chars().count() > STATUS_TEXT_MAX)
        || changes
            .display_name
            .as_ref()
            .is_some_and(|t| t.chars().count() > DISPLAY_NAME_MAX)
    {
        return Err(ApiError::new("too_long"));
    }
    if let Some(emoji) = &changes.status_emoji
        && !emoji.is_empty()
        && !(emoji.len() > 2 && emoji.starts_with(':') && emoji.ends_with(':'))
    {
        return Err(ApiError::new("invalid_emoji_not_allowed"));
    }
    Ok(changes)
}
