//! Calls that arrive from Teams telephony (`Input::Incoming`): a Teams user dialled the number
//! assigned to a Slack user. The SIP leg already exists; the Slack callee is rung with a card.
//!
//! A refused call (draining, busy, glare, Do Not Disturb) is still recorded: the Teams leg is
//! hung up with `Busy` (the adapter answers the INVITE 486/480), the Slack callee gets a
//! missed-call notice, and the CDR says `Busy`.

use callbridge_model::{CallState, LegState, MediaOffer, PlatformCommand, TerminationCause};

use super::io::NewCall;
use super::live::{Ctx, Live, Origin};
use super::phase::{Alerting, BrowserSide, Phase, SipSide};
use super::refusal::Admission;
use super::teardown::settle;
use super::text;
use super::timers::after;
use super::turn::Turn;

/// Records an incoming call and rings the Slack callee, or refuses it. Returns the call (it is
/// live either way: a refused one waits for its SIP leg to confirm the hang-up).
pub(super) fn start(
    new: NewCall,
    offer: MediaOffer,
    admission: &Admission,
    turn: &mut Turn<'_>,
) -> Live {
    let mut ctx = Ctx::new(new, Origin::Incoming, turn.now);
    turn.emit(ctx.persist());
    if *admission != Admission::Admit {
        let leg = ctx.sip_leg();
        turn.emit(ctx.hang_up(leg, TerminationCause::Busy));
        turn.emit(ctx.missed_call());
        let phase = settle(&mut ctx, TerminationCause::Busy, vec![leg], turn);
        return Live { ctx, phase };
    }
    let (call, leg) = (ctx.new.call, ctx.browser_leg());
    turn.emit(ctx.on_leg(
        leg,
        PlatformCommand::PostCallCard {
            call,
            leg,
            to: ctx.browser_party().user.clone(),
            join_url: ctx.new.join_url.clone(),
            title: text::card_incoming(&ctx.new.caller.name),
        },
    ));
    ctx.set_leg_state(leg, LegState::Ringing);
    ctx.record.state = CallState::Ringing;
    turn.emit(ctx.persist());
    let deadline = after(turn.now, turn.config.join_timeout);
    let phase = Phase::Alerting(Alerting {
        deadline,
        sip: SipSide::Offered(offer),
        browser: BrowserSide::Card,
    });
    Live { ctx, phase }
}
