//! `conversations.list` (Slack's method reference; pagination as slack-api.md §8.2): the
//! conversations a token can see, filtered by `types`, paged with opaque cursors. The official
//! Python SDK calls it to find channels, so the sandbox serves it.

use base64::Engine as _;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Args, Caller};
use crate::slack::model::Channel;
use crate::slack::state::World;

/// `limit` may not exceed 1000 (§8.2); Slack's default page is 100.
const LIST_MAX: usize = 1000;
const LIST_DEFAULT: usize = 100;

/// The scope each conversation type needs (Slack's method reference for conversations.list).
fn scope_for(kind: &str) -> Option<&'static str> {
    match kind {
        "public_channel" => Some("channels:read"),
        "private_channel" => Some("groups:read"),
        "mpim" => Some("mpim:read"),
        "im" => Some("im:read"),
        _ => None,
    }
}

fn kind_of(channel: &Channel) -> &'static str {
    if channel.is_im {
        "im"
    } else if channel.is_mpim {
        "mpim"
    } else if channel.id.starts_with('G') {
        "private_channel"
    } else {
        "public_channel"
    }
}

pub(super) fn list(world: &World, caller: &Caller, args: &Args) -> ApiResult {
    let types: Vec<String> = args
        .nonempty("types")
        .unwrap_or_else(|| "public_channel".to_owned())
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let mut needed = Vec::new();
    for kind in &types {
        let scope = scope_for(kind).ok_or_else(|| ApiError::new("invalid_types"))?;
        if !caller.record.has_scope(scope) {
            needed.push(scope);
        }
    }
    if !needed.is_empty() {
        return Err(ApiError::new("missing_scope")
            .with("needed", json!(needed.join(",")))
            .with("provided", json!(caller.record.scope_list())));
    }
    let limit = match args.int("limit") {
        Ok(None | Some(0)) => LIST_DEFAULT,
        Ok(Some(n)) if n > 0 => usize::try_from(n).unwrap_or(LIST_MAX).min(LIST_MAX),
        _ => return Err(ApiError::new("invalid_limit")),
    };
    // Cursors are base64 of `channel:<id of the next channel>`, opaque to callers (§8.2).
    let start = match args.nonempty("cursor") {
        None => None,
        Some(cursor) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(cursor.as_bytes())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|text| text.strip_prefix("channel:").map(str::to_owned))
                .filter(|id| world.channels.contains_key(id))
                .ok_or_else(|| ApiError::new("invalid_cursor"))?,
        ),
    };
    let me = &caller.record.user_id;
    // Public channels are listed whether or not the caller is in them; private ones, group
    // DMs and DMs only when the caller is a member.
    let mut visible = world
        .channels
        .values()
        .filter(|c| c.team_id == caller.record.team_id)
        .filter(|c| types.iter().any(|t| t == kind_of(c)))
        .filter(|c| kind_of(c) == "public_channel" || c.members.contains(me))
        .skip_while(|c| start.as_ref().is_some_and(|s| &c.id < s));
    let channels: Vec<Value> = visible
        .by_ref()
        .take(limit)
        .map(|c| {
            let mut value = c.to_json(caller.now);
            value["is_private"] = json!(kind_of(c) != "public_channel");
            value["is_archived"] = json!(false);
            value["is_member"] = json!(c.members.contains(me));
            if !c.is_im {
                value["name_normalized"] = json!(c.name);
                value["num_members"] = json!(c.members.len());
            }
            value
        })
        .collect();
    let next_cursor = visible
        .next()
        .map(|c| base64::engine::general_purpose::STANDARD.encode(format!("channel:{}", c.id)))
        .unwrap_or_default();
    let out = json!({"channels": channels, "response_metadata": {"next_cursor": next_cursor}});
    Ok(out.as_object().cloned().unwrap_or_default())
}
