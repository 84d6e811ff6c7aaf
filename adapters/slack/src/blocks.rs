//! Block Kit payloads callbridge posts (slack-api.md §6.4, §11), and the action ids and values
//! its buttons carry, in one place so the poster and the click handler agree.

use callbridge_model::{CallId, LegId};
use serde_json::{Value, json};
use url::Url;

/// *Join*: a link button to the join page; its click is acked and otherwise ignored (§11).
pub const ACTION_JOIN: &str = "callbridge_join";
/// *Decline*: the callee refuses a ringing call.
pub const ACTION_DECLINE: &str = "callbridge_decline";
/// *Cancel*: the caller gives up on a call still ringing.
pub const ACTION_CANCEL: &str = "callbridge_cancel";
/// *Call back*: on a missed-call notice.
pub const ACTION_CALL_BACK: &str = "callbridge_call_back";

/// Escapes text for mrkdwn (`&`, `<`, `>` are control characters there).
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The value a leg's buttons carry: `<call id>:<leg id>`.
pub(crate) fn leg_value(call: CallId, leg: LegId) -> String {
    format!("{call}:{leg}")
}

/// Reads a leg value back.
pub(crate) fn parse_leg_value(value: &str) -> Option<(CallId, LegId)> {
    let (call, leg) = value.split_once(':')?;
    Some((call.parse().ok()?, leg.parse().ok()?))
}

/// A call card with *Join* and *Decline* (a DM ringing its recipient).
pub(crate) fn call_card(slack_call: &str, join_url: &Url, call: CallId, leg: LegId) -> Value {
    json!([
        {"type": "call", "call_id": slack_call},
        {"type": "actions", "block_id": "callbridge_call", "elements": [
            {"type": "button", "action_id": ACTION_JOIN, "style": "primary",
             "text": {"type": "plain_text", "text": "Join"}, "url": join_url.as_str()},
            {"type": "button", "action_id": ACTION_DECLINE, "style": "danger",
             "text": {"type": "plain_text", "text": "Decline"}, "value": leg_value(call, leg)},
        ]},
    ])
}

/// The card once the call is over: the call block (Slack shows it ended) and a line why.
pub(crate) fn ended_card(slack_call: &str, line: &str) -> Value {
    json!([
        {"type": "call", "call_id": slack_call},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(line)}]},
    ])
}

/// A missed-call notice with *Call back*; `value` names whom to call back.
pub(crate) fn missed_call(caller_name: &str, value: &str) -> Value {
    json!([
        {"type": "section", "text": {"type": "mrkdwn",
            "text": format!(":telephone_receiver: Missed call from *{}*", escape(caller_name))}},
        {"type": "actions", "block_id": "callbridge_missed", "elements": [
            {"type": "button", "action_id": ACTION_CALL_BACK, "style": "primary",
             "text": {"type": "plain_text", "text": "Call back"}, "value": value},
        ]},
    ])
}

/// An ephemeral answer to a command, as the command's HTTP reply (§3).
pub(crate) fn ephemeral(text: &str) -> Vec<u8> {
    json!({"response_type": "ephemeral", "text": text})
        .to_string()
        .into_bytes()
}

/// What `/call help` shows.
pub(crate) const HELP: &str = "*Call someone on Microsoft Teams from Slack*\n\
• `/call @name`: a Slack colleague whose Teams account is linked\n\
• `/call name@company.com`: anyone in your organisation's Teams directory\n\
• `/call +14155550100`: a phone number assigned to a Teams user\n\
A call card with a *Join* button appears in your messages with callbridge.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leg_values_round_trip_and_reject_junk() {
        let (call, leg) = (CallId::generate(), LegId::generate());
        assert_eq!(parse_leg_value(&leg_value(call, leg)), Some((call, leg)));
        assert_eq!(parse_leg_value("x:y"), None);
        assert_eq!(parse_leg_value(""), None);
    }

    #[test]
    fn mrkdwn_is_escaped() {
        assert_eq!(escape("<@U1> & co"), "&lt;@U1&gt; &amp; co");
    }
}
