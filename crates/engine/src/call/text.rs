//! What users read: every sentence the engine sends, in one place.

/// A new call while the gateway drains.
pub(super) fn draining() -> String {
    "callbridge is restarting; try again in a minute.".to_owned()
}

/// A double `/call`.
pub(super) fn already_calling(callee: &str) -> String {
    format!("You are already calling {callee}.")
}

/// Glare: the person asked for is calling the asker right now.
pub(super) fn glare(other_caller: &str) -> String {
    format!("{other_caller} is calling you right now — answer that call.")
}

/// The caller is already on a call.
pub(super) fn caller_busy() -> String {
    "You are already on a call.".to_owned()
}

/// The callee is on another call.
pub(super) fn callee_busy(callee: &str) -> String {
    format!("{callee} is on another call.")
}

/// The callee is in Do Not Disturb.
pub(super) fn do_not_disturb(callee: &str) -> String {
    format!("{callee} is in Do Not Disturb; they will see that you called.")
}

/// Admission control refused the call.
pub(super) fn at_capacity() -> String {
    "callbridge is at capacity right now; try again shortly.".to_owned()
}

/// The call is being placed (Slack caller).
pub(super) fn calling(callee: &str) -> String {
    format!("Calling {callee}…")
}

/// The call is being placed (Teams caller, whom callbridge calls back first).
pub(super) fn connecting(callee: &str) -> String {
    format!("Connecting you to {callee}…")
}

/// Title of the Slack caller's own call card.
pub(super) fn card_calling(callee: &str) -> String {
    format!("Calling {callee}")
}

/// Title of the Slack callee's ringing call card.
pub(super) fn card_incoming(caller: &str) -> String {
    format!("{caller} is calling")
}

/// How the Slack party appears on the Teams party's phone.
pub(super) fn display(slack_party: &str) -> String {
    format!("{slack_party} (Slack)")
}

/// The callee let it ring out.
pub(super) fn no_answer(callee: &str) -> String {
    format!("{callee} did not answer.")
}

/// The callee declined.
pub(super) fn declined(callee: &str) -> String {
    format!("{callee} declined the call.")
}

/// The callee's platform said busy.
pub(super) fn busy(callee: &str) -> String {
    format!("{callee} is busy.")
}

/// A platform could not carry the call.
pub(super) fn unreachable(callee: &str) -> String {
    format!("Could not reach {callee}.")
}
