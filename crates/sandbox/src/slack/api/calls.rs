//! The Calls API: `calls.add`, `calls.info`, `calls.update`, `calls.end` and
//! `calls.participants.add` / `.remove` (slack-api.md §6).

use serde_json::{Map, Value};

use super::{ApiError, ApiResult, Args, Caller};
use crate::slack::ids;
use crate::slack::model::{SlackCall, same_participant};
use crate::slack::state::World;

fn call_response(call: &SlackCall) -> Map<String, Value> {
    Map::from_iter([("call".to_owned(), call.to_json())])
}

/// Reads a `users` argument (JSON array, or a form's URL-encoded JSON string, §6.2) and checks
/// every `slack_id` exists.
fn participants_arg(
    world: &World,
    args: &Args,
    team: &str,
) -> Result<Option<Vec<Value>>, ApiError> {
    let Some(value) = args
        .json("users")
        .map_err(|()| ApiError::new("invalid_array_arg"))?
    else {
        return Ok(None);
    };
    let list = value
        .as_array()
        .ok_or_else(|| ApiError::new("invalid_array_arg"))?;
    for user in list {
        let slack_id = user.get("slack_id").and_then(Value::as_str);
        let external = user.get("external_id").and_then(Value::as_str).is_some()
            && user.get("display_name").and_then(Value::as_str).is_some();
        match slack_id {
            Some(id) if world.users.get(id).is_none_or(|u| u.team_id != team) => {
                return Err(ApiError::new("user_not_found"));
            }
            Some(_) => {}
            None if external => {}
            None => return Err(ApiError::new("invalid_array_arg")),
        }
    }
    Ok(Some(list.clone()))
}

pub(super) fn add(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    let external_unique_id = args.required("external_unique_id")?;
    let join_url = args.required("join_url")?;
    let team = caller.record.team_id.clone();
    let created_by = match args.nonempty("created_by") {
        Some(id)
            if world
                .users
                .get(&id)
                .is_some_and(|u| u.team_id == team && !u.is_bot) =>
        {
            id
        }
        Some(_) => return Err(ApiError::new("invalid_created_by")),
        // Required with a bot token; the code Slack uses is UNCONFIRMED (§6.3).
        None if caller.is_bot() => return Err(ApiError::new("invalid_created_by")),
        None => caller.record.user_id.clone(),
    };
    let date_start = match args.int("date_start") {
        Ok(Some(t)) if t > 0 => t,
        Ok(None) => caller.now,
        _ => return Err(ApiError::new("invalid_start_time")),
    };
    let users = participants_arg(world, args, &team)?.unwrap_or_default();
    let call = SlackCall {
        id: ids::new_id("R"),
        external_unique_id,
        external_display_id: args.nonempty("external_display_id"),
        join_url,
        desktop_app_join_url: args.nonempty("desktop_app_join_url"),
        title: args.nonempty("title"),
        created_by,
        date_start,
        date_end: None,
        users,
        channels: Vec::new(),
        rejected_by: Vec::new(),
    };
    let out = call_response(&call);
    world.calls.insert(call.id.clone(), call);
    Ok(out)
}

fn find_call<'w>(world: &'w mut World, args: &Args) -> Result<&'w mut SlackCall, ApiError> {
    let id = args.required("id")?;
    world
        .calls
        .get_mut(&id)
        .ok_or_else(|| ApiError::new("invalid_call_id"))
}

pub(super) fn info(world: &mut World, args: &Args) -> ApiResult {
    Ok(call_response(find_call(world, args)?))
}

pub(super) fn update(world: &mut World, args: &Args) -> ApiResult {
    let title = args.nonempty("title");
    let join_url = args.nonempty("join_url");
    let desktop = args.nonempty("desktop_app_join_url");
    let call = find_call(world, args)?;
    if call.has_ended() {
        return Err(ApiError::new("inactive_call"));
    }
    // Only these three fields can change (§6.3).
    if title.is_some() {
        call.title = title;
    }
    if let Some(url) = join_url {
        call.join_url = url;
    }
    if desktop.is_some() {
        call.desktop_app_join_url = desktop;
    }
    Ok(call_response(call))
}

pub(super) fn end(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    let duration = args
        .int("duration")
        .map_err(|()| ApiError::invalid_arguments("duration must be an integer"))?;
    let call = find_call(world, args)?;
    if call.has_ended() {
        return Err(ApiError::new("inactive_call"));
    }
    call.date_end = Some(match duration {
        Some(secs) if secs >= 0 => call.date_start + secs,
        _ => caller.now,
    });
    Ok(call_response(call))
}

pub(super) fn participants(world: &mut World, args: &Args, adding: bool) -> ApiResult {
    let id = args.required("id")?;
    let team = world
        .calls
        .get(&id)
        .and_then(|c| world.users.get(&c.created_by))
        .map(|u| u.team_id.clone())
        .ok_or_else(|| ApiError::new("invalid_call_id"))?;
    let users = participants_arg(world, args, &team)?
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::new("missing_argument"))?;
    let call = find_call(world, args)?;
    if call.has_ended() {
        return Err(ApiError::new("inactive_call"));
    }
    for user in &users {
        let present = call.users.iter().any(|u| same_participant(u, user));
        // Adding someone already there, or removing someone absent, is `bad_users` (§6.3).
        if present == adding {
            return Err(ApiError::new("bad_users"));
        }
    }
    if adding {
        call.users.extend(users);
    } else {
        call.users
            .retain(|existing| !users.iter().any(|u| same_participant(existing, u)));
    }
    Ok(call_response(call))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn participants_match_on_either_id() {
        assert!(same_participant(
            &json!({"slack_id": "U1"}),
            &json!({"slack_id": "U1"})
        ));
        assert!(same_participant(
            &json!({"external_id": "x", "display_name": "A"}),
            &json!({"external_id": "x", "display_name": "B"})
        ));
        assert!(!same_participant(
            &json!({"slack_id": "U1"}),
            &json!({"external_id": "U1"})
        ));
    }
}
