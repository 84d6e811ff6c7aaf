//! `views.open`, emulated only as far as the `trigger_id` rules go: valid for 3 seconds and
//! once (slack-api.md §0.5, §11). The opened view is recorded for tests to read.

use serde_json::{Map, Value, json};

use super::{ApiError, ApiResult, Args, Caller};
use crate::slack::ids;
use crate::slack::state::World;

/// A trigger id works for this long after the command or click (§0.5).
pub(crate) const TRIGGER_LIFETIME_SECS: i64 = 3;
/// Views over 250 KB are refused (§11).
const MAX_VIEW_BYTES: usize = 250 * 1024;

pub(super) fn open(world: &mut World, caller: &Caller, args: &Args) -> ApiResult {
    let trigger_id = args
        .nonempty("trigger_id")
        .or_else(|| args.nonempty("interactivity_pointer"))
        .ok_or_else(|| ApiError::missing("trigger_id"))?;
    let view = match args.json("view") {
        Ok(Some(Value::Object(view))) => view,
        Ok(None) => return Err(ApiError::missing("view")),
        _ => return Err(ApiError::invalid_arguments("view must be a JSON object")),
    };
    if Value::Object(view.clone()).to_string().len() > MAX_VIEW_BYTES {
        return Err(ApiError::new("view_too_large"));
    }
    let trigger = world
        .triggers
        .get_mut(&trigger_id)
        .ok_or_else(|| ApiError::new("invalid_trigger_id"))?;
    if trigger.used {
        return Err(ApiError::new("exchanged_trigger_id"));
    }
    if caller.now - trigger.issued_at > TRIGGER_LIFETIME_SECS {
        return Err(ApiError::new("expired_trigger_id"));
    }
    trigger.used = true;
    let mut opened = view;
    opened.insert("id".to_owned(), json!(ids::new_id("V")));
    opened.insert("team_id".to_owned(), json!(caller.record.team_id));
    opened.insert("app_id".to_owned(), json!(world.app.app_id));
    opened.insert("state".to_owned(), json!({"values": {}}));
    opened.insert(
        "hash".to_owned(),
        json!(format!("{}.{}", caller.now, ids::secret(8))),
    );
    let opened = Value::Object(opened);
    world.views.push(opened.clone());
    Ok(Map::from_iter([("view".to_owned(), opened)]))
}
