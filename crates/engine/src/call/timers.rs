//! Time: deadlines as instants, and what each phase does when its deadline passes.

use std::time::Duration;

use callbridge_model::TerminationCause;
use chrono::{DateTime, TimeDelta, Utc};

use super::live::Ctx;
use super::phase::{BrowserSide, Phase, SipSide};
use super::teardown::{end, finish};
use super::text;
use super::turn::Turn;

/// `at + duration`, saturating at the end of representable time.
pub(super) fn after(at: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| at.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The phase's deadline has passed.
///
/// - `Setup`: the media core never answered: `Error`.
/// - `Alerting`: the ring (join) timeout. If the callee has not answered (joined) it is
///   `NoAnswer`; if the callee is there but the caller never completed their side (a Slack
///   caller who never opened the join page) it is `Cancelled`.
/// - `Bridged`: `MaxDuration`.
/// - `Ending`: the legs not confirmed are considered gone; the call is over.
pub(super) fn expire(phase: Phase, ctx: &mut Ctx, turn: &mut Turn<'_>) -> Phase {
    match phase {
        Phase::Setup(_) => {
            let notice = ctx.tell_caller(text::unreachable(&ctx.new.callee.name));
            end(phase, ctx, TerminationCause::Error, None, [notice], turn)
        }
        Phase::Alerting(ref alerting) => {
            let callee_there = if ctx.slack_calls() {
                matches!(alerting.sip, SipSide::Answered)
            } else {
                !matches!(alerting.browser, BrowserSide::Card)
            };
            if callee_there {
                end(phase, ctx, TerminationCause::Cancelled, None, [], turn)
            } else {
                let told = ctx.tell_caller(text::no_answer(&ctx.new.callee.name));
                // A Slack callee has no missed-call log of its own; Teams keeps one.
                let missed = (!ctx.slack_calls()).then(|| ctx.missed_call());
                end(
                    phase,
                    ctx,
                    TerminationCause::NoAnswer,
                    None,
                    [told, missed],
                    turn,
                )
            }
        }
        Phase::Bridged(_) => end(phase, ctx, TerminationCause::MaxDuration, None, [], turn),
        Phase::Ending(ending) => finish(ctx, ending.cause, turn),
        Phase::Ended => Phase::Ended,
    }
}
