//! Ending a call: tear down what is up, release the media, wait for the legs to confirm
//! (at most `teardown_grace`), then persist the final record and write the one CDR.

use callbridge_model::{CallState, Cdr, LegId, LegState, TerminationCause};

use super::io::{MediaCommand, Output};
use super::live::Ctx;
use super::phase::{Alerting, BrowserSide, Ending, Phase};
use super::timers::after;
use super::turn::Turn;

/// Ends a call that is not ending yet: tears down every leg still up except `gone` (the leg
/// whose end or failure caused this), emits `notices`, and settles.
///
/// Teardown per leg: a SIP leg that exists gets `HangUp`; a browser that has its answer gets
/// `HangUp`; a browser still waiting for its answer gets `JoinAnswer(None)` and its card a
/// `HangUp`; a card nobody joined gets `HangUp` (ends the card with the cause; nothing on the
/// browser's side to await). Only the legs with a live party are awaited.
pub(super) fn end(
    phase: Phase,
    ctx: &mut Ctx,
    cause: TerminationCause,
    gone: Option<LegId>,
    notices: impl IntoIterator<Item = Option<Output>>,
    turn: &mut Turn<'_>,
) -> Phase {
    let mut awaiting = Vec::new();
    // Hang-ups go out first (a phone stops ringing soonest), then card and browser updates.
    let mut browser = Vec::new();
    // A browser that hung up itself has nothing left to confirm, but its call card still
    // shows the call: end the card (not awaited).
    let browser_left = gone == Some(ctx.browser_leg())
        && match &phase {
            Phase::Bridged(_) => true,
            Phase::Alerting(alerting) => matches!(alerting.browser, BrowserSide::Joined),
            _ => false,
        };
    match phase {
        Phase::Setup(_) => {}
        Phase::Alerting(alerting) => {
            tear_down_alerting(&alerting, ctx, gone, cause, &mut awaiting, &mut browser);
        }
        Phase::Bridged(_) => awaiting.extend([ctx.new.caller_leg, ctx.new.callee_leg]),
        // Already over or ending: nothing more to tear down.
        done @ (Phase::Ending(_) | Phase::Ended) => return done,
    }
    awaiting.retain(|leg| Some(*leg) != gone);
    for leg in &awaiting {
        turn.emit(ctx.hang_up(*leg, cause));
    }
    if browser_left {
        turn.emit(ctx.hang_up(ctx.browser_leg(), cause));
    }
    for output in browser {
        turn.emit(output);
    }
    for notice in notices {
        turn.emit_some(notice);
    }
    if let Some(leg) = gone {
        ctx.set_leg_state(leg, LegState::Ended);
    }
    settle(ctx, cause, awaiting, turn)
}

/// Collects the legs of a call not yet bridged that must be hung up, and answers the browser
/// or updates the card where nothing needs hanging up.
fn tear_down_alerting(
    alerting: &Alerting,
    ctx: &Ctx,
    gone: Option<LegId>,
    cause: TerminationCause,
    awaiting: &mut Vec<LegId>,
    out: &mut Vec<Output>,
) {
    // Every SIP side in this phase is a leg the platform holds (placed, answered, or arrived).
    awaiting.push(ctx.sip_leg());
    let browser = ctx.browser_leg();
    if gone == Some(browser) {
        return;
    }
    match &alerting.browser {
        BrowserSide::Joined => awaiting.push(browser),
        BrowserSide::Accepting | BrowserSide::Held(_) => {
            out.push(Output::JoinAnswer {
                call: ctx.new.call,
                leg: browser,
                answer: None,
            });
            out.push(ctx.hang_up(browser, cause));
        }
        // The card is ended with the call's cause, so nobody can join it any more.
        BrowserSide::Card => out.push(ctx.hang_up(browser, cause)),
    }
}

/// Releases the media (if held), then either finishes at once (nothing to await) or enters
/// `Ending` until every awaited leg confirms or the grace passes.
pub(super) fn settle(
    ctx: &mut Ctx,
    cause: TerminationCause,
    awaiting: Vec<LegId>,
    turn: &mut Turn<'_>,
) -> Phase {
    if ctx.media_engaged {
        turn.emit(Output::Media(MediaCommand::Release { call: ctx.new.call }));
        ctx.media_engaged = false;
    }
    if awaiting.is_empty() {
        return finish(ctx, cause, turn);
    }
    ctx.record.state = CallState::Ending;
    turn.emit(ctx.persist());
    let deadline = after(turn.now, turn.config.teardown_grace);
    Phase::Ending(Ending {
        deadline,
        awaiting,
        cause,
    })
}

/// `leg` confirmed its end (or its hang-up failed, which counts the same).
pub(super) fn acknowledge(
    mut ending: Ending,
    ctx: &mut Ctx,
    leg: LegId,
    turn: &mut Turn<'_>,
) -> Phase {
    ending.awaiting.retain(|awaited| *awaited != leg);
    if ending.awaiting.is_empty() {
        finish(ctx, ending.cause, turn)
    } else {
        Phase::Ending(ending)
    }
}

/// The final record, then the one CDR.
pub(super) fn finish(ctx: &mut Ctx, cause: TerminationCause, turn: &mut Turn<'_>) -> Phase {
    let record = &mut ctx.record;
    record.state = CallState::Ended;
    record.ended_at = Some(turn.now);
    record.termination = Some(cause);
    for leg in &mut record.legs {
        leg.state = LegState::Ended;
    }
    turn.emit(ctx.persist());
    turn.emit(Output::Record(Cdr {
        call_id: ctx.record.id,
        tenant: ctx.record.tenant,
        direction: ctx.record.direction,
        caller: ctx.new.caller.user.clone(),
        callee: ctx.new.callee.user.clone(),
        started_at: ctx.record.created_at,
        answered_at: ctx.record.answered_at,
        ended_at: turn.now,
        cause,
    }));
    Phase::Ended
}
