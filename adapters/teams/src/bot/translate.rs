//! What a verified activity means for callbridge: a call request (typed command or *Call back*),
//! a declined ringing card, an install that makes the user reachable, help, a usage error, or
//! nothing. Pure: no I/O, so every command form is tested without a network.

use callbridge_model::{
    AadObjectId, CallId, CallTarget, Email, EventId, LegId, PhoneNumber, PlatformEvent,
    TeamsTenantId, TerminationCause, UserRef,
};
use serde_json::Value;

use super::activity::Activity;
use super::cards::{VERB_CALL_BACK, VERB_DECLINE};
use super::references::ConversationReference;

/// The meaning of one inbound activity.
#[derive(Clone, Debug, PartialEq)]
pub enum BotInbound {
    /// The user asked to call someone (`call …`, or *Call back*).
    Call {
        /// `PlatformEvent::CallRequested`, with the activity id as its event id.
        event: PlatformEvent,
        /// Where to answer.
        reference: Option<ConversationReference>,
        /// Whether it came as an `invoke` (answered with a replacement card).
        invoke: bool,
    },
    /// The user declined a ringing card.
    Declined {
        /// `PlatformEvent::LegEnded` with [`TerminationCause::Declined`].
        event: PlatformEvent,
        /// Where to answer.
        reference: Option<ConversationReference>,
        /// Whether it came as an `invoke`.
        invoke: bool,
    },
    /// The app was installed for the user (or they wrote for the first time): reachable.
    Installed {
        /// The reference to keep.
        reference: ConversationReference,
    },
    /// The app was removed for the user.
    Uninstalled {
        /// Whose reference to forget.
        aad_object_id: String,
    },
    /// The user asked for help.
    Help {
        /// Where to answer.
        reference: Option<ConversationReference>,
    },
    /// The user's request could not be understood or used; `text` says why, for them.
    Invalid {
        /// Where to answer.
        reference: Option<ConversationReference>,
        /// What to tell them.
        text: String,
        /// Whether it came as an `invoke`.
        invoke: bool,
    },
    /// Nothing for callbridge (typing, reactions, other invokes…); counted.
    Ignored {
        /// A stable label for the metric.
        reason: &'static str,
    },
}

impl BotInbound {
    /// The events for the engine.
    pub fn events(&self) -> Vec<PlatformEvent> {
        match self {
            Self::Call { event, .. } | Self::Declined { event, .. } => vec![event.clone()],
            _ => Vec::new(),
        }
    }

    /// The conversation the activity came from, when it names a tenant user.
    pub const fn reference(&self) -> Option<&ConversationReference> {
        match self {
            Self::Call { reference, .. }
            | Self::Declined { reference, .. }
            | Self::Help { reference }
            | Self::Invalid { reference, .. } => reference.as_ref(),
            Self::Installed { reference } => Some(reference),
            Self::Uninstalled { .. } | Self::Ignored { .. } => None,
        }
    }
}

const USAGE: &str = "Try `call @name`, `call name@company.com`, `call +14255550100` or `help`.";

fn ignored(reason: &'static str) -> BotInbound {
    metrics::counter!("callbridge_teams_bot_ignored_total", "reason" => reason).increment(1);
    BotInbound::Ignored { reason }
}

/// Translates a verified activity.
pub fn translate_activity(activity: &Activity) -> BotInbound {
    let reference = ConversationReference::from_activity(activity);
    match activity.kind.as_str() {
        "message" => match &activity.value {
            // `Action.Submit` arrives as a message whose `value` holds the button's data.
            Some(value) if activity.text.as_deref().is_none_or(str::is_empty) => {
                card_action(activity, value, reference, false)
            }
            _ => message(activity, reference),
        },
        "invoke" if activity.name.as_deref() == Some("adaptiveCard/action") => {
            let Some(action) = activity.value.as_ref().and_then(|v| v.get("action")) else {
                return ignored("invoke without action");
            };
            let mut data = action.get("data").cloned().unwrap_or(Value::Null);
            // Universal Actions carry the verb beside the data.
            if let (Some(verb), Some(object)) = (action.get("verb"), data.as_object_mut()) {
                object.insert("verb".to_owned(), verb.clone());
            }
            card_action(activity, &data, reference, true)
        }
        "invoke" => ignored("other invoke"),
        "conversationUpdate" => conversation_update(activity, reference),
        _ => ignored("activity type"),
    }
}

fn bot_id(activity: &Activity) -> Option<&str> {
    activity.recipient.as_ref().map(|r| r.id.as_str())
}

fn conversation_update(
    activity: &Activity,
    reference: Option<ConversationReference>,
) -> BotInbound {
    let bot = bot_id(activity);
    if activity
        .members_removed
        .iter()
        .any(|m| Some(m.id.as_str()) == bot)
    {
        return match activity.from.as_ref().and_then(|f| f.aad_object_id.clone()) {
            Some(aad_object_id) => BotInbound::Uninstalled { aad_object_id },
            None => ignored("uninstall without user"),
        };
    }
    if activity
        .members_added
        .iter()
        .any(|m| Some(m.id.as_str()) == bot)
    {
        return match reference {
            Some(reference) => BotInbound::Installed { reference },
            None => ignored("install outside a personal chat"),
        };
    }
    ignored("membership change")
}

fn caller(activity: &Activity) -> Result<UserRef, &'static str> {
    let tenant: TeamsTenantId = activity
        .tenant_id()
        .and_then(|t| t.parse().ok())
        .ok_or("no tenant")?;
    let user: AadObjectId = activity
        .from
        .as_ref()
        .and_then(|f| f.aad_object_id.as_deref())
        .and_then(|id| id.parse().ok())
        .ok_or("no Entra user")?;
    Ok(UserRef::Teams { tenant, user })
}

fn event_id(activity: &Activity) -> Option<EventId> {
    activity.id.as_deref().and_then(|id| id.parse().ok())
}

/// The typed text without `<at>…</at>` mentions of the bot, and with its entities decoded.
fn command_text(activity: &Activity) -> String {
    let mut text = activity.text.clone().unwrap_or_default();
    for mention in mentions(activity) {
        if mention.id == bot_id(activity).unwrap_or_default() {
            text = text.replace(&mention.text, " ");
        }
    }
    text.replace("&nbsp;", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

struct Mention {
    id: String,
    aad_object_id: Option<String>,
    text: String,
}

fn mentions(activity: &Activity) -> Vec<Mention> {
    activity
        .entities
        .iter()
        .filter(|e| e.get("type").and_then(Value::as_str) == Some("mention"))
        .filter_map(|e| {
            let mentioned = e.get("mentioned")?;
            Some(Mention {
                id: mentioned.get("id")?.as_str()?.to_owned(),
                aad_object_id: mentioned
                    .get("aadObjectId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                text: e
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            })
        })
        .collect()
}

fn message(activity: &Activity, reference: Option<ConversationReference>) -> BotInbound {
    let text = command_text(activity);
    let (verb, rest) = text.split_once(' ').unwrap_or((text.as_str(), ""));
    match verb.to_ascii_lowercase().as_str() {
        "" => ignored("empty message"),
        "help" | "?" => BotInbound::Help { reference },
        "call" => match call_target(activity, rest.trim()) {
            Ok(target) => call(activity, target, reference, false),
            Err(text) => invalid(reference, text, false),
        },
        _ => invalid(
            reference,
            format!("I did not understand that. {USAGE}"),
            false,
        ),
    }
}

fn invalid(reference: Option<ConversationReference>, text: String, invoke: bool) -> BotInbound {
    metrics::counter!("callbridge_teams_bot_invalid_total").increment(1);
    BotInbound::Invalid {
        reference,
        text,
        invoke,
    }
}

fn call_target(activity: &Activity, rest: &str) -> Result<CallTarget, String> {
    if rest.is_empty() {
        return Err(format!("Whom should I call? {USAGE}"));
    }
    let bot = bot_id(activity).unwrap_or_default();
    if let Some(mention) = mentions(activity)
        .into_iter()
        .find(|m| m.id != bot && rest.contains(&m.text) && !m.text.is_empty())
    {
        let tenant = activity.tenant_id().and_then(|t| t.parse().ok());
        let user = mention
            .aad_object_id
            .as_deref()
            .and_then(|id| id.parse().ok());
        return match (tenant, user) {
            (Some(tenant), Some(user)) => Ok(CallTarget::User(UserRef::Teams { tenant, user })),
            _ => Err(
                "I cannot tell who that mention is. Use their email address instead.".to_owned(),
            ),
        };
    }
    let word = rest.split_whitespace().next().unwrap_or_default();
    let word = word.strip_prefix("mailto:").unwrap_or(word);
    if word.starts_with('+') {
        let digits: String = rest
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        return digits
            .parse::<PhoneNumber>()
            .map(CallTarget::Phone)
            .map_err(|_| {
                "That is not a phone number in international form (+14255550100).".to_owned()
            });
    }
    if let Some(name) = word.strip_prefix('@') {
        return Err(format!(
            "I could not find @{name}. Mention them (type @ and pick the person) or use their email address."
        ));
    }
    if word.contains('@') {
        return Email::parse_lenient(word)
            .map(CallTarget::Email)
            .map_err(|_| "That is not an email address I can use.".to_owned());
    }
    Err(format!("Whom should I call? {USAGE}"))
}

fn call(
    activity: &Activity,
    target: CallTarget,
    reference: Option<ConversationReference>,
    invoke: bool,
) -> BotInbound {
    let Ok(caller) = caller(activity) else {
        return invalid(
            reference,
            "Only members of your organisation can place calls.".to_owned(),
            invoke,
        );
    };
    let Some(event_id) = event_id(activity) else {
        return ignored("no activity id");
    };
    BotInbound::Call {
        event: PlatformEvent::CallRequested {
            event_id,
            caller,
            target,
        },
        reference,
        invoke,
    }
}

fn card_action(
    activity: &Activity,
    data: &Value,
    reference: Option<ConversationReference>,
    invoke: bool,
) -> BotInbound {
    match data.get("verb").and_then(Value::as_str) {
        Some(VERB_CALL_BACK) => {
            match data
                .get("target")
                .cloned()
                .and_then(|t| serde_json::from_value::<CallTarget>(t).ok())
            {
                Some(target) => call(activity, target, reference, invoke),
                None => invalid(reference, "That button has expired.".to_owned(), invoke),
            }
        }
        Some(VERB_DECLINE) => {
            let id = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_owned);
            let call = id("call").and_then(|c| c.parse::<CallId>().ok());
            let leg = id("leg").and_then(|l| l.parse::<LegId>().ok());
            match (call, leg) {
                (Some(call), Some(leg)) => BotInbound::Declined {
                    event: PlatformEvent::LegEnded {
                        call,
                        leg,
                        cause: TerminationCause::Declined,
                    },
                    reference,
                    invoke,
                },
                _ => invalid(reference, "That button has expired.".to_owned(), invoke),
            }
        }
        _ => ignored("card verb"),
    }
}
