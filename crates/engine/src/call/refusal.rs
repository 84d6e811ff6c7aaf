//! Whether a new call may start, checked before anything is recorded.
//!
//! The rules, in order: a draining gateway refuses; glare (the callee is ringing the caller
//! right now) refuses the second call so the first can be answered; a second request from the
//! same caller to the same callee within `duplicate_window` is a double `/call`; a caller or
//! callee already on a call is busy; a callee in Do Not Disturb is not rung (the call is
//! recorded and ends `Busy` with a missed-call notice).

use std::collections::BTreeMap;

use callbridge_model::CallId;
use chrono::{DateTime, Utc};

use super::io::NewCall;
use super::live::Live;
use super::phase::Phase;
use super::text;
use super::timers::after;

/// The verdict on a new call.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// Ring the callee.
    Admit,
    /// Record the call and end it at once with `Busy`: the callee is in Do Not Disturb.
    DoNotDisturb,
    /// Do not record the call; tell the caller this.
    Refuse(String),
}

/// Applies the rules to `new` against the calls held.
pub(super) fn admit(
    new: &NewCall,
    calls: &BTreeMap<CallId, Live>,
    draining: bool,
    duplicate_window: std::time::Duration,
    now: DateTime<Utc>,
) -> Admission {
    if draining {
        return Admission::Refuse(text::draining());
    }
    let active = || calls.values().filter(|live| live.phase.is_active());
    let (caller, callee) = (&new.caller.user, &new.callee.user);
    if let Some(other) = active().find(|live| {
        !matches!(live.phase, Phase::Bridged(_))
            && &live.ctx.new.caller.user == callee
            && &live.ctx.new.callee.user == caller
    }) {
        return Admission::Refuse(text::glare(&other.ctx.new.caller.name));
    }
    if active().any(|live| {
        &live.ctx.new.caller.user == caller
            && &live.ctx.new.callee.user == callee
            && now < after(live.ctx.record.created_at, duplicate_window)
    }) {
        return Admission::Refuse(text::already_calling(&new.callee.name));
    }
    let on_call = |user| {
        active().any(|live| &live.ctx.new.caller.user == user || &live.ctx.new.callee.user == user)
    };
    if on_call(caller) {
        return Admission::Refuse(text::caller_busy());
    }
    if on_call(callee) {
        return Admission::Refuse(text::callee_busy(&new.callee.name));
    }
    if new.callee.dnd {
        return Admission::DoNotDisturb;
    }
    Admission::Admit
}
