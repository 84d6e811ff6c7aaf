//! `users.getPresence`, `users.setPresence` and the `dnd.*` methods (slack-api.md §7.1–§7.3,
//! §7.7).

use serde_json::{Map, Value, json};

use super::{ApiError, ApiResult, Args, Caller};
use crate::slack::state::World;

/// The longest snooze `dnd.setSnooze` accepts: one day. Slack documents `too_long` without a
/// number; a day is what its clients offer.
const MAX_SNOOZE_MINUTES: i64 = 24 * 60;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub(super) fn get_presence(world: &World, caller: &Caller, args: &Args) -> ApiResult {
    let id = args
        .nonempty("user")
        .unwrap_or_else(|| caller.record.user_id.clone());
    let user = world
        .users
        .get(&id)
        .filter(|u| u.team_id == caller.record.team_id)
        // UNCONFIRMED in §7.2; the common lookup error.
        .ok_or_else(|| ApiError::new("user_not_found"))?;
    if id != caller.record.user_id {
        // Another user's presence is only the short form (§7.2).
        return Ok(object(json!({"presence": user.presence()})));
    }
    let mut out = json!({
        "presence": user.presence(),
        "online": user.online,
        "auto_away": !user.online && !user.manual_away,
        "manual_away": user.manual_away,
        "connection_count": u32::from(user.online),
    });
    if user.online {
        out["last_activity"] = json!(user.last_activity);
    }
    Ok(object(out))
}

pub(super) fn set_presence(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    let presence = args.required("presence")?;
    let user = world
        .users
        .get_mut(&caller.record.user_id)
        .ok_or_else(|| ApiError::new("user_not_found"))?;
    match presence.as_str() {
        "away" => user.manual_away = true,
        "auto" => user.manual_away = false,
        // Nothing can force `active` (§0.4, §15 item 4).
        _ => return Err(ApiError::new("invalid_presence")),
    }
    Ok(Map::new())
}

pub(super) fn dnd_info(world: &World, caller: &Caller, args: &Args) -> ApiResult {
    let id = args
        .nonempty("user")
        .unwrap_or_else(|| caller.record.user_id.clone());
    let user = world
        .users
        .get(&id)
        .filter(|u| u.team_id == caller.record.team_id)
        .ok_or_else(|| ApiError::new("user_not_found"))?;
    let snoozing = user.snooze_end.is_some_and(|end| end > caller.now);
    let mut out = json!({
        "dnd_enabled": snoozing,
        "next_dnd_start_ts": 1,
        "next_dnd_end_ts": 1,
    });
    if id == caller.record.user_id {
        out["snooze_enabled"] = json!(snoozing);
        if let Some(end) = user.snooze_end.filter(|_| snoozing) {
            out["snooze_endtime"] = json!(end);
            out["snooze_remaining"] = json!(end - caller.now);
            out["snooze_is_indefinite"] = json!(false);
        }
    }
    Ok(object(out))
}

pub(super) fn dnd_set_snooze(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    let minutes = match args.int("num_minutes") {
        Ok(None) => return Err(ApiError::new("missing_duration")),
        Ok(Some(n)) if n > MAX_SNOOZE_MINUTES => return Err(ApiError::new("too_long")),
        Ok(Some(n)) if n > 0 => n,
        _ => {
            return Err(ApiError::invalid_arguments(
                "num_minutes must be a positive integer",
            ));
        }
    };
    let end = caller.now + minutes * 60;
    world.set_snooze(&caller.record.user_id, Some(end), caller.now);
    Ok(object(json!({
        "snooze_enabled": true,
        "snooze_endtime": end,
        "snooze_remaining": end - caller.now,
        "snooze_is_indefinite": false,
    })))
}

pub(super) fn dnd_end_snooze(world: &mut World, caller: &Caller) -> ApiResult {
    let snoozing = world
        .users
        .get(&caller.record.user_id)
        .is_some_and(|u| u.snooze_end.is_some());
    if !snoozing {
        return Err(ApiError::new("snooze_end_failed"));
    }
    world.set_snooze(&caller.record.user_id, None, caller.now);
    Ok(object(json!({
        "dnd_enabled": false,
        "next_dnd_start_ts": 1,
        "next_dnd_end_ts": 1,
        "snooze_enabled": false,
    })))
}

impl World {
    /// Starts (`Some(end)`) or ends (`None`) a user's snooze, with `dnd_updated_user`.
    pub(crate) fn set_snooze(&mut self, user_id: &str, end: Option<i64>, now: i64) {
        if let Some(user) = self.users.get_mut(user_id) {
            user.snooze_end = end;
            self.enqueue_dnd_event(user_id, now);
        }
    }
}
