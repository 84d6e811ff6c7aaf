//! The Adaptive Cards the bot sends (reference `teams-graph.md` §5.4): ringing (Join /
//! Decline), missed call (Call back), and plain info and error notes. Buttons are
//! `Action.Execute` (Universal Actions, schema 1.5); their data repeats the verb, so the same
//! card also works where a client falls back to `Action.Submit`.

use callbridge_model::{CallId, CallTarget, LegId, LegState, UserRef};
use serde_json::{Value, json};
use url::Url;

/// The attachment content type of an Adaptive Card.
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";
/// The verb of the *Call back* button.
pub const VERB_CALL_BACK: &str = "callBack";
/// The verb of the *Decline* button.
pub const VERB_DECLINE: &str = "decline";

/// An Adaptive Card (the `content` of an attachment).
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveCard(pub Value);

impl AdaptiveCard {
    fn new(body: &[Value], actions: &[Value]) -> Self {
        let mut card = json!({
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5",
            "body": body,
        });
        if !actions.is_empty() {
            card["actions"] = Value::Array(actions.to_vec());
        }
        Self(card)
    }

    /// The card as a message attachment.
    pub fn attachment(&self) -> Value {
        json!({"contentType": ADAPTIVE_CARD, "content": self.0})
    }

    /// The synchronous answer to an `adaptiveCard/action` invoke that replaces the card.
    pub fn invoke_response(&self) -> Value {
        json!({"statusCode": 200, "type": ADAPTIVE_CARD, "value": self.0})
    }
}

fn heading(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "wrap": true})
}

fn line(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

/// `caller` is calling: *Join* opens the join page, *Decline* ends the leg.
pub fn ringing(caller_name: &str, join_url: &Url, call: CallId, leg: LegId) -> AdaptiveCard {
    AdaptiveCard::new(
        &[
            heading(&format!("{caller_name} is calling")),
            line("Join to talk in your browser, or decline."),
        ],
        &[
            json!({"type": "Action.OpenUrl", "title": "Join", "url": join_url.as_str()}),
            json!({
                "type": "Action.Execute", "title": "Decline", "verb": VERB_DECLINE,
                "data": {"verb": VERB_DECLINE, "call": call.to_string(), "leg": leg.to_string()},
            }),
        ],
    )
}

/// A missed call from `caller`, with *Call back*.
pub fn missed_call(caller_name: &str, caller: &UserRef) -> AdaptiveCard {
    let target = CallTarget::User(caller.clone());
    AdaptiveCard::new(
        &[
            heading(&format!("Missed call from {caller_name}")),
            line("Call them back from here."),
        ],
        &[json!({
            "type": "Action.Execute", "title": "Call back", "verb": VERB_CALL_BACK,
            "data": {"verb": VERB_CALL_BACK, "target": target},
        })],
    )
}

/// What a ringing card becomes once its leg moved on.
pub fn call_state(title: &str, state: LegState) -> AdaptiveCard {
    let what = match state {
        LegState::Placing => "Calling…",
        LegState::Ringing => "Ringing…",
        LegState::Active => "Connected",
        LegState::OnHold => "On hold",
        LegState::Ended => "Call ended",
        _ => "Call in progress",
    };
    AdaptiveCard::new(&[heading(title), line(what)], &[])
}

/// A plain information note.
pub fn info(text: &str) -> AdaptiveCard {
    AdaptiveCard::new(&[line(text)], &[])
}

/// Something the user asked for could not be done.
pub fn error(text: &str) -> AdaptiveCard {
    AdaptiveCard::new(
        &[
            json!({"type": "TextBlock", "text": "Could not do that", "weight": "Bolder", "color": "Attention", "wrap": true}),
            line(text),
        ],
        &[],
    )
}

/// The commands, for `help` and for text the bot does not understand.
pub fn help() -> AdaptiveCard {
    AdaptiveCard::new(
        &[
            heading("callbridge"),
            line("Call a Slack colleague from Teams:"),
            json!({"type": "FactSet", "facts": [
                {"title": "call @name", "value": "mention the person"},
                {"title": "call name@company.com", "value": "their email address"},
                {"title": "call +14255550100", "value": "their callbridge number"},
                {"title": "help", "value": "this list"},
            ]}),
        ],
        &[],
    )
}
