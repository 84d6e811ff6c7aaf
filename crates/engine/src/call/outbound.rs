//! Calls someone asked for (`Input::Requested`), in either direction: callbridge places the
//! Teams party's SIP leg itself and posts the Slack party a call card.
//!
//! Slack → Teams: the Teams callee is rung (`PlaceCall`), the Slack caller gets a "Calling …"
//! card to join from. Teams → Slack: callbridge calls the Teams caller back ("Connecting you
//! to …") and rings the Slack callee with a card.

use callbridge_model::{
    CallState, CallTarget, EventId, LegState, MediaOffer, PlatformCommand, TerminationCause,
};

use super::event::Event;
use super::io::{MediaCommand, NewCall, Output};
use super::live::{Ctx, Live, Origin};
use super::phase::{Alerting, BrowserSide, Phase, Setup, SipSide};
use super::refusal::Admission;
use super::teardown::{end, finish};
use super::text;
use super::timers::after;
use super::turn::Turn;
use crate::error::EngineError;

/// Starts a requested call: refuses it, records and ends it (DND), or records it and asks the
/// media core for the SIP leg's offer. Returns the call if it is still live.
pub(super) fn start(
    request: EventId,
    new: NewCall,
    admission: Admission,
    turn: &mut Turn<'_>,
) -> Option<Live> {
    let mut ctx = Ctx::new(new, Origin::Request(request), turn.now);
    match admission {
        Admission::Refuse(text) => {
            // Nothing is recorded for a refused request: it never became a call.
            turn.emit_some(ctx.reply(text));
            None
        }
        Admission::DoNotDisturb => {
            turn.emit(ctx.persist());
            turn.emit_some(ctx.reply(text::do_not_disturb(&ctx.new.callee.name)));
            turn.emit(ctx.missed_call());
            finish(&mut ctx, TerminationCause::Busy, turn);
            None
        }
        Admission::Admit => {
            turn.emit(ctx.persist());
            let leg = ctx.sip_leg();
            turn.emit(Output::Media(MediaCommand::PrepareOffer {
                call: ctx.new.call,
                leg,
            }));
            ctx.media_engaged = true;
            let deadline = after(turn.now, turn.config.ring_timeout);
            Some(Live {
                ctx,
                phase: Phase::Setup(Setup { deadline }),
            })
        }
    }
}

/// An event while the media core prepares the offer.
pub(super) fn on_setup(
    setup: Setup,
    ctx: &mut Ctx,
    event: Event,
    turn: &mut Turn<'_>,
) -> Result<Phase, EngineError> {
    let phase = Phase::Setup(setup);
    let callee = ctx.new.callee.name.clone();
    Ok(match event {
        Event::OfferReady(leg, offer) if leg == ctx.sip_leg() => place(ctx, offer, turn),
        Event::CapacityRefused => {
            let reply = ctx.reply(text::at_capacity());
            end(phase, ctx, TerminationCause::Error, None, [reply], turn)
        }
        Event::NegotiationFailed(leg) if leg == ctx.sip_leg() => {
            let reply = ctx.reply(text::unreachable(&callee));
            end(phase, ctx, TerminationCause::Error, None, [reply], turn)
        }
        // The caller gave up before anything rang.
        Event::LegEnded(leg, _) => {
            end(phase, ctx, TerminationCause::Cancelled, Some(leg), [], turn)
        }
        Event::MediaTimeout => end(phase, ctx, TerminationCause::MediaTimeout, None, [], turn),
        Event::HangUp(cause) => end(phase, ctx, cause, None, [], turn),
        Event::Join(leg, _) => {
            // The card is not posted yet, so nobody can have a join URL to use.
            turn.emit(Output::JoinAnswer {
                call: ctx.new.call,
                leg,
                answer: None,
            });
            phase
        }
        _ => {
            return Err(EngineError::OutOfOrder(
                "not expected while the call is being set up",
            ));
        }
    })
}

/// The media core's offer is ready: place the SIP leg, post the Slack card, tell the asker.
fn place(ctx: &mut Ctx, offer: MediaOffer, turn: &mut Turn<'_>) -> Phase {
    let call = ctx.new.call;
    let (sip_leg, browser_leg) = (ctx.sip_leg(), ctx.browser_leg());
    let (caller, callee) = (ctx.new.caller.name.clone(), ctx.new.callee.name.clone());
    turn.emit(ctx.on_leg(
        sip_leg,
        PlatformCommand::PlaceCall {
            call,
            leg: sip_leg,
            to: CallTarget::User(ctx.sip_party().user.clone()),
            caller_display: text::display(&ctx.browser_party().name),
            offer,
        },
    ));
    let title = if ctx.slack_calls() {
        text::card_calling(&callee)
    } else {
        text::card_incoming(&caller)
    };
    turn.emit(ctx.on_leg(
        browser_leg,
        PlatformCommand::PostCallCard {
            call,
            leg: browser_leg,
            to: ctx.browser_party().user.clone(),
            join_url: ctx.new.join_url.clone(),
            title,
        },
    ));
    let (reply, timeout) = if ctx.slack_calls() {
        (text::calling(&callee), turn.config.ring_timeout)
    } else {
        (text::connecting(&callee), turn.config.join_timeout)
    };
    turn.emit_some(ctx.reply(reply));
    if !ctx.slack_calls() {
        // The Slack callee's card is what rings.
        ctx.set_leg_state(browser_leg, LegState::Ringing);
        ctx.record.state = CallState::Ringing;
        turn.emit(ctx.persist());
    }
    let deadline = after(turn.now, timeout);
    Phase::Alerting(Alerting {
        deadline,
        sip: SipSide::Placed,
        browser: BrowserSide::Card,
    })
}
