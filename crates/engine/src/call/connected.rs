//! A bridged call: hold, re-offers, and the end.

use callbridge_model::{LegId, LegState, PlatformCommand, TerminationCause};

use super::event::Event;
use super::io::{MediaCommand, Output};
use super::live::Ctx;
use super::phase::{Bridged, Phase};
use super::teardown::end;
use super::turn::Turn;
use crate::error::EngineError;

/// An event on a bridged call.
pub(super) fn on_bridged(
    mut bridged: Bridged,
    ctx: &mut Ctx,
    event: Event,
    turn: &mut Turn<'_>,
) -> Result<Phase, EngineError> {
    // Any event from the leg whose `AnswerCall` went out shows the answer arrived.
    if let (Some(leg), Some(unconfirmed)) = (platform_leg(&event), bridged.answer_unconfirmed)
        && leg == unconfirmed
    {
        bridged.answer_unconfirmed = None;
    }
    let call = ctx.new.call;
    Ok(match event {
        Event::LegEnded(leg, _) => {
            // A party hung up on a connected call: the other leg goes too.
            end(
                Phase::Bridged(bridged),
                ctx,
                TerminationCause::Normal,
                Some(leg),
                [],
                turn,
            )
        }
        Event::Hold(leg, held) => {
            let state = if held {
                LegState::OnHold
            } else {
                LegState::Active
            };
            ctx.set_leg_state(leg, state);
            turn.emit(ctx.persist());
            Phase::Bridged(bridged)
        }
        Event::Reoffer(leg, offer) => {
            turn.emit(Output::Media(MediaCommand::AcceptOffer {
                call,
                leg,
                offer,
            }));
            bridged.reoffers.push(leg);
            Phase::Bridged(bridged)
        }
        Event::AnswerReady(leg, answer) => {
            take_reoffer(&mut bridged, leg)?;
            turn.emit(reoffer_answer(ctx, leg, Some(answer)));
            Phase::Bridged(bridged)
        }
        Event::NegotiationFailed(leg) => {
            take_reoffer(&mut bridged, leg)?;
            turn.emit(reoffer_answer(ctx, leg, None));
            Phase::Bridged(bridged)
        }
        Event::CapacityRefused if !bridged.reoffers.is_empty() => {
            // Refuses whatever re-offers are pending; the call keeps its current media.
            for leg in std::mem::take(&mut bridged.reoffers) {
                turn.emit(reoffer_answer(ctx, leg, None));
            }
            Phase::Bridged(bridged)
        }
        Event::Join(leg, _) => {
            turn.emit(Output::JoinAnswer {
                call,
                leg,
                answer: None,
            });
            Phase::Bridged(bridged)
        }
        Event::CommandFailed(leg) if bridged.answer_unconfirmed == Some(leg) => {
            // The Teams caller's call could not be answered: there is no call.
            end(
                Phase::Bridged(bridged),
                ctx,
                TerminationCause::Error,
                Some(leg),
                [],
                turn,
            )
        }
        // A card update or a re-offer answer failed: the call itself is unaffected.
        Event::CommandFailed(_) => Phase::Bridged(bridged),
        Event::MediaTimeout => end(
            Phase::Bridged(bridged),
            ctx,
            TerminationCause::MediaTimeout,
            None,
            [],
            turn,
        ),
        Event::HangUp(cause) => end(Phase::Bridged(bridged), ctx, cause, None, [], turn),
        Event::Ringing(_)
        | Event::Answered(..)
        | Event::OfferReady(..)
        | Event::CapacityRefused => {
            return Err(EngineError::OutOfOrder("not expected on a connected call"));
        }
    })
}

/// The leg a platform event came from (media replies and commands do not count).
const fn platform_leg(event: &Event) -> Option<LegId> {
    match event {
        Event::Ringing(leg)
        | Event::Answered(leg, _)
        | Event::Hold(leg, _)
        | Event::Reoffer(leg, _) => Some(*leg),
        _ => None,
    }
}

/// Removes one pending re-offer for `leg`.
fn take_reoffer(bridged: &mut Bridged, leg: LegId) -> Result<(), EngineError> {
    let index = bridged
        .reoffers
        .iter()
        .position(|pending| *pending == leg)
        .ok_or(EngineError::OutOfOrder(
            "no re-offer is being answered for that leg",
        ))?;
    bridged.reoffers.remove(index);
    Ok(())
}

/// The answer to a re-offer, `None` refusing it.
fn reoffer_answer(ctx: &Ctx, leg: LegId, answer: Option<callbridge_model::MediaAnswer>) -> Output {
    ctx.on_leg(
        leg,
        PlatformCommand::AnswerReoffer {
            call: ctx.new.call,
            leg,
            answer,
        },
    )
}
