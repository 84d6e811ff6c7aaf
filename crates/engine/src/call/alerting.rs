//! A call whose callee is being alerted: each leg negotiates media on its own, in any order,
//! and the call is bridged the moment both are negotiated.
//!
//! The SIP leg callbridge placed is negotiated when it answers (`ApplyAnswer`); one that arrived
//! from Teams when the media core answered its offer. The browser leg is negotiated when the
//! media core answered the join offer; on calls that arrived from Teams, both answers go out
//! together at the bridge (`AnswerCall`, `JoinAnswer`), so neither side hears a half-set-up call.

use callbridge_model::{
    CallState, LegId, LegState, MediaAnswer, MediaOffer, PlatformCommand, TerminationCause,
};

use super::event::Event;
use super::io::{MediaCommand, Output};
use super::live::{Ctx, Origin};
use super::phase::{Alerting, Bridged, BrowserSide, Phase, SipSide};
use super::teardown::end;
use super::text;
use super::timers::after;
use super::turn::Turn;
use crate::error::EngineError;

/// An event while the callee is alerted.
pub(super) fn on_alerting(
    alerting: Alerting,
    ctx: &mut Ctx,
    event: Event,
    turn: &mut Turn<'_>,
) -> Result<Phase, EngineError> {
    let (sip_leg, browser_leg) = (ctx.sip_leg(), ctx.browser_leg());
    Ok(match event {
        Event::Ringing(leg) if leg == sip_leg => ringing(alerting, ctx, turn),
        Event::Answered(leg, answer) if leg == sip_leg => answered(alerting, ctx, answer, turn)?,
        Event::Join(leg, offer)
            if leg == browser_leg && matches!(alerting.browser, BrowserSide::Card) =>
        {
            join(alerting, ctx, offer, turn)
        }
        Event::Join(leg, _) => {
            // The Teams leg, or a second join: the first browser keeps the call.
            turn.emit(Output::JoinAnswer {
                call: ctx.new.call,
                leg,
                answer: None,
            });
            Phase::Alerting(alerting)
        }
        Event::AnswerReady(leg, answer) => answer_ready(alerting, ctx, leg, answer, turn)?,
        Event::NegotiationFailed(leg) => negotiation_failed(alerting, ctx, leg, turn)?,
        Event::CapacityRefused => capacity_refused(alerting, ctx, turn),
        Event::LegEnded(leg, cause) => leg_ended(alerting, ctx, leg, cause, turn),
        Event::CommandFailed(leg) => {
            // A leg could not be placed, posted or answered: the call cannot happen.
            let told = ctx.tell_caller(text::unreachable(&ctx.new.callee.name));
            end(
                Phase::Alerting(alerting),
                ctx,
                TerminationCause::Error,
                Some(leg),
                [told],
                turn,
            )
        }
        Event::MediaTimeout => end(
            Phase::Alerting(alerting),
            ctx,
            TerminationCause::MediaTimeout,
            None,
            [],
            turn,
        ),
        Event::HangUp(cause) => end(Phase::Alerting(alerting), ctx, cause, None, [], turn),
        Event::Ringing(_)
        | Event::Answered(..)
        | Event::Hold(..)
        | Event::Reoffer(..)
        | Event::OfferReady(..) => {
            return Err(EngineError::OutOfOrder(
                "not expected while the callee is alerted",
            ));
        }
    })
}

/// The SIP leg is alerting its user.
fn ringing(alerting: Alerting, ctx: &mut Ctx, turn: &mut Turn<'_>) -> Phase {
    if !matches!(alerting.sip, SipSide::Placed) {
        // A repeated 180, or one after the answer: nothing new.
        return Phase::Alerting(alerting);
    }
    ctx.set_leg_state(ctx.sip_leg(), LegState::Ringing);
    if ctx.slack_calls() {
        // The Teams callee's phone ringing is the call ringing; the caller's card shows it.
        ctx.record.state = CallState::Ringing;
        turn.emit(ctx.persist());
        turn.emit(ctx.update_card(LegState::Ringing));
    } else {
        turn.emit(ctx.persist());
    }
    Phase::Alerting(alerting)
}

/// The SIP leg callbridge placed answered.
fn answered(
    mut alerting: Alerting,
    ctx: &mut Ctx,
    answer: Option<MediaAnswer>,
    turn: &mut Turn<'_>,
) -> Result<Phase, EngineError> {
    if !matches!(alerting.sip, SipSide::Placed) {
        return Err(EngineError::OutOfOrder(
            "the leg answered already or was not placed",
        ));
    }
    let Some(answer) = answer else {
        // A SIP answer to our offer always carries SDP; without it the leg cannot carry media.
        let told = ctx.tell_caller(text::unreachable(&ctx.new.callee.name));
        return Ok(end(
            Phase::Alerting(alerting),
            ctx,
            TerminationCause::Error,
            None,
            [told],
            turn,
        ));
    };
    let (call, leg) = (ctx.new.call, ctx.sip_leg());
    turn.emit(Output::Media(MediaCommand::ApplyAnswer {
        call,
        leg,
        answer,
    }));
    alerting.sip = SipSide::Answered;
    ctx.set_leg_state(leg, LegState::Active);
    Ok(progress(alerting, ctx, true, turn))
}

/// The browser opened the join page and sent its offer.
fn join(mut alerting: Alerting, ctx: &mut Ctx, offer: MediaOffer, turn: &mut Turn<'_>) -> Phase {
    let call = ctx.new.call;
    if let SipSide::Offered(sip_offer) = alerting.sip {
        // A call from Teams: answer the caller's offer now that someone will hear it.
        let leg = ctx.sip_leg();
        turn.emit(Output::Media(MediaCommand::AcceptOffer {
            call,
            leg,
            offer: sip_offer,
        }));
        alerting.sip = SipSide::Accepting;
    }
    let leg = ctx.browser_leg();
    turn.emit(Output::Media(MediaCommand::AcceptOffer {
        call,
        leg,
        offer,
    }));
    ctx.media_engaged = true;
    alerting.browser = BrowserSide::Accepting;
    Phase::Alerting(alerting)
}

/// The media core answered an offer for one leg.
fn answer_ready(
    mut alerting: Alerting,
    ctx: &mut Ctx,
    leg: LegId,
    answer: MediaAnswer,
    turn: &mut Turn<'_>,
) -> Result<Phase, EngineError> {
    let inbound = !matches!(alerting.sip, SipSide::Placed | SipSide::Answered);
    let mut changed = false;
    if leg == ctx.browser_leg() && matches!(alerting.browser, BrowserSide::Accepting) {
        if inbound {
            alerting.browser = BrowserSide::Held(answer);
        } else {
            turn.emit(Output::JoinAnswer {
                call: ctx.new.call,
                leg,
                answer: Some(answer),
            });
            alerting.browser = BrowserSide::Joined;
            ctx.set_leg_state(leg, LegState::Active);
            changed = true;
        }
    } else if leg == ctx.sip_leg() && matches!(alerting.sip, SipSide::Accepting) {
        alerting.sip = SipSide::Ready(answer);
    } else {
        return Err(EngineError::OutOfOrder(
            "no offer is being answered for that leg",
        ));
    }
    Ok(progress(alerting, ctx, changed, turn))
}

/// The media core could not negotiate a leg.
fn negotiation_failed(
    mut alerting: Alerting,
    ctx: &mut Ctx,
    leg: LegId,
    turn: &mut Turn<'_>,
) -> Result<Phase, EngineError> {
    if leg == ctx.browser_leg() && matches!(alerting.browser, BrowserSide::Accepting) {
        // This browser cannot join; the card stays up so the user can try again (another
        // browser) until the ring timeout.
        turn.emit(Output::JoinAnswer {
            call: ctx.new.call,
            leg,
            answer: None,
        });
        alerting.browser = BrowserSide::Card;
        return Ok(Phase::Alerting(alerting));
    }
    if leg == ctx.sip_leg() && matches!(alerting.sip, SipSide::Accepting) {
        // The Teams caller's offer cannot be answered: the call cannot happen.
        return Ok(end(
            Phase::Alerting(alerting),
            ctx,
            TerminationCause::Error,
            None,
            [],
            turn,
        ));
    }
    Err(EngineError::OutOfOrder(
        "no offer is being answered for that leg",
    ))
}

/// Admission control refused the media. A call that arrived from Teams is turned away as busy
/// (the Slack callee learns of it by a missed-call notice); one someone asked for ends `Error`
/// and the asker is told.
fn capacity_refused(alerting: Alerting, ctx: &mut Ctx, turn: &mut Turn<'_>) -> Phase {
    let phase = Phase::Alerting(alerting);
    match ctx.origin {
        Origin::Incoming => {
            let missed = Some(ctx.missed_call());
            end(phase, ctx, TerminationCause::Busy, None, [missed], turn)
        }
        Origin::Request(_) => {
            let told = ctx.tell_caller(text::at_capacity());
            end(phase, ctx, TerminationCause::Error, None, [told], turn)
        }
    }
}

/// A leg ended on its platform before the bridge.
///
/// The callee's leg ending is a refusal: the platform's cause (`Declined`, `Busy`, …) is kept,
/// except that a plain hang-up while ringing counts as `Declined`; the caller is told. The
/// caller's leg ending is `Cancelled`; a Slack callee gets a missed-call notice.
fn leg_ended(
    alerting: Alerting,
    ctx: &mut Ctx,
    leg: LegId,
    cause: TerminationCause,
    turn: &mut Turn<'_>,
) -> Phase {
    let phase = Phase::Alerting(alerting);
    let callee = ctx.new.callee.name.clone();
    if leg == ctx.new.callee_leg {
        let cause = match cause {
            TerminationCause::Normal => TerminationCause::Declined,
            other => other,
        };
        let text = match cause {
            TerminationCause::Declined => text::declined(&callee),
            TerminationCause::Busy => text::busy(&callee),
            TerminationCause::NoAnswer => text::no_answer(&callee),
            _ => text::unreachable(&callee),
        };
        let told = ctx.tell_caller(text);
        end(phase, ctx, cause, Some(leg), [told], turn)
    } else {
        let missed = (!ctx.slack_calls()).then(|| ctx.missed_call());
        end(
            phase,
            ctx,
            TerminationCause::Cancelled,
            Some(leg),
            [missed],
            turn,
        )
    }
}

/// Bridges when both legs are negotiated; otherwise persists the record if it `changed` and
/// keeps waiting.
fn progress(alerting: Alerting, ctx: &mut Ctx, changed: bool, turn: &mut Turn<'_>) -> Phase {
    if !(alerting.sip.is_ready() && alerting.browser.is_ready()) {
        if changed {
            turn.emit(ctx.persist());
        }
        return Phase::Alerting(alerting);
    }
    let call = ctx.new.call;
    let (sip_leg, browser_leg) = (ctx.sip_leg(), ctx.browser_leg());
    let mut answer_unconfirmed = None;
    if let SipSide::Ready(answer) = alerting.sip {
        turn.emit(ctx.on_leg(
            sip_leg,
            PlatformCommand::AnswerCall {
                call,
                leg: sip_leg,
                answer,
            },
        ));
        answer_unconfirmed = Some(sip_leg);
    }
    if let BrowserSide::Held(answer) = alerting.browser {
        turn.emit(Output::JoinAnswer {
            call,
            leg: browser_leg,
            answer: Some(answer),
        });
    }
    turn.emit(Output::Media(MediaCommand::Bridge { call }));
    ctx.set_leg_state(sip_leg, LegState::Active);
    ctx.set_leg_state(browser_leg, LegState::Active);
    ctx.record.state = CallState::Connected;
    ctx.record.answered_at = Some(turn.now);
    turn.emit(ctx.persist());
    turn.emit(ctx.update_card(LegState::Active));
    let max_deadline = after(turn.now, turn.config.max_duration);
    Phase::Bridged(Bridged {
        max_deadline,
        reoffers: Vec::new(),
        answer_unconfirmed,
    })
}
