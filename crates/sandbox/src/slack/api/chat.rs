//! `chat.postMessage`, `chat.postEphemeral`, `chat.update` and `conversations.open`
//! (slack-api.md §6.4, §8.1, §12).

use serde_json::{Map, Value, json};

use super::{ApiError, ApiResult, Args, Caller};
use crate::slack::state::World;

/// Blocks per message.
const MAX_BLOCKS: usize = 50;
/// `chat.update` refuses text over 4,000 characters (§12).
const MAX_UPDATE_TEXT: usize = 4000;
/// `conversations.open` takes up to 8 users (§8.1).
const MAX_OPEN_USERS: usize = 8;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Resolves `channel` (a conversation id, or a user id meaning the DM with the caller) and
/// checks the caller may post there.
fn resolve_channel(world: &mut World, caller: &Caller, args: &Args) -> Result<String, ApiError> {
    let id = args
        .nonempty("channel")
        .ok_or_else(|| ApiError::new("channel_not_found"))?;
    let team = caller.record.team_id.clone();
    let poster = caller.record.user_id.clone();
    if id.starts_with('U') || id.starts_with('W') {
        if world.users.get(&id).is_none_or(|u| u.team_id != team) {
            return Err(ApiError::new("channel_not_found"));
        }
        return Ok(world.open_dm(&team, &poster, &id).0);
    }
    // Slack also takes a channel by name, `#general` or `general` (the official Python SDK's
    // examples post that way); ids are tried first, as names are lowercase and ids are not.
    let id = if world.channels.get(&id).is_some_and(|c| c.team_id == team) {
        id
    } else {
        let name = id.strip_prefix('#').unwrap_or(&id);
        world
            .channels
            .values()
            .find(|c| c.team_id == team && !c.is_im && !c.is_mpim && c.name == name)
            .map(|c| c.id.clone())
            .ok_or_else(|| ApiError::new("channel_not_found"))?
    };
    let channel = world
        .channels
        .get(&id)
        .ok_or_else(|| ApiError::new("channel_not_found"))?;
    let member = channel.members.contains(&poster);
    if channel.is_im || channel.is_mpim {
        // Conversations the caller is not part of do not exist for it.
        return if member {
            Ok(id)
        } else {
            Err(ApiError::new("channel_not_found"))
        };
    }
    if !member && !caller.record.has_scope("chat:write.public") {
        return Err(ApiError::new("not_in_channel"));
    }
    Ok(id)
}

/// `text` and `blocks` (kept exactly as sent); a message needs one of them.
fn content(world: &World, args: &Args) -> Result<(String, Option<Value>), ApiError> {
    let blocks = args
        .json("blocks")
        .map_err(|()| ApiError::new("invalid_blocks_format"))?;
    if let Some(blocks) = &blocks {
        let list = blocks
            .as_array()
            .ok_or_else(|| ApiError::new("invalid_blocks_format"))?;
        if list.len() > MAX_BLOCKS {
            return Err(ApiError::new("invalid_blocks"));
        }
        for block in list {
            let Some(kind) = block.get("type").and_then(Value::as_str) else {
                return Err(ApiError::new("invalid_blocks"));
            };
            if kind == "call" {
                let known = block
                    .get("call_id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| world.calls.contains_key(id));
                if !known {
                    return Err(ApiError::new("invalid_blocks"));
                }
            }
        }
    }
    let text = args.str("text").unwrap_or_default();
    if text.is_empty()
        && blocks
            .as_ref()
            .is_none_or(|b| b.as_array().is_some_and(Vec::is_empty))
    {
        return Err(ApiError::new("no_text"));
    }
    Ok((text, blocks))
}

pub(super) fn post_message(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    let channel = resolve_channel(world, caller, args)?;
    let (text, blocks) = content(world, args)?;
    let mut message =
        world.new_message(&channel, &caller.record.user_id, &text, blocks, caller.now);
    message.thread_ts = args.nonempty("thread_ts");
    let message = world.post(message);
    let wire = message.to_json(&caller.record.team_id, &world.app.app_id);
    Ok(object(
        json!({"channel": channel, "ts": message.ts, "message": wire}),
    ))
}

pub(super) fn post_ephemeral(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    let target = args.required("user")?;
    let channel = resolve_channel(world, caller, args)?;
    let in_channel = world
        .channels
        .get(&channel)
        .is_some_and(|c| c.members.contains(&target));
    if !in_channel {
        return Err(ApiError::new("user_not_in_channel"));
    }
    let (text, blocks) = content(world, args)?;
    let mut message =
        world.new_message(&channel, &caller.record.user_id, &text, blocks, caller.now);
    message.ephemeral_to = Some(target);
    message.thread_ts = args.nonempty("thread_ts");
    let message = world.post(message);
    Ok(object(json!({"message_ts": message.ts})))
}

pub(super) fn update(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    let channel = args
        .nonempty("channel")
        .ok_or_else(|| ApiError::new("channel_not_found"))?;
    if world
        .channels
        .get(&channel)
        .is_none_or(|c| c.team_id != caller.record.team_id)
    {
        return Err(ApiError::new("channel_not_found"));
    }
    let ts = args.required("ts")?;
    let (text, blocks) = content(world, args)?;
    if text.chars().count() > MAX_UPDATE_TEXT {
        return Err(ApiError::new("msg_too_long"));
    }
    let index = world
        .messages
        .iter()
        // Ephemeral messages cannot be edited through chat.update (§12).
        .position(|m| m.channel == channel && m.ts == ts && m.ephemeral_to.is_none())
        .ok_or_else(|| ApiError::new("message_not_found"))?;
    if world.messages[index].user != caller.record.user_id {
        return Err(ApiError::new("cant_update_message"));
    }
    let mut message = world.messages.remove(index);
    message.text = text;
    if blocks.is_some() {
        message.blocks = blocks;
    }
    message.edited = true;
    // Re-posting records any new call block's channel; keep the message's place in history.
    let message = world.post(message);
    if let Some(last) = world.messages.pop() {
        world.messages.insert(index, last);
    }
    let wire = message.to_json(&caller.record.team_id, &world.app.app_id);
    Ok(object(json!({
        "channel": channel,
        "ts": ts,
        "text": message.text,
        "message": wire,
    })))
}

pub(super) fn conversations_open(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    let team = caller.record.team_id.clone();
    if let Some(channel) = args.nonempty("channel") {
        let found = world
            .channels
            .get(&channel)
            .filter(|c| c.team_id == team)
            .ok_or_else(|| ApiError::new("channel_not_found"))?;
        if !(found.is_im || found.is_mpim) {
            return Err(ApiError::new("method_not_supported_for_channel_type"));
        }
        return Ok(object(json!({"channel": {"id": channel}})));
    }
    let users: Vec<String> = args
        .nonempty("users")
        .ok_or_else(|| ApiError::new("users_list_not_supplied"))?
        .split(',')
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    if users.is_empty() {
        return Err(ApiError::new("users_list_not_supplied"));
    }
    if users.len() > MAX_OPEN_USERS {
        return Err(ApiError::new("too_many_users"));
    }
    for user in &users {
        if world.users.get(user).is_none_or(|u| u.team_id != team) {
            return Err(ApiError::new("user_not_found"));
        }
    }
    let me = caller.record.user_id.clone();
    let (id, existed) = if users.len() == 1 {
        world.open_dm(&team, &me, &users[0])
    } else {
        // Group DMs: the caller plus the listed users, reused when the same set is asked again.
        let mut members = users.clone();
        if !members.contains(&me) {
            members.push(me);
        }
        members.sort();
        let existing = world.channels.values().find(|c| {
            c.is_mpim && {
                let mut m = c.members.clone();
                m.sort();
                m == members
            }
        });
        if let Some(channel) = existing {
            (channel.id.clone(), true)
        } else {
            let id = crate::slack::ids::new_id("G");
            world.channels.insert(
                id.clone(),
                crate::slack::model::Channel {
                    id: id.clone(),
                    team_id: team.clone(),
                    name: format!("mpdm-{}", members.join("--")),
                    is_im: false,
                    is_mpim: true,
                    members,
                },
            );
            (id, false)
        }
    };
    let channel = if args.flag("return_im") {
        world
            .channels
            .get(&id)
            .map_or_else(|| json!({"id": id}), |c| c.to_json(caller.now))
    } else {
        json!({"id": id})
    };
    let mut out = json!({"channel": channel});
    if existed {
        out["no_op"] = json!(true);
        out["already_open"] = json!(true);
    }
    Ok(object(out))
}
